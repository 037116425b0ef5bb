"""Target tables: one column per task, missing labels, and label encoding.

Data flows one way: a user's ``y`` is split into per-task columns
(:func:`split_columns`), each column's labelled values and missing-label mask
are extracted (:func:`labelled_values`), and a per-task codec
(:class:`ClassificationTarget` or :class:`RegressionTarget`) turns labels into
the float32 codes the network trains on (NaN where a label is missing), and
network outputs back into labels in the caller's own label space.
"""

import sys
from numbers import Real

import numpy as np


def _is_dataframe(obj):
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(obj, pd.DataFrame)


def _is_series(obj):
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(obj, pd.Series)


def split_columns(y):
    """Split a target table into its columns.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, n_tasks), or DataFrame
        The target table.

    Returns
    -------
    columns : list
        One 1-D array (or pandas Series, which keeps its dtype) per column.
    names : list of str or None
        The DataFrame's (or named Series') column names; None for arrays.
    was_1d : bool
        Whether ``y`` was one-dimensional.
    """
    if _is_dataframe(y):
        names = [str(c) for c in y.columns]
        return [y.iloc[:, j] for j in range(y.shape[1])], names, False
    if _is_series(y):
        names = None if y.name is None else [str(y.name)]
        return [y], names, True
    if hasattr(y, "toarray") or hasattr(y, "tocsr"):
        raise TypeError(
            "y must be dense; got a sparse matrix. Convert it with y.toarray()."
        )
    arr = np.asarray(y)
    if arr.ndim == 1:
        return [arr], None, True
    if arr.ndim != 2:
        raise ValueError(
            "y must be 1-D (one task) or 2-D (one column per task); got an array "
            f"of shape {arr.shape}."
        )
    return [arr[:, j] for j in range(arr.shape[1])], None, False


def _missing_mask(values):
    """Boolean mask of missing labels: NaN, None or pandas.NA."""
    if values.dtype.kind in "fc":
        return np.isnan(values)
    if values.dtype.kind == "O":
        pd = sys.modules.get("pandas")
        if pd is not None:
            return np.asarray(pd.isna(values), dtype=bool)
        return np.array(
            [v is None or (isinstance(v, Real) and v != v) for v in values],
            dtype=bool,
        )
    return np.zeros(values.shape, dtype=bool)


def labelled_values(column):
    """Return a column's labelled values and its missing-label mask.

    Parameters
    ----------
    column : 1-D ndarray or pandas Series
        One task's column.

    Returns
    -------
    values : ndarray
        The labelled (non-missing) values, with the most specific dtype they
        allow: pandas nullable integers become int64, an object array of
        numbers becomes numeric.
    missing : ndarray of bool
        True where the label is missing.
    is_categorical : bool
        Whether the column is a pandas categorical.
    """
    if _is_series(column):
        missing = column.isna().to_numpy()
        values = column[~missing].to_numpy()
        is_categorical = str(column.dtype) == "category"
    else:
        column = np.asarray(column)
        missing = _missing_mask(column)
        values = column[~missing]
        is_categorical = False
    if values.dtype.kind == "O" and len(values):
        is_number = [
            isinstance(v, Real) and not isinstance(v, (bool, np.bool_)) for v in values
        ]
        is_bool = [isinstance(v, (bool, np.bool_)) for v in values]
        if all(is_number) or all(is_bool):
            values = np.asarray(values.tolist())
    return values, missing, is_categorical


def infer_kind(values, is_categorical):
    """Infer a task's kind from its labelled values (the rule of ``Task.kind``)."""
    if is_categorical or values.dtype.kind in "biuOUS":
        return "classification"
    if values.dtype.kind == "f":
        distinct = np.unique(values)
        if len(distinct) == 2 and np.all(distinct == np.round(distinct)):
            return "classification"
    return "regression"


class ClassificationTarget:
    """Codec between a task's class labels and class indices.

    Parameters
    ----------
    classes : ndarray
        The sorted class labels seen in fit.
    """

    def __init__(self, classes):
        self.classes = classes

    @property
    def n_outputs(self):
        return len(self.classes)

    @classmethod
    def from_labels(cls, name, values):
        try:
            classes = np.unique(values)
        except TypeError:
            types = sorted({type(v).__name__ for v in values})
            raise TypeError(
                f"Task {name!r} mixes label types {types}; the labels of a "
                "classification task must be all strings or all numbers."
            ) from None
        if len(classes) < 2:
            raise ValueError(
                f"Task {name!r} is a classification task, but its labels hold only "
                f"one class ({classes[0]!r}); it needs at least 2 classes. Remove "
                "the task or provide labels of another class."
            )
        return cls(classes)

    def encode(self, values, missing):
        codes = np.full(missing.shape, np.nan, dtype=np.float32)
        codes[~missing] = np.searchsorted(self.classes, values)
        return codes

    def decode(self, logits):
        return self.classes[np.argmax(logits, axis=1)]


class RegressionTarget:
    """Codec between a regression target and its standardized values.

    Parameters
    ----------
    mean, scale : float
        The labelled values' mean and standard deviation (1 when constant).
    """

    def __init__(self, mean, scale):
        self.mean = mean
        self.scale = scale

    n_outputs = 1

    @classmethod
    def from_labels(cls, name, values):
        if values.dtype.kind not in "biuf":
            example = next(
                (v for v in values if not isinstance(v, Real)), values[0]
            )
            raise ValueError(
                f"Task {name!r} is a regression task, but its labels are not "
                f"numeric (got {example!r} of type {type(example).__name__}). Use "
                f"Task('classification') for class labels, or convert the column "
                "to numbers."
            )
        values = values.astype(np.float64)
        if not np.all(np.isfinite(values)):
            raise ValueError(
                f"Task {name!r} has infinite labels; regression labels must be "
                "finite (use NaN to mark a missing label)."
            )
        scale = float(np.std(values))
        return cls(float(np.mean(values)), scale if scale > 0 else 1.0)

    def encode(self, values, missing):
        codes = np.full(missing.shape, np.nan, dtype=np.float32)
        codes[~missing] = (values.astype(np.float64) - self.mean) / self.scale
        return codes

    def decode(self, output):
        return output[:, 0].astype(np.float64) * self.scale + self.mean


def fit_target(name, kind, values):
    """Build the codec of task ``name`` of kind ``kind`` from its labelled values."""
    if len(values) == 0:
        raise ValueError(
            f"Task {name!r} has no labels in y: every value of its column is "
            "missing (NaN, None or NA). Provide labels or remove the task."
        )
    target_class = ClassificationTarget if kind == "classification" else RegressionTarget
    return target_class.from_labels(name, values)


def check_warm_start_labels(name, target, values):
    """Raise if ``values`` hold labels that ``target`` (fitted earlier) can't encode."""
    if isinstance(target, ClassificationTarget):
        unseen = np.setdiff1d(values, target.classes)
        if len(unseen):
            raise ValueError(
                f"Task {name!r} has labels {unseen.tolist()} that the fitted network "
                f"has no output for (its classes are {target.classes.tolist()}). "
                "Set warm_start=False to fit a new network."
            )
    else:
        RegressionTarget.from_labels(name, values)  # same checks as a first fit


def stack_predictions(columns):
    """Stack per-task prediction columns, keeping a common dtype or using object."""
    kinds = {col.dtype.kind for col in columns}
    dtype = np.result_type(*columns) if len(kinds) == 1 else object
    out = np.empty((len(columns[0]), len(columns)), dtype=dtype)
    for j, col in enumerate(columns):
        out[:, j] = col
    return out
