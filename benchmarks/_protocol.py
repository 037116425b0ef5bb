"""The quality benchmark's protocols: per data set, its splits, metrics and networks.

- :class:`Fold` and the split functions: the outer train/test splits of each
  data set and, inside each training part, the validation splits on which
  model (2) chooses its grid candidate;
- the metrics: each takes the test labels and one prediction array per task,
  and returns its scores, the main one first;
- the settings of the networks of (2), (3) and (7) (``BASE_NET``,
  ``TOX21_NET``, ``AUXILIARY_*``);
- :class:`Benchmark` and ``BENCHMARKS``: each data set with its loader,
  protocol, metrics and network settings.

Used by ``bench_quality.py``, ``_quality_models.py`` and the studies under
``studies/``.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice

import _data
import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    explained_variance_score,
    f1_score,
    hamming_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
)
from sklearn.model_selection import GroupKFold, KFold, train_test_split

N_INNER_FOLDS = 3
INNER_HOLDOUT = 0.2

# The networks of (2) and (3): the defaults plus early stopping, which the
# defaults' 100 epochs need on small data sets...
BASE_NET = {"early_stopping": True, "dropout": 0.0, "label_smoothing": 0.0}
# ... and on Tox21 a wider network, chosen among a few by the mean validation
# ROC-AUC of the three splits (see docs/benchmarks_quality.md).
TOX21_NET = {
    "trunk_sizes": (2048, 512),
    "dropout": 0.5,
    "early_stopping": True,
    "n_iter_no_change": 5,
    "label_smoothing": 0.0,
}
# (7): the weight of each auxiliary task (the 12 assays weigh 1), and what
# changes from the network of (2); chosen on validation data
# (studies/tox21_variants.py --auxiliary).
AUXILIARY_WEIGHT = 0.3
AUXILIARY_NET = {"n_iter_no_change": 10}
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


def r2_per_task(Y, predictions):
    scores = {f"R² {name}": r2_score(y, p) for name, y, p in _labelled(Y, predictions)}
    return {"mean R²": np.mean(list(scores.values())), **scores}


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
    ``X`` to every model unscaled; ``random_forest=True`` adds model (6),
    ``net_ensemble=True`` models (13), (19), (21) and (22),
    ``task_fusion=True`` model (20) (a few classification tasks, merged
    into their joint label).
    ``auxiliary``, when set, returns the auxiliary targets of models (7) and
    (8), which run only then: a DataFrame row for row with the loaded data's
    ``X``. ``_quality_models.models_for`` lists the models run on a data set.
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
    net_ensemble: bool = False
    task_fusion: bool = False


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
        net_ensemble=True,
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
        task_fusion=True,
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
        task_fusion=True,
    ),
}
