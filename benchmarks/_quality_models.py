"""The quality benchmark's models (1)-(8): each fits on a fold, predicts its test rows.

Each model function takes ``(bench, data, fold, quick)`` (a
``_protocol.Benchmark``, the loaded ``_data.Data``, a ``_protocol.Fold``,
and whether the run is ``--quick``) and returns one prediction array per
task, as the metrics take them (P(label = 1) for a binary task, labels for a
multiclass one, values for a regression), and a note for the report.
``MODELS`` maps each model's name to its function; ``models_for`` lists the
ones that run on a data set. Also here, for the studies under ``studies/``: the
auxiliary tasks of (7) and ``binary_probabilities``.
"""

import importlib.util
import logging
import warnings

import numpy as np
import pandas as pd
from _data import BINARY, MULTICLASS, REGRESSION
from _protocol import AUXILIARY_MEMBERS, AUXILIARY_NET, AUXILIARY_WEIGHT
from sklearn.base import clone
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
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, QuantileTransformer, StandardScaler

from sklearn_mtl import (
    PLE,
    CrossStitch,
    MMoE,
    MultiTaskNetEstimator,
    Task,
    TaskAttention,
)

QUICK_EPOCHS = 5  # networks of (1)-(3) in --quick mode
QUICK_ITERATIONS = 20  # max_iter of (4) and (5), trees of (6), in --quick mode
FOREST_TREES = 200  # trees of each random forest of (6)
HEAD_SIZES = ((), (32,))  # the head sizes tried by the grid search of (2)
AUXILIARY_MAX_MISSING = 0.01  # drop a descriptor missing for more training rows
# (9): the defaults before early_stopping="auto" and the chosen regularization
# (docs/benchmarks_quality.md, "Choosing the defaults").
OLD_DEFAULTS = {"early_stopping": False, "dropout": 0.0, "label_smoothing": 0.0}
ENSEMBLE_MEMBERS = 8  # (10)
# (19): the network of (2) with label smoothing, chosen on Tox21's first
# validation part (studies/choose_defaults.py, its third round)
NET_LABEL_SMOOTHING = 0.1
MAX_JOINT_CLASSES = 16  # (20) merges "a few" classification tasks only
# (12): TabM-D's epoch budget (its default is unbounded, with patience 16):
# a cap for a CPU budget; RealMLP-TD keeps its own 256 epochs.
TABM_MAX_EPOCHS = 50
PYTABKIT = importlib.util.find_spec("pytabkit") is not None


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


def binary_probabilities(model, X):
    """P(label = 1) per task, one column each, from a model of binary tasks only."""
    return np.column_stack([proba[:, 1] for proba in model.predict_proba(X)])


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


def mtl_old_defaults(bench, data, fold, quick):
    model = _network(bench, _tasks(data.kinds), fold.seed, quick, OLD_DEFAULTS)
    model.fit(fold.X_train, fold.Y_train)
    return _task_predictions(model, fold.X_test, data.kinds), ""


def mtl_ensemble(bench, data, fold, quick):
    params = {"n_ensemble": ENSEMBLE_MEMBERS}
    model = _network(bench, _tasks(data.kinds), fold.seed, quick, params)
    model.fit(fold.X_train, fold.Y_train)
    return _task_predictions(model, fold.X_test, data.kinds), ""


def mtl_task_fusion(bench, data, fold, quick):
    """(20): the classification tasks merged into one task of their joint label.

    One network of (2)'s settings learns the joint label (a row with any of
    the labels missing has none) beside the regression tasks; each task's
    prediction is the joint probabilities summed over the other tasks'
    labels.
    """
    classifiers = [name for name, kind in data.kinds.items() if kind != REGRESSION]
    Y = fold.Y_train
    labels = Y[classifiers].astype(object)
    complete = labels.notna().all(axis=1)
    joint = pd.Series(
        [
            " & ".join(map(str, row)) if ok else np.nan
            for row, ok in zip(labels.itertuples(index=False), complete)
        ],
        index=Y.index,
        dtype=object,
    )
    n_joint = joint.nunique()
    if n_joint > MAX_JOINT_CLASSES:
        raise ValueError(f"task fusion needs at most {MAX_JOINT_CLASSES} joint labels")
    regressions = [name for name in data.kinds if name not in classifiers]
    Y_fused = pd.concat([joint.rename("joint"), Y[regressions]], axis=1)
    kinds = {"joint": MULTICLASS, **{name: REGRESSION for name in regressions}}
    model = _network(bench, _tasks(kinds), fold.seed, quick, dict(bench.net))
    model.fit(fold.X_train, Y_fused)
    net = model[-1]
    X_test = model[:-1].transform(fold.X_test)
    joint_proba = net.predict_proba(X_test)[0]
    parts = [label.split(" & ") for label in net.classes_[0]]
    values = net.predict(X_test)
    predictions = []
    for name, kind in data.kinds.items():
        if kind == REGRESSION:
            predictions.append(values[:, regressions.index(name) + 1].astype(float))
            continue
        k = classifiers.index(name)
        classes = sorted({part[k] for part in parts})
        marginal = np.column_stack(
            [
                joint_proba[:, [part[k] == c for part in parts]].sum(axis=1)
                for c in classes
            ]
        )
        if kind == BINARY:
            predictions.append(marginal[:, 1])
        else:
            originals = {str(v): v for v in labels[name].dropna().unique()}
            predictions.append(
                np.array([originals[classes[i]] for i in marginal.argmax(axis=1)])
            )
    return predictions, f"{n_joint} joint labels"


def _pytabkit(bench, data, fold, quick, classifier, regressor, params):
    """One pytabkit model per task, on the inputs every model gets."""
    params = {"random_state": fold.seed, "device": "cpu", "n_threads": 1, **params}
    if quick:
        params["n_epochs"] = QUICK_EPOCHS

    def make(name, kind):
        model = regressor if kind == REGRESSION else classifier
        return Pipeline([("prep", _preprocessor(bench)), ("net", model(**params))])

    # pytorch-lightning, under pytabkit, logs and warns at every fit.
    for name in ("lightning", "lightning.pytorch", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _per_task_predictions(make, fold, data.kinds), ""


def _import_pytabkit():
    with warnings.catch_warnings():  # its import warns of torch.jit.script
        warnings.simplefilter("ignore")
        import pytabkit
    return pytabkit


def realmlp(bench, data, fold, quick):
    pytabkit = _import_pytabkit()
    RealMLP_TD_Classifier = pytabkit.RealMLP_TD_Classifier
    RealMLP_TD_Regressor = pytabkit.RealMLP_TD_Regressor
    return _pytabkit(
        bench, data, fold, quick, RealMLP_TD_Classifier, RealMLP_TD_Regressor, {}
    )


def tabm(bench, data, fold, quick):
    pytabkit = _import_pytabkit()
    TabM_D_Classifier, TabM_D_Regressor = (
        pytabkit.TabM_D_Classifier,
        pytabkit.TabM_D_Regressor,
    )

    return _pytabkit(
        bench, data, fold, quick, TabM_D_Classifier, TabM_D_Regressor,
        {"n_epochs": TABM_MAX_EPOCHS},
    )  # fmt: skip


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


def _default_params(fold, quick):
    """The parameters of (4) and (5): their defaults, seeded; fewer iterations
    with ``quick``."""
    params = {"random_state": fold.seed}
    if quick:
        params["max_iter"] = QUICK_ITERATIONS
    return params


def sklearn_mlp(bench, data, fold, quick):
    params = _default_params(fold, quick)
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
    params = _default_params(fold, quick)
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


# (9)-(12): each architecture at defaults, experts or columns of (64, 32)
# (about the default trunk's cost for MMoE's four experts); (13) picks one
# of them, or hard sharing, by GridSearchCV inside the training data.
EXPERT_SIZES = (64, 32)


def _architectures():
    return {
        "MMoE": MMoE(n_experts=4, expert_sizes=EXPERT_SIZES),
        "CGC": PLE(n_shared_experts=1, n_task_experts=1, expert_sizes=EXPERT_SIZES),
        "cross-stitch": CrossStitch(expert_sizes=EXPERT_SIZES),
        "task attention": TaskAttention(expert_sizes=EXPERT_SIZES),
    }


def _with_architecture(name):
    def fit_predict(bench, data, fold, quick):
        params = dict(bench.net, architecture=_architectures()[name])
        model = _network(bench, _tasks(data.kinds), fold.seed, quick, params)
        model.fit(fold.X_train, fold.Y_train)
        return _task_predictions(model, fold.X_test, data.kinds), ""

    return fit_predict


def architecture_tuned(bench, data, fold, quick):
    candidates = {"hard sharing": None, **_architectures()}
    search = GridSearchCV(
        _network(bench, _tasks(data.kinds), fold.seed, quick, bench.net),
        {"net__architecture": list(candidates.values())},
        scoring=_main_metric_scorer(bench, data.kinds),
        cv=fold.inner,
        error_score="raise",
    )
    search.fit(fold.X_train, fold.Y_train)
    return _task_predictions(search, fold.X_test, data.kinds), list(candidates)[
        search.best_index_
    ]


def _net_with(**overrides):
    """(13), (19), (21), (22): the network of (2) (no grid), with ``overrides``.

    A component in ``overrides`` (an architecture) is cloned for each fit.
    """

    def fit_predict(bench, data, fold, quick):
        params = dict(bench.net, **clone(overrides, safe=False))
        model = _network(bench, _tasks(data.kinds), fold.seed, quick, params)
        model.fit(fold.X_train, fold.Y_train)
        return _task_predictions(model, fold.X_test, data.kinds), ""

    return fit_predict


MODELS = {
    "(1) multi-task net, defaults": mtl_default,
    "(2) multi-task net, tuned": mtl_tuned,
    "(3) single-task nets": single_task_nets,
    "(4) scikit-learn MLP": sklearn_mlp,
    "(5) HistGradientBoosting": gradient_boosting,
    "(6) random forest": random_forest,
    "(7) multi-task net + auxiliary tasks": mtl_auxiliary,
    "(8) mean of nets of (7)": mtl_auxiliary_ensemble,
    "(9) multi-task net, old defaults": mtl_old_defaults,
    f"(10) multi-task net, n_ensemble={ENSEMBLE_MEMBERS}": mtl_ensemble,
    "(11) RealMLP-TD (pytabkit)": realmlp,
    "(12) TabM-D (pytabkit)": tabm,
    f"(13) network of (2), n_ensemble={ENSEMBLE_MEMBERS}": _net_with(
        n_ensemble=ENSEMBLE_MEMBERS
    ),
    "(14) multi-task net, MMoE": _with_architecture("MMoE"),
    "(15) multi-task net, CGC (PLE)": _with_architecture("CGC"),
    "(16) multi-task net, cross-stitch": _with_architecture("cross-stitch"),
    "(17) multi-task net, task attention": _with_architecture("task attention"),
    "(18) multi-task net, architecture tuned": architecture_tuned,
    f"(19) network of (2), label_smoothing={NET_LABEL_SMOOTHING}": _net_with(
        label_smoothing=NET_LABEL_SMOOTHING
    ),
    "(20) task fusion (joint label)": mtl_task_fusion,
    f"(21) network of (2), label_smoothing={NET_LABEL_SMOOTHING}, "
    f"n_ensemble={ENSEMBLE_MEMBERS}": _net_with(
        label_smoothing=NET_LABEL_SMOOTHING, n_ensemble=ENSEMBLE_MEMBERS
    ),
    # (22): (14)'s experts of (64, 32) are far narrower than the (2048, 512)
    # trunk Tox21's network needs; here each expert is that trunk
    # (expert_sizes=None), at four times its cost.
    "(22) network of (2), MMoE of 4 experts of its trunk": _net_with(
        architecture=MMoE(n_experts=4)
    ),
}
MTL_TUNED, SINGLE_TASK, SKLEARN_MLP = list(MODELS)[1:4]
FOREST, AUXILIARY, AUXILIARY_ENSEMBLE = list(MODELS)[5:8]
OLD_DEFAULT, ENSEMBLE, REALMLP, TABM, NET_ENSEMBLE = list(MODELS)[8:13]
ARCHITECTURE_TUNED, NET_SMOOTHED, TASK_FUSION, NET_SMOOTHED_ENSEMBLE = list(MODELS)[
    17:21
]
NET_MMOE = list(MODELS)[21]


def model_number(name):
    """The number of the model called ``name``: 5 for "(5) HistGradientBoosting"."""
    return int(name[1 : name.index(")")])


def models_for(bench, numbers=None):
    """The names of the models (keys of ``MODELS``) run on data set ``bench``.

    (6) runs only where ``bench.random_forest`` is set, (7) and (8) only where
    ``bench.auxiliary`` is, (11) and (12) only where ``pytabkit`` is
    installed, (13), (19), (21) and (22) only where ``bench.net_ensemble``
    is set, (20) only where ``bench.task_fusion`` is. With
    ``numbers``, only the models of those numbers (``{7, 8}``: models (7)
    and (8)).
    """
    no_auxiliary = bench.auxiliary is None
    skipped = {
        FOREST: not bench.random_forest,
        AUXILIARY: no_auxiliary,
        AUXILIARY_ENSEMBLE: no_auxiliary,
        REALMLP: not PYTABKIT,
        TABM: not PYTABKIT,
        NET_ENSEMBLE: not bench.net_ensemble,
        NET_SMOOTHED: not bench.net_ensemble,
        NET_SMOOTHED_ENSEMBLE: not bench.net_ensemble,
        NET_MMOE: not bench.net_ensemble,
        TASK_FUSION: not bench.task_fusion,
    }
    return [
        name
        for name in MODELS
        if not skipped.get(name) and (numbers is None or model_number(name) in numbers)
    ]
