"""Target tables: one column per task, missing labels, label weights.

Data flows one way. A user's ``y`` is split into columns
(:func:`split_columns`) and ordered like the tasks (:func:`match_columns`, by
name for a DataFrame, by position for an array). :func:`labelled_values`
finds each column's labelled values and missing-label mask (NaN, None and
pandas.NA are missing; so is a label whose weight is zero). Then
:func:`encode_targets` resolves each task (:func:`~sklearn_mtl._task.resolve_task`),
fits its codec (:mod:`sklearn_mtl._codecs`) and packs codes and label weights
into the one training matrix of :mod:`sklearn_mtl._layout`.
"""

import sys
from decimal import Decimal
from numbers import Real

import numpy as np
from sklearn.base import clone

from ._codecs import ClassCodec, fit_codec
from ._layout import pack
from ._task import check_task_list, default_tasks, resolve_task


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
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(
                f"y has duplicate column names {duplicated}; each task needs a "
                "column of its own name. Rename or drop the duplicates."
            )
        return [y.iloc[:, j] for j in range(y.shape[1])], names, False
    if _is_series(y):
        names = None if y.name is None else [str(y.name)]
        return [y], names, True
    if hasattr(y, "toarray") or hasattr(y, "tocsr"):
        raise TypeError(
            "y must be dense; got a sparse matrix. Convert it with y.toarray()."
        )
    arr = np.asarray(y)
    if not isinstance(y, np.ndarray) and arr.dtype.kind in "US":
        # A list mixing strings with numbers or NaN: NumPy would turn every
        # value into a string ('nan', '1.3'); keep each value as it was given.
        arr = np.asarray(y, dtype=object)
    if arr.ndim == 1:
        return [arr], None, True
    if arr.ndim != 2:
        raise ValueError(
            "y must be 1-D (one task) or 2-D (one column per task); got an array "
            f"of shape {arr.shape}."
        )
    return [arr[:, j] for j in range(arr.shape[1])], None, False


def read_targets(y, tasks, reserved_names, n_rows):
    """The tasks and their label columns, in task order, from ``fit``'s ``y``.

    Parameters
    ----------
    y : array-like or DataFrame
        The target table.
    tasks : list of (str, Task) or None
        The estimator's ``tasks``; None names one ``Task()`` per column.
    reserved_names : iterable of str
        Names task names must not take (the estimator's parameters).
    n_rows : int
        The number of rows of ``X``.

    Returns
    -------
    tasks : list of (str, Task)
        The validated tasks.
    columns : list
        Their columns, in task order.
    y_1d : bool
        Whether ``y`` was one-dimensional.
    """
    if y is None:
        raise ValueError(
            "MultiTaskNetEstimator requires y to be passed, but the target y is "
            "None. Pass one column of labels per task."
        )
    columns, column_names, y_1d = split_columns(y)
    check_n_rows(n_rows, columns)
    if tasks is None:
        return default_tasks(columns, column_names), columns, y_1d
    tasks = check_task_list(tasks, reserved_names)
    return tasks, match_columns(columns, column_names, tasks), y_1d


def read_validation_targets(y_val, tasks, n_rows):
    """The label columns of a given validation set, in the order of ``tasks``.

    ``y_val`` is matched to the fitted tasks like ``y`` is (by name for a
    DataFrame, by position for an array); missing labels are allowed.
    """
    columns, column_names, _ = split_columns(y_val)
    check_n_rows(n_rows, columns, names=("X_val", "y_val"))
    return match_columns(columns, column_names, tasks, y_name="y_val")


def check_n_rows(n_rows, columns, names=("X", "y")):
    """Raise unless the target columns have ``n_rows`` rows, like ``X``."""
    if columns and len(columns[0]) != n_rows:
        raise ValueError(
            f"{names[0]} has {n_rows} rows but {names[1]} has {len(columns[0])}; "
            "they need one row per sample."
        )


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
        # Decimal is what pandas.read_sql gives for NUMERIC columns.
        is_number = [
            isinstance(v, (Real, Decimal)) and not isinstance(v, (bool, np.bool_))
            for v in values
        ]
        is_bool = [isinstance(v, (bool, np.bool_)) for v in values]
        if all(is_number) and any(isinstance(v, Decimal) for v in values):
            values = np.asarray([float(v) for v in values])
        elif all(is_number) or all(is_bool):
            values = np.asarray(values.tolist())
    return values, missing, is_categorical


def stack_predictions(columns):
    """Stack per-task prediction columns, keeping a common dtype or using object."""
    kinds = {col.dtype.kind for col in columns}
    dtype = np.result_type(*columns) if len(kinds) == 1 else object
    out = np.empty((len(columns[0]), len(columns)), dtype=dtype)
    for j, col in enumerate(columns):
        out[:, j] = col
    return out


def match_columns(columns, column_names, tasks, y_name="y"):
    """Order ``y``'s columns like ``tasks``: by name (DataFrame) or by position."""
    task_names = [name for name, _ in tasks]
    if column_names is None:
        if len(columns) != len(task_names):
            raise ValueError(
                f"{y_name} has {len(columns)} column(s) but there are "
                f"{len(task_names)} tasks {task_names}; {y_name} needs one column "
                "per task, in task order."
            )
        return columns
    missing = [name for name in task_names if name not in column_names]
    if missing:
        raise ValueError(
            f"{y_name} has no column for task(s) {missing}; its columns are "
            f"{column_names}. A DataFrame {y_name} is matched to the tasks by "
            "column name."
        )
    extra = [name for name in column_names if name not in task_names]
    if extra:
        raise ValueError(
            f"{y_name} has column(s) {extra} that match no task; the tasks are "
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


def class_weights(name, codec, class_weight, values):
    """Per labelled value, the weight of its class; None without class weights.

    ``"balanced"`` gives class ``c`` the weight ``n / (n_classes * n_c)``,
    counted on ``values`` (scikit-learn's formula).
    """
    if class_weight is None:
        return None
    classes = codec.classes
    codes = codec.class_indices(values)
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


def initial_codecs(tasks, classes, y_1d):
    """The codecs that ``partial_fit``'s ``classes`` fix before any label is seen.

    Parameters
    ----------
    tasks : list of (str, Task)
    classes : list, dict, array-like or None
        Per task its class labels: aligned with ``tasks`` (None for a
        regression task), by task name, or, for a 1-D ``y``, the labels.
    y_1d : bool

    Returns
    -------
    tasks : list of (str, Task)
        The tasks, those given classes made classification tasks.
    codecs : list of (ClassCodec or None)
    """
    names = [name for name, _ in tasks]
    if classes is None:
        by_name = {}
    elif isinstance(classes, dict):
        unknown = sorted(set(classes) - set(names))
        if unknown:
            raise ValueError(
                f"classes has entries {unknown} that are not tasks; the tasks are "
                f"{names}."
            )
        by_name = classes
    elif y_1d and not any(isinstance(c, (list, tuple, np.ndarray)) for c in classes):
        by_name = {names[0]: classes}
    else:
        if len(classes) != len(names):
            raise ValueError(
                f"classes has {len(classes)} entries but there are {len(names)} "
                f"tasks {names}; give one entry per task (None for a regression "
                "task) or a dict by task name."
            )
        by_name = dict(zip(names, classes))
    resolved, codecs = [], []
    for name, task in tasks:
        labels = by_name.get(name)
        if labels is None:
            resolved.append((name, task))
            codecs.append(None)
            continue
        if task.kind == "regression":
            raise ValueError(
                f"classes gives labels for task {name!r}, a regression task. Give "
                "None for it."
            )
        resolved.append((name, clone(task).set_params(kind="classification")))
        codecs.append(ClassCodec.from_labels(name, np.asarray(labels)))
    return resolved, codecs


def encode_targets(tasks, columns, sample_weights, fitted_codecs=None):
    """Resolve the tasks, fit their codecs and pack the training matrix.

    Parameters
    ----------
    tasks : list of (str, Task)
        The validated tasks, in the order of ``columns``.
    columns : list
        One column of labels per task.
    sample_weights : ndarray of shape (n_samples, n_tasks) or None
        From :func:`check_sample_weight`.
    fitted_codecs : list of (codec or None) or None, default=None
        The codecs of an earlier fit to keep (``warm_start``), or given
        before the first (``partial_fit``'s ``classes``); the labels are
        checked against them. None, for all or one task, fits new ones.

    Returns
    -------
    resolved : list of (str, Task)
        The tasks with kind and loss made concrete.
    codecs : list of ClassCodec or ScaleCodec
    packed : ndarray of shape (n_samples, 2 * n_tasks), float32
        Codes and label weights in the layout of :mod:`sklearn_mtl._layout`.
    """
    resolved, codecs, codes, weights = [], [], [], []
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
        resolved_task = resolve_task(name, task, values, is_categorical)
        codec = None if fitted_codecs is None else fitted_codecs[j]
        if codec is not None:  # keep the encoding the network learned
            codec.check_labels(name, values)
        else:
            codec = fit_codec(name, resolved_task.kind, values)
        labelled = ~missing
        task_codes = np.zeros(len(missing))
        task_codes[labelled] = codec.encode(values)
        task_weights = np.zeros(len(missing))
        task_weights[labelled] = (
            1.0 if column_weights is None else column_weights[labelled]
        )
        by_class = class_weights(name, codec, resolved_task.class_weight, values)
        if by_class is not None:
            task_weights[labelled] *= by_class
        resolved.append((name, resolved_task))
        codecs.append(codec)
        codes.append(task_codes)
        weights.append(task_weights)
    return resolved, codecs, pack(codes, weights)


def encode_validation(tasks, codecs, columns, sample_weights):
    """Pack a given validation set with the codecs fitted on the training labels.

    Its labels are weighted like the training labels (``sample_weight_val``
    times the tasks' ``class_weight``, ``"balanced"`` counted on the
    validation labels); a task may have no validation label.

    Returns
    -------
    packed : ndarray of shape (n_samples_val, 2 * n_tasks), float32
    """
    for (name, _), codec, column in zip(tasks, codecs, columns):
        classes = getattr(codec, "classes", None)
        if classes is None:
            continue
        values, _, _ = labelled_values(column)
        unseen = np.setdiff1d(values, classes)
        if len(unseen):
            raise ValueError(
                f"Task {name!r}: y_val has labels {unseen.tolist()} that y does "
                f"not have (its classes are {classes.tolist()}), and the network "
                "has no output for them. Drop those rows from the validation set, "
                "or include examples of these classes in y."
            )
    return encode_targets(tasks, columns, sample_weights, list(codecs))[2]


def task_column(y, name, task_names):
    """The column of task ``name`` in a target table, and whether ``y`` was 1-D.

    A DataFrame's column is found by name; an array's by the task's position
    in ``task_names`` (a 1-D ``y`` is the column of a single task).
    """
    columns, column_names, y_1d = split_columns(y)
    if column_names is not None and name in column_names:
        return columns[column_names.index(name)], y_1d
    if column_names is not None and not y_1d:
        raise ValueError(
            f"y has no column named {name!r}; its columns are {column_names}. A "
            "DataFrame y is matched to the tasks by column name."
        )
    if len(columns) != len(task_names):
        raise ValueError(
            f"y has {len(columns)} column(s) but the estimator has "
            f"{len(task_names)} tasks {task_names}; y needs one column per task, "
            "in task order, or a column named after each task."
        )
    return columns[task_names.index(name)], y_1d
