"""Quality benchmark: where does multi-task learning help, on real data?

Six public data sets with several targets each, five or six contenders each:

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
    training parts (``tox21_variants.py --auxiliary``).
(8) on Tox21 only, the mean of ``AUXILIARY_MEMBERS`` networks of (7) that
    differ only in their seed (the first is (7)'s): predicted probabilities
    averaged per assay. An ensemble, at five times the cost of (7).

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
  sweep of 73 candidates behind it is ``tune_networks.py``, its results in
  ``docs/benchmarks_quality.md``.
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

    python benchmarks/bench_quality.py                 # full run, hours
    python benchmarks/bench_quality.py --quick         # smoke test, minutes
    python benchmarks/bench_quality.py --datasets school yeast
    python benchmarks/bench_quality.py --n-jobs 2 --splits 3  # 2 splits at a time

``--quick`` uses one split per data set (two for the cross-validated ones),
5 training epochs for the networks, 20 iterations for the scikit-learn
models and a grid of two candidates; its scores are not meaningful. The
output is Markdown: one table per data set (mean ± standard deviation over
splits, wall time of fit and predict per split, including the grid search
for (2)), then a summary.
"""

import argparse
import datetime
import platform
import shlex
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice

import _data
import numpy as np
import pandas as pd
import sklearn
import torch
from _data import BINARY, MULTICLASS, REGRESSION, DataNotFound
from joblib import Parallel, delayed
from sklearn.compose import (
    TransformedTargetRegressor,
    make_column_selector,
    make_column_transformer,
)
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import (
    accuracy_score,
    explained_variance_score,
    f1_score,
    hamming_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
)
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold, train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, QuantileTransformer, StandardScaler
from threadpoolctl import threadpool_limits

import sklearn_mtl
from sklearn_mtl import MultiTaskNetEstimator, Task

QUICK_EPOCHS = 5  # networks of (1)-(3) in --quick mode
QUICK_ITERATIONS = 20  # max_iter of (4) and (5), trees of (6), in --quick mode
FOREST_TREES = 200  # trees of each random forest of (6)
HEAD_SIZES = ((), (32,))  # the head sizes tried by the grid search of (2)
N_INNER_FOLDS = 3
INNER_HOLDOUT = 0.2

# The networks of (2) and (3): the defaults plus early stopping, which the
# defaults' 100 epochs need on small data sets...
BASE_NET = {"early_stopping": True}
# ... and on Tox21 a wider network, chosen among a few by the mean validation
# ROC-AUC of the three splits (see docs/benchmarks_quality.md).
TOX21_NET = {
    "trunk_sizes": (2048, 512),
    "dropout": 0.5,
    "early_stopping": True,
    "n_iter_no_change": 5,
}
# (7): the weight of each auxiliary task (the 12 assays weigh 1), and what
# changes from the network of (2); chosen on validation data, see above.
AUXILIARY_WEIGHT = 0.3
AUXILIARY_NET = {"n_iter_no_change": 10}
AUXILIARY_MAX_MISSING = 0.01  # drop a descriptor missing for more training rows
AUXILIARY_MEMBERS = 5  # networks averaged by (8); 2 in --quick mode


# -- splits ----------------------------------------------------------------------


@dataclass
class Fold:
    """One outer split: training and test data, and the validation splits of (2).

    ``inner`` lists (train, validation) positions within the training rows.
    """

    X_train: pd.DataFrame
    Y_train: pd.DataFrame
    X_test: pd.DataFrame
    Y_test: pd.DataFrame
    inner: list
    seed: int


def _fold(data, train, test, inner, seed):
    return Fold(
        data.X.iloc[train],
        data.Y.iloc[train],
        data.X.iloc[test],
        data.Y.iloc[test],
        inner,
        seed,
    )


def _holdout(n_rows, seed):
    """A random INNER_HOLDOUT of ``n_rows`` rows for validation."""
    return [
        train_test_split(np.arange(n_rows), test_size=INNER_HOLDOUT, random_state=seed)
    ]


def _kfold(n_rows, seed):
    return list(
        KFold(N_INNER_FOLDS, shuffle=True, random_state=seed).split(np.arange(n_rows))
    )


def random_80_10_10(data, n_splits):
    """Tox21: train+validation (validation = the last 10 %) vs test, per seed."""
    n = len(data.X)
    n_train, n_valid = int(0.8 * n), int(0.1 * n)
    for seed in range(n_splits):
        order = np.random.RandomState(seed).permutation(n)
        inner = [(np.arange(n_train), np.arange(n_train, n_train + n_valid))]
        yield _fold(
            data, order[: n_train + n_valid], order[n_train + n_valid :], inner, seed
        )


def official_split(inner_splits):
    """The data set's own train/test split, refitted with seeds 0, 1, ..."""

    def folds(data, n_splits):
        train, test = np.flatnonzero(~data.test_mask), np.flatnonzero(data.test_mask)
        for seed in range(n_splits):
            yield _fold(data, train, test, inner_splits(len(train), seed), seed)

    return folds


def group_kfold(data, n_splits):
    """Parkinson's: 5 folds of whole patients; validation by 3 folds of patients."""
    outer = GroupKFold(5).split(data.X, groups=data.groups)
    for seed, (train, test) in enumerate(islice(outer, n_splits)):
        inner_groups = data.groups[train]
        inner = list(GroupKFold(N_INNER_FOLDS).split(train, groups=inner_groups))
        yield _fold(data, train, test, inner, seed)


def within_group_splits(data, n_splits):
    """School: 75 % of each school's rows for training, 25 % for testing."""
    for seed in range(n_splits):
        rng = np.random.RandomState(seed)
        is_test = np.zeros(len(data.X), dtype=bool)
        for group in np.unique(data.groups):
            rows = np.flatnonzero(data.groups == group)
            is_test[rng.choice(rows, size=round(0.25 * len(rows)), replace=False)] = (
                True
            )
        train, test = np.flatnonzero(~is_test), np.flatnonzero(is_test)
        yield _fold(data, train, test, _holdout(len(train), seed), seed)


def kfold(data, n_splits):
    """Penguins: 5 shuffled folds; validation by 3 folds of the training rows."""
    outer = KFold(5, shuffle=True, random_state=0).split(data.X)
    for seed, (train, test) in enumerate(islice(outer, n_splits)):
        yield _fold(data, train, test, _kfold(len(train), seed), seed)


# -- metrics ---------------------------------------------------------------------
# Each takes the test labels (a DataFrame, NaN = missing) and one prediction
# array per task: P(label = 1) for a binary task, labels for a multiclass task,
# values for a regression task. The first metric returned is the main one.


def _labelled(Y, predictions):
    """(task, true labels, predictions) on each task's labelled rows."""
    for (name, column), pred in zip(Y.items(), predictions, strict=True):
        mask = column.notna().to_numpy()
        yield name, column.to_numpy()[mask], np.asarray(pred)[mask]


def mean_roc_auc(Y, predictions):
    return {
        "ROC-AUC": np.mean(
            [roc_auc_score(y, p) for _, y, p in _labelled(Y, predictions)]
        )
    }


def roc_auc_per_task(Y, predictions):
    scores = {
        f"ROC-AUC {name}": roc_auc_score(y, p)
        for name, y, p in _labelled(Y, predictions)
    }
    return {"mean ROC-AUC": np.mean(list(scores.values())), **scores}


def mae_per_task(Y, predictions):
    scores = {
        f"MAE {name}": mean_absolute_error(y, p)
        for name, y, p in _labelled(Y, predictions)
    }
    return {"mean MAE": np.mean(list(scores.values())), **scores}


def pooled_explained_variance(Y, predictions):
    pairs = [(y, p) for _, y, p in _labelled(Y, predictions)]
    y, p = (np.concatenate(part) for part in zip(*pairs, strict=True))
    return {"explained variance": explained_variance_score(y, p), "R²": r2_score(y, p)}


def multilabel_scores(Y, predictions):
    y_true = Y.to_numpy().astype(int)
    y_pred = (np.column_stack(predictions) >= 0.5).astype(int)
    return {
        "micro-F1": f1_score(y_true, y_pred, average="micro"),
        "Hamming loss": hamming_loss(y_true, y_pred),
    }


def penguin_scores(Y, predictions):
    (_, species, species_pred), (_, male, male_p), (_, mass, mass_pred) = _labelled(
        Y, predictions
    )
    scores = {
        "species accuracy": accuracy_score(
            species.astype(str), species_pred.astype(str)
        ),
        "sex accuracy": accuracy_score(male, (male_p >= 0.5).astype(float)),
        "body mass R²": r2_score(mass, mass_pred.astype(float)),
    }
    return {"mean score": np.mean(list(scores.values())), **scores}


# -- benchmarks ------------------------------------------------------------------


@dataclass(frozen=True)
class Benchmark:
    """A data set, its protocol and the settings of the networks on it.

    ``folds(data, n_splits)`` yields :class:`Fold` s; ``n_splits`` is
    ``splits[0]`` in a full run and ``splits[1]`` with ``--quick``.
    ``weighting`` names the task weightings that (2) tries: ``"equal"``,
    ``"one at half"`` (equal, or one task at half weight) or ``"by count"``
    (equal, or proportional to the labelled training rows). ``net`` holds
    the parameters of the networks of (2) and (3); ``scale=False`` feeds
    ``X`` to every model unscaled; ``random_forest=True`` adds model (6).
    ``auxiliary``, when set, returns the auxiliary targets of model (7): a
    DataFrame row for row with the loaded data's ``X``.
    """

    title: str
    load: Callable
    protocol: str
    folds: Callable
    splits: tuple
    metrics: Callable
    higher_is_better: bool
    weighting: str
    net: dict = field(default_factory=lambda: BASE_NET)
    scale: bool = True
    random_forest: bool = False
    auxiliary: Callable | None = None

    @property
    def models(self):
        """The names of the models (keys of ``MODELS``) run on this data set."""
        no_auxiliary = self.auxiliary is None
        skipped = {
            FOREST: not self.random_forest,
            AUXILIARY: no_auxiliary,
            AUXILIARY_ENSEMBLE: no_auxiliary,
        }
        return [name for name in MODELS if not skipped.get(name)]


BENCHMARKS = {
    "tox21": Benchmark(
        title="Tox21",
        load=_data.load_tox21,
        protocol="ECFP4 (1,024 bits, unscaled); random 80/10/10 split x 3 seeds; "
        "models fit on the 80 + 10 %, (2) selects on the 10 %; test ROC-AUC of "
        f"each assay, averaged over the 12. (2) and (3) use {TOX21_NET}; (7) "
        f"adds RDKit's descriptors as auxiliary regression targets at weight "
        f"{AUXILIARY_WEIGHT}, with {AUXILIARY_NET}; (8) averages the predicted "
        f"probabilities of {AUXILIARY_MEMBERS} networks of (7), seeds apart.",
        folds=random_80_10_10,
        splits=(3, 1),
        metrics=mean_roc_auc,
        higher_is_better=True,
        weighting="by count",
        net=TOX21_NET,
        scale=False,
        random_forest=True,
        auxiliary=_data.tox21_descriptors,
    ),
    "adult": Benchmark(
        title="Adult",
        load=_data.load_adult,
        protocol="Official train/test split (32,561 / 16,281 rows); inputs without "
        "marital-status and relationship; 3 model seeds; (2) selects on 20 % of "
        "the training rows; test ROC-AUC per task.",
        folds=official_split(_holdout),
        splits=(3, 1),
        metrics=roc_auc_per_task,
        higher_is_better=True,
        weighting="one at half",
    ),
    "parkinsons": Benchmark(
        title="Parkinson's telemonitoring",
        load=_data.load_parkinsons,
        protocol="5-fold GroupKFold by patient (42 patients); (2) selects by "
        "3-fold GroupKFold of the training patients; test MAE per task.",
        folds=group_kfold,
        splits=(5, 2),
        metrics=mae_per_task,
        higher_is_better=False,
        weighting="one at half",
    ),
    "school": Benchmark(
        title="School",
        load=_data.load_school,
        protocol="139 schools = 139 regression tasks; 10 random 75/25 splits "
        "within each school; (2) selects on 20 % of the training rows; explained "
        "variance of the pooled test predictions.",
        folds=within_group_splits,
        splits=(10, 1),
        metrics=pooled_explained_variance,
        higher_is_better=True,
        weighting="by count",
    ),
    "yeast": Benchmark(
        title="Yeast",
        load=_data.load_yeast,
        protocol="Standard 1,500/917 split; 3 model seeds; (2) selects by 3-fold "
        "CV of the training rows; micro-F1 and Hamming loss at threshold 0.5.",
        folds=official_split(_kfold),
        splits=(3, 1),
        metrics=multilabel_scores,
        higher_is_better=True,
        weighting="equal",
    ),
    "penguins": Benchmark(
        title="Palmer penguins",
        load=_data.load_penguins,
        protocol="342 penguins; 5-fold CV; (2) selects by 3-fold CV of the "
        "training rows; species and sex accuracy, body-mass R² and their mean.",
        folds=kfold,
        splits=(5, 2),
        metrics=penguin_scores,
        higher_is_better=True,
        weighting="one at half",
    ),
}


# -- models ----------------------------------------------------------------------
# Each fits on a Fold and returns one prediction array per task (as the metrics
# take them) and a note for the report.

TASK_KIND = {
    BINARY: "classification",
    MULTICLASS: "classification",
    REGRESSION: "regression",
}


def _preprocessor(bench):
    if not bench.scale:
        return "passthrough"
    return make_column_transformer(
        (
            OneHotEncoder(handle_unknown="ignore", sparse_output=False),
            make_column_selector(dtype_exclude="number"),
        ),
        (StandardScaler(), make_column_selector(dtype_include="number")),
    )


def _network(bench, tasks, seed, quick, net_params):
    params = dict(net_params, random_state=seed)
    if quick:
        params["max_epochs"] = QUICK_EPOCHS
    estimator = MultiTaskNetEstimator(tasks, **params)
    return Pipeline([("prep", _preprocessor(bench)), ("net", estimator)])


def _tasks(kinds, weights=None, head_sizes=()):
    weights = np.ones(len(kinds)) if weights is None else weights
    return [
        (name, Task(TASK_KIND[kind], weight=float(weight), head_sizes=head_sizes))
        for (name, kind), weight in zip(kinds.items(), weights, strict=True)
    ]


def _task_predictions(model, X, kinds):
    """What the metrics take, from a model predicting all tasks at once."""
    labels = model.predict(X)
    classifies = any(kind != REGRESSION for kind in kinds.values())
    probas = iter(model.predict_proba(X) if classifies else [])
    predictions = []
    for j, kind in enumerate(kinds.values()):
        proba = next(probas) if kind != REGRESSION else None
        predictions.append(proba[:, 1] if kind == BINARY else labels[:, j])
    return predictions


def _per_task_predictions(make_model, fold, kinds):
    """Fit one model per task on its labelled rows; predict every test row."""
    predictions = []
    for name, kind in kinds.items():
        labelled = fold.Y_train[name].notna().to_numpy()
        y = fold.Y_train[name].to_numpy()[labelled]
        model = make_model(name, kind).fit(fold.X_train.iloc[labelled], y)
        if kind == BINARY:
            predictions.append(model.predict_proba(fold.X_test)[:, 1])
        else:
            predictions.append(model.predict(fold.X_test))
    return predictions


def mtl_default(bench, data, fold, quick):
    model = _network(bench, _tasks(data.kinds), fold.seed, quick, {})
    model.fit(fold.X_train, fold.Y_train)
    return _task_predictions(model, fold.X_test, data.kinds), ""


def mtl_tuned(bench, data, fold, quick):
    candidates = _grid(bench, data.kinds, fold.Y_train, quick)
    search = GridSearchCV(
        _network(bench, _tasks(data.kinds), fold.seed, quick, bench.net),
        {"net__tasks": [tasks for _, tasks in candidates]},
        scoring=_main_metric_scorer(bench, data.kinds),
        cv=fold.inner,
        error_score="raise",
    )
    search.fit(fold.X_train, fold.Y_train)
    return _task_predictions(search, fold.X_test, data.kinds), candidates[
        search.best_index_
    ][0]


def _grid(bench, kinds, Y_train, quick):
    """(description, tasks) candidates for the grid search of (2)."""
    names = list(kinds)
    weightings = [("equal weights", np.ones(len(names)))]
    if bench.weighting == "one at half" and not quick:
        for j, name in enumerate(names):
            weights = np.ones(len(names))
            weights[j] = 0.5
            weightings.append((f"{name} at 0.5", weights))
    elif bench.weighting == "by count" and not quick:
        counts = Y_train.notna().sum().to_numpy()
        weightings.append(("weights by label count", counts / counts.mean()))
    return [
        (f"{label}, heads {head_sizes}", _tasks(kinds, weights, head_sizes))
        for label, weights in weightings
        for head_sizes in HEAD_SIZES
    ]


def _main_metric_scorer(bench, kinds):
    sign = 1 if bench.higher_is_better else -1

    def score(model, X, Y):
        scores = bench.metrics(Y, _task_predictions(model, X, kinds))
        return sign * next(iter(scores.values()))

    return score


def single_task_nets(bench, data, fold, quick):
    def make(name, kind):
        return _network(bench, _tasks({name: kind}), fold.seed, quick, bench.net)

    return _per_task_predictions(make, fold, data.kinds), ""


def sklearn_mlp(bench, data, fold, quick):
    params = {"random_state": fold.seed}
    if quick:
        params["max_iter"] = QUICK_ITERATIONS
    if _natural_multi_output(data):
        kind = next(iter(data.kinds.values()))
        model = Pipeline([("prep", _preprocessor(bench)), ("mlp", _mlp(kind, params))])
        model.fit(fold.X_train, fold.Y_train.to_numpy())
        if kind == BINARY:
            return list(model.predict_proba(fold.X_test).T), "multi-output"
        return list(model.predict(fold.X_test).T), "multi-output"

    def make(name, kind):
        return Pipeline([("prep", _preprocessor(bench)), ("mlp", _mlp(kind, params))])

    return _per_task_predictions(make, fold, data.kinds), "per task"


def _natural_multi_output(data):
    kinds = set(data.kinds.values())
    return len(kinds) == 1 and kinds != {MULTICLASS} and not data.Y.isna().any().any()


def _mlp(kind, params):
    if kind == REGRESSION:
        return TransformedTargetRegressor(
            MLPRegressor(**params), transformer=StandardScaler()
        )
    return MLPClassifier(**params)


def _per_task_trees(bench, data, fold, regressor, classifier, params):
    """One tree ensemble per task: ``regressor`` or ``classifier`` by its kind."""

    def make(name, kind):
        model = regressor if kind == REGRESSION else classifier
        return Pipeline([("prep", _preprocessor(bench)), ("trees", model(**params))])

    return _per_task_predictions(make, fold, data.kinds), ""


def gradient_boosting(bench, data, fold, quick):
    params = {"random_state": fold.seed}
    if quick:
        params["max_iter"] = QUICK_ITERATIONS
    return _per_task_trees(
        bench,
        data,
        fold,
        HistGradientBoostingRegressor,
        HistGradientBoostingClassifier,
        params,
    )


def random_forest(bench, data, fold, quick):
    params = {
        "n_estimators": QUICK_ITERATIONS if quick else FOREST_TREES,
        "random_state": fold.seed,
    }
    return _per_task_trees(
        bench, data, fold, RandomForestRegressor, RandomForestClassifier, params
    )


def mtl_auxiliary(bench, data, fold, quick):
    predictions, n_auxiliary = _fit_predict_auxiliary(bench, data, fold, quick)
    return predictions, f"{n_auxiliary} auxiliary tasks"


def mtl_auxiliary_ensemble(bench, data, fold, quick):
    n_members = 2 if quick else AUXILIARY_MEMBERS
    members = [
        _fit_predict_auxiliary(bench, data, fold, quick, member)[0]
        for member in range(n_members)
    ]
    # zip(*members): task by task, the members' predictions of that task.
    return [np.mean(task, axis=0) for task in zip(*members)], f"{n_members} networks"


def _fit_predict_auxiliary(bench, data, fold, quick, member=0):
    """Fit one network of (7) and predict the test rows.

    Returns ``(predictions, number of auxiliary tasks)``. Member ``k`` is
    seeded with ``fold.seed + 1000 * k``: member 0 is model (7) itself.
    """
    tasks, auxiliary = auxiliary_tasks(
        bench.auxiliary().loc[fold.Y_train.index], AUXILIARY_WEIGHT
    )
    net = _network(
        bench,
        _tasks(data.kinds) + tasks,
        fold.seed + 1000 * member,
        quick,
        dict(bench.net, **AUXILIARY_NET),
    )
    net.fit(fold.X_train, pd.concat([fold.Y_train, auxiliary], axis=1))
    return _task_predictions(net, fold.X_test, data.kinds), len(tasks)


def auxiliary_tasks(table, weight):
    """The auxiliary tasks of model (7), and their targets, for the training rows.

    Returns ``(tasks, targets)``: one regression ``Task`` of weight ``weight``
    per column of :func:`auxiliary_targets`, to append to the real tasks.
    """
    targets = auxiliary_targets(table)
    tasks = [(name, Task("regression", weight=weight)) for name in targets.columns]
    return tasks, targets


def auxiliary_targets(table):
    """Model (7)'s auxiliary targets from a table of the training rows.

    Drops the columns missing too often or constant, and maps each other one
    to a standard normal distribution by its quantiles (descriptors are
    skewed, and a squared error on raw molecular weights would drown the
    rest). Missing values stay missing: those rows don't train that task.
    """
    kept = table.loc[:, (table.isna().mean() <= AUXILIARY_MAX_MISSING)]
    kept = kept.loc[:, kept.nunique() > 1]
    transformer = QuantileTransformer(
        n_quantiles=min(1000, len(kept)), output_distribution="normal"
    )
    normal = transformer.fit_transform(kept)
    return pd.DataFrame(normal, index=kept.index, columns=kept.columns).add_prefix(
        "aux: "
    )


MODELS = {
    "(1) multi-task net, defaults": mtl_default,
    "(2) multi-task net, tuned": mtl_tuned,
    "(3) single-task nets": single_task_nets,
    "(4) scikit-learn MLP": sklearn_mlp,
    "(5) HistGradientBoosting": gradient_boosting,
    "(6) random forest": random_forest,
    "(7) multi-task net + auxiliary tasks": mtl_auxiliary,
    "(8) mean of nets of (7)": mtl_auxiliary_ensemble,
}
MTL_TUNED, SINGLE_TASK, SKLEARN_MLP = list(MODELS)[1:4]
FOREST, AUXILIARY, AUXILIARY_ENSEMBLE = list(MODELS)[5:8]


# -- running and reporting -------------------------------------------------------


@dataclass
class Outcome:
    """Scores of one model on one fold."""

    scores: dict
    seconds: float
    note: str


def run_benchmark(bench, quick, n_splits=None, n_jobs=1, models=None):
    """Fit every model on every fold; return {model: [Outcome per fold]}.

    ``models`` restricts the run to those of ``bench.models`` whose number
    is in it (``{7, 8}``: models (7) and (8)). With ``n_jobs > 1`` the folds
    run in parallel worker processes (one fold per process at a time, each
    fit on one thread).
    """
    names = [
        name
        for name in bench.models
        if models is None or int(name[1 : name.index(")")]) in models
    ]
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
    print(f"- date: {datetime.date.today().isoformat()}")
    print(f"- code: sklearn_mtl {sklearn_mtl.__version__}, {_code_revision()}")
    print(
        f"- machine: {cpu}, 1 thread per fit; Python {platform.python_version()}, "
        f"torch {torch.__version__}, scikit-learn {sklearn.__version__}"
    )


def _code_revision():
    """The repository's commit, flagged when sklearn_mtl/ has uncommitted changes."""
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
