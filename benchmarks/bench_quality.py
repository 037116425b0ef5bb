"""Quality benchmark: where does multi-task learning help, on real data?

Six public data sets with several targets each, up to 22 contenders each:

(1) ``MultiTaskNetEstimator`` with its default parameters (inputs standardized,
    categorical inputs one-hot encoded, ``random_state`` set);
(2) the same with early stopping (``early_stopping=True``: 10 % of the
    training rows held out, patience 10 epochs), and with the task weights
    and head sizes chosen by ``GridSearchCV`` inside the training data; on
    Tox21 only, a wider network with dropout (see below);
(3) one single-task network per task: ``MultiTaskNetEstimator`` with just that
    task, trained on the task's labelled rows, with the network and training
    settings of (2) (heads without hidden layers, weight 1);
(4) scikit-learn's ``MLPClassifier``/``MLPRegressor`` with their defaults: one
    multi-output model where that is natural (all tasks binary, or all
    regression, and no missing label), else one model per task; regression
    targets standardized (``TransformedTargetRegressor``) as in (1)-(3);
(5) ``HistGradientBoostingClassifier``/``Regressor``, defaults, one per task;
(6) on Tox21 only, whose published anchors include one: a random forest per
    task (``RandomForestClassifier``, 200 trees, otherwise defaults);
(7) on Tox21 only, multi-task learning with auxiliary tasks: the network of
    (2) with equal task weights, trained on the 12 assays plus about 200
    regression tasks that cost nothing to label, RDKit's descriptors of each
    training molecule (molecular weight, logP, ring counts, ...), each at
    weight ``AUXILIARY_WEIGHT``, patience 10. The descriptors are targets
    only, never inputs: every model reads the same fingerprints, and
    predicting the test molecules needs nothing else. They are
    quantile-transformed to a normal distribution, fitted on the training
    rows; descriptors missing for more than 1 % of the training molecules or
    constant on them are dropped. The weight and patience were chosen by the
    mean validation ROC-AUC of the three splits, fitted on their 80 %
    training parts (``studies/tox21_variants.py --auxiliary``).
(8) on Tox21 only, the mean of ``AUXILIARY_MEMBERS`` networks of (7) that
    differ only in their seed (the first is (7)'s): predicted probabilities
    averaged per assay. An ensemble, at five times the cost of (7).
(9) ``MultiTaskNetEstimator`` with the defaults it had before early stopping
    became automatic (``_quality_models.OLD_DEFAULTS``), to show the change;
(10) the defaults with ``n_ensemble=8``: eight TabM-mini members in one
    network, one fit;
(11) RealMLP with its tuned defaults (``pytabkit.RealMLP_TD_Classifier`` /
    ``Regressor``: 256 epochs, its own robust scaling, embeddings, schedule
    and 20 % validation split), one per task, on the same inputs as every
    other model, one thread;
(12) TabM with its defaults (``pytabkit.TabM_D_Classifier`` / ``Regressor``:
    32 members, piecewise-linear embeddings, early stopping on a 20 %
    validation split), one per task, but with at most ``TABM_MAX_EPOCHS``
    (50) epochs for a CPU budget (its default has no epoch limit, patience
    16). (11) and (12) need ``pytabkit`` (``pip install -e
    ".[benchmarks]"``) and are skipped without it.
(13) on Tox21 only, the network of (2) (equal task weights, no grid) with
    ``n_ensemble=8``: one fit of one estimator, on the fingerprints alone.
(14)-(17) the network of (2) (equal weights, no grid) with each learned
    sharing architecture: ``MMoE``, ``PLE`` with one level (CGC),
    ``CrossStitch``, ``TaskAttention`` (see ``bench_architectures.py``);
(18) one of them or hard sharing, chosen by ``GridSearchCV`` on the inner
    folds of (2). Results in ``docs/benchmarks_architectures.md``.
(19) on Tox21 only, the network of (2) (equal task weights, no grid) with
    ``label_smoothing=0.1``: one fit of one estimator, on the fingerprints
    alone (the Tox21 target of issue 18).
(20) on Adult and penguins, task fusion, the classic baseline: the
    classification tasks merged into one task of their joint label (income
    and never-married: four classes; species and sex: six), learned by the
    network of (2) beside the regression tasks; each task's probabilities
    are the joint ones summed over the other tasks' labels.
(21) on Tox21 only, the network of (19) with ``n_ensemble=8``: still one
    fit of one estimator on the fingerprints alone.
(22) on Tox21 only, the network of (2) (equal task weights, no grid) as
    MMoE: four experts, each of the trunk's (2048, 512) layers, where (14)'s
    experts are (64, 32). Results in ``docs/benchmarks_architectures.md``.

The grid of (2): head sizes ``()`` or ``(32,)`` for every task, crossed with
task weightings: with 2-3 tasks, equal weights or one task at half weight;
with many tasks, equal weights or weights proportional to each task's number
of labelled training rows (Yeast has no missing labels: equal weights only).
It is scored on the data set's main metric, on validation rows taken from the
training data only (described per data set below). Every fit uses one CPU
thread.

Data sets and protocols (seeds are fixed: split ``k`` and the models fitted
on it use seed ``k``):

- **Tox21** (``chemprop/tox21.csv``): ECFP4 fingerprints (RDKit Morgan,
  radius 2, 1,024 bits, not scaled), 12 binary assays with missing labels;
  random 80/10/10 train/validation/test split x 3 seeds; all models fit on
  train+validation, (2) selects on the validation part; mean over the 12
  assays of the test ROC-AUC, each assay on its labelled test rows. The
  network of (2) and (3), trunk (2048, 512), dropout 0.5, early stopping with
  patience 5, was chosen by the mean validation ROC-AUC of the three splits,
  fitted on their 80 % training parts (the test rows were not used); the
  sweep of 73 candidates behind it is ``studies/tune_networks.py``, its
  results in ``docs/benchmarks_quality.md``.
- **Adult** (``uci/adult.{data,test}``): income > 50K and never-married,
  official train/test split, ``marital-status`` and ``relationship`` dropped
  from the inputs (they give never-married away); 3 model seeds; ROC-AUC per
  task; (2) selects on a random 20 % of the training rows.
- **Parkinson's telemonitoring** (``uci/parkinsons_updrs.data``): motor and
  total UPDRS from voice measures, age, sex and test time; 5-fold
  ``GroupKFold`` by patient (``subject#``); MAE per task; (2) selects by a
  3-fold ``GroupKFold`` of the training patients.
- **School** (``malsar/school.mat``): exam scores of 139 schools, one
  regression task per school (a row labels its own school only); 10 random
  75/25 splits within each school; explained variance (and R²) of the pooled
  test predictions; (2) selects on a random 20 % of the training rows.
- **Yeast** (``mulan/yeast-{train,test}.daricyang.arff``): 14 gene-function
  labels, the standard 1,500/917 split; 3 model seeds; micro-F1 and Hamming
  loss at a 0.5 threshold; (2) selects by 3-fold CV of the training rows.
- **Palmer penguins** (``palmerpenguins`` package): species, sex (9 missing)
  and body mass from bill and flipper measurements and the island; 5-fold
  CV; species and sex accuracy, body-mass R² and their mean; (2) selects by
  3-fold CV of the training rows.

The data files are looked for in ``$SKLEARN_MTL_DATA``, else in
``../shared/data`` from the repository's root; a data set whose files are
missing is reported and skipped. Tox21 needs ``rdkit`` (``pip install -e
".[benchmarks]"``); its fingerprints are cached in ``$SKLEARN_MTL_CACHE``
(default ``~/.cache/sklearn_mtl``).

Run from the repository root::

    python benchmarks/bench_quality.py                 # full run
    python benchmarks/bench_quality.py --quick         # smoke test
    python benchmarks/bench_quality.py --datasets school yeast
    python benchmarks/bench_quality.py --n-jobs 2 --splits 3  # 2 splits at a time

``--quick`` uses one split per data set (two for the cross-validated ones),
5 training epochs for the networks, 20 iterations for the scikit-learn
models and a grid of two candidates; its scores are not meaningful. The
output is Markdown: one table per data set (mean ± standard deviation over
splits, wall time of fit and predict per split, including the grid search
for (2)), then a summary; the latest full run, with its commands and run
times, is in ``docs/benchmarks_quality.md``. The splits, metrics and data
sets are in ``_protocol.py``, the models in ``_quality_models.py``, the
loaders in ``_data.py``.
"""

import argparse
import datetime
import os
import platform
import shlex
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass

import _data
import numpy as np
import sklearn
import torch
from _data import DataNotFound
from _protocol import BENCHMARKS
from _quality_models import (
    ARCHITECTURE_TUNED,
    AUXILIARY_ENSEMBLE,
    MODELS,
    MTL_TUNED,
    PYTABKIT,
    SINGLE_TASK,
    SKLEARN_MLP,
    models_for,
)
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

import sklearn_mtl

# -- running and reporting -------------------------------------------------------


@dataclass
class Outcome:
    """Scores of one model on one fold."""

    scores: dict
    seconds: float
    note: str


def run_benchmark(bench, quick, n_splits=None, n_jobs=1, models=None):
    """Fit every model on every fold; return {model: [Outcome per fold]}.

    ``models`` restricts the run to those of the models run on ``bench``
    whose number is in it (``{7, 8}``: models (7) and (8)). With
    ``n_jobs > 1`` the folds run in parallel worker processes (one fold per
    process at a time, each fit on one thread).
    """
    names = models_for(bench, models)
    data = bench.load()
    if n_splits is None:
        n_splits = bench.splits[1] if quick else bench.splits[0]
    folds = list(bench.folds(data, n_splits))
    per_fold = Parallel(n_jobs=n_jobs)(
        delayed(_run_fold)(bench, names, data, fold, quick, f"{k + 1}/{len(folds)}")
        for k, fold in enumerate(folds)
    )
    return {name: [outcomes[name] for outcomes in per_fold] for name in names}


def _run_fold(bench, names, data, fold, quick, label):
    """{model: Outcome} on one fold, for the models called ``names``."""
    torch.set_num_threads(1)
    outcomes = {}
    with threadpool_limits(1):
        for name in names:
            fit_predict = MODELS[name]
            start = time.perf_counter()
            predictions, note = fit_predict(bench, data, fold, quick)
            seconds = time.perf_counter() - start
            scores = bench.metrics(fold.Y_test, predictions)
            outcomes[name] = Outcome(scores, seconds, note)
            main = next(iter(scores.items()))
            _log(
                f"{bench.title} split {label} {name}: "
                f"{main[0]} {main[1]:.4f} in {seconds:.0f} s {note}"
            )
    return outcomes


def _log(message):
    print(message, file=sys.stderr, flush=True)


def _mean_std(values):
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def _main_scores(outcomes):
    return np.array([next(iter(outcome.scores.values())) for outcome in outcomes])


def print_table(bench, outcomes):
    metrics = list(next(iter(outcomes.values()))[0].scores)
    direction = "higher" if bench.higher_is_better else "lower"
    print(
        f"\n## {bench.title}\n\n{bench.protocol} Main metric: {metrics[0]} "
        f"({direction} is better).\n"
    )
    print("| model | " + " | ".join(metrics) + " | time / split (s) |")
    print("|---|" + "---:|" * (len(metrics) + 1))
    for name, runs in outcomes.items():
        cells = [_mean_std([run.scores[metric] for run in runs]) for metric in metrics]
        # The note says which MLP stands in, or how many networks (8) averaged
        # (fewer in --quick mode).
        noted = name in (SKLEARN_MLP, AUXILIARY_ENSEMBLE)
        label = f"{name} ({runs[0].note})" if noted else name
        seconds = np.mean([run.seconds for run in runs])
        print(f"| {label} | " + " | ".join(cells) + f" | {seconds:.0f} |")
    if MTL_TUNED in outcomes:
        choices = "; ".join(
            f"split {k + 1}: {run.note}" for k, run in enumerate(outcomes[MTL_TUNED])
        )
        print(f"\nGrid search of (2) chose: {choices}.")
    if ARCHITECTURE_TUNED in outcomes:
        choices = "; ".join(
            f"split {k + 1}: {run.note}"
            for k, run in enumerate(outcomes[ARCHITECTURE_TUNED])
        )
        print(f"\nGrid search of (18) chose: {choices}.")


def summary_row(bench, outcomes):
    """One row of the summary: does the multi-task net beat single-task nets?"""
    sign = 1 if bench.higher_is_better else -1
    tuned = _main_scores(outcomes[MTL_TUNED])
    single_task = {SINGLE_TASK: _main_scores(outcomes[SINGLE_TASK])}
    if outcomes[SKLEARN_MLP][0].note == "per task":
        single_task[SKLEARN_MLP] = _main_scores(outcomes[SKLEARN_MLP])
    best_name = max(single_task, key=lambda name: sign * single_task[name].mean())
    best = single_task[best_name]
    gap = sign * (tuned.mean() - best.mean())
    difference = tuned - single_task[SINGLE_TASK]  # paired: same folds
    metric = next(iter(outcomes[MTL_TUNED][0].scores))
    cells = [
        bench.title,
        f"{metric} ({'↑' if bench.higher_is_better else '↓'})",
        _mean_std(_main_scores(outcomes[list(MODELS)[0]])),
        _mean_std(tuned),
        _mean_std(single_task[SINGLE_TASK]),
        f"{difference.mean():+.3f} ± {difference.std():.3f}",
        "yes" if sign * difference.mean() >= 0 else "**no**",
        f"{best_name.split()[0]}: {gap:+.3f} vs std {best.std():.3f} "
        f"({'ok' if gap >= -best.std() else '**no**'})",
    ]
    return "| " + " | ".join(cells) + " |"


def print_summary(rows):
    print("\n## Summary: multi-task (2) vs single-task networks (3)\n")
    print(
        "Δ is (2) − (3) per split, mean ± std. The last column compares (2) with "
        "the best single-task network ((3), or (4) where it is one model per task): "
        "how far (2) is ahead (+) or behind (−), and whether it is within one "
        "standard deviation (over splits) of that network's score.\n"
    )
    print(
        "| data set | metric | (1) MTL default | (2) MTL tuned | (3) single-task "
        "| Δ (2) − (3) | (2) ≥ (3)? | (2) vs best single-task net |"
    )
    print("|---|---|---:|---:|---:|---:|:---:|---|")
    for row in rows:
        print(row)


def print_header(args):
    cpu = _cpu_name()
    print("# Quality benchmark of sklearn_mtl\n")
    print(f"- command: `{shlex.join(['python', *sys.argv])}`")
    mode = "quick (a smoke test: scores not meaningful)" if args.quick else "full"
    print(f"- mode: {mode}")
    if args.n_jobs != 1:
        print(f"- splits run {args.n_jobs} at a time, in worker processes")
    if not PYTABKIT:
        print("- pytabkit is not installed: models (11) and (12) are skipped")
    print(f"- date: {datetime.date.today().isoformat()}")
    print(f"- code: sklearn_mtl {sklearn_mtl.__version__}, {_code_revision()}")
    print(
        f"- machine: {cpu}, 1 thread per fit; Python {platform.python_version()}, "
        f"torch {torch.__version__}, scikit-learn {sklearn.__version__}"
    )


def _code_revision():
    """The repository's commit, flagged when sklearn_mtl/ has uncommitted changes.

    ``SKLEARN_MTL_COMMIT`` names it where the run is a copy of the tree
    outside git (``git archive``), as in ``bench_sparse.py``.
    """
    if os.environ.get("SKLEARN_MTL_COMMIT"):
        return f"commit {os.environ['SKLEARN_MTL_COMMIT']}"
    git = ["git", "-C", str(_data.REPO_ROOT)]
    try:
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        changes = subprocess.run(
            [*git, "status", "--porcelain", "--", "sklearn_mtl"],
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:  # no git
        return "commit unknown"
    if not commit:
        return "commit unknown"
    return f"commit {commit}" + (" + uncommitted changes" if changes else "")


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            lines = [line for line in cpuinfo if line.startswith("model name")]
        return f"{lines[0].split(':', 1)[1].strip()} ({len(lines)} logical CPUs)"
    except (OSError, IndexError):
        return platform.processor() or platform.machine()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one or two splits, few epochs, a 2-candidate grid",
    )
    parser.add_argument(
        "--datasets",
        nargs="+",
        choices=list(BENCHMARKS),
        default=list(BENCHMARKS),
        metavar="NAME",
        help=f"data sets to run, among {', '.join(BENCHMARKS)} (default: all)",
    )
    parser.add_argument(
        "--splits",
        type=int,
        metavar="N",
        help="run only the first N splits (folds) of each data set",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        type=int,
        choices=range(1, len(MODELS) + 1),
        metavar="K",
        help="run only the models of these numbers (default: all; the summary "
        "needs (1)-(4))",
    )
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=1,
        metavar="K",
        help="run K splits at a time in worker processes (wall times then "
        "include the workers' competition for the cores)",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)  # MLP max_iter
    torch.set_num_threads(1)
    print_header(args)
    rows = []
    start = time.perf_counter()
    with threadpool_limits(1):
        for key in args.datasets:
            bench = BENCHMARKS[key]
            try:
                outcomes = run_benchmark(
                    bench, args.quick, args.splits, args.n_jobs, args.models
                )
            except DataNotFound as missing:
                print(f"\n## {bench.title}\n\ndata not found, skipped ({missing}).")
                continue
            if not outcomes:
                print(f"\n## {bench.title}\n\nnone of the models asked for runs here.")
                continue
            print_table(bench, outcomes)
            if set(list(MODELS)[:4]) <= set(outcomes):
                rows.append(summary_row(bench, outcomes))
    if rows:
        print_summary(rows)
    print(f"\nTotal wall time: {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    main()
