"""Target tables: one column per task, missing labels, and label encoding.

Data flows one way: a user's ``y`` is split into per-task columns
(:func:`split_columns`) and ordered like the tasks (:func:`match_columns`),
each column's labelled values and missing-label mask are extracted
(:func:`labelled_values`; a label whose weight is zero counts as missing,
:func:`drop_zero_weight`), and a per-task codec
(:class:`ClassificationTarget` or :class:`RegressionTarget`) turns labels into
the float32 codes the network trains on (NaN where a label is missing), and
network outputs back into labels in the caller's own label space.
Per-label training weights (``sample_weight`` times ``Task.class_weight``)
are checked and assembled by :func:`check_sample_weight` and
:func:`label_weights`.
"""

import sys
from numbers import Real

import numpy as np

from ._task import resolve_task


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
            example = next((v for v in values if not isinstance(v, Real)), values[0])
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
    target_class = (
        ClassificationTarget if kind == "classification" else RegressionTarget
    )
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


def match_columns(columns, column_names, tasks):
    """Order ``y``'s columns like ``tasks``: by name (DataFrame) or by position."""
    task_names = [name for name, _ in tasks]
    if column_names is None:
        if len(columns) != len(task_names):
            raise ValueError(
                f"y has {len(columns)} column(s) but there are {len(task_names)} "
                f"tasks {task_names}; y needs one column per task, in task order."
            )
        return columns
    missing = [name for name in task_names if name not in column_names]
    if missing:
        raise ValueError(
            f"y has no column for task(s) {missing}; its columns are "
            f"{column_names}. A DataFrame y is matched to the tasks by column name."
        )
    extra = [name for name in column_names if name not in task_names]
    if extra:
        raise ValueError(
            f"y has column(s) {extra} that match no task; the tasks are "
            f"{task_names}. Drop these columns or add a task for each."
        )
    return [columns[column_names.index(name)] for name in task_names]


# -- per-label weights -----------------------------------------------------------


def check_sample_weight(sample_weight, n_samples, task_names):
    """Validate ``fit``'s ``sample_weight`` and broadcast it to one column per task.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), \
            DataFrame or None
        Per row, or per row and task (a DataFrame's columns are matched to
        the task names).
    n_samples : int
    task_names : list of str

    Returns
    -------
    weights : ndarray of shape (n_samples, n_tasks), float64, or None
    """
    if sample_weight is None:
        return None
    if hasattr(sample_weight, "toarray") or hasattr(sample_weight, "tocsr"):
        raise TypeError("sample_weight must be dense; convert it with .toarray().")
    if _is_dataframe(sample_weight):
        columns, names, _ = split_columns(sample_weight)
        columns = match_columns(columns, names, [(name, None) for name in task_names])
        sample_weight = np.column_stack([np.asarray(c) for c in columns])
    try:
        weights = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"sample_weight must hold numbers ({exc}).") from None
    n_tasks = len(task_names)
    if weights.ndim == 1 and len(weights) == n_samples:
        weights = np.repeat(weights[:, None], n_tasks, axis=1)
    elif weights.shape != (n_samples, n_tasks):
        raise ValueError(
            f"sample_weight has shape {weights.shape}, but X has {n_samples} rows "
            f"and there are {n_tasks} task(s) {task_names}; pass one weight per row "
            f"(shape ({n_samples},)) or one per row and task (shape "
            f"({n_samples}, {n_tasks}), columns in task order)."
        )
    if not np.all(np.isfinite(weights)):
        raise ValueError(
            "sample_weight holds NaN or infinite values; weights must be finite. "
            "Give a missing label weight 0, or leave the label missing in y."
        )
    if np.any(weights < 0):
        rows, cols = np.nonzero(weights < 0)
        raise ValueError(
            f"sample_weight must be non-negative, got {weights[rows[0], cols[0]]} "
            f"at row {rows[0]} (task {task_names[cols[0]]!r})."
        )
    if not np.any(weights > 0):
        raise ValueError(
            "sample_weight is zero everywhere: at least one label needs a "
            "positive weight (a zero weight leaves the label out of training)."
        )
    return weights


def drop_zero_weight(values, missing, weights):
    """Count labels of zero weight as missing.

    Parameters
    ----------
    values : ndarray
        A column's labelled values, as from :func:`labelled_values`.
    missing : ndarray of bool
        Its missing-label mask.
    weights : ndarray of shape (n_samples,) or None
        The column's sample weights.

    Returns
    -------
    values, missing : the same, without the labels of zero weight.
    """
    if weights is None:
        return values, missing
    zero = weights == 0
    return values[~zero[~missing]], missing | zero


def label_weights(name, target, class_weight, values):
    """Per labelled value, the weight of its class; None without class weights.

    ``"balanced"`` gives class ``c`` the weight ``n / (n_classes * n_c)``,
    counted on ``values`` (scikit-learn's formula).
    """
    if class_weight is None:
        return None
    classes = target.classes
    codes = np.searchsorted(classes, values)
    if isinstance(class_weight, str):  # "balanced"
        counts = np.bincount(codes, minlength=len(classes)).astype(np.float64)
        per_class = len(values) / (len(classes) * np.maximum(counts, 1))
    else:
        known = classes.tolist()
        unknown = [key for key in class_weight if key not in known]
        if unknown:
            raise ValueError(
                f"Task {name!r}: class_weight has key(s) {unknown} that are not "
                f"classes of the task; its classes are {known}. Key the dict by "
                "the labels as they appear in y."
            )
        per_class = np.array([float(class_weight.get(c, 1.0)) for c in known])
    return per_class[codes]


def encode_columns(tasks, columns, sample_weights, fitted_targets=None):
    """Resolve the tasks and encode their columns for training.

    Parameters
    ----------
    tasks : list of (str, Task)
        The validated tasks, in the order of ``columns``.
    columns : list
        One column of labels per task.
    sample_weights : ndarray of shape (n_samples, n_tasks) or None
        From :func:`check_sample_weight`.
    fitted_targets : list of codecs or None
        The codecs of an earlier fit to keep (``warm_start``); None fits new
        ones.

    Returns
    -------
    resolved : list of (str, Task)
        The tasks with kind and loss made concrete.
    targets : list of ClassificationTarget or RegressionTarget
    y_codes : ndarray of shape (n_samples, n_tasks) or (n_samples, 2 * n_tasks)
        float32 codes, NaN where a label is missing (or weighs 0); followed
        by the per-label weights (``sample_weight`` times class weight, 0
        where missing) unless every label weighs 1.
    """
    resolved, targets, codes, weights = [], [], [], []
    for j, ((name, task), column) in enumerate(zip(tasks, columns)):
        values, missing, is_categorical = labelled_values(column)
        column_weights = None if sample_weights is None else sample_weights[:, j]
        n_labelled = len(values)
        values, missing = drop_zero_weight(values, missing, column_weights)
        if n_labelled and not len(values):
            raise ValueError(
                f"Task {name!r} has no label of positive weight: sample_weight is "
                "zero for all its labelled rows. Give some of them a positive "
                "weight or remove the task."
            )
        kind = task.kind
        if kind == "auto" and len(values):
            kind = infer_kind(values, is_categorical)
        resolved_task = resolve_task(name, task, kind)
        if fitted_targets is not None:  # keep the encoding the network learned
            target = fitted_targets[j]
            check_warm_start_labels(name, target, values)
        else:
            target = fit_target(name, resolved_task.kind, values)
        resolved.append((name, resolved_task))
        targets.append(target)
        codes.append(target.encode(values, missing))
        row_weights = np.zeros(len(missing), dtype=np.float32)
        labelled = ~missing
        if column_weights is None:
            row_weights[labelled] = 1.0
        else:
            row_weights[labelled] = column_weights[labelled]
        by_class = label_weights(name, target, resolved_task.class_weight, values)
        if by_class is not None:
            row_weights[~missing] *= by_class
        weights.append(row_weights)
    # Per-label weights travel as extra target columns; when all labels weigh
    # 1 they are left out, and training takes the unweighted path.
    if any(np.any(w[~np.isnan(c)] != 1) for w, c in zip(weights, codes)):
        codes = codes + weights
    return resolved, targets, np.column_stack(codes)
