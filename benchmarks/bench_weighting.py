"""Task weightings: their cost per training step, and their quality on real data.

Two tables (Markdown):

1. Speed: fit time per step of every built-in ``weighting`` and of TorchJD's
   UPGrad, IMTL-G and Aligned-MTL (when ``torchjd`` is installed), relative
   to ``"fixed"`` in the same round, at 3 and 12 tasks. Synthetic data
   (4,096 rows, 50 features, binary and regression tasks alternating, 10 %
   of the labels missing), a (128, 64) trunk, batches of 128 for 8 epochs
   (256 steps), one thread; the methods run in a shuffled order in each
   round, and the table gives the median ratio over the rounds and its
   range.
2. Quality: each method on Adult and Yeast (their official splits), against
   fixed equal weights and fixed weights tuned on a validation split (20 %
   of the training rows): Adult's candidates put each task in turn at weight
   0.5, Yeast's weigh the labels by their count or its inverse. Every net
   has the default architecture, ``lr=1e-3``, a fixed number of epochs (no
   early stopping, so that all methods train equally long), one seed.

``--quick`` shrinks everything (smoke test). CAGrad and Nash-MTL are not
run: they need TorchJD's ``cagrad``/``nash-mtl`` extras (cvxpy).
"""

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _data  # noqa: E402
import _protocol  # noqa: E402
import _quality_models  # noqa: E402

from sklearn_mtl import MultiTaskNetEstimator, Task  # noqa: E402

BUILT_IN = ["fixed", "uncertainty", "dwa", "famo", "gradnorm", "pcgrad", "mgda"]


def methods():
    """(label, weighting factory) of every method run here."""
    out = [(name, lambda name=name: name) for name in BUILT_IN]
    try:
        import torchjd.aggregation as A
    except ImportError:
        print("(torchjd is not installed: its aggregators are left out)\n")
        return out
    return out + [
        ("UPGrad (TorchJD)", A.UPGrad),
        ("IMTL-G (TorchJD)", A.IMTLG),
        ("Aligned-MTL (TorchJD)", A.AlignedMTL),
    ]


# -- speed -----------------------------------------------------------------------


def synthetic(n_rows, n_tasks, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, 50)).astype(np.float32)
    Y = np.empty((n_rows, n_tasks))
    tasks = []
    for j in range(n_tasks):
        signal = X @ rng.normal(size=50) / 7 + 0.5 * rng.normal(size=n_rows)
        if j % 2 == 0:
            Y[:, j] = signal > 0
            tasks.append((f"t{j}", Task("classification")))
        else:
            Y[:, j] = signal
            tasks.append((f"t{j}", Task("regression")))
        Y[rng.random(n_rows) < 0.1, j] = np.nan
    return X, Y, tasks


def speed(quick):
    n_rows, epochs, rounds = (1024, 2, 1) if quick else (4096, 8, 5)
    batch = 128
    steps = epochs * -(-n_rows // batch)
    labelled = methods()
    print("## Fit time per step, relative to weighting='fixed'\n")
    print(
        f"{n_rows} rows, 50 features, trunk (128, 64), batch {batch}, {epochs} "
        f"epochs ({steps} steps), 1 thread, {rounds} paired rounds; median ratio "
        "[min, max] over the rounds.\n"
    )
    results = {}
    for n_tasks in (3, 12):
        X, Y, tasks = synthetic(n_rows, n_tasks)
        times = {label: [] for label, _ in labelled}
        for r in range(rounds):
            order = np.random.default_rng(r).permutation(len(labelled))
            for i in order:
                label, make = labelled[i]
                est = MultiTaskNetEstimator(
                    tasks,
                    trunk_sizes=(128, 64),
                    weighting=make(),
                    max_epochs=epochs,
                    batch_size=batch,
                    random_state=r,
                )
                start = time.perf_counter()
                est.fit(X, Y)
                times[label].append(time.perf_counter() - start)
        results[n_tasks] = times
    print("| method | 3 tasks | 12 tasks |")
    print("|---|---|---|")
    for label, _ in labelled:
        cells = []
        for n_tasks in (3, 12):
            times = results[n_tasks]
            ratios = [t / f for t, f in zip(times[label], times["fixed"])]
            cells.append(
                f"{statistics.median(ratios):.2f} [{min(ratios):.2f}, "
                f"{max(ratios):.2f}]"
            )
        print(f"| {label} | {cells[0]} | {cells[1]} |")
    for n_tasks in (3, 12):
        ms = 1e3 * statistics.median(results[n_tasks]["fixed"]) / steps
        print(f"\n'fixed' at {n_tasks} tasks: {ms:.2f} ms per step (median).")
    print()


# -- quality ---------------------------------------------------------------------


def _weight_candidates(name, Y_train):
    n = Y_train.shape[1]
    if name == "adult":
        out = [("equal", np.ones(n))]
        for j, task in enumerate(Y_train.columns):
            weights = np.ones(n)
            weights[j] = 0.5
            out.append((f"{task} at 0.5", weights))
        return out
    counts = Y_train.notna().sum().to_numpy() * 1.0
    positives = np.nan_to_num(Y_train.mean().to_numpy(), nan=0.5)
    rare = np.minimum(positives, 1 - positives).clip(0.05)
    return [
        ("equal", np.ones(n)),
        ("by label count", counts / counts.mean()),
        ("by inverse minority rate", (1 / rare) / (1 / rare).mean()),
    ]


def _net(bench, kinds, weights, weighting, epochs, seed):
    tasks = _quality_models._tasks(kinds, weights)
    params = {"weighting": weighting, "max_epochs": epochs, "batch_size": 256}
    return _quality_models._network(bench, tasks, seed, False, params)


def _main_score(bench, kinds, model, X, Y):
    predictions = _quality_models._task_predictions(model, X, kinds)
    return next(iter(bench.metrics(Y, predictions).values()))


def quality(quick, datasets):
    epochs = {"adult": 3 if quick else 15, "yeast": 5 if quick else 60}
    print("## Quality against fixed weights\n")
    for name in datasets:
        bench = _protocol.BENCHMARKS[name]
        try:
            data = bench.load()
        except _data.DataNotFound as exc:
            print(f"{bench.title}: skipped ({exc})\n")
            continue
        fold = next(iter(bench.folds(data, 1)))
        X_train, Y_train = fold.X_train, fold.Y_train
        if quick:
            X_train, Y_train = X_train.iloc[:2000], Y_train.iloc[:2000]
        kinds = data.kinds
        main = {"adult": "mean ROC-AUC of the tasks", "yeast": "micro-F1"}[name]
        main += ", higher" if bench.higher_is_better else ", lower"
        print(
            f"### {bench.title}: {len(X_train)} training rows, {len(fold.X_test)} "
            f"test rows, {len(kinds)} tasks, {epochs[name]} epochs, seed 0; test "
            f"{main} is better\n"
        )
        # tuned fixed weights: chosen on a 20 % validation split
        rng = np.random.default_rng(0)
        is_valid = rng.random(len(X_train)) < 0.2
        best, best_score = None, -np.inf
        sign = 1 if bench.higher_is_better else -1
        for label, weights in _weight_candidates(name, Y_train):
            model = _net(bench, kinds, weights, "fixed", epochs[name], 0)
            model.fit(X_train[~is_valid], Y_train[~is_valid])
            score = sign * _main_score(
                bench, kinds, model, X_train[is_valid], Y_train[is_valid]
            )
            if score > best_score:
                best, best_score = (label, weights), score
        rows = [("fixed, tuned: " + best[0], best[1], "fixed")]
        rows += [
            (label if label != "fixed" else "fixed, equal", np.ones(len(kinds)), make())
            for label, make in methods()
        ]
        print("| method | test score | fit time (s) |")
        print("|---|---|---|")
        for label, weights, weighting in rows:
            model = _net(bench, kinds, weights, weighting, epochs[name], 0)
            start = time.perf_counter()
            model.fit(X_train, Y_train)
            elapsed = time.perf_counter() - start
            score = _main_score(bench, kinds, model, fold.X_test, fold.Y_test)
            print(f"| {label} | {score:.4f} | {elapsed:.1f} |")
        print()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke-test run")
    parser.add_argument(
        "--sections",
        nargs="+",
        choices=["speed", "quality"],
        default=["speed", "quality"],
    )
    parser.add_argument(
        "--datasets", nargs="+", choices=["adult", "yeast"], default=["adult", "yeast"]
    )
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", UserWarning)
    if "speed" in args.sections:
        speed(args.quick)
    if "quality" in args.sections:
        quality(args.quick, args.datasets)


if __name__ == "__main__":
    main()
