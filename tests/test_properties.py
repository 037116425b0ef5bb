"""Property-based tests: odd but legal inputs fit and predict, or fail clearly.

Hypothesis draws the *structure* of a case (task kinds, label types, missing
labels, shapes, dtypes, containers); the values themselves come from a numpy
generator seeded by the case, so every case is cheap to build and replay. The
example budget is fixed and derandomized, so the suite is fast and
reproducible.

The property: ``fit`` either gives a model whose predictions have the right
shape and lie in each task's label space (``predict_proba`` rows summing to
1), or raises a ValueError/TypeError with one of the documented messages that
the case calls for. An oracle, written from the documented rules (README,
``Task.kind``), says which messages a case calls for; a case that calls for
none must fit. Anything else (an internal torch error, IndexError, KeyError,
AttributeError, ...) propagates and fails the test.
"""

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import UndefinedMetricWarning

from sklearn_mtl import MultiTaskNetEstimator, Task

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies
given, example, settings = hypothesis.given, hypothesis.example, hypothesis.settings

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)

# Label types, with how Task("auto") sees them: "class" (strings, booleans,
# integers, categoricals) or "float" (regression, unless exactly two distinct
# whole values).
LABEL_TYPES = {
    "str": "class",
    "int": "class",
    "bool": "class",
    "float": "float",
    "whole_float": "float",  # 0.0/1.0(/2.0): pandas' way to store ints with gaps
    "mixed": "class",  # str and int in one object column
    "category": "class",
    "category_int": "class",
    "Int64": "class",
    "boolean": "class",
    "string": "class",
}
X_DTYPES = ["float16", "float32", "float64", "int64", "bool"]

# The documented errors a case may call for, as fragments of their messages.
NO_LABELS = "has no labels"
ONE_CLASS = "only one class"
MIXED_TYPES = "mixes label types"
NOT_NUMERIC = "is a regression task, but its labels are not numeric"
HOLDOUT = "early_stopping=True holds out"  # no training row, or a task's labels


@dataclass(frozen=True)
class TaskSpec:
    kind: str  # "auto", "classification" or "regression"
    label_type: str
    n_classes: int
    missing: str


@dataclass(frozen=True)
class Case:
    n_rows: int
    n_features: int
    x_dtype: str
    x_frame: bool  # X as a DataFrame with feature names
    y_container: str  # "frame", "array" (2-D object ndarray) or "1d"
    tasks: tuple
    empty_row: bool  # row 0 has no label for any task
    default_tasks: bool  # tasks=None (only when every kind is "auto")
    early_stopping: bool
    batch_size: int
    seed: int


# -- strategies ---------------------------------------------------------------

task_specs = st.builds(
    TaskSpec,
    kind=st.sampled_from(["auto", "auto", "classification", "regression"]),
    label_type=st.sampled_from(sorted(LABEL_TYPES)),
    n_classes=st.sampled_from([3, 2, 1]),  # 1: a task with a single class
    # "some": each label missing with probability 0.3; "two": labelled on exactly
    # two rows; "all": no label at all. Mostly valid patterns, so most cases fit.
    missing=st.sampled_from(["none"] * 4 + ["some"] * 4 + ["two"] * 2 + ["all"]),
)


@st.composite
def cases(draw):
    tasks = tuple(draw(st.lists(task_specs, min_size=1, max_size=3)))
    containers = ["frame", "array"] + (["1d"] if len(tasks) == 1 else [])
    return Case(
        # a few batches, fewer rows than a batch, down to a single row; hypothesis
        # favours the first values, so the ordinary ones come first
        n_rows=draw(st.sampled_from([13, 40, 8, 5, 3, 2, 1])),
        n_features=draw(st.integers(1, 3)),
        x_dtype=draw(st.sampled_from(X_DTYPES)),
        x_frame=draw(st.booleans()),
        y_container=draw(st.sampled_from(containers)),
        tasks=tasks,
        empty_row=draw(st.booleans()),
        default_tasks=all(t.kind == "auto" for t in tasks) and draw(st.booleans()),
        early_stopping=draw(st.booleans()),
        batch_size=draw(st.sampled_from([4, 128])),
        seed=draw(st.integers(0, 2**16)),
    )


# -- building a case's data ---------------------------------------------------


def make_X(case, rng):
    if case.x_dtype == "bool":
        X = rng.rand(case.n_rows, case.n_features) < 0.5
    elif case.x_dtype == "int64":
        X = rng.randint(-3, 4, size=(case.n_rows, case.n_features))
    else:
        X = rng.normal(size=(case.n_rows, case.n_features)).astype(case.x_dtype)
    if case.x_frame:
        X = pd.DataFrame(X, columns=[f"x{j}" for j in range(case.n_features)])
    return X


def missing_mask(spec, n_rows, empty_row, rng):
    if spec.missing == "none":
        missing = np.zeros(n_rows, dtype=bool)
    elif spec.missing == "some":
        missing = rng.rand(n_rows) < 0.3
    elif spec.missing == "two":
        missing = np.ones(n_rows, dtype=bool)
        missing[rng.permutation(n_rows)[:2]] = False
    else:
        missing = np.ones(n_rows, dtype=bool)
    if empty_row:
        missing[0] = True
    return missing


def make_column(spec, n_rows, missing, rng):
    """One task's column: a numpy array or, for pandas types, a Series."""
    codes = rng.randint(spec.n_classes, size=n_rows)
    lt = spec.label_type
    if lt in ("str", "category", "string"):
        values = [["lo", "mid", "hi"][c] for c in codes]
    elif lt in ("int", "category_int", "Int64"):
        values = [int(c) * 7 - 3 for c in codes]
    elif lt in ("bool", "boolean"):
        values = [bool(c % 2) for c in codes]
    elif lt == "whole_float":
        values = [float(c) for c in codes]
    elif lt == "float":
        values = (rng.normal(size=n_rows) * 10 + 3).tolist()
    else:  # mixed
        values = [["lo", 1, "hi"][c] for c in codes]
    values = [None if m else v for v, m in zip(values, missing, strict=True)]

    if lt in ("category", "category_int"):
        column = pd.Series(pd.Categorical(values))
    elif lt in ("Int64", "boolean", "string"):
        column = pd.Series(pd.array(values, dtype=lt))
    elif lt in ("float", "whole_float"):
        column = np.array([np.nan if v is None else v for v in values], dtype=float)
    elif lt in ("int", "bool") and not missing.any():
        column = np.array(values)
    else:
        column = np.array(values, dtype=object)
    labelled = [v for v in values if v is not None]
    return column, labelled


def make_y(case, columns, names):
    if case.y_container == "1d":
        (column,) = columns
        if isinstance(column, pd.Series):
            return column.rename(names[0])
        return column
    if case.y_container == "frame":
        return pd.DataFrame(
            {name: column for name, column in zip(names, columns, strict=True)}
        )
    y = np.empty((case.n_rows, len(columns)), dtype=object)
    for j, column in enumerate(columns):  # pandas types become Python objects
        y[:, j] = [None if pd.isna(v) else v for v in column.tolist()]
    return y


# -- the oracle -----------------------------------------------------------------


def expected_kind(spec, labelled):
    """The kind a task resolves to, by the documented rule of Task("auto")."""
    if spec.kind != "auto":
        return spec.kind
    if LABEL_TYPES[spec.label_type] == "class":
        return "classification"
    distinct = set(labelled)
    whole = all(float(v).is_integer() for v in distinct)
    return "classification" if len(distinct) == 2 and whole else "regression"


def expected_errors(spec, labelled):
    """The documented error(s) this task calls for; empty when it is valid."""
    if not labelled:
        return {NO_LABELS}
    has_str = any(isinstance(v, str) for v in labelled)
    has_number = any(not isinstance(v, str) for v in labelled)
    if expected_kind(spec, labelled) == "classification":
        if has_str and has_number:
            return {MIXED_TYPES}
        if len(set(labelled)) < 2:
            return {ONE_CLASS}
        return set()
    return {NOT_NUMERIC} if has_str else set()


# -- the property ---------------------------------------------------------------


def check_case(case):
    with warnings.catch_warnings():
        # R² of a task labelled on a single row is undefined (NaN), as in sklearn.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        _check_case(case)


def _check_case(case):
    rng = np.random.RandomState(case.seed)
    X = make_X(case, rng)
    names = [f"t{j}" for j in range(len(case.tasks))]
    columns, labels, allowed = [], [], set()
    for spec in case.tasks:
        missing = missing_mask(spec, case.n_rows, case.empty_row, rng)
        column, labelled = make_column(spec, case.n_rows, missing, rng)
        columns.append(column)
        labels.append(labelled)
        allowed |= expected_errors(spec, labelled)
    y = make_y(case, columns, names)
    est = MultiTaskNetEstimator(
        tasks=None
        if case.default_tasks
        else [
            (name, Task(spec.kind))
            for name, spec in zip(names, case.tasks, strict=True)
        ],
        trunk_sizes=(4,),
        max_epochs=2,
        batch_size=case.batch_size,
        early_stopping=case.early_stopping,
        validation_fraction=0.3,
        random_state=case.seed,
    )
    hypothesis.note(f"y={y!r}\nallowed errors={sorted(allowed)}")

    # The hold-out may take every label of a task (which rows it takes
    # depends on the seed); when it takes every row, it must fail.
    may_fail = {HOLDOUT} if case.early_stopping else set()
    if case.early_stopping and math.ceil(0.3 * case.n_rows) >= case.n_rows:
        allowed.add(HOLDOUT)
    try:
        est.fit(X, y)
    except (ValueError, TypeError) as exc:
        message = str(exc)
        allowed |= may_fail
        assert any(fragment in message for fragment in allowed), (
            f"fit raised {type(exc).__name__}({message!r}), which is not one of "
            f"the documented errors this case calls for: {sorted(allowed)}"
        )
        assert not hasattr(est, "net_")  # a failed fit leaves no fitted model
        hypothesis.event(f"fit raised: {[f for f in allowed if f in message][0]}")
        return
    assert not allowed, f"fit succeeded, but the case calls for {sorted(allowed)}"
    hypothesis.event("fitted")

    kinds = [
        expected_kind(spec, lab) for spec, lab in zip(case.tasks, labels, strict=True)
    ]
    assert [task.kind for _, task in est.tasks_] == kinds

    y_pred = est.predict(X)
    if case.y_container == "1d":
        assert y_pred.shape == (case.n_rows,)
        y_pred = y_pred[:, None]
    assert y_pred.shape == (case.n_rows, len(case.tasks))
    for j, (kind, labelled) in enumerate(zip(kinds, labels, strict=True)):
        if kind == "classification":
            assert set(est.classes_[j].tolist()) == set(labelled)
            assert set(y_pred[:, j].tolist()) <= set(labelled)
        else:
            assert est.classes_[j] is None
            assert np.isfinite(y_pred[:, j].astype(np.float64)).all()

    n_classification = kinds.count("classification")
    if n_classification:
        probas = est.predict_proba(X)
        if case.y_container == "1d":
            probas = [probas]
        assert len(probas) == n_classification
        classes = [c for c in est.classes_ if c is not None]
        for proba, task_classes in zip(probas, classes, strict=True):
            assert proba.shape == (case.n_rows, len(task_classes))
            assert np.isfinite(proba).all()
            np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    else:
        assert not hasattr(est, "predict_proba")

    assert isinstance(est.score(X, y), float)


def T(label_type, kind="auto", n_classes=2, missing="none"):
    """A TaskSpec, briefly."""
    return TaskSpec(kind, label_type, n_classes, missing)


def C(*tasks, **params):
    """A Case with ``tasks``: 13 rows, 2 float32 features, a DataFrame y."""
    params = {
        "n_rows": 13,
        "n_features": 2,
        "x_dtype": "float32",
        "x_frame": False,
        "y_container": "frame",
        "empty_row": False,
        "default_tasks": False,
        "early_stopping": False,
        "batch_size": 128,
        "seed": 0,
        **params,
    }
    return Case(tasks=tasks, **params)


@SETTINGS
@given(cases())
# Situations the property must cover, whatever hypothesis draws:
@example(C(T("str"), T("float"), T("boolean", missing="some"), empty_row=True))
@example(C(T("Int64", missing="two"), T("float", missing="two"), n_rows=40))
@example(C(T("float"), n_features=1, n_rows=3, y_container="1d"))
@example(  # a single class in the early-stopping validation split
    C(T("str", missing="some"), T("category"), n_rows=8, early_stopping=True)
)
@example(C(T("str", n_classes=1), T("float")))  # only one class
@example(C(T("float"), T("int", missing="all")))  # no labels
@example(C(T("mixed", n_classes=3), T("float")))  # mixed label types
@example(C(T("string", kind="regression")))  # strings to regress
@example(C(T("whole_float"), T("float", missing="some"), y_container="array"))
@example(C(T("category_int", kind="regression"), x_dtype="float16", x_frame=True))
@example(C(T("bool", n_classes=3), x_dtype="bool", n_rows=2, batch_size=4))
@example(C(T("float"), n_rows=1, early_stopping=True, x_dtype="int64"))
def test_fit_predicts_in_label_space_or_fails_clearly(case):
    check_case(case)


@pytest.mark.parametrize("frame", [True, False], ids=["dataframe", "read-only-array"])
def test_read_only_X_is_not_handed_to_torch(monkeypatch, frame):
    # torch warns only once per process, so spy on the calls instead of
    # waiting for the warning.
    import torch

    handed = []
    for name in ["as_tensor", "from_numpy"]:
        original = getattr(torch, name)

        def spy(data, *args, _original=original, **kwargs):
            if isinstance(data, np.ndarray):
                handed.append(data.flags.writeable)
            return _original(data, *args, **kwargs)

        monkeypatch.setattr(torch, name, spy)
    X = np.random.RandomState(0).normal(size=(20, 2)).astype(np.float32)
    if frame:
        X = pd.DataFrame(X, columns=["a", "b"])
    else:
        X.flags.writeable = False
    est = MultiTaskNetEstimator(trunk_sizes=(4,), max_epochs=1, random_state=0)
    est.fit(X, np.arange(20) % 2).predict(X)
    assert handed and all(handed), "torch was handed a read-only array"


def test_score_of_classes_stored_as_fractions():
    X = np.random.RandomState(0).normal(size=(20, 2))
    y = np.tile([0.5, 1.5], 10)  # e.g. half-star ratings, as classes
    est = MultiTaskNetEstimator(
        tasks=[("stars", Task("classification"))], trunk_sizes=(4,), max_epochs=1
    ).fit(X, y)
    assert set(est.predict(X)) <= {0.5, 1.5}
    assert 0 <= est.score(X, y) <= 1
