"""Evaluating a multi-task model, pipelines included: per-task scores and
out-of-fold predictions.

:func:`score_tasks` scores each task of a fitted Pipeline ending in a
multi-task estimator, without slicing the pipeline. :func:`cross_val_predict`
returns out-of-fold predictions and per-task probabilities, which
scikit-learn's own ``cross_val_predict(method="predict_proba")`` cannot: it
label-encodes every column of a 2-D ``y`` as classes, which breaks on a
regression task and treats a missing label as a class.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from joblib import Parallel, delayed
from numpy.typing import ArrayLike
from sklearn.base import clone
from sklearn.model_selection import check_cv

from ._compat import _safe_indexing
from ._composition import final_multitask, transform_through
from ._targets import stack_predictions


def score_tasks(
    estimator: Any, X: ArrayLike, Y: ArrayLike, sample_weight: ArrayLike | None = None
) -> dict[str, float]:
    """Score each task of a fitted multi-task model or Pipeline ending in one.

    The same scores as :meth:`MultiTaskNetEstimator.score_tasks` (accuracy
    for classification, R² for regression, on each task's labelled rows),
    with ``X`` sent through the pipeline's steps first.

    Parameters
    ----------
    estimator : MultiTaskNetEstimator or Pipeline
        Fitted. Pipelines may nest; a fitted search is looked into through
        its ``best_estimator_``.
    X : array-like of shape (n_samples, n_features)
        Samples, as the pipeline's first step takes them.
    Y : array-like of shape (n_samples, n_tasks) or DataFrame
        True labels, one column per task; missing labels are skipped.
    sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), \
            default=None
        As for :meth:`MultiTaskNetEstimator.score_tasks`.

    Returns
    -------
    scores : dict of str to float
        Task name to score.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_mtl import MultiTaskNetEstimator, score_tasks
    >>> X = np.random.RandomState(0).normal(size=(60, 3))
    >>> Y = np.column_stack([X[:, 0] > 0, X[:, 1]]).astype(float)
    >>> model = make_pipeline(
    ...     StandardScaler(), MultiTaskNetEstimator(max_epochs=5, random_state=0)
    ... ).fit(X, Y)
    >>> sorted(score_tasks(model, X, Y))
    ['task_0', 'task_1']
    """
    final, _, preprocessing = final_multitask(
        estimator, fitted=True, caller="score_tasks"
    )
    return final.score_tasks(
        transform_through(preprocessing, X), Y, sample_weight=sample_weight
    )


def _fit_predict(estimator, X, Y, train, test, method):
    fitted = estimator.fit(_safe_indexing(X, train), _safe_indexing(Y, train))
    final, _, _ = final_multitask(fitted, fitted=True, caller="cross_val_predict")
    output = getattr(fitted, method)(_safe_indexing(X, test))
    if method == "predict_proba" and final._y_1d_:
        output = [output]
    classes = [c for c in final.classes_ if c is not None]
    return test, output, classes, final


def cross_val_predict(
    estimator: Any,
    X: ArrayLike,
    Y: ArrayLike,
    *,
    cv: Any = 5,
    method: str = "predict",
    n_jobs: int | None = None,
) -> Any:
    """Out-of-fold predictions of every task of a multi-task model.

    Each row is predicted by the model fitted on the folds that do not
    contain it. Works with mixed task kinds and missing labels, where
    :func:`sklearn.model_selection.cross_val_predict` cannot for
    ``method="predict_proba"`` (it label-encodes every column of ``Y`` as
    classes: a regression column breaks it, a missing label becomes a class).

    Parameters
    ----------
    estimator : MultiTaskNetEstimator or Pipeline
        The unfitted model; cloned for every fold.
    X : array-like of shape (n_samples, n_features)
    Y : array-like of shape (n_samples, n_tasks) or DataFrame
    cv : int, cross-validation generator or iterable, default=5
        As in :func:`~sklearn.model_selection.cross_val_predict`; the folds
        must partition the rows.
    method : {"predict", "predict_proba"}, default="predict"
    n_jobs : int or None, default=None
        Number of folds fitted in parallel by joblib.

    Returns
    -------
    predictions : ndarray of shape (n_samples, n_tasks), or list of ndarray
        For ``"predict"``, as :meth:`MultiTaskNetEstimator.predict`. For
        ``"predict_proba"``, one (n_samples, n_classes) array per
        classification task, its columns the sorted classes seen by any fold
        (a class a fold's training rows lacked has probability 0 there).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl import MultiTaskNetEstimator, cross_val_predict
    >>> X = np.random.RandomState(0).normal(size=(60, 3))
    >>> Y = np.column_stack([X[:, 0] > 0, X[:, 1]]).astype(float)
    >>> Y[::7, 1] = np.nan
    >>> est = MultiTaskNetEstimator(max_epochs=2, random_state=0)
    >>> cross_val_predict(est, X, Y, cv=3).shape
    (60, 2)
    >>> [p.shape for p in cross_val_predict(est, X, Y, cv=3, method="predict_proba")]
    [(60, 2)]
    """
    if method not in ("predict", "predict_proba"):
        raise ValueError(
            f"method must be 'predict' or 'predict_proba', got {method!r}."
        )
    splits = list(check_cv(cv).split(X))
    n_rows = X.shape[0] if hasattr(X, "shape") else len(X)
    tested = np.concatenate([test for _, test in splits])
    if len(tested) != n_rows or len(np.unique(tested)) != n_rows:
        raise ValueError(
            "cross_val_predict needs folds whose test parts partition the rows "
            "(each row tested once), as KFold's do."
        )
    results = Parallel(n_jobs=n_jobs)(
        delayed(_fit_predict)(clone(estimator), X, Y, train, test, method)
        for train, test in splits
    )
    if method == "predict":
        columns = None
        for test, output, _, final in results:
            output = np.asarray(output, dtype=object)
            output = output.reshape(len(test), -1)
            if columns is None:
                columns = [np.empty(n_rows, dtype=object) for _ in final.task_names_]
            for column, values in zip(columns, output.T):
                column[test] = values
        columns = [np.asarray(column.tolist()) for column in columns]
        return columns[0] if results[0][3]._y_1d_ else stack_predictions(columns)
    n_class_tasks = len(results[0][2])
    merged = []
    for j in range(n_class_tasks):
        classes = np.unique(np.concatenate([r[2][j] for r in results]))
        proba = np.zeros((n_rows, len(classes)))
        for test, output, fold_classes, _ in results:
            columns = np.searchsorted(classes, fold_classes[j])
            proba[np.ix_(test, columns)] = output[j]
        merged.append(proba)
    return merged[0] if results[0][3]._y_1d_ else merged
