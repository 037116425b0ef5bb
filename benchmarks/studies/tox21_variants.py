"""Tox21 beyond the protocol: other fingerprints, and the net blended with a forest.

Questions behind the missed 0.83 target of ``bench_quality.py``: do other
Morgan fingerprints help the network, and do the network and a random forest
make different mistakes? On each of the three random 80/10/10 splits of
``bench_quality.py``, fitted on the 80 % training part and scored on the
10 % validation and 10 % test parts (mean ROC-AUC over the 12 assays), for
each fingerprint:

- ``net``: ``MultiTaskNetEstimator`` with the network of (2) (``TOX21_NET``:
  trunk (2048, 512), dropout 0.5, early stopping, patience 5), equal task
  weights, seed ``k`` on split ``k``;
- ``forest``: one ``RandomForestClassifier`` per assay (200 trees, as model
  (6)) on its labelled rows;
- ``blend``: per assay, the mean of the two models' ranks of the rows (their
  scores are on different scales; ROC-AUC only needs the order).

Fingerprints: ECFP4 (Morgan, radius 2) as 1,024 bits (the protocol's), as
1,024 folded counts (``log1p``), and as 2,048 bits.

With ``--auxiliary``, it asks instead how much auxiliary tasks help the
network, and chooses the weight and patience of ``bench_quality.py``'s model
(7): the network of (2) on the protocol's bits, trained on the 12 assays plus
RDKit's descriptors of the training molecules as regression targets
(``_quality_models.auxiliary_tasks``), each at the weight of the candidate, on
the same splits and parts; ranked by the mean validation ROC-AUC.

Run from the repository root (needs ``rdkit`` and ``../shared/data``)::

    python benchmarks/studies/tox21_variants.py --n-jobs 2
    python benchmarks/studies/tox21_variants.py --quick --splits 1   # smoke test
    python benchmarks/studies/tox21_variants.py --auxiliary --n-jobs 2

It prints a Markdown table. The results, with their commands and run times,
are in ``docs/benchmarks_quality.md``.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ helpers

import _data
import numpy as np
import pandas as pd
import torch
from _protocol import TOX21_NET, mean_roc_auc, random_80_10_10
from _quality_models import FOREST_TREES, auxiliary_tasks, binary_probabilities
from joblib import Parallel, delayed
from scipy.stats import rankdata
from sklearn.ensemble import RandomForestClassifier

from sklearn_mtl import MultiTaskNetEstimator, Task

FINGERPRINTS = {
    "ECFP4, 1,024 bits (the protocol's)": None,
    "ECFP4, 1,024 counts, log1p": (1024, True),
    "ECFP4, 2,048 bits": (2048, False),
}

# --auxiliary: (weight of each auxiliary task or None for none, changes to the
# network of (2)).
AUXILIARY_CANDIDATES = [
    (None, {}),
    (0.05, {}),
    (0.2, {}),
    (0.5, {}),
    (1.0, {}),
    (0.3, {"n_iter_no_change": 10}),
]


def _features(data):
    features = {}
    for name, variant in FINGERPRINTS.items():
        if variant is None:
            X = data.X.to_numpy()
        else:
            X = _data.tox21_fingerprint_variant(*variant)
            X = np.log1p(X) if variant[1] else X
        features[name] = X.astype(np.float32)
    return features


def _fit_tox21_net(X, Y, tasks, seed, quick, changes=None):
    """The network of (2) (``TOX21_NET``, with ``changes``) fitted on ``tasks``."""
    torch.set_num_threads(1)
    params = dict(TOX21_NET, **(changes or {}))
    if quick:
        params["max_epochs"] = 2
    return MultiTaskNetEstimator(tasks, random_state=seed, **params).fit(X, Y)


def _assay_tasks(names):
    return [(name, Task("classification")) for name in names]


def _fit_auxiliary(X, Y, names, table, candidate, seed, quick):
    """The network of (2) on the assays plus the auxiliary tasks of ``candidate``."""
    weight, changes = candidate
    tasks = _assay_tasks(names)
    Y = pd.DataFrame(Y, columns=names, index=table.index)
    if weight is not None:
        extra, targets = auxiliary_tasks(table, weight)
        tasks, Y = tasks + extra, pd.concat([Y, targets], axis=1)
    return _fit_tox21_net(X, Y, tasks, seed, quick, changes)


def evaluate_auxiliary(candidate, X, Y, names, table, fold_rows, seed, quick):
    """Validation and test ROC-AUC of one ``--auxiliary`` candidate on one split."""
    train, valid, test = fold_rows
    start = time.perf_counter()
    net = _fit_auxiliary(
        X[train], Y[train], names, table.iloc[train], candidate, seed, quick
    )
    scores = [
        mean_roc_auc(
            pd.DataFrame(Y[rows], columns=names),
            list(binary_probabilities(net, X[rows]).T),
        )["ROC-AUC"]
        for rows in (valid, test)
    ]
    return candidate, seed, scores, time.perf_counter() - start


def _describe(candidate):
    weight, changes = candidate
    if weight is None:
        return "none (the network of (2))"
    return ", ".join([f"weight {weight}"] + [f"{k}={v}" for k, v in changes.items()])


def main_auxiliary(data, splits, n_jobs, quick):
    X = data.X.to_numpy().astype(np.float32)
    Y, names = data.Y.to_numpy(), list(data.Y.columns)
    table = _data.tox21_descriptors()
    candidates = AUXILIARY_CANDIDATES[::3] if quick else AUXILIARY_CANDIDATES
    results = Parallel(n_jobs=n_jobs)(
        delayed(evaluate_auxiliary)(candidate, X, Y, names, table, rows, seed, quick)
        for candidate in candidates
        for seed, rows in splits
    )
    print(
        f"\nTox21: {len(splits)} splits, fitted on the 80 % training parts; "
        f"{table.shape[1]} RDKit descriptors before the columns missing or constant "
        "on the training rows are dropped\n"
    )
    print("| auxiliary tasks | validation ROC-AUC | test ROC-AUC | s / fit |")
    print("|---|---:|---:|---:|")
    for candidate in candidates:
        runs = [(scores, s) for c, _, scores, s in results if c == candidate]
        valid, test = (np.array([scores[k] for scores, _ in runs]) for k in (0, 1))
        seconds = np.median([s for _, s in runs])
        print(
            f"| {_describe(candidate)} | {valid.mean():.3f} ± {valid.std():.3f} "
            f"| {test.mean():.3f} ± {test.std():.3f} | {seconds:.0f} |"
        )


def _forest_scores(X_train, Y_train, parts, seed, n_trees):
    scores = [np.empty((len(X), Y_train.shape[1])) for X in parts]
    for j in range(Y_train.shape[1]):
        labelled = ~np.isnan(Y_train[:, j])
        forest = RandomForestClassifier(n_trees, random_state=seed)
        forest.fit(X_train[labelled], Y_train[labelled, j])
        for out, X in zip(scores, parts, strict=True):
            out[:, j] = forest.predict_proba(X)[:, 1]
    return scores


def evaluate(model, fingerprint, X, Y, names, fold_rows, seed, quick):
    """Validation and test scores of one model on one split."""
    train, valid, test = fold_rows
    start = time.perf_counter()
    if model == "net":
        net = _fit_tox21_net(X[train], Y[train], _assay_tasks(names), seed, quick)
        scores = [binary_probabilities(net, X[rows]) for rows in (valid, test)]
    else:
        n_trees = 10 if quick else FOREST_TREES
        scores = _forest_scores(X[train], Y[train], [X[valid], X[test]], seed, n_trees)
    return model, fingerprint, seed, scores, time.perf_counter() - start


def _ranks(scores):
    return np.column_stack([rankdata(column) for column in scores.T])


def _split_rows(data, n_splits):
    """Per split, its seed and the row labels of its three parts.

    Row labels of ``data.X``: the fold's 80 % training and 10 % validation
    parts (its inner split of the 90 %), and its 10 % test part.
    """
    splits = []
    for fold in random_80_10_10(data, n_splits):
        (train, valid), rows = fold.inner[0], fold.X_train.index.to_numpy()
        splits.append(
            (fold.seed, (rows[train], rows[valid], fold.X_test.index.to_numpy()))
        )
    return splits


def _scores_of_model(data, splits, found, name, model):
    """Validation and test ROC-AUC per split, and fit seconds, of one table row."""
    valid, test, seconds = [], [], []
    for seed, (_, valid_rows, test_rows) in splits:
        if model == "blend":
            (net, _), (forest, _) = (
                found["net", name, seed],
                found["forest", name, seed],
            )
            parts = [_ranks(n) + _ranks(f) for n, f in zip(net, forest)]
        else:
            parts, fit_seconds = found[model, name, seed]
            seconds.append(fit_seconds)
        for out, rows, scores in (
            (valid, valid_rows, parts[0]),
            (test, test_rows, parts[1]),
        ):
            Y_part = data.Y.iloc[rows]
            out.append(mean_roc_auc(Y_part, list(scores.T))["ROC-AUC"])
    return valid, test, seconds


def main_fingerprints(data, splits, n_jobs, quick):
    features = _features(data)
    Y, names = data.Y.to_numpy(), list(data.Y.columns)
    results = Parallel(n_jobs=n_jobs)(
        delayed(evaluate)(model, name, X, Y, names, rows, seed, quick)
        for name, X in features.items()
        for seed, rows in splits
        for model in ("net", "forest")
    )
    found = {(model, name, seed): (s, t) for model, name, seed, s, t in results}

    print(f"\nTox21: {len(splits)} splits, fitted on the 80 % training parts\n")
    print("| fingerprint | model | validation ROC-AUC | test ROC-AUC | s / fit |")
    print("|---|---|---:|---:|---:|")
    for name in features:
        for model in ("net", "forest", "blend"):
            valid, test, seconds = _scores_of_model(data, splits, found, name, model)
            time_cell = f"{np.median(seconds):.0f}" if seconds else "-"
            print(
                f"| {name} | {model} | {np.mean(valid):.3f} ± {np.std(valid):.3f} "
                f"| {np.mean(test):.3f} ± {np.std(test):.3f} | {time_cell} |"
            )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke test: 2 epochs, 10 trees (scores not meaningful)",
    )
    parser.add_argument(
        "--auxiliary",
        action="store_true",
        help="compare auxiliary-task weights instead of fingerprints",
    )
    args = parser.parse_args(argv)
    data = _data.load_tox21()
    splits = _split_rows(data, args.splits)
    if args.auxiliary:
        main_auxiliary(data, splits, args.n_jobs, args.quick)
    else:
        main_fingerprints(data, splits, args.n_jobs, args.quick)


if __name__ == "__main__":
    main()
