"""Scoring one task of a multi-task model with any scikit-learn metric.

:func:`make_task_scorer` returns a scorer, ``scorer(estimator, X, y)``, that
keeps one task's column of ``y`` and its labelled rows, and hands them to a
scikit-learn scorer together with a single-task view of the estimator. The
view answers ``predict``/``predict_proba`` for that task alone and carries the
task's ``classes_``, so scikit-learn's own scorers pick the right response
(probabilities for ROC-AUC, the positive-class column of a binary task, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.metrics import get_scorer, make_scorer

from ._compat import _safe_indexing, scorer_with_kwargs
from ._composition import final_multitask
from ._targets import labelled_values, task_column
from ._task_view import TaskView


class _TaskScorer:
    """Score one task of a multi-task model; see :func:`make_task_scorer`."""

    def __init__(self, task, scorer, metric_name):
        self.task = task
        self.scorer = scorer
        self.metric_name = metric_name

    def __repr__(self):
        return f"make_task_scorer({self.task!r}, {self.metric_name})"

    def __call__(self, estimator, X, y_true, *, sample_weight=None):
        """Score ``estimator``'s predictions of the task on its labelled rows.

        Parameters
        ----------
        estimator : MultiTaskNetEstimator or Pipeline
            A fitted multi-task estimator, or a fitted pipeline whose last step
            is one.
        X : array-like of shape (n_samples, n_features)
            Test samples.
        y_true : DataFrame or array-like of shape (n_samples, n_tasks)
            True labels: a DataFrame with a column named after the task, or
            an array with one column per task in task order (1-D if the
            model was fitted on a 1-D ``y``). Missing labels are skipped.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights, passed to the metric for the labelled rows.

        Returns
        -------
        score : float
            The metric's score (negated for a ``neg_*`` metric), NaN when no
            row has a label for the task.
        """
        model, _, _ = final_multitask(estimator, fitted=True, caller="A task scorer")
        names = list(model.task_names_)
        if self.task not in names:
            raise ValueError(
                f"make_task_scorer got task={self.task!r}, but the estimator's "
                f"tasks are {names}. Pass one of these names."
            )
        index = names.index(self.task)
        column, _ = task_column(y_true, self.task, names)
        values, missing, _ = labelled_values(column)
        if not len(values):
            return np.nan
        kind = model.tasks_[index][1].kind
        classes = model.classes_[index]
        view = TaskView(estimator, self.task)
        if kind == "classification" and {values.dtype.kind, classes.dtype.kind} <= set(
            "biuf"
        ):
            # e.g. bool classes given as 0./1. in a float array
            values = values.astype(classes.dtype)
        rows = np.flatnonzero(~missing)
        X_task = X if not missing.any() else _safe_indexing(X, rows)
        kwargs = {}
        if sample_weight is not None:
            kwargs["sample_weight"] = np.asarray(sample_weight)[rows]
        try:
            return self.scorer(view, X_task, values, **kwargs)
        except AttributeError as exc:
            if kind == "regression" and "predict_proba" in str(exc):
                raise ValueError(
                    f"Task {self.task!r} is a regression task, but the metric "
                    f"{self.metric_name} needs class probabilities. Use a "
                    "regression metric such as 'r2' or 'neg_mean_absolute_error'."
                ) from None
            raise


def make_task_scorer(
    task: str, metric: str | Callable[..., float], **kwargs: Any
) -> Callable[..., float]:
    """Make a scorer of one task of a multi-task model.

    The scorer evaluates the predictions of task ``task`` with a
    scikit-learn metric, on the rows of ``y`` that have a label for that
    task (missing labels are skipped). It is a plain scikit-learn scorer,
    ``scorer(estimator, X, y)``: use it as ``scoring`` in
    :class:`~sklearn.model_selection.GridSearchCV`,
    :func:`~sklearn.model_selection.cross_validate` or
    :func:`~sklearn.inspection.permutation_importance`, on a
    :class:`MultiTaskNetEstimator` or on a
    :class:`~sklearn.pipeline.Pipeline` that ends with one.

    Parameters
    ----------
    task : str
        The name of the task to score, as in the estimator's ``task_names_``.

    metric : str or callable
        A scikit-learn scorer name (see
        :func:`sklearn.metrics.get_scorer_names`), e.g. ``"accuracy"``,
        ``"roc_auc"``, ``"f1_macro"``, ``"r2"`` or
        ``"neg_mean_absolute_error"``; scorers that need probabilities get
        them from ``predict_proba``, for a binary task in the column of the
        positive class (the greater label unless ``pos_label`` is given).
        Or a metric function ``metric(y_true, y_pred, **kwargs)``, wrapped by
        :func:`sklearn.metrics.make_scorer`.

    **kwargs : dict
        Extra arguments of the metric, e.g. ``pos_label="yes"`` or
        ``average="macro"``. With a callable ``metric``, ``make_scorer``'s
        own ``response_method`` and ``greater_is_better`` may be given too.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y, *, sample_weight=None)``, returning a float
        where greater is better (NaN if no row of ``y`` has a label for the
        task). ``y`` is a DataFrame with a column named ``task``, or an array
        with one column per task in task order.

    See Also
    --------
    MultiTaskNetEstimator.score_tasks : Accuracy or R² of every task at once.
    sklearn.metrics.make_scorer : Make a scorer from a metric function.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl import MultiTaskNetEstimator, Task, make_task_scorer
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(100, 3))
    >>> y = np.column_stack([X[:, 0] > 0, X[:, 1]])
    >>> y[::4, 0] = np.nan  # a quarter of the first task's labels are missing
    >>> est = MultiTaskNetEstimator(
    ...     tasks=[("sign", Task("classification")), ("value", Task("regression"))],
    ...     max_epochs=50, random_state=0,
    ... ).fit(X, y)
    >>> roc_auc = make_task_scorer("sign", "roc_auc")
    >>> roc_auc
    make_task_scorer('sign', 'roc_auc')
    >>> print(f"{roc_auc(est, X, y):.2f}")
    1.00
    >>> mae = make_task_scorer("value", "neg_mean_absolute_error")
    >>> mae(est, X, y) < 0
    True
    """
    if not isinstance(task, str):
        raise TypeError(
            f"task must be the name of a task (a str), got {task!r}. "
            "Example: make_task_scorer('age', 'r2')."
        )
    if isinstance(metric, str):
        scorer = get_scorer(metric)
        if kwargs:
            # Rebuild the named scorer with the extra metric arguments.
            scorer = scorer_with_kwargs(scorer, kwargs)
        metric_name = repr(metric)
    elif callable(metric):
        scorer = make_scorer(metric, **kwargs)
        metric_name = getattr(metric, "__name__", repr(metric))
    else:
        raise TypeError(
            "metric must be a scikit-learn scorer name such as 'accuracy' or "
            "'neg_mean_absolute_error' (see sklearn.metrics.get_scorer_names()), "
            f"or a metric function metric(y_true, y_pred); got {metric!r}."
        )
    if kwargs:
        metric_name += "".join(f", {k}={v!r}" for k, v in kwargs.items())
    return _TaskScorer(task, scorer, metric_name)
