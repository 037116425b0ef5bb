"""Choose the networks of ``bench_quality.py`` on validation data only.

Tox21: each candidate (a set of ``MultiTaskNetEstimator`` parameters) is fitted on
the 80 % training part of each of the three random 80/10/10 splits of
``bench_quality.py`` and scored by the mean ROC-AUC over the 12 assays on
that split's 10 % validation part. The test part is scored too and printed,
but the ranking, and the choice written into ``bench_quality.py``'s protocol
(``TOX21_NET`` in ``_protocol.py``), use the validation score alone.
Candidates marked ``ensemble`` average the predicted probabilities of that
many networks with seeds ``k``, ``k + 100``, ..., on split ``k``.

Yeast (``--dataset yeast``): each candidate is fitted on two thirds of the
1,500 training rows and scored by micro-F1 on the other third, for each of
the three inner folds of ``bench_quality.py``'s split ``k`` (``k`` = 0, 1,
2: the same rows, other seeds); inputs standardized on the fitted rows.

Run from the repository root (needs the data of ``bench_quality.py``)::

    python benchmarks/studies/tune_networks.py --n-jobs 2
    python benchmarks/studies/tune_networks.py --device cuda --n-jobs 8 --only 0 3
    python benchmarks/studies/tune_networks.py --dataset yeast --n-jobs 2

It prints a Markdown table, best validation score first. The results, with
their commands and run times, are in ``docs/benchmarks_quality.md``.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ helpers

import _data
import numpy as np
import torch
from _protocol import BENCHMARKS, mean_roc_auc, multilabel_scores, random_80_10_10
from _quality_models import binary_probabilities
from joblib import Parallel, delayed
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback

from sklearn_mtl import MultiTaskNetEstimator, Task


class InputDropoutMLP(torch.nn.Module):
    """A ReLU MLP trunk with dropout on its input bits too (a DeepTox habit)."""

    def __init__(self, n_features, sizes=(2048, 512), dropout=0.5, input_dropout=0.2):
        super().__init__()
        layers = [torch.nn.Dropout(input_dropout)]
        for size in sizes:
            layers += [torch.nn.Linear(n_features, size), torch.nn.ReLU()]
            layers.append(torch.nn.Dropout(dropout))
            n_features = size
        self.layers = torch.nn.Sequential(*layers)
        self.out_features = n_features

    def forward(self, X):
        return self.layers(X)


class WeightEMA(Callback):
    """An exponential moving average of the weights, swapped in when training ends.

    After each training batch, ``average += (1 - decay) * (weights - average)``;
    a cheap stand-in for an ensemble of the networks along one trajectory.
    """

    def __init__(self, decay=0.998):
        self.decay = decay

    def __repr__(self):
        return f"WeightEMA(decay={self.decay})"

    def on_train_begin(self, net, **kwargs):
        self.average_ = [p.detach().clone() for p in net.module_.parameters()]

    def on_batch_end(self, net, training=None, **kwargs):
        if training:
            with torch.no_grad():
                weights = [p.detach() for p in net.module_.parameters()]
                torch._foreach_lerp_(self.average_, weights, 1 - self.decay)

    def on_train_end(self, net, **kwargs):
        with torch.no_grad():
            for p, average in zip(net.module_.parameters(), self.average_):
                p.copy_(average)


BASE = {"trunk_sizes": (2048, 512), "dropout": 0.5, "early_stopping": True}

CANDIDATES = [
    dict(BASE, n_iter_no_change=5),  # the choice of the first session
    dict(BASE, n_iter_no_change=10),
    dict(BASE, trunk_sizes=(1024,)),
    dict(BASE, trunk_sizes=(2048,)),
    dict(BASE, trunk_sizes=(4096,)),
    dict(BASE, trunk_sizes=(4096, 1024)),
    dict(BASE, trunk_sizes=(2048, 1024, 512)),
    dict(BASE, dropout=0.3),
    dict(BASE, dropout=0.65),
    dict(BASE, lr=3e-4),
    dict(BASE, batch_size=64),
    dict(BASE, batch_size=256),
    dict(BASE, weight_decay=1e-5),
    dict(BASE, optimizer="AdamW", weight_decay=1e-2),
    dict(BASE, weighting="uncertainty"),
    dict(BASE, class_weight="balanced"),
    dict(BASE, validation_fraction=0.2),
    dict(BASE, trunk_sizes=(4096,), dropout=0.65),
    dict(BASE, ensemble=5),
    dict(BASE, trunk_sizes=(4096,), ensemble=5),
] + [
    dict(BASE, trunk_sizes=sizes, dropout=dropout, lr=lr, weight_decay=decay)
    for sizes in [(1024, 512), (2048, 512), (4096,), (4096, 1024), (4096, 2048, 1024)]
    for dropout in (0.4, 0.6)
    for lr in (1e-3, 3e-4)
    for decay in (0.0, 1e-5)
]
# Round 2 (indices 60-): input dropout, fixed epoch counts, other activations,
# larger ensembles.
CANDIDATES += [
    dict(BASE, trunk=InputDropoutMLP, trunk_params={"input_dropout": 0.1}),
    dict(BASE, trunk=InputDropoutMLP, trunk_params={"input_dropout": 0.2}),
    dict(BASE, trunk=InputDropoutMLP, trunk_params={"input_dropout": 0.3}),
    dict(
        BASE,
        trunk=InputDropoutMLP,
        trunk_params={"input_dropout": 0.2, "sizes": (4096,), "dropout": 0.5},
    ),
    dict(BASE, early_stopping=False, max_epochs=10),
    dict(BASE, early_stopping=False, max_epochs=20),
    dict(BASE, early_stopping=False, max_epochs=40),
    dict(BASE, activation="gelu"),
    dict(BASE, activation="tanh"),
    dict(BASE, batch_size=512, lr=3e-3),
    dict(BASE, ensemble=10),
    dict(BASE, trunk_sizes=(1024, 512), dropout=0.4, ensemble=10),
    dict(
        BASE,
        trunk=InputDropoutMLP,
        trunk_params={"input_dropout": 0.2},
        ensemble=10,
    ),
]

# Round 3 (indices 73-): an exponential moving average of the weights, over
# fixed epoch counts (candidates 64-66 are the same networks without it).
CANDIDATES += [
    dict(
        BASE,
        early_stopping=False,
        max_epochs=epochs,
        callbacks=[WeightEMA(decay)],
    )
    for epochs, decay in [
        (20, 0.99),
        (20, 0.998),
        (20, 0.999),
        (30, 0.998),
        (40, 0.999),
    ]
]


YEAST_BASE = {"early_stopping": True}
# Yeast: alternatives to the network of (2) and (3) (the defaults plus early
# stopping, candidate 0), scored by the mean micro-F1 over the 3 inner folds
# of the training rows of bench_quality.py. None beat candidate 0 by more
# than the spread over folds, so bench_quality.py keeps it.
YEAST_CANDIDATES = [
    dict(YEAST_BASE, trunk_sizes=sizes, dropout=dropout, weighting=weighting)
    for sizes in [(128, 64), (256,), (256, 128), (512, 256), (1024,)]
    for dropout in (0.0, 0.3)
    for weighting in ("fixed", "uncertainty")
] + [
    dict(YEAST_BASE, early_stopping=False, max_epochs=epochs, trunk_sizes=sizes)
    for epochs in (20, 50)
    for sizes in [(128, 64), (512, 256)]
]


def _estimator(kinds, params, seed, device):
    params = dict(params)
    class_weight = params.pop("class_weight", None)
    params.pop("ensemble", None)
    if "trunk" in params:
        params.pop("trunk_sizes")
        params.pop("dropout")
    if params.get("optimizer") == "AdamW":
        params["optimizer"] = torch.optim.AdamW
    tasks = [
        (name, Task("classification", class_weight=class_weight)) for name in kinds
    ]
    return MultiTaskNetEstimator(tasks, random_state=seed, device=device, **params)


def _mean_auc(Y, probas):
    return mean_roc_auc(Y, probas)["ROC-AUC"]


def _micro_f1(Y, probas):
    return multilabel_scores(Y, probas)["micro-F1"]


def evaluate(index, params, fold, kinds, device, inner=0, scaled=False):
    """Validation and test score of one candidate on one split, and seconds."""
    start = time.perf_counter()
    train, valid = fold.inner[inner]
    X = fold.X_train.to_numpy(np.float32)
    X_test = fold.X_test.to_numpy(np.float32)
    if scaled:
        scaler = StandardScaler().fit(X[train])
        X, X_test = scaler.transform(X), scaler.transform(X_test)
    Y = fold.Y_train
    score = _micro_f1 if scaled else _mean_auc
    # Per task, P(label = 1) on the validation and test rows, averaged over
    # the ensemble's members (a single network: one member).
    n_members = params.get("ensemble", 1)
    valid_probas, test_probas = 0, 0
    for member in range(n_members):
        model = _estimator(kinds, params, fold.seed + 100 * member, device)
        model.fit(X[train], Y.iloc[train])
        valid_probas += binary_probabilities(model, X[valid])
        test_probas += binary_probabilities(model, X_test)
    valid_score = score(Y.iloc[valid], list((valid_probas / n_members).T))
    test_score = score(fold.Y_test, list((test_probas / n_members).T))
    return index, fold.seed, valid_score, test_score, time.perf_counter() - start


def _describe(params):
    return {key: getattr(value, "__name__", value) for key, value in params.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["tox21", "yeast"], default="tox21")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--max-epochs", type=int, help="override (smoke tests)")
    parser.add_argument(
        "--only", type=int, nargs="+", help="indices of CANDIDATES to run"
    )
    args = parser.parse_args(argv)
    if args.dataset == "tox21":
        data = _data.load_tox21()
        folds = list(random_80_10_10(data, args.splits))
        candidates, n_inner, scaled = CANDIDATES, 1, False
    else:
        data = _data.load_yeast()
        folds = list(BENCHMARKS["yeast"].folds(data, args.splits))
        candidates, n_inner, scaled = YEAST_CANDIDATES, 3, True
    if args.max_epochs:
        for params in candidates:
            params["max_epochs"] = args.max_epochs
    chosen = args.only if args.only is not None else range(len(candidates))
    jobs = [
        delayed(evaluate)(
            i, candidates[i], fold, data.kinds, args.device, inner, scaled
        )
        for i in chosen
        for fold in folds
        for inner in range(n_inner)
    ]
    results = Parallel(n_jobs=args.n_jobs, verbose=0)(jobs)
    print(f"\n{args.dataset}: {args.splits} splits, device {args.device}\n")
    print_ranking(candidates, chosen, results, "micro-F1" if scaled else "ROC-AUC")


def print_ranking(candidates, chosen, results, metric):
    """The table of the ``chosen`` candidates, best mean validation score first.

    ``results`` holds ``evaluate``'s tuples, several per candidate (one per
    split and inner fold).
    """
    rows = []
    for i in chosen:
        mine = [r for r in results if r[0] == i]
        valid = [r[2] for r in mine]
        test = [r[3] for r in mine]
        seconds = np.median([r[4] for r in mine])
        rows.append(
            (np.mean(valid), np.std(valid), np.mean(test), np.std(test), seconds, i)
        )
    print(f"| # | candidate | validation {metric} | test {metric} | s / fit |")
    print("|---:|---|---:|---:|---:|")
    for vm, vs, tm, ts, seconds, i in sorted(rows, reverse=True):
        print(
            f"| {i} | `{_describe(candidates[i])}` | {vm:.4f} ± {vs:.4f} "
            f"| {tm:.4f} ± {ts:.4f} | {seconds:.0f} |"
        )


if __name__ == "__main__":
    main()
