"""Choose the estimator's defaults on validation data only (the protocol of issue 18).

Every candidate (a set of ``MultiTaskNetEstimator`` parameters) is fitted
with the pipeline of ``bench_quality.py``'s model (1) on the training part
of the first outer split of each data set, minus that split's first inner
validation part, and scored on that validation part with the data set's main
metric. The test parts of ``bench_quality.py`` take no part: the same
defaults are then scored on them there. Besides the shared real data sets
(Tox21, Adult, Parkinson's, Yeast, penguins, School), two generated ones
stand for the failure modes the defaults must avoid:

- ``small-wide``: 300 rows, 100 numeric features, 3 regression targets of
  one smooth nonlinear signal (where 100 epochs without early stopping were
  the best model of all);
- ``noisy-missing``: 8,000 rows, 30 features, 8 noisy regression targets
  with half the labels missing (where 100 epochs without early stopping
  overfit to a negative R²).

Each data set's scores are normalized between its worst (0) and best (1)
candidate, and candidates are ranked by the mean normalized score, with
their worst normalized score and their fit time relative to the old
defaults beside it.

Run from the repository root (needs ``../shared/data``; data sets not found
are skipped)::

    python benchmarks/studies/choose_defaults.py --n-jobs 2 --cache fits.json
    python benchmarks/studies/choose_defaults.py --datasets small-wide --quick

It prints one Markdown table per data set and the ranking; the results,
with their command and time, are in ``docs/benchmarks_quality.md``.
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ helpers

import _data
import numpy as np
import pandas as pd
from _protocol import BENCHMARKS, TOX21_NET, Benchmark, kfold, r2_per_task
from _quality_models import _network, _task_predictions, _tasks
from joblib import Parallel, delayed

from sklearn_mtl import MultiTaskNetEstimator

OLD = {"early_stopping": False, "dropout": 0.0, "label_smoothing": 0.0}

# Candidates, the most likely first (a run can be cut short and resumed);
# each names every parameter it sets that the chosen defaults changed.
CANDIDATES = {
    "old defaults": OLD,
    "stop early": {"early_stopping": True, "dropout": 0.0, "label_smoothing": 0.0},
    "stop early, dropout 0.1": {
        "early_stopping": True,
        "dropout": 0.1,
        "label_smoothing": 0.0,
    },
    "stop early, (256, 128), dropout 0.2": {
        "early_stopping": True,
        "trunk_sizes": (256, 128),
        "dropout": 0.2,
        "label_smoothing": 0.0,
    },
    "stop early, 4 members": {
        "early_stopping": True,
        "dropout": 0.0,
        "n_ensemble": 4,
        "label_smoothing": 0.0,
    },
    "no stop, dropout 0.1": {
        "early_stopping": False,
        "dropout": 0.1,
        "label_smoothing": 0.0,
    },
    "stop early, dropout 0.1, weight decay 1e-4": {
        "early_stopping": True,
        "dropout": 0.1,
        "weight_decay": 1e-4,
        "label_smoothing": 0.0,
    },
    "stop early, dropout 0.1, 8 members": {
        "early_stopping": True,
        "dropout": 0.1,
        "n_ensemble": 8,
        "label_smoothing": 0.0,
    },
    "no stop, 4 members": {
        "early_stopping": False,
        "dropout": 0.0,
        "n_ensemble": 4,
        "label_smoothing": 0.0,
    },
    # The second round, from the defaults chosen in the first (early stopping
    # "auto", dropout 0.1): a learning-rate schedule and label smoothing,
    # which became 0.1 by default after it.
    "defaults": {"early_stopping": "auto", "dropout": 0.1, "label_smoothing": 0.0},
    "defaults, cosine": {
        "early_stopping": "auto",
        "dropout": 0.1,
        "lr_schedule": "cosine",
        "label_smoothing": 0.0,
    },
    "defaults, cosine, lr 3e-3": {
        "early_stopping": "auto",
        "dropout": 0.1,
        "lr_schedule": "cosine",
        "lr": 3e-3,
        "label_smoothing": 0.0,
    },
    "defaults, lr 3e-3": {
        "early_stopping": "auto",
        "dropout": 0.1,
        "lr": 3e-3,
        "label_smoothing": 0.0,
    },
    "defaults, cosine, lr 3e-3, label smoothing 0.1": {
        "early_stopping": "auto",
        "dropout": 0.1,
        "lr_schedule": "cosine",
        "lr": 3e-3,
        "label_smoothing": 0.1,
    },
    "defaults, coslog4": {
        "early_stopping": "auto",
        "dropout": 0.1,
        "lr_schedule": "coslog4",
        "label_smoothing": 0.0,
    },
    "defaults, label smoothing 0.1": {
        "early_stopping": "auto",
        "dropout": 0.1,
        "label_smoothing": 0.1,
    },
    "defaults, cosine, label smoothing 0.1": {
        "early_stopping": "auto",
        "dropout": 0.1,
        "lr_schedule": "cosine",
        "label_smoothing": 0.1,
    },
    # The third round, toward Tox21's 0.83 from one fit (run on Tox21 only).
    "defaults, label smoothing 0.2": {
        "early_stopping": "auto",
        "dropout": 0.1,
        "label_smoothing": 0.2,
    },
    "defaults, label smoothing 0.1, 8 members": {
        "early_stopping": "auto",
        "dropout": 0.1,
        "label_smoothing": 0.1,
        "n_ensemble": 8,
    },
    "Tox21 net": TOX21_NET,
    "Tox21 net, label smoothing 0.1": {**TOX21_NET, "label_smoothing": 0.1},
    "Tox21 net, label smoothing 0.1, 8 members": {
        **TOX21_NET,
        "label_smoothing": 0.1,
        "n_ensemble": 8,
    },
}
# The data sets, cheapest first.
ORDER = [
    "small-wide",
    "penguins",
    "yeast",
    "parkinsons",
    "noisy-missing",
    "tox21",
    "adult",
    "school",
]


# -- the generated data sets -----------------------------------------------------


def _small_wide():
    rng = np.random.RandomState(0)
    n, d = 300, 100
    X = rng.normal(size=(n, d))
    latent = np.tanh(X[:, :10] @ rng.normal(size=10) / 3) + 0.5 * np.sin(X[:, 10])
    Y = {
        f"y{k}": latent * rng.uniform(0.5, 2) + 0.1 * rng.normal(size=n)
        for k in range(3)
    }
    X = pd.DataFrame(X, columns=[f"x{j}" for j in range(d)])
    return _data.Data(X, pd.DataFrame(Y), dict.fromkeys(Y, _data.REGRESSION))


def _noisy_missing():
    rng = np.random.RandomState(1)
    n, d, t = 8000, 30, 8
    X = rng.normal(size=(n, d))
    shared = np.tanh(X[:, :5] @ rng.normal(size=5) / 2)
    Y = {}
    for k in range(t):
        own = np.sin(X[:, 5 + k])
        signal = shared + 0.5 * own
        y = signal + 1.6 * rng.normal(size=n)  # R² of the signal about 0.25
        y[rng.uniform(size=n) < 0.5] = np.nan
        Y[f"t{k}"] = y
    X = pd.DataFrame(X, columns=[f"x{j}" for j in range(d)])
    return _data.Data(X, pd.DataFrame(Y), dict.fromkeys(Y, _data.REGRESSION))


def _generated(title, load, rows):
    return Benchmark(
        title=title,
        load=load,
        protocol=f"generated, {rows}",
        folds=kfold,
        splits=(1, 1),
        metrics=r2_per_task,
        higher_is_better=True,
        weighting="equal",
    )


DATA_SETS = {
    **BENCHMARKS,
    "small-wide": _generated("small-wide", _small_wide, "300 x 100, 3 R"),
    "noisy-missing": _generated("noisy-missing", _noisy_missing, "8,000 x 30, 8 R"),
}


_warmed_up = False


def _warm_up():
    """One tiny fit per worker process, so that first-call costs stay untimed."""
    global _warmed_up
    if not _warmed_up:
        X = np.random.RandomState(0).normal(size=(64, 3))
        MultiTaskNetEstimator(max_epochs=1).fit(X, X[:, 0])
        _warmed_up = True


def _score(bench, data, fold, params, seed):
    _warm_up()
    train, valid = fold.inner[0]
    X, Y = fold.X_train, fold.Y_train
    model = _network(bench, _tasks(data.kinds), seed, False, params)
    start = time.perf_counter()
    model.fit(X.iloc[train], Y.iloc[train])
    elapsed = time.perf_counter() - start
    predictions = _task_predictions(model, X.iloc[valid], data.kinds)
    score = bench.metrics(Y.iloc[valid], predictions)
    return float(next(iter(score.values()))), elapsed, int(model[-1].n_iter_)


def _key(job):
    key, name, seed = job[:3]
    return f"{key} | {name} | {seed}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=ORDER)
    parser.add_argument(
        "--cache",
        type=Path,
        help="a JSON file of finished fits: read to skip them, extended as "
        "fits finish (so an interrupted run resumes)",
    )
    parser.add_argument(
        "--candidates",
        nargs="+",
        metavar="NAME",
        help="run only these candidates (default: all); the ranking needs "
        "'old defaults'",
    )
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 3 candidates, 3 epochs"
    )
    args = parser.parse_args(argv)
    candidates = CANDIDATES
    if args.candidates:
        unknown = set(args.candidates) - set(CANDIDATES)
        if unknown:
            parser.error(f"unknown candidates {sorted(unknown)}; see CANDIDATES")
        candidates = {name: CANDIDATES[name] for name in args.candidates}
    if args.quick:
        candidates = {
            name: {**params, "max_epochs": 3}
            for name, params in list(candidates.items())[:3]
        }
    jobs, benches = [], {}
    for key in args.datasets:
        bench = DATA_SETS[key]
        try:
            data = bench.load()
        except _data.DataNotFound as exc:
            print(f"{bench.title}: skipped, data not found ({exc})")
            continue
        fold = next(iter(bench.folds(data, 1)))
        benches[key] = bench
        for name, params in candidates.items():
            for seed in range(args.seeds):
                jobs.append((key, name, seed, bench, data, fold, params))
    start = time.perf_counter()
    done = {}
    if args.cache is not None and args.cache.exists():
        done = json.loads(args.cache.read_text())
    todo = [job for job in jobs if _key(job) not in done]
    finished = Parallel(n_jobs=args.n_jobs, return_as="generator")(
        delayed(_score)(bench, data, fold, params, seed)
        for _, _, seed, bench, data, fold, params in todo
    )
    for job, result in zip(todo, finished):
        done[_key(job)] = result
        print(f"{_key(job)}: {result[0]:.4f} in {result[1]:.0f} s", file=sys.stderr)
        if args.cache is not None:
            args.cache.write_text(json.dumps(done))
    results = [done[_key(job)] for job in jobs]
    table = pd.DataFrame(
        [
            (key, name, seed, *result)
            for (key, name, seed, *_), result in zip(jobs, results)
        ],
        columns=["data", "candidate", "seed", "score", "seconds", "epochs"],
    )
    table = table.groupby(["data", "candidate"], sort=False).mean(numeric_only=True)
    normalized = {}
    for key, bench in benches.items():
        part = table.loc[key]
        score = part["score"] if bench.higher_is_better else -part["score"]
        span = score.max() - score.min()
        normalized[key] = (score - score.min()) / (span if span > 0 else 1)
        better = "higher" if bench.higher_is_better else "lower"
        print(f"\n### {bench.title} ({better} is better)\n")
        print("| candidate | score | epochs | fit (s) |")
        print("|---|---:|---:|---:|")
        for name, row in part.iterrows():
            print(
                f"| {name} | {row['score']:.4f} | {row['epochs']:.0f} "
                f"| {row['seconds']:.1f} |"
            )
    normalized = pd.DataFrame(normalized)
    times = table["seconds"].unstack("data")
    ratio = times.div(times.loc["old defaults"], axis=1)
    ranking = pd.DataFrame(
        {
            "mean normalized": normalized.mean(axis=1),
            "worst normalized": normalized.min(axis=1),
            "median time vs old": ratio.median(axis=1),
        }
    ).sort_values("mean normalized", ascending=False)
    print("\n### Ranking (validation parts only)\n")
    print("| candidate | mean normalized | worst normalized | median fit time vs old |")
    print("|---|---:|---:|---:|")
    for name, row in ranking.iterrows():
        print(
            f"| {name} | {row['mean normalized']:.3f} | {row['worst normalized']:.3f} "
            f"| {row['median time vs old']:.2f}x |"
        )
    print(f"\n{len(jobs)} fits in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
