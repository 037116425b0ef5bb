"""The :class:`Task` specification, named task lists, and what a task resolves to.

A ``Task`` is resolved once per fit (:func:`resolve_task`): its kind inferred
from its labels when it is ``"auto"`` (:func:`infer_kind`, the rule documented
on ``Task.kind``), its loss made concrete and checked against the kind.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from ._compat import Interval, InvalidParameterError, StrOptions

CLASSIFICATION_LOSSES = ("log_loss",)
REGRESSION_LOSSES = ("squared_error", "absolute_error", "huber")


class Task(BaseEstimator):
    """Specification of one prediction task: its kind, loss, weight and head.

    A ``Task`` holds no data and learns nothing; it describes how one column
    of the target table is learned by :class:`MultiTaskNetEstimator`. Like a
    step of a :class:`~sklearn.pipeline.Pipeline`, it is given a name in the
    estimator's ``tasks`` list, and its parameters are reachable as
    ``<name>__<parameter>`` through ``get_params``/``set_params``, so
    :class:`~sklearn.model_selection.GridSearchCV` can tune them.

    Parameters
    ----------
    kind : {"auto", "classification", "regression"}, default="auto"
        What the task predicts. ``"auto"`` infers it from the labelled values
        of the task's column when the estimator is fitted:

        - strings, booleans, pandas categoricals and integers are class labels
          (integers follow :func:`~sklearn.utils.multiclass.type_of_target`);
        - floating-point numbers are regression targets, except a float
          column whose labelled values are exactly two distinct whole numbers
          (such as ``0.0``/``1.0``, which is what pandas makes of a binary
          column with missing values): that is a binary classification task.

        Set the kind explicitly for integer-coded quantities (counts, ages)
        that should be regressed, or for classes stored as floats.

    weight : float, default=1.0
        Non-negative multiplier of this task's loss in the summed training
        objective. ``0`` switches the task's training signal off (its head
        is still fitted to the initial trunk and predicts).

    head_sizes : tuple of int, default=()
        Sizes of the hidden layers of the task's head, between the shared
        trunk and the output layer. ``()`` means the output layer sits
        directly on the trunk.

    loss : {"auto", "log_loss", "squared_error", "absolute_error", "huber"}, \
            default="auto"
        Training loss, named as in scikit-learn. ``"log_loss"`` (cross-entropy)
        is the only classification loss; regression offers
        ``"squared_error"``, ``"absolute_error"`` and ``"huber"`` (with
        ``delta=1`` on the standardized target). ``"auto"`` means
        ``"log_loss"`` for classification and ``"squared_error"`` for
        regression.

    class_weight : dict, "balanced" or None, default=None
        Per-class weights of a classification task's labels (an error for a
        regression task). A dict maps class labels, as they appear in ``y``,
        to non-negative weights; classes left out weigh 1. ``"balanced"``
        weighs each class by ``n_labelled / (n_classes * n_in_class)``
        (:func:`~sklearn.utils.class_weight.compute_class_weight`), counted
        on the task's labelled rows. The weights multiply ``sample_weight``
        (see :meth:`MultiTaskNetEstimator.fit`); since the task's loss is the
        weighted *mean* over its labelled rows, only their ratios matter.

    group : str, int or None, default=None
        Partial sharing: tasks with the same group share a tower of hidden
        layers (the estimator's ``group_sizes``) between the trunk and their
        heads. None attaches the head to the trunk directly. An int label,
        such as those of :func:`~sklearn_mtl.suggest_task_groups`, names a
        group as well as a string does.

    See Also
    --------
    MultiTaskNetEstimator : The estimator that learns a list of named tasks.

    Examples
    --------
    >>> from sklearn_mtl import Task
    >>> task = Task("regression", head_sizes=(32,), loss="huber")
    >>> task.set_params(weight=0.5)
    Task(head_sizes=(32,), kind='regression', loss='huber', weight=0.5)
    >>> Task("classification", class_weight="balanced", group="demography")
    Task(class_weight='balanced', group='demography', kind='classification')
    """

    _parameter_constraints: dict = {
        "kind": [StrOptions({"auto", "classification", "regression"})],
        "weight": [Interval(Real, 0, None, closed="left")],
        "head_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "loss": [StrOptions({"auto", *CLASSIFICATION_LOSSES, *REGRESSION_LOSSES})],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "group": [str, Integral, None],
    }

    def __init__(
        self,
        kind: str = "auto",
        *,
        weight: float = 1.0,
        head_sizes: Sequence[int] = (),
        loss: str = "auto",
        class_weight: dict[Any, float] | str | None = None,
        group: str | int | None = None,
    ) -> None:
        self.kind = kind
        self.weight = weight
        self.head_sizes = head_sizes
        self.loss = loss
        self.class_weight = class_weight
        self.group = group


def check_layer_sizes(sizes, name):
    """Return ``sizes`` as a tuple of positive ints, or raise naming ``name``."""
    if isinstance(sizes, Integral) and not isinstance(sizes, bool):
        sizes = (sizes,)
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise TypeError(
            f"{name} must be a tuple of positive ints, got {sizes!r}."
        ) from None
    if not all(
        isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in sizes
    ):
        raise ValueError(f"{name} must be a tuple of positive ints, got {sizes!r}.")
    return tuple(int(s) for s in sizes)


def check_task_list(tasks, reserved_names, check_names=True):
    """Validate a user's ``tasks`` parameter.

    Parameters
    ----------
    tasks : list of (str, Task) tuples
        The ``tasks`` parameter as given.
    reserved_names : iterable of str
        The estimator's own parameter names, which task names must not shadow
        (``set_params`` could not tell them apart).
    check_names : bool, default=True
        Whether to apply the rules for names that route parameters (no
        ``__``, non-empty); False for tasks named after ``y``'s columns.

    Returns
    -------
    tasks : list of (str, Task) tuples
        The same pairs, with each task's parameters validated.
    """
    if not isinstance(tasks, (list, tuple)) or not tasks:
        raise TypeError(
            "tasks must be None or a non-empty list of (name, Task) tuples, "
            f"got {tasks!r}."
        )
    for item in tasks:
        if (
            not isinstance(item, tuple)
            or len(item) != 2
            or not isinstance(item[0], str)
        ):
            raise TypeError(
                "tasks must be a list of (name, Task) tuples with str names, "
                f"got the item {item!r}. Example: "
                "tasks=[('income', Task('classification')), ('age', Task())]."
            )
        if not isinstance(item[1], Task):
            raise TypeError(
                f"Task {item[0]!r} must be a Task instance, got {item[1]!r}. "
                f"Wrap it, e.g. ({item[0]!r}, Task('classification'))."
            )
    names = [name for name, _ in tasks]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(f"Task names must be unique; duplicated: {duplicated}.")
    with_dunder = [name for name in names if "__" in name or not name]
    if with_dunder and check_names:
        raise ValueError(
            "Task names must be non-empty and must not contain '__' (it separates "
            f"a task's name from its parameters in set_params); got {with_dunder}."
        )
    check_history_names(names)
    clashing = sorted(set(names).intersection(reserved_names))
    if clashing:
        raise ValueError(
            f"Task names {clashing} clash with parameters of the estimator; "
            "rename these tasks."
        )
    for name, task in tasks:
        try:
            task._validate_params()
        except InvalidParameterError as exc:
            raise InvalidParameterError(f"Task {name!r}: {exc}") from None
        group = task.group
        if isinstance(group, bool) or (
            isinstance(group, str) and (not group or "." in group)
        ):
            raise ValueError(
                f"Task {name!r}: group must be a non-empty str without '.' or an "
                f"int, got {group!r}."
            )
        if isinstance(task.class_weight, dict):
            bad = {k: v for k, v in task.class_weight.items() if not _is_weight(v)}
            if bad:
                raise ValueError(
                    f"Task {name!r}: class_weight values must be non-negative "
                    f"finite numbers, got {bad}."
                )
    return list(tasks)


# skorch's own per-epoch entries that a task's "train_loss_<name>" and
# "valid_loss_<name>" would overwrite.
_SKORCH_HISTORY_SUFFIXES = ("best",)


def check_history_names(names):
    """Raise if a task's history entries would collide with skorch's own."""
    clashing = sorted(set(names).intersection(_SKORCH_HISTORY_SUFFIXES))
    if clashing:
        raise ValueError(
            f"Task names {clashing} collide with skorch's history entries "
            "train_loss_best and valid_loss_best, which would overwrite the "
            "tasks' losses. Rename these tasks (or the columns of y)."
        )


def _is_weight(value):
    return (
        isinstance(value, Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def default_tasks(columns, column_names):
    """One ``Task()`` per column of ``y``, named after the columns or by position."""
    if not columns:
        raise ValueError("y has no columns; it needs one column per task.")
    names = column_names or [f"task_{j}" for j in range(len(columns))]
    if len(set(names)) != len(names):
        raise ValueError(
            f"The columns of y must have unique names to name the tasks, got {names}."
        )
    check_history_names(names)
    return [(name, Task()) for name in names]


def infer_kind(values, is_categorical):
    """Infer a task's kind from its labelled values (the rule of ``Task.kind``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl._task import infer_kind
    >>> infer_kind(np.array([0.0, 1.0, 1.0]), is_categorical=False)
    'classification'
    >>> infer_kind(np.array([0.5, 1.0, 2.0]), is_categorical=False)
    'regression'
    """
    if is_categorical or values.dtype.kind in "biuOUS":
        return "classification"
    if values.dtype.kind == "f":
        distinct = np.unique(values)
        if len(distinct) == 2 and np.all(distinct == np.round(distinct)):
            return "classification"
    return "regression"


def resolve_task(name, task, values=None, is_categorical=False):
    """Return a copy of ``task`` with its kind, loss and head sizes made concrete.

    Parameters
    ----------
    name : str
        The task's name, for error messages.
    task : Task
        The validated task; never modified.
    values : ndarray or None, default=None
        The task's labelled values, from which an ``"auto"`` kind is
        inferred (:func:`infer_kind`). None when the kind is already
        concrete (a task as fitted).
    is_categorical : bool, default=False
        Whether the column is a pandas categorical.

    Returns
    -------
    task : Task
        The resolved copy.
    """
    kind = task.kind
    if kind == "auto":
        if values is None or not len(values):
            raise ValueError(
                f"Task {name!r} has no labels in y: every value of its column is "
                "missing (NaN, None or NA). Provide labels or remove the task."
            )
        kind = infer_kind(values, is_categorical)
    allowed = CLASSIFICATION_LOSSES if kind == "classification" else REGRESSION_LOSSES
    loss = allowed[0] if task.loss == "auto" else task.loss
    if loss not in allowed:
        other_kind = "regression" if kind == "classification" else "classification"
        raise ValueError(
            f"Task {name!r} is a {kind} task, but its loss is {loss!r}, which is "
            f"a loss for {other_kind}. Use one of {list(allowed)} (or 'auto')."
        )
    if task.class_weight is not None and kind != "classification":
        raise ValueError(
            f"Task {name!r} is a {kind} task, but it has class_weight="
            f"{task.class_weight!r}; class weights apply to classification tasks "
            "only. Remove class_weight, or weigh rows with fit(sample_weight=...)."
        )
    class_weight = task.class_weight
    if isinstance(class_weight, dict):
        class_weight = dict(class_weight)
    return Task(
        kind,
        weight=float(task.weight),
        head_sizes=check_layer_sizes(task.head_sizes, f"Task {name!r}: head_sizes"),
        loss=loss,
        class_weight=class_weight,
        group=task.group,
    )
