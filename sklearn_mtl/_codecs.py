"""Per-task codecs: labels to training codes, network outputs back to labels.

A codec is fitted once per task from its labelled values and kept with the
fitted estimator. :class:`ClassCodec` maps class labels to class indices and
logits back to labels or probabilities; :class:`ScaleCodec` standardizes a
regression target and maps outputs back to the target's units. Both turn into
plain data (:meth:`to_dict`) and back (:meth:`from_dict`, validating), which
is how :func:`sklearn_mtl.save` stores them.
"""

import re
from numbers import Real

import numpy as np
from scipy.special import softmax

# dtypes a stored class label array may have: booleans, numbers, fixed strings
_CLASS_DTYPE = re.compile(r"[<>|=]?[biufU]\d+")


def _invalid(what):
    return ValueError(f"The model file is invalid: {what}.")


class ClassCodec:
    """Codec between a task's class labels and class indices.

    Parameters
    ----------
    classes : ndarray
        The sorted class labels seen in fit.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl._codecs import ClassCodec
    >>> codec = ClassCodec.from_labels("colour", np.array(["red", "blue", "red"]))
    >>> codec.classes
    array(['blue', 'red'], dtype='<U4')
    >>> codec.decode(np.array([[0.2, 1.5]]))
    array(['red'], dtype='<U4')
    """

    kind = "classification"

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

    def check_labels(self, name, values):
        """Raise if ``values`` hold labels this (earlier fitted) codec can't encode."""
        unseen = np.setdiff1d(values, self.classes)
        if len(unseen):
            raise ValueError(
                f"Task {name!r} has labels {unseen.tolist()} that the fitted network "
                f"has no output for (its classes are {self.classes.tolist()}). "
                "Fit a new network (warm_start=False, or fit instead of "
                "partial_fit)."
            )

    def encode(self, values):
        """Class indices (float) of labelled ``values``."""
        return np.searchsorted(self.classes, values).astype(np.float64)

    def decode(self, logits):
        """Class labels from an (n_samples, n_classes) array of logits."""
        return self.classes[np.argmax(logits, axis=1)]

    def proba(self, logits):
        """Class probabilities (float64, rows summing to 1) from logits."""
        return softmax(np.asarray(logits, dtype=np.float64), axis=1)

    def class_indices(self, values):
        """Per labelled value, the index of its class (for class weights)."""
        return np.searchsorted(self.classes, values)

    def to_dict(self, name):
        classes = self.classes
        if classes.dtype.kind in "biufU":
            return {"dtype": classes.dtype.str, "classes": classes.tolist()}
        if classes.dtype.kind == "O" and all(isinstance(c, str) for c in classes):
            return {"dtype": "object", "classes": [str(c) for c in classes]}
        raise ValueError(
            f"Cannot save task {name!r}: its class labels {classes!r} are not all "
            "strings, numbers or booleans. Encode the labels as strings or numbers."
        )

    @classmethod
    def from_dict(cls, name, data):
        dtype, values = data.get("dtype"), data.get("classes")
        if not (isinstance(values, list) and len(values) >= 2):
            raise _invalid(f"task {name!r} needs a list of at least 2 class labels")
        if dtype == "object":
            if not all(isinstance(v, str) for v in values):
                raise _invalid(f"task {name!r}'s object class labels must be strings")
            return cls(_checked_classes(name, np.array(values, dtype=object), values))
        if not (isinstance(dtype, str) and _CLASS_DTYPE.fullmatch(dtype)):
            raise _invalid(f"task {name!r} has an unsupported class dtype {dtype!r}")
        if not all(isinstance(v, (bool, int, float, str)) for v in values):
            raise _invalid(
                f"task {name!r}'s class labels must be numbers, booleans or strings"
            )
        dtype = np.dtype(dtype)
        # A string dtype is no wider than the longest label: its width, not
        # the file's size, would decide what np.array allocates.
        longest = max(len(v) if isinstance(v, str) else 32 for v in values)
        if dtype.kind == "U" and dtype.itemsize > 4 * longest:
            raise _invalid(
                f"task {name!r}'s class dtype {dtype.str!r} is wider than its labels"
            )
        try:
            classes = np.array(values, dtype=dtype)
        except (TypeError, ValueError, OverflowError) as exc:
            raise _invalid(f"task {name!r}'s class labels: {exc}") from None
        return cls(_checked_classes(name, classes, values))


def _checked_classes(name, classes, values):
    """``classes`` if they are ``values`` exactly, sorted and unique."""
    if classes.tolist() != values:
        raise _invalid(f"task {name!r}'s class labels change in their stored dtype")
    if len(np.unique(classes)) != len(classes) or not np.all(
        classes[:-1] < classes[1:]
    ):
        raise _invalid(f"task {name!r}'s class labels must be sorted and unique")
    return classes


class ScaleCodec:
    """Codec between a regression target and its standardized values.

    Parameters
    ----------
    mean, scale : float
        The labelled values' mean and standard deviation (1 when constant).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl._codecs import ScaleCodec
    >>> codec = ScaleCodec.from_labels("age", np.array([20.0, 40.0]))
    >>> codec.mean, codec.scale
    (30.0, 10.0)
    >>> codec.decode(np.array([[1.0]]))
    array([40.])
    """

    kind = "regression"
    n_outputs = 1

    def __init__(self, mean, scale):
        self.mean = mean
        self.scale = scale

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
        # Standardize in units of the largest label, so that labels near the
        # float64 limit do not overflow the mean or the variance.
        unit = float(np.max(np.abs(values))) or 1.0
        scale = float(np.std(values / unit)) * unit
        return cls(float(np.mean(values / unit)) * unit, scale if scale > 0 else 1.0)

    def check_labels(self, name, values):
        """Raise if ``values`` could not have been fitted (same checks as fit)."""
        ScaleCodec.from_labels(name, values)

    def encode(self, values):
        """Standardized values of labelled ``values``."""
        return (values.astype(np.float64) - self.mean) / self.scale

    def decode(self, output):
        """Values in the target's units from an (n_samples, 1) output."""
        return output[:, 0].astype(np.float64) * self.scale + self.mean

    proba = None  # a regression task has no probabilities

    def to_dict(self, name):
        return {"mean": float(self.mean), "scale": float(self.scale)}

    @classmethod
    def from_dict(cls, name, data):
        mean, scale = data.get("mean"), data.get("scale")
        if not all(
            isinstance(v, (int, float)) and not isinstance(v, bool)
            for v in (mean, scale)
        ):
            raise _invalid(f"task {name!r} needs a numeric mean and scale")
        if not (np.isfinite(mean) and np.isfinite(scale) and scale > 0):
            raise _invalid(
                f"task {name!r} needs a finite mean and a positive finite scale"
            )
        return cls(float(mean), float(scale))


CODECS = {"classification": ClassCodec, "regression": ScaleCodec}


def fit_codec(name, kind, values):
    """The codec of task ``name`` of kind ``kind``, fitted on its labelled values."""
    if len(values) == 0:
        raise ValueError(
            f"Task {name!r} has no labels in y: every value of its column is "
            "missing (NaN, None or NA). Provide labels or remove the task."
        )
    return CODECS[kind].from_labels(name, values)
