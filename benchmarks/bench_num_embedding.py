"""Numerical feature embeddings: test scores and fit times of ``num_embedding``.

One table (Markdown): on each data set, the estimator with
``num_embedding=None``, ``"periodic"`` and ``"piecewise_linear"`` (their
default options), everything else at the package's defaults plus
``early_stopping=True`` (as model (2) of ``bench_quality.py``), the inputs
one-hot encoded and standardized as there (the one-hot and other binary
columns pass through the embeddings unchanged; ``--embed-binary`` embeds
them too). Mean ± std of
the main test metric over 3 seeds, and the mean fit time (one thread).

Data sets (the shared ones, skipped when absent):

- Adult, official split, its training rows subsampled to ``--adult-rows``
  (default 6,000, per seed) and scored on the first 5,000 test rows, to keep
  the run short: mean test ROC-AUC of income > 50K and never-married;
- Parkinson's telemonitoring, the first 3 folds of the 5-fold GroupKFold by
  patient: mean MAE of the two UPDRS scores (lower is better);
- Yeast, the standard 1,500/917 split: micro-F1 at threshold 0.5;
- School (with ``--school``; slower): 3 of the 75/25 within-school splits,
  pooled explained variance;
- a synthetic set whose targets vary quickly with the inputs (2,000 training
  rows, 1,000 test rows, 8 features, a regression and a binary task, 20 %
  of the labels missing): mean of the regression task's R² and the binary
  task's ROC-AUC.

Run: ``python benchmarks/bench_num_embedding.py`` (about 7 minutes of one
CPU core: 434 s of user time in one run); ``--quick`` is a smoke test (one
seed, two epochs). ``--variants``, ``--frequency-init-scale`` and
``--embed-binary`` choose the settings; the numbers and what they say are in
the documentation's "Multi-task methods" page.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _data  # noqa: E402
import _protocol  # noqa: E402
import _quality_models  # noqa: E402

N_SEEDS = 3
ADULT_TEST_ROWS = 5000


def synthetic(seed):
    """Two tasks of quickly varying functions of 8 features; 20 % labels missing."""
    rng = np.random.RandomState(100 + seed)
    n = 3000
    X = rng.uniform(-2, 2, size=(n, 8))
    signal = np.sin(3 * X[:, 0]) * np.cos(2 * X[:, 1]) + np.abs(X[:, 2]) - X[:, 3]
    regression = signal + 0.1 * rng.normal(size=n)
    binary = (np.sin(4 * X[:, 4]) + X[:, 5] ** 2 - 1 + 0.3 * rng.normal(size=n)) > 0
    Y = pd.DataFrame({"value": regression, "flag": binary.astype(float)})
    Y = Y.mask(rng.rand(*Y.shape) < 0.2)
    X = pd.DataFrame(X, columns=[f"x{j}" for j in range(8)])
    kinds = {"value": _data.REGRESSION, "flag": _data.BINARY}
    train = np.arange(2000)
    test = np.arange(2000, n)
    return _protocol.Fold(
        X.iloc[train], Y.iloc[train], X.iloc[test], Y.iloc[test], [], seed
    ), kinds


def synthetic_score(Y, predictions):
    scores = []
    for (name, column), pred in zip(Y.items(), predictions, strict=True):
        mask = column.notna().to_numpy()
        y, p = column.to_numpy()[mask], np.asarray(pred)[mask]
        scores.append(r2_score(y, p) if name == "value" else roc_auc_score(y, p))
    return {"mean of R² and ROC-AUC": float(np.mean(scores))}


def real_folds(key, n_seeds, adult_rows):
    """(bench, kinds, folds) of a shared data set, or None when absent."""
    bench = _protocol.BENCHMARKS[key]
    try:
        data = bench.load()
    except _data.DataNotFound as exc:
        print(f"({bench.title}: data not found, skipped: {exc})")
        return None
    folds = list(bench.folds(data, n_seeds))
    if key == "adult":
        for fold in folds:
            rows = np.random.RandomState(fold.seed).choice(
                len(fold.X_train),
                size=min(adult_rows, len(fold.X_train)),
                replace=False,
            )
            fold.X_train, fold.Y_train = (
                fold.X_train.iloc[rows],
                fold.Y_train.iloc[rows],
            )
            fold.X_test = fold.X_test.iloc[:ADULT_TEST_ROWS]
            fold.Y_test = fold.Y_test.iloc[:ADULT_TEST_ROWS]
    return bench, data.kinds, folds


def fit_score(bench, kinds, fold, variant, quick, metrics, options):
    params = {"early_stopping": True, "num_embedding": variant}
    if variant is not None and options:
        params["num_embedding_params"] = options
    if quick:
        params["max_epochs"] = 2
    model = _quality_models._network(
        bench, _quality_models._tasks(kinds), fold.seed, False, params
    )
    start = time.perf_counter()
    model.fit(fold.X_train, fold.Y_train)
    seconds = time.perf_counter() - start
    predictions = _quality_models._task_predictions(model, fold.X_test, kinds)
    metric, score = next(iter(metrics(fold.Y_test, predictions).items()))
    epochs = model[-1].n_iter_
    return metric, score, seconds, epochs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke test")
    parser.add_argument("--school", action="store_true", help="also run School")
    parser.add_argument("--adult-rows", type=int, default=6000)
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["none", "periodic", "piecewise_linear"],
        choices=["none", "periodic", "piecewise_linear"],
    )
    parser.add_argument(
        "--frequency-init-scale",
        type=float,
        default=None,
        help="the periodic embedding's sigma (default: the package's, 0.01)",
    )
    parser.add_argument(
        "--embed-binary",
        action="store_true",
        help="embed the binary (one-hot) columns too: embed_binary=True",
    )
    parser.add_argument(
        "--datasets",
        nargs="+",
        default=["synthetic", "adult", "parkinsons", "yeast"],
    )
    args = parser.parse_args()
    n_seeds = 1 if args.quick else N_SEEDS
    adult_rows = 500 if args.quick else args.adult_rows
    datasets = list(args.datasets) + (["school"] if args.school else [])
    options = {"embed_binary": True} if args.embed_binary else {}
    variants = [None if v == "none" else v for v in args.variants]
    warnings.filterwarnings("ignore", category=UserWarning)

    header = ["data set", "metric", "num_embedding", "test score (mean ± std)"]
    print("| " + " | ".join([*header, "fit s", "epochs"]) + " |")
    print("|---|---|---|---|---|---|")
    for key in datasets:
        if key == "synthetic":
            pairs = [synthetic(seed) for seed in range(n_seeds)]
            folds, kinds = [p[0] for p in pairs], pairs[0][1]
            bench = _protocol.BENCHMARKS["penguins"]  # its preprocessing only
            metrics, title, better = synthetic_score, "synthetic", "higher"
        else:
            found = real_folds(key, n_seeds, adult_rows)
            if found is None:
                continue
            bench, kinds, folds = found
            metrics, title = bench.metrics, bench.title
            better = "higher" if bench.higher_is_better else "lower"
        for variant in variants:
            these = dict(options)
            if variant == "periodic" and args.frequency_init_scale is not None:
                these["frequency_init_scale"] = args.frequency_init_scale
            results = [
                fit_score(bench, kinds, fold, variant, args.quick, metrics, these)
                for fold in folds
            ]
            metric = results[0][0]
            scores = np.array([r[1] for r in results])
            seconds = np.mean([r[2] for r in results])
            epochs = np.mean([r[3] for r in results])
            label = variant if not these or variant is None else f"{variant} {these}"
            print(
                f"| {title} | {metric} ({better} is better) | {label} | "
                f"{scores.mean():.4f} ± {scores.std():.4f} | {seconds:.1f} | "
                f"{epochs:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
