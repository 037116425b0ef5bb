"""Does grouping the tasks pay? :func:`task_grouping_report`."""

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
from ._grouping import group_tasks, suggest_task_groups
from ._targets import read_targets
from ._transfer_report import single_task_models

MODELS = ("grouped", "together", "alone")


def _fit_and_score(estimator, X, Y, train, test):
    """Fit on ``train``; each task's test score, and the affinity if recorded."""
    fitted = estimator.fit(_safe_indexing(X, train), _safe_indexing(Y, train))
    final, _, preprocessing = final_multitask(
        fitted, fitted=True, caller="task_grouping_report"
    )
    X_test = transform_through(preprocessing, _safe_indexing(X, test))
    scores = final.score_tasks(X_test, _safe_indexing(Y, test))
    kinds = [task.kind for _, task in final.tasks_]
    return scores, kinds, getattr(final, "task_affinity_", None)


def task_grouping_report(
    estimator: Any,
    X: ArrayLike,
    Y: ArrayLike,
    *,
    n_groups: int = 2,
    record_task_affinity: int = 10,
    cv: Any = 5,
    n_jobs: int | None = None,
) -> Any:
    """Propose task groups from measured affinities and check that they pay.

    In each cross-validation fold, on the fold's training rows:

    1. fit a clone of ``estimator`` with every task on the one trunk
       (``Task.group`` unset) and ``record_task_affinity`` (recording does
       not change the model): the *together* model;
    2. turn its ``task_affinity_`` into at most ``n_groups`` groups with
       :func:`suggest_task_groups`, and fit a clone whose tasks have these
       groups (a tower per group, of ``group_sizes``): the *grouped* model;
    3. fit one clone per task with that task alone (``weighting="fixed"``,
       ``Task.weight=1``, as in :func:`transfer_report`): the *alone*
       models;

    then score every task of every model on the fold's test rows
    (:meth:`MultiTaskNetEstimator.score_tasks`: accuracy or R²). The groups
    are proposed from each fold's training rows only, so the grouped score
    is that of the whole procedure, not of groups chosen on the test rows.

    Parameters
    ----------
    estimator : MultiTaskNetEstimator or Pipeline
        The unfitted model, or a Pipeline ending in it; cloned for every fit.
    X : array-like of shape (n_samples, n_features)
    Y : array-like of shape (n_samples, n_tasks) or DataFrame
        The targets, one column per task, as for ``fit``.
    n_groups : int, default=2
        The most groups :func:`suggest_task_groups` may propose.
    record_task_affinity : int, default=10
        The together model's ``record_task_affinity``: measure every that
        many steps.
    cv : int, cross-validation generator or iterable, default=5
        As in :func:`~sklearn.model_selection.cross_validate`; all models
        see the same folds.
    n_jobs : int or None, default=None
        Number of fits run in parallel by joblib.

    Returns
    -------
    report : pandas.DataFrame or dict
        One row per task (indexed by task name), with columns ``metric``,
        ``group`` (the task's group proposed from the affinities averaged
        over the folds), ``grouped_mean``, ``grouped_std``,
        ``together_mean``, ``together_std``, ``alone_mean``, ``alone_std``
        (means and standard deviations over the folds whose test rows label
        the task) and ``best`` (the model with the highest mean). Its
        ``attrs`` hold ``"task_affinity"`` (the mean matrix over the
        folds), ``"fold_groups"`` (each fold's groups) and ``"summary"``:
        per model, the mean and the standard deviation over folds of the
        tasks' mean score. A dict of the columns (each a list in task
        order, plus ``"task"``) and of these three entries when pandas is
        not installed.

    See Also
    --------
    suggest_task_groups : Groups from an affinity matrix.
    transfer_report : Multi-task against single-task models.

    Notes
    -----
    It costs ``n_splits * (n_tasks + 2)`` fits. The grouped model has more
    parameters than the together model (the group towers); a gain within
    about a standard deviation is not evidence either way.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl import MultiTaskNetEstimator, task_grouping_report
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(120, 4))
    >>> Y = np.column_stack([X[:, 0], X[:, 0] + 0.1 * X[:, 1], X[:, 2]])
    >>> est = MultiTaskNetEstimator(trunk_sizes=(8,), max_epochs=3, random_state=0)
    >>> report = task_grouping_report(est, X, Y, cv=2, record_task_affinity=1)
    >>> list(report.columns)[:2]
    ['metric', 'group']
    """
    final, prefix, _ = final_multitask(
        estimator, fitted=False, caller="task_grouping_report"
    )
    tasks, _, _ = read_targets(Y, final.tasks, final.get_params(deep=False), len(Y))
    column_names = list(map(str, Y.columns)) if hasattr(Y, "columns") else None
    names = [name for name, _ in tasks]
    splits = list(check_cv(cv).split(X))
    n_splits = len(splits)
    ungrouped = group_tasks(tasks, dict.fromkeys(names))
    together = clone(estimator).set_params(
        **{
            f"{prefix}tasks": ungrouped,
            f"{prefix}record_task_affinity": record_task_affinity,
        }
    )
    models = [(together, Y)]
    models += single_task_models(
        estimator, prefix, ungrouped, Y, column_names, record_task_affinity=None
    )
    results = Parallel(n_jobs=n_jobs)(
        delayed(_fit_and_score)(clone(model), X, y, train, test)
        for model, y in models
        for train, test in splits
    )
    joint, singles = results[:n_splits], results[n_splits:]
    fold_groups = [
        suggest_task_groups(affinity, n_groups, task_names=names)
        for _, _, affinity in joint
    ]
    grouped_results = Parallel(n_jobs=n_jobs)(
        delayed(_fit_and_score)(
            clone(estimator).set_params(
                **{
                    f"{prefix}tasks": group_tasks(ungrouped, groups),
                    f"{prefix}record_task_affinity": None,
                }
            ),
            X,
            Y,
            train,
            test,
        )
        for groups, (train, test) in zip(fold_groups, splits)
    )
    scores = {
        "grouped": np.array([[s[n] for n in names] for s, _, _ in grouped_results]),
        "together": np.array([[s[n] for n in names] for s, _, _ in joint]),
        "alone": np.array(
            [
                [singles[j * n_splits + k][0][name] for j, name in enumerate(names)]
                for k in range(n_splits)
            ]
        ),
    }
    with warnings.catch_warnings():  # all-NaN: never labelled together / in a fold
        warnings.simplefilter("ignore", RuntimeWarning)
        affinity = np.nanmean(np.array([a for _, _, a in joint]), axis=0)
        report = {
            "task": names,
            "metric": [
                "accuracy" if kind == "classification" else "r2" for kind in joint[0][1]
            ],
            "group": list(
                suggest_task_groups(affinity, n_groups, task_names=names).values()
            ),
        }
        for model in MODELS:
            report[f"{model}_mean"] = np.nanmean(scores[model], axis=0).tolist()
            report[f"{model}_std"] = np.nanstd(scores[model], axis=0).tolist()
        report["best"] = [
            MODELS[int(np.nanargmax([report[f"{m}_mean"][i] for m in MODELS]))]
            if not np.isnan([report[f"{m}_mean"][i] for m in MODELS]).all()
            else None
            for i in range(len(names))
        ]
        fold_means = {m: np.nanmean(scores[m], axis=1) for m in MODELS}
        summary = {
            model: {
                "mean": float(np.nanmean(fold_means[model])),
                "std": float(np.nanstd(fold_means[model])),
            }
            for model in MODELS
        }
    extras = {
        "task_affinity": affinity,
        "fold_groups": fold_groups,
        "summary": summary,
    }
    try:
        import pandas as pd
    except ImportError:
        return {**report, **extras}
    frame = pd.DataFrame(report).set_index("task")
    frame.attrs.update(extras)
    return frame
