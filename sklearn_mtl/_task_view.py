"""One task of a fitted multi-task model as a fitted scikit-learn estimator.

scikit-learn's inspection and display tools (``PartialDependenceDisplay``,
``RocCurveDisplay``, ``CalibrationDisplay``, ``permutation_importance``)
expect a single-output classifier or regressor. :class:`TaskView` is one:
it answers ``predict``/``predict_proba`` for one task of a fitted
:class:`~sklearn_mtl.MultiTaskNetEstimator` (or of a fitted Pipeline ending
in one) and carries that task's ``classes_`` and estimator type.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator
from sklearn.metrics import r2_score
from sklearn.utils.metaestimators import available_if

from ._composition import final_multitask


def _is_classification(view):
    return view._task()[2] == "classification"


class TaskView(BaseEstimator):
    """One task of a fitted multi-task model, seen as a fitted estimator.

    A classifier for a classification task, a regressor for a regression
    task: scikit-learn's displays and inspection tools accept it. It holds
    no copy of the model; it reads the fitted ``estimator`` at each call.
    ``MultiTaskNetEstimator.task_estimator(task)`` makes one.

    Parameters
    ----------
    estimator : MultiTaskNetEstimator or Pipeline
        A fitted multi-task estimator, or a fitted Pipeline (or search)
        whose final estimator is one. ``X`` is given to it as it is.
    task : str
        The name of the task, as in the estimator's ``task_names_``.

    Attributes
    ----------
    classes_ : ndarray
        The task's class labels (classification tasks only).

    See Also
    --------
    MultiTaskNetEstimator.task_estimator : The view of one of its tasks.
    sklearn.frozen.FrozenEstimator : Another fitted estimator that ``fit``
        leaves as it is.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.base import is_classifier, is_regressor
    >>> from sklearn_mtl import MultiTaskNetEstimator
    >>> X = np.random.RandomState(0).normal(size=(50, 3))
    >>> Y = np.column_stack([X[:, 0] > 0, X[:, 1]]).astype(float)
    >>> est = MultiTaskNetEstimator(max_epochs=2, random_state=0).fit(X, Y)
    >>> sign, value = est.task_estimator("task_0"), est.task_estimator("task_1")
    >>> is_classifier(sign), is_regressor(value)
    (True, True)
    >>> sign.predict_proba(X[:2]).shape
    (2, 2)
    """

    def __init__(self, estimator: Any, task: str) -> None:
        self.estimator = estimator
        self.task = task

    def _task(self):
        """The final estimator, the task's position, kind and classes."""
        model, _, _ = final_multitask(self.estimator, fitted=True, caller="TaskView")
        names = list(model.task_names_)
        if self.task not in names:
            raise ValueError(
                f"TaskView got task={self.task!r}, but the estimator's tasks are "
                f"{names}. Pass one of these names."
            )
        index = names.index(self.task)
        kind = model.tasks_[index][1].kind
        return model, index, kind, model.classes_[index]

    def __sklearn_is_fitted__(self):
        try:
            self._task()
        except TypeError:
            return False
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            kind = self._task()[2]
        except (TypeError, ValueError):  # unfitted: no type yet
            return tags
        tags.estimator_type = "classifier" if kind == "classification" else "regressor"
        return tags

    @property
    def classes_(self):
        _, _, kind, classes = self._task()
        if kind != "classification":
            raise AttributeError(f"Task {self.task!r} is a regression task.")
        return classes

    @property
    def n_features_in_(self):
        return self.estimator.n_features_in_

    @property
    def feature_names_in_(self):
        return self.estimator.feature_names_in_

    def fit(self, X: ArrayLike = None, y: ArrayLike = None, **fit_params) -> TaskView:
        """Leave the view as it is: the multi-task model is fitted already.

        Parameters
        ----------
        X, y, **fit_params : ignored

        Returns
        -------
        self : TaskView
            This view, unchanged.
        """
        return self

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The task's predictions: class labels, or values in its units.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The task's class labels, or its values in the target's units.
        """
        model, index, kind, classes = self._task()
        y_pred = self.estimator.predict(X)
        if hasattr(y_pred, "iloc"):  # set_output(predict="pandas")
            y_pred = y_pred if y_pred.ndim == 1 else y_pred.iloc[:, index]
            y_pred = y_pred.to_numpy()
        elif not model._y_1d_:
            y_pred = y_pred[:, index]
        if kind == "regression":
            return y_pred.astype(np.float64)
        # a column of an object array (tasks with mixed label types): restore
        # the task's own label dtype
        return y_pred.astype(classes.dtype, copy=False)

    def score(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike = None):
        """Accuracy (classification) or R² (regression) of the task on ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            The task's true labels, without missing values.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
            Accuracy, or R².
        """
        y_pred = self.predict(X)
        y = np.asarray(y)
        if self._task()[2] == "regression":
            return float(
                r2_score(y.astype(np.float64), y_pred, sample_weight=sample_weight)
            )
        # a plain comparison: accuracy_score refuses fractional float classes
        return float(np.average(y_pred == y, weights=sample_weight))

    @available_if(_is_classification)
    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """The task's class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            The probability of each class; rows sum to one.
        """
        model, index, _, _ = self._task()
        proba = self.estimator.predict_proba(X)
        if model._y_1d_:
            return np.asarray(proba)
        kinds = [task.kind for _, task in model.tasks_]
        return np.asarray(proba[kinds[:index].count("classification")])
