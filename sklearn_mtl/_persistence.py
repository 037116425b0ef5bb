"""Save and load a fitted estimator as data, never as pickled code.

One `safetensors <https://huggingface.co/docs/safetensors>`_ file holds the
network's weights as tensors and, in its header's metadata, a JSON document
with everything else: the estimator's parameters, the resolved tasks, the
label codecs (class labels, regression mean and scale), the feature names and
the training history. Loading parses JSON and raw tensors only; torch classes
(optimizer, activation) are stored by name and resolved only within
``torch.optim`` and ``torch.nn``. Unlike :mod:`pickle`, a tampered file
therefore cannot run code when it is loaded.
"""

from __future__ import annotations

import json
import os
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

from ._architecture import ARCHITECTURES
from ._codecs import CODECS
from ._compat import InvalidParameterError, get_output_config
from ._estimator import MultiTaskNetEstimator
from ._spec import Seeds
from ._task import Task, check_task_list, resolve_task
from ._torchjd import decode_aggregator, encode_aggregator

_FORMAT = "sklearn_mtl"
# Version 2 (sklearn_mtl 0.1.0.dev0 after the internal redesign): codecs,
# seeds and the fitted task weights are stored as such, group towers are
# numbered. Version 1 files cannot be read: their weights are named for the
# old network layout. Optional entries added since (task_affinity_ and its
# counts) leave older version-2 files readable: absent means not recorded.
# Version 3 adds the numerical embedding's options (num_embedding_params),
# its columns and its bin edges (embedding_columns, embedding_bins); version
# 2 files have none of them and read as they did.
_FORMAT_VERSION = "3"
_READABLE_VERSIONS = ("2", "3")
# torch classes a file may name, and the base class each must derive from
_TORCH_NAMESPACES = {
    "activation": (torch.nn, torch.nn.Module),
    "optimizer": (torch.optim, torch.optim.Optimizer),
}
# ... and the module it must be defined in: a file may name an activation
# function, not any torch.nn module (a Transformer is a torch.nn.Module too),
# and a concrete optimizer.
_TORCH_MODULES = {
    "activation": "torch.nn.modules.activation",
    "optimizer": "torch.optim.",
}
# The fitted attributes of an architecture stored as arrays, with their ranks.
_RELATIONS = {"gate_weights_": 2, "attention_weights_": 2, "cross_stitch_weights_": 3}
_NOT_BUILDABLE = {
    torch.nn.Module,
    torch.nn.MultiheadAttention,
    torch.optim.Optimizer,
}


def _import_safetensors(caller):
    try:
        import safetensors.torch
    except ImportError:
        raise ImportError(
            f"{caller} requires safetensors, a dependency of sklearn_mtl that is "
            "missing from this environment. Install it with "
            "`pip install safetensors`."
        ) from None
    return safetensors


# -- encoding: Python objects -> JSON data ----------------------------------


def _encode_value(value, what):
    """A parameter value as JSON data, or a ValueError naming ``what``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value)
    if isinstance(value, (tuple, list)) and all(
        isinstance(v, Integral) and not isinstance(v, (bool, np.bool_)) for v in value
    ):
        return [int(v) for v in value]
    raise ValueError(
        f"Cannot save {what}={value!r}: save() stores parameters as plain data "
        "(numbers, strings, tuples of ints, torch.nn/torch.optim classes). Set a "
        "plain value, or use pickle or joblib if you trust whoever loads the file."
    )


def _encode_params(est):
    params = {}
    for name, value in est.get_params(deep=False).items():
        if name == "tasks":
            params[name] = None if value is None else _encode_tasks(value)
        elif name in _TORCH_NAMESPACES and isinstance(value, type):
            namespace, _ = _TORCH_NAMESPACES[name]
            if getattr(namespace, value.__name__, None) is not value:
                raise ValueError(
                    f"Cannot save {name}={value!r}: save() stores torch classes by "
                    f"name and only those of {namespace.__name__}. Use a "
                    f"{namespace.__name__} class, or pickle/joblib for custom ones."
                )
            params[name] = {"torch_class": f"{namespace.__name__}.{value.__name__}"}
        elif name == "callbacks":
            if value:
                raise ValueError(
                    f"Cannot save callbacks={value!r}: callbacks are code, which "
                    "save() does not store. Refit with callbacks=None to save the "
                    "model, or use pickle/joblib."
                )
            params[name] = None
        elif name == "weighting" and not isinstance(value, str):
            params[name] = encode_aggregator(value)
        elif name == "num_embedding_params" and isinstance(value, dict):
            params[name] = {
                "options": {
                    str(key): _encode_option(option, f"num_embedding__{key}")
                    for key, option in value.items()
                }
            }
        elif name == "architecture" and value is not None:
            # Stored as its class name and plain parameters, never pickled.
            params[name] = {
                "architecture": type(value).__name__,
                "params": {
                    key: _encode_value(v, f"architecture__{key}")
                    for key, v in value.get_params(deep=False).items()
                },
            }
        elif name == "device":
            params[name] = str(value)
        elif name == "random_state":
            if value is not None and not (
                isinstance(value, Integral) and not isinstance(value, bool)
            ):
                raise ValueError(
                    f"Cannot save random_state={value!r}: only an int or None can "
                    "be stored. Call set_params(random_state=<int>) before saving."
                )
            params[name] = None if value is None else int(value)
        else:
            params[name] = _encode_value(value, name)
    return params


def _encode_option(value, what):
    """An embedding option as JSON data: a bool, number or string."""
    if not isinstance(value, (str, bool, np.bool_, Real)):
        raise ValueError(
            f"Cannot save {what}={value!r}: save() stores an embedding option as a "
            "number, a string or a bool."
        )
    return _encode_value(value, what)


def _encode_tasks(tasks):
    encoded = []
    for name, task in tasks:
        params = {}
        for key, value in task.get_params(deep=False).items():
            if key == "class_weight" and isinstance(value, dict):
                # JSON keys are strings: keep each label's type as a pair
                params[key] = {
                    "pairs": [
                        [_plain(label, f"{name}__class_weight"), float(weight)]
                        for label, weight in value.items()
                    ]
                }
            else:
                params[key] = _encode_value(value, f"{name}__{key}")
        encoded.append([name, params])
    return encoded


def _decode_class_weight(value, what):
    pairs = value.get("pairs")
    _expect(
        isinstance(pairs, list)
        and all(
            isinstance(pair, list)
            and len(pair) == 2
            and isinstance(pair[0], (bool, int, float, str))
            and isinstance(pair[1], (int, float))
            and not isinstance(pair[1], bool)
            for pair in pairs
        ),
        f"{what} must be a list of [label, weight] pairs",
    )
    return {label: weight for label, weight in pairs}


def _encode_history(history):
    def default(value):
        if isinstance(value, np.generic):
            return value.item()
        raise TypeError(f"{value!r} of type {type(value).__name__}")

    entries = [
        {key: value for key, value in epoch.items() if key != "batches"}
        for epoch in history.to_list()
    ]
    try:
        return json.loads(json.dumps(entries, default=default))
    except TypeError as exc:
        raise ValueError(
            f"Cannot save the training history: it holds a value that is not "
            f"plain data ({exc})."
        ) from None


def _plain(value, what):
    """Nested numbers, strings, booleans and None as JSON data (tuples as lists)."""
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list)):
        return [_plain(v, what) for v in value]
    raise ValueError(
        f"Cannot save {what}: it holds {value!r}, which is not plain data."
    )


def _split_optimizer_state(optimizer):
    """The optimizer's state as (tensors by name, JSON data)."""
    state_dict = optimizer.state_dict()
    tensors, state = {}, {}
    for index, param_state in state_dict["state"].items():
        state[str(index)] = {}
        for key, value in param_state.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                state[str(index)][key] = _plain(value, "the optimizer's state")
    what = "the optimizer's parameters"
    groups = [
        {key: _plain(value, what) for key, value in group.items()}
        for group in state_dict["param_groups"]
    ]
    return tensors, {"state": state, "param_groups": groups}


def _encode_estimator(est):
    net = est.net_
    cosine = getattr(est, "gradient_cosine_", None)
    affinity = getattr(est, "task_affinity_", None)
    # The counts of measurements let a warm start after load go on averaging.
    counts = getattr(net, "_affinity_count", None) if affinity is not None else None
    return {
        "params": _encode_params(est),
        "tasks_": _encode_tasks(est.tasks_),
        "codecs": [
            codec.to_dict(name)
            for name, codec in zip(est.task_names_, est._codecs_, strict=True)
        ],
        "n_features_in_": int(est.n_features_in_),
        "feature_names_in_": (
            [str(f) for f in est.feature_names_in_]
            if hasattr(est, "feature_names_in_")
            else None
        ),
        "y_1d": bool(est._y_1d_),
        "early_stopping_": bool(est.early_stopping_),
        "output_config": {
            key: _encode_value(value, f"set_output({key}=...)")
            for key, value in get_output_config(est).items()
        },
        "history": _encode_history(net.history),
        "seeds": _seeds(net),
        "task_weights_": [float(w) for w in est.task_weights_],
        "gradient_cosine_": None if cosine is None else cosine.tolist(),
        "task_affinity_": None if affinity is None else affinity.tolist(),
        "task_affinity_counts": None if counts is None else counts.tolist(),
        "embedding_bins": _plain(est._spec_.module.embedding_bins, "the bins"),
        "embedding_columns": _plain(
            est._spec_.module.embedding_columns, "the embedded columns"
        ),
        "relations": {
            attr: getattr(est, attr).tolist()
            for attr in _RELATIONS
            if hasattr(est, attr)
        },
    }


def _seeds(net):
    """The seeds the net was built with (the torch seed only matters for fit)."""
    train_split = getattr(net, "train_split", None)
    return [0, int(net.iterator_train__seed), int(getattr(train_split, "seed", 0))]


def save(estimator: MultiTaskNetEstimator, path: str | os.PathLike[str]) -> None:
    """Save a fitted estimator to a file, as data only.

    The file is a `safetensors <https://huggingface.co/docs/safetensors>`_
    file: the network's weights are its tensors, and the parameters, the
    resolved tasks, the class labels and regression scales, the feature
    names and the per-epoch training history (without per-batch entries)
    are JSON in its header. :func:`load` reads it back without unpickling
    anything, so, unlike a pickle, a file from an untrusted source cannot
    run code when loaded. Requires the ``safetensors`` package.

    Parameters
    ----------
    estimator : MultiTaskNetEstimator
        The fitted estimator. Its parameters must be plain data: numbers,
        strings, tuples of ints, ``callbacks=None``, ``random_state`` an int
        or None, and ``optimizer``/``activation`` a name or a class of
        ``torch.optim``/``torch.nn``.

    path : str or path-like
        Where to write the file, conventionally ending in ``.safetensors``.
        An existing file is overwritten.

    Raises
    ------
    ValueError
        If a parameter cannot be stored as data (custom callbacks, a custom
        optimizer or activation class, a ``RandomState`` instance).

    See Also
    --------
    load : Load an estimator saved by this function.

    Notes
    -----
    The optimizer's state is saved too, so that a loaded estimator with
    ``warm_start=True`` continues training where the saved one stopped.
    To save a whole
    :class:`~sklearn.pipeline.Pipeline`, use pickle or joblib, or save the
    preprocessing separately.

    Examples
    --------
    >>> import numpy as np
    >>> import sklearn_mtl
    >>> from sklearn_mtl import MultiTaskNetEstimator
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(50, 3))
    >>> est = MultiTaskNetEstimator(max_epochs=2, random_state=0).fit(X, X[:, :2])
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.safetensors"
    >>> sklearn_mtl.save(est, path)
    >>> loaded = sklearn_mtl.load(path)
    >>> bool(np.array_equal(loaded.predict(X), est.predict(X)))
    True
    """
    safetensors = _import_safetensors("sklearn_mtl.save")
    if not isinstance(estimator, MultiTaskNetEstimator):
        raise TypeError(
            "save() stores a fitted MultiTaskNetEstimator, got "
            f"{type(estimator).__name__}. For a Pipeline, use pickle or joblib, or "
            "save its final step and the preprocessing separately."
        )
    check_is_fitted(estimator)
    document = _encode_estimator(estimator)
    tensors, document["optimizer_state"] = _split_optimizer_state(
        estimator.net_.optimizer_
    )
    for prefix in ("module", "criterion"):  # the criterion may hold weights too
        state = getattr(estimator.net_, f"{prefix}_").state_dict()
        for name, tensor in state.items():
            if not torch.is_tensor(tensor):
                raise ValueError(
                    f"Cannot save the network: its {prefix} state {name!r} is a "
                    f"{type(tensor).__name__}, not a tensor. Use pickle or joblib."
                )
            tensors[f"{prefix}.{name}"] = tensor.detach().cpu().contiguous()
    metadata = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "estimator": json.dumps(document),
    }
    safetensors.torch.save_file(tensors, os.fspath(path), metadata=metadata)


# -- decoding: JSON data -> Python objects, validating as we go ---------------


def _expect(condition, what):
    if not condition:
        raise ValueError(f"The model file is invalid: {what}.")


def _decode_value(value, what):
    if isinstance(value, list):
        _expect(
            all(isinstance(v, int) and not isinstance(v, bool) for v in value),
            f"{what} must be a list of ints",
        )
        return tuple(value)
    _expect(
        value is None or isinstance(value, (bool, int, float, str)),
        f"{what} must be a number, string or null",
    )
    return value


def _resolve_torch_class(name, value):
    namespace, base = _TORCH_NAMESPACES[name]
    qualname = value.get("torch_class")
    _expect(isinstance(qualname, str), f"{name} names no torch class")
    module, _, attr = qualname.rpartition(".")
    cls = getattr(namespace, attr, None) if module == namespace.__name__ else None
    _expect(
        attr.isidentifier()
        and not attr.startswith("_")
        and isinstance(cls, type)
        and issubclass(cls, base)
        and cls.__module__.startswith(_TORCH_MODULES[name])
        and cls not in _NOT_BUILDABLE,
        f"{name} must be a {base.__name__} class of {namespace.__name__}, got "
        f"{qualname!r}",
    )
    return cls


def _decode_tasks(tasks, what, named_by_user=True):
    _expect(isinstance(tasks, list) and tasks, f"{what} must be a non-empty list")
    decoded = []
    for item in tasks:
        _expect(
            isinstance(item, list)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], dict),
            f"each of {what} must be a [name, parameters] pair",
        )
        name, params = item
        params = {
            k: (
                _decode_class_weight(v, f"{name}__{k}")
                if k == "class_weight" and isinstance(v, dict)
                else _decode_value(v, f"{name}__{k}")
            )
            for k, v in params.items()
        }
        try:
            decoded.append((name, Task(**params)))
        except TypeError as exc:
            raise ValueError(
                f"The model file is invalid: task {name!r}: {exc}."
            ) from None
    # Tasks named after y's columns (tasks=None) follow fit's rules for such
    # names: unique, but free to look like a parameter or hold "__".
    reserved = MultiTaskNetEstimator().get_params(deep=False) if named_by_user else ()
    try:
        return check_task_list(decoded, reserved, check_names=named_by_user)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"The model file is invalid: {exc}") from None


def _decode_params(params, device):
    _expect(isinstance(params, dict), "params must be a mapping")
    decoded = {}
    for name, value in params.items():
        if name == "tasks":
            decoded[name] = None if value is None else _decode_tasks(value, "tasks")
        elif name in _TORCH_NAMESPACES and isinstance(value, dict):
            decoded[name] = _resolve_torch_class(name, value)
        elif name == "weighting" and isinstance(value, dict):
            decoded[name] = decode_aggregator(value)
        elif name == "num_embedding_params" and isinstance(value, dict):
            options = value.get("options")
            _expect(
                isinstance(options, dict)
                and all(
                    isinstance(v, (bool, int, float, str)) for v in options.values()
                ),
                "num_embedding_params must map option names to numbers, strings "
                "or booleans",
            )
            decoded[name] = dict(options)
        elif name == "architecture" and value is not None:
            decoded[name] = _decode_architecture(value)
        else:
            decoded[name] = _decode_value(value, name)
    if device is not None:
        decoded["device"] = device
    try:
        est = MultiTaskNetEstimator(**decoded)
    except TypeError as exc:
        raise ValueError(
            f"The model file is invalid or from an incompatible version: {exc}."
        ) from None
    try:
        est._validate_params()
    except InvalidParameterError as exc:
        raise ValueError(f"The model file is invalid: {exc}") from None
    return est


def _decode_architecture(value):
    """An architecture from its class name (only ours) and plain parameters."""
    _expect(
        isinstance(value, dict)
        and value.get("architecture") in ARCHITECTURES
        and isinstance(value.get("params"), dict),
        f"architecture must name one of {sorted(ARCHITECTURES)} with its parameters",
    )
    cls = ARCHITECTURES[value["architecture"]]
    params = {
        key: _decode_value(v, f"architecture__{key}")
        for key, v in value["params"].items()
    }
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"The model file is invalid: architecture: {exc}.") from None


def _decode_relations(value):
    """The architecture's fitted arrays (gate, attention, stitch weights)."""
    value = value or {}
    _expect(
        isinstance(value, dict) and set(value) <= set(_RELATIONS),
        f"relations may only hold {sorted(_RELATIONS)}",
    )
    decoded = {}
    for attr, data in value.items():
        try:
            array = np.array(data, dtype=np.float64)
        except (TypeError, ValueError):
            array = None
        _expect(
            array is not None and array.ndim == _RELATIONS[attr],
            f"{attr} must be an array of {_RELATIONS[attr]} dimensions",
        )
        decoded[attr] = array
    return decoded


def _decode_codecs(codecs, tasks):
    _expect(
        isinstance(codecs, list) and len(codecs) == len(tasks),
        "there must be one label codec per task",
    )
    decoded = []
    for (name, task), codec in zip(tasks, codecs, strict=True):
        _expect(isinstance(codec, dict), f"task {name!r} has no label codec")
        decoded.append(CODECS[task.kind].from_dict(name, codec))
    return decoded


def _decode_matrix(value, n, what):
    """An (n, n) float matrix (JSON null for NaN) or None."""
    if value is None:
        return None
    _expect(
        isinstance(value, list)
        and len(value) == n
        and all(isinstance(row, list) and len(row) == n for row in value)
        and all(
            v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
            for row in value
            for v in row
        ),
        f"{what} must be a {n} x {n} matrix of numbers",
    )
    return np.array([[np.nan if v is None else v for v in row] for row in value])


def _decode_bins(value, n_features):
    """The embedding's bin edges: per feature, a list of at least two numbers."""
    if value is None:
        return None
    _expect(
        isinstance(value, list)
        and len(value) == n_features
        and all(
            isinstance(edges, list)
            and len(edges) >= 2
            and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in edges
            )
            for edges in value
        ),
        "embedding_bins must hold, per feature, a list of at least two numbers",
    )
    return tuple(tuple(float(v) for v in edges) for edges in value)


def _decode_columns(value, n_features):
    """The embedded columns: increasing indices of features, or None."""
    if value is None:
        return None
    _expect(
        isinstance(value, list)
        and all(isinstance(j, int) and not isinstance(j, bool) for j in value)
        and value == sorted(set(value))
        and all(0 <= j < n_features for j in value),
        "embedding_columns must be increasing feature indices",
    )
    return tuple(value)


def _decode_history(history):
    _expect(
        isinstance(history, list) and all(isinstance(epoch, dict) for epoch in history),
        "history must be a list of mappings",
    )
    return History(history)


def _load_optimizer_state(optimizer, data, tensors):
    _expect(
        isinstance(data, dict)
        and isinstance(data.get("state"), dict)
        and isinstance(data.get("param_groups"), list)
        and all(isinstance(group, dict) for group in data["param_groups"]),
        "the optimizer's state must hold a state mapping and a list of groups",
    )
    state = {}
    for index, values in data["state"].items():
        _expect(
            index.isdigit() and isinstance(values, dict),
            "the optimizer's state must map parameter indices to mappings",
        )
        state[int(index)] = dict(values)
    for name, tensor in tensors.items():
        _, index, key = (name.split(".", 2) + ["", ""])[:3]
        _expect(
            index.isdigit() and int(index) in state and key,
            f"the optimizer tensor {name!r} belongs to no parameter",
        )
        state[int(index)][key] = tensor
    groups = [
        {
            key: tuple(value) if isinstance(value, list) and key != "params" else value
            for key, value in group.items()
        }
        for group in data["param_groups"]
    ]
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(
            f"The model file is invalid: its optimizer state does not fit ({exc})."
        ) from None


def _read_file(path):
    """The JSON document and the tensors of a model file, parsed as data."""
    safetensors = _import_safetensors("sklearn_mtl.load")
    try:
        with safetensors.safe_open(os.fspath(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as exc:  # safetensors' own error types vary by version
        raise ValueError(
            f"{os.fspath(path)!r} is not a sklearn_mtl model file: it could not be "
            f"read as safetensors ({exc}). Only files written by sklearn_mtl.save "
            "can be loaded."
        ) from None
    _expect(
        metadata.get("format") == _FORMAT,
        "it was not written by sklearn_mtl.save (no sklearn_mtl metadata)",
    )
    version = metadata.get("format_version")
    _expect(
        version in _READABLE_VERSIONS,
        f"its format version {version!r} is not supported (this sklearn_mtl reads "
        f"versions {', '.join(_READABLE_VERSIONS)}). Version 1 files come from "
        "sklearn_mtl before "
        "its internal redesign, whose weights are laid out differently: refit the "
        "model and save it again",
    )
    try:
        document = json.loads(metadata.get("estimator", ""))
    except (ValueError, RecursionError) as exc:
        raise ValueError(
            f"The model file is invalid: its estimator metadata is not JSON ({exc})."
        ) from None
    _expect(isinstance(document, dict), "its estimator metadata must be a mapping")
    return document, tensors


def load(
    path: str | os.PathLike[str], *, device: str | None = None
) -> MultiTaskNetEstimator:
    """Load an estimator saved by :func:`save`.

    Only data is read: JSON and raw tensors, never pickles. Torch classes
    named in the file are looked up in ``torch.optim`` and ``torch.nn`` only.
    The loaded estimator predicts exactly like the saved one (``predict``
    and ``predict_proba``, with the same feature names), and its
    ``net_.history`` holds the per-epoch training history.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.

    device : str or torch.device, default=None
        Where to load the network, e.g. ``"cpu"`` for a model trained on a
        GPU; also becomes the estimator's ``device`` parameter. None keeps
        the saved ``device``.

    Returns
    -------
    estimator : MultiTaskNetEstimator
        The fitted estimator.

    Raises
    ------
    ValueError
        If the file is not a valid model file written by :func:`save`,
        e.g. a pickle or a tampered file.

    See Also
    --------
    save : Save a fitted estimator.

    Examples
    --------
    See :func:`save`.
    """
    document, tensors = _read_file(path)
    est = _decode_params(document.get("params"), device)
    tasks = _decode_tasks(
        document.get("tasks_"), "tasks_", named_by_user=est.tasks is not None
    )
    _expect(
        all(task.kind in ("classification", "regression") for _, task in tasks),
        "each fitted task must be a classification or a regression task",
    )
    try:  # make the losses concrete, checking that they fit the kinds
        tasks = [(name, resolve_task(name, task)) for name, task in tasks]
    except ValueError as exc:
        raise ValueError(f"The model file is invalid: {exc}") from None
    codecs = _decode_codecs(document.get("codecs"), tasks)
    n_features = document.get("n_features_in_")
    _expect(
        isinstance(n_features, int) and n_features >= 1,
        "n_features_in_ must be a positive int",
    )
    feature_names = document.get("feature_names_in_")
    _expect(
        feature_names is None
        or (
            isinstance(feature_names, list)
            and len(feature_names) == n_features
            and all(isinstance(f, str) for f in feature_names)
        ),
        "feature_names_in_ must be null or one string per feature",
    )
    seeds = document.get("seeds")
    _expect(
        isinstance(seeds, list)
        and len(seeds) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) for v in seeds),
        "the seeds must be three ints",
    )
    history = _decode_history(document.get("history"))
    weights = document.get("task_weights_")
    _expect(
        isinstance(weights, list)
        and len(weights) == len(tasks)
        and all(
            isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights
        ),
        "task_weights_ must be one number per task",
    )
    cosine = _decode_matrix(
        document.get("gradient_cosine_"), len(tasks), "gradient_cosine_"
    )
    affinity = _decode_matrix(
        document.get("task_affinity_"), len(tasks), "task_affinity_"
    )
    affinity_counts = _decode_matrix(
        document.get("task_affinity_counts"), len(tasks), "task_affinity_counts"
    )
    _expect(
        (affinity is None) == (affinity_counts is None)
        and (
            affinity_counts is None
            or bool(
                (affinity_counts >= 0).all()
                and (affinity_counts == np.round(affinity_counts)).all()
                and (np.isnan(affinity) == (affinity_counts == 0)).all()
            )
        ),
        "task_affinity_counts must be non-negative ints, zero exactly where "
        "task_affinity_ is NaN",
    )
    relations = _decode_relations(document.get("relations"))
    output_config = document.get("output_config") or {}
    _expect(
        isinstance(output_config, dict)
        and all(isinstance(v, str) for v in output_config.values()),
        "output_config must map set_output's arguments to strings",
    )
    if est._device().type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"The model was saved with device={est.device!r}, but no CUDA device is "
            "available here. Load it on the CPU with load(path, device='cpu')."
        )

    def load_state(net):
        _load_tensors(net, tensors, document.get("optimizer_state"))
        net.history = history
        net.task_weights_ = np.array(weights, dtype=np.float64)
        net.gradient_cosine_ = cosine
        if affinity is not None:
            net._affinity_count = affinity_counts.astype(np.int64)
            net._affinity_sum = np.where(net._affinity_count > 0, affinity, 0.0) * (
                net._affinity_count
            )

    shapes = {
        name.partition(".")[2]: tuple(tensor.shape)
        for name, tensor in tensors.items()
        if name.startswith("module.")
    }
    columns = _decode_columns(document.get("embedding_columns"), n_features)
    bins = _decode_bins(
        document.get("embedding_bins"),
        n_features if columns is None else len(columns),
    )
    try:
        est._restore(tasks, codecs, n_features, bool(document.get("y_1d")),
                     Seeds(*seeds), shapes, load_state, (columns, bins))  # fmt: skip
    except (TypeError, ValueError) as exc:
        message = str(exc)
        if message.startswith("The model file is invalid"):
            raise
        raise ValueError(f"The model file is invalid: {message}") from None
    early_stopping = document.get("early_stopping_", False)
    _expect(isinstance(early_stopping, bool), "early_stopping_ must be a boolean")
    est.early_stopping_ = early_stopping
    for attr, array in relations.items():
        setattr(est, attr, array)
    if feature_names is not None:
        est.feature_names_in_ = np.asarray(feature_names, dtype=object)
    if output_config:
        try:
            est.set_output(**output_config)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"The model file is invalid: set_output: {exc}") from None
    return est


def _load_tensors(net, tensors, optimizer_state):
    """Put a file's tensors into a freshly built net, each shape checked by torch."""
    groups = {"module": {}, "criterion": {}, "optimizer": {}}
    for name, tensor in tensors.items():
        prefix, _, key = name.partition(".")
        _expect(
            prefix in groups and key,
            f"it holds a tensor {name!r} that is neither weights nor optimizer state",
        )
        _expect(
            not tensor.is_floating_point() or bool(torch.isfinite(tensor).all()),
            f"its tensor {name!r} holds NaN or infinite values",
        )
        groups[prefix][key if prefix != "optimizer" else name] = tensor
    for prefix in ("module", "criterion"):
        try:
            getattr(net, f"{prefix}_").load_state_dict(groups[prefix], strict=True)
        except RuntimeError as exc:
            raise ValueError(
                "The model file is invalid: its weights do not fit the network "
                f"({exc})."
            ) from None
    _load_optimizer_state(net.optimizer_, optimizer_state, groups["optimizer"])
