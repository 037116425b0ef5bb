"""Does learning the tasks together help each of them? :func:`transfer_report`."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from numpy.typing import ArrayLike
from sklearn.base import clone
from sklearn.model_selection import check_cv

from ._compat import _safe_indexing
from ._composition import final_multitask, transform_through
from ._targets import read_targets


def _fit_and_score(estimator, X, Y, train, test, conflict):
    """Fit on ``train``, score each task on ``test``; optionally the cosines."""
    X_train, X_test = _safe_indexing(X, train), _safe_indexing(X, test)
    Y_train, Y_test = _safe_indexing(Y, train), _safe_indexing(Y, test)
    fitted = estimator.fit(X_train, Y_train)
    final, _, preprocessing = final_multitask(
        fitted, fitted=True, caller="transfer_report"
    )
    scores = final.score_tasks(transform_through(preprocessing, X_test), Y_test)
    cosines = getattr(final, "gradient_cosine_", None) if conflict else None
    kinds = [task.kind for _, task in final.tasks_]
    return scores, kinds, cosines


def _task_column(Y, j, name, column_names):
    """``Y``'s column of one task, kept 2-D so that the task keeps its name."""
    if column_names is not None:
        return Y[[Y.columns[column_names.index(name)]]]
    Y = np.asarray(Y)
    return Y.reshape(len(Y), -1)[:, [j]]


def single_task_models(estimator, prefix, tasks, Y, column_names, **params):
    """(model, targets) for each task alone: ``estimator`` on that one task.

    The task keeps its settings but weighs 1; the weighting is fixed and
    the schedule joint (both are moot with one task). ``params`` (without
    ``prefix``) are set too, to turn off what only the multi-task model
    records. Used by :func:`transfer_report` and the grouping report.
    """
    models = []
    for j, (name, task) in enumerate(tasks):
        settings = {
            "tasks": [(name, clone(task).set_params(weight=1.0))],
            "weighting": "fixed",
            "schedule": "joint",
            **params,
        }
        single = clone(estimator).set_params(
            **{f"{prefix}{key}": value for key, value in settings.items()}
        )
        models.append((single, _task_column(Y, j, name, column_names)))
    return models


def transfer_report(
    estimator: Any,
    X: ArrayLike,
    Y: ArrayLike,
    *,
    cv: Any = 5,
    n_jobs: int | None = None,
    gradient_conflict: bool = False,
) -> Any:
    """Compare the multi-task model with one single-task model per task.

    In each cross-validation fold, fits a clone of ``estimator`` on all tasks
    and, for each task, a clone with that task alone (same trunk, towers and
    head architecture, ``weighting="fixed"``, ``Task.weight=1``), and scores
    every task on the fold's test rows with
    :meth:`MultiTaskNetEstimator.score_tasks` (accuracy for classification,
    R² for regression). A task whose mean multi-task score is below its
    single-task score suffers negative transfer: the other tasks hurt it.

    Parameters
    ----------
    estimator : MultiTaskNetEstimator or Pipeline
        The unfitted model, or a Pipeline ending in it; cloned for every fit.
    X : array-like of shape (n_samples, n_features)
        The features.
    Y : array-like of shape (n_samples, n_tasks) or DataFrame
        The targets, one column per task, as for ``fit``.
    cv : int, cross-validation generator or iterable, default=5
        As in :func:`~sklearn.model_selection.cross_validate`; an int means
        that many unshuffled :class:`~sklearn.model_selection.KFold` folds.
        All models see the same folds.
    n_jobs : int or None, default=None
        Number of fits run in parallel by joblib.
    gradient_conflict : bool, default=False
        Also fit the multi-task models with
        ``record_gradient_conflict=True`` and report each task's mean cosine
        similarity with the other tasks' gradients on the trunk (last
        epoch, averaged over folds): negative values point at conflicts.

    Returns
    -------
    report : pandas.DataFrame or dict
        One row per task (indexed by task name), with columns ``metric``,
        ``multi_task_mean``, ``multi_task_std``, ``single_task_mean``,
        ``single_task_std``, ``delta`` (multi minus single task mean),
        ``negative_transfer`` (``delta < 0``) and, with
        ``gradient_conflict``, ``mean_grad_cosine``. Means and standard
        deviations are over the folds whose test rows label the task. A
        dict of columns (each a list in task order, plus ``"task"``) when
        pandas is not installed.

    See Also
    --------
    MultiTaskNetEstimator : Its ``record_gradient_conflict`` parameter
        records the gradient cosines per epoch.

    Notes
    -----
    It costs ``n_splits * (n_tasks + 1)`` fits. A ``delta`` within about a
    standard deviation is not evidence either way.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl import MultiTaskNetEstimator, transfer_report
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(120, 4))
    >>> Y = np.column_stack([X[:, 0] + X[:, 1], X[:, 0] - X[:, 1]])
    >>> est = MultiTaskNetEstimator(trunk_sizes=(8,), max_epochs=3, random_state=0)
    >>> report = transfer_report(est, X, Y, cv=2)
    >>> list(report.index)
    ['task_0', 'task_1']
    """
    final, prefix, _ = final_multitask(
        estimator, fitted=False, caller="transfer_report"
    )
    tasks, _, _ = read_targets(Y, final.tasks, final.get_params(deep=False), len(Y))
    column_names = list(map(str, Y.columns)) if hasattr(Y, "columns") else None
    names = [name for name, _ in tasks]
    splits = list(check_cv(cv).split(X))

    # One model per row: the multi-task model, then each task alone.
    models = [
        (
            clone(estimator).set_params(
                **{f"{prefix}record_gradient_conflict": bool(gradient_conflict)}
            ),
            Y,
        )
    ]
    models += single_task_models(
        estimator, prefix, tasks, Y, column_names, record_gradient_conflict=False
    )
    results = Parallel(n_jobs=n_jobs)(
        delayed(_fit_and_score)(
            clone(model), X, y, train, test, gradient_conflict and i == 0
        )
        for i, (model, y) in enumerate(models)
        for train, test in splits
    )
    n_splits = len(splits)
    multi, singles = results[:n_splits], results[n_splits:]
    multi_scores = np.array([[scores[n] for n in names] for scores, _, _ in multi])
    single_scores = np.array(
        [
            [singles[j * n_splits + k][0][name] for j, name in enumerate(names)]
            for k in range(n_splits)
        ]
    )
    with warnings.catch_warnings():  # all-NaN: a task never labelled in a test fold
        warnings.simplefilter("ignore", RuntimeWarning)
        report = {
            "task": names,
            "metric": [
                "accuracy" if kind == "classification" else "r2" for kind in multi[0][1]
            ],
            "multi_task_mean": np.nanmean(multi_scores, axis=0).tolist(),
            "multi_task_std": np.nanstd(multi_scores, axis=0).tolist(),
            "single_task_mean": np.nanmean(single_scores, axis=0).tolist(),
            "single_task_std": np.nanstd(single_scores, axis=0).tolist(),
        }
        report["delta"] = [
            m - s for m, s in zip(report["multi_task_mean"], report["single_task_mean"])
        ]
        report["negative_transfer"] = [bool(d < 0) for d in report["delta"]]
        if gradient_conflict:
            cosines = np.array([c for _, _, c in multi])  # folds, tasks, tasks
            others = ~np.eye(len(names), dtype=bool)
            report["mean_grad_cosine"] = [
                float(np.nanmean(cosines[:, i, others[i]])) for i in range(len(names))
            ]
    try:
        import pandas as pd
    except ImportError:
        return report
    return pd.DataFrame(report).set_index("task")
