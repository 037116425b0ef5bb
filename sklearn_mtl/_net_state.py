"""A skorch net's pickled state as data: tensors and plain values, no pickle.

:class:`~sklearn_mtl._training.MultiTaskNet` pickles its module, criterion and
optimizer as their tensors (one safetensors document) and plain values (one
JSON document) where they can be rebuilt exactly from the net's own arguments
(:func:`rebuildable`), and falls back to skorch's pickled blob elsewhere; the
estimator packs its plain attributes the same way (:func:`pack`,
:func:`unpack`). skops writes every value of a state as an indented JSON node
of its own, a few hundred bytes apiece, and would keep skorch's blob as an
opaque, unchecked pickle: see "Serving" in the user guide for what this buys.
"""

import copyreg
import json
import math
from functools import partial

import numpy as np
import torch
from skorch.history import History
from skorch.setter import optimizer_setter

from ._module import FitDropout, MultiTaskNetwork

# The keys of a data-only net state (MultiTaskNet._data_state): the tensors of
# the module, criterion and optimizer (safetensors bytes), the rest of the
# torch objects' state (JSON) and the criterion's plain attributes.
TENSORS_KEY = "__tensors__"
LAYOUT_KEY = "__torch_state__"
ATTRIBUTES_KEY = "__criterion_attributes__"
# What every torch module holds (hooks, parameters, ...); the rest of its
# __dict__ is the module's own.
_MODULE_INTERNALS = frozenset(vars(torch.nn.Module()))
_HOOKS = tuple(key for key in _MODULE_INTERNALS if "hook" in key)
_OPTIMIZER_HOOKS = (
    "_optimizer_step_pre_hooks",
    "_optimizer_step_post_hooks",
    "_optimizer_state_dict_pre_hooks",
    "_optimizer_state_dict_post_hooks",
    "_optimizer_load_state_dict_pre_hooks",
    "_optimizer_load_state_dict_post_hooks",
)


def rebuildable(net):
    """Whether ``net``'s torch objects are built again exactly from data.

    The network must be this package's own without a custom ``trunk`` (a
    user's module may keep state outside its tensors), not compiled, with
    no generator set and no hooks; the criterion one of this package's,
    without submodules (a TorchJD aggregator) or hooks; the optimizer a
    ``torch.optim`` class (which pickle too keeps as its state dict only).
    """
    module = getattr(net, "module_", None)
    criterion = getattr(net, "criterion_", None)
    optimizer = getattr(net, "optimizer_", None)
    return bool(
        net.initialized_
        and net._modules == ["module"]
        and net._criteria == ["criterion"]
        and net._optimizers == ["optimizer"]
        and net.cuda_dependent_attributes_ == ["module_", "criterion_", "optimizer_"]
        and net.module is MultiTaskNetwork
        and type(module) is MultiTaskNetwork
        and not module.custom_trunk
        and isinstance(net.criterion, type)
        and type(criterion) is net.criterion
        and net.criterion.__module__.startswith("sklearn_mtl.")
        and not any(True for _ in criterion.children())
        and isinstance(net.optimizer, type)
        and type(optimizer) is net.optimizer
        and net.optimizer.__module__.startswith("torch.optim.")
        and not any(getattr(optimizer, key, None) for key in _OPTIMIZER_HOOKS)
        and all(
            not any(getattr(m, key, None) for key in _HOOKS)
            and not m._non_persistent_buffers_set
            and not (isinstance(m, FitDropout) and m.generator is not None)
            for m in (*module.modules(), criterion)
        )
    )


def is_dropout(module):
    return isinstance(module, FitDropout)


def net_parameters(net):
    """The parameters of the module and of the criterion, by prefixed name."""
    for prefix in ("module", "criterion"):
        for name, param in getattr(net, f"{prefix}_").named_parameters():
            yield f"{prefix}.{name}", param


def extra_attributes(module):
    """A torch module's own attributes: its __dict__ but torch's internals."""
    internals = _MODULE_INTERNALS
    return {key: value for key, value in vars(module).items() if key not in internals}


def plain_value(value):
    """Whether ``value`` is data that pickle and skops store as it is."""
    if value is None or isinstance(value, (bool, int, float, str, np.generic)):
        return True
    if isinstance(value, (tuple, list)):
        return all(plain_value(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain_value(v) for k, v in value.items())
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "biuf"
    return isinstance(value, np.random.Generator)


def _to_json(value):
    """``value`` as JSON data, tuples tagged; TypeError unless plain."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) is tuple:
        return {"(": [_to_json(v) for v in value]}
    if type(value) is list:
        return [_to_json(v) for v in value]
    if type(value) is dict and all(type(key) is str for key in value):
        return {key: _to_json(v) for key, v in value.items()}
    raise TypeError(type(value).__name__)


def _from_json(value):
    if type(value) is dict:
        if value.keys() == {"("}:
            return tuple(_from_json(v) for v in value["("])
        return {key: _from_json(v) for key, v in value.items()}
    if type(value) is list:
        return [_from_json(v) for v in value]
    return value


def _exactly(decoded, value):
    """Whether ``decoded`` is ``value``, type for type (no NaN: NaN != NaN)."""
    if type(decoded) is not type(value):
        return False
    if type(value) in (tuple, list):
        return len(decoded) == len(value) and all(map(_exactly, decoded, value))
    if type(value) is dict:
        return decoded.keys() == value.keys() and all(
            _exactly(decoded[key], value[key]) for key in value
        )
    return decoded == value


def pack(attributes, exclude=()):
    """Move the plain values of ``attributes`` out of it, as JSON data.

    A value moves only where JSON gives it back exactly (tuples as tuples,
    no NaN, no NumPy scalar); objects, types, functions and sets stay.
    """
    packed = {}
    for key, value in list(attributes.items()):
        if key in exclude:
            continue
        try:
            data = _to_json(value)
        except TypeError:
            continue
        if _exactly(_from_json(data), value):
            packed[key] = data
            del attributes[key]
    return packed


def unpack(packed):
    return {key: _from_json(value) for key, value in packed.items()}


def pack_object(obj):
    """``obj`` as (class, state left, plain state as JSON data, key order).

    None unless pickle stores ``obj`` as its class and a ``__dict__``-like
    mapping (no reduce of its own); :func:`unpack_object` then makes it
    again just as pickle does.
    """
    try:
        reduced = obj.__reduce_ex__(2)
    except TypeError:
        return None
    if not (
        len(reduced) >= 3
        and reduced[0] is copyreg.__newobj__
        and reduced[1] == (type(obj),)
        and type(reduced[2]) is dict
        and all(item is None for item in reduced[3:])
    ):
        return None
    state = dict(reduced[2])
    order = list(state)
    return type(obj), state, pack(state), order


def unpack_object(cls, state, packed, order):
    state = {**state, **unpack(packed)}
    obj = cls.__new__(cls)
    state = {key: state[key] for key in order}
    if hasattr(obj, "__setstate__"):
        obj.__setstate__(state)
    else:
        obj.__dict__.update(state)
    return obj


def pack_callbacks(state):
    """The net's ``callbacks_``, those skorch made packed (:func:`pack_object`).

    The user's callbacks (in ``callbacks`` or a ``callbacks__<name>``
    argument), which ``callbacks_`` shares, stay as they are, and shared.
    """
    callbacks_ = state["callbacks_"]
    if type(callbacks_) is not list:
        return callbacks_, {}
    given = [value for key, value in state.items() if key.startswith("callbacks__")]
    callbacks = state.get("callbacks")
    for entry in callbacks if isinstance(callbacks, (list, tuple)) else ():
        given.append(entry[1] if type(entry) is tuple and len(entry) == 2 else entry)
    given = {id(cb) for cb in given}
    entries, packed = [], {}
    for index, entry in enumerate(callbacks_):
        parts = None
        if type(entry) is tuple and len(entry) == 2 and id(entry[1]) not in given:
            parts = pack_object(entry[1])
        if parts is None:
            entries.append(entry)
            continue
        cls, rest, plain, order = parts
        entries.append((entry[0], cls, rest))
        packed[str(index)] = [plain, order]
    return entries, packed


def unpack_callbacks(entries, packed):
    if not packed:
        return entries
    callbacks = list(entries)
    for index, (plain, order) in packed.items():
        name, cls, state = callbacks[int(index)]
        callbacks[int(index)] = (name, unpack_object(cls, state, plain, order))
    return callbacks


def plain_json(value):
    from ._persistence import _plain

    return _plain(value, "the optimizer's parameters")


def json_tuples(value):
    """JSON lists back as the tuples they were (optimizer hyperparameters)."""
    return tuple(value) if isinstance(value, list) else value


def same_groups(decoded, groups):
    """Whether JSON ``decoded`` groups, lists read as tuples, are ``groups``."""
    if len(decoded) != len(groups):
        return False
    for new, old in zip(decoded, groups):
        if new.keys() != old.keys():
            return False
        for key, value in old.items():
            if key == "params":
                continue
            back = json_tuples(new[key])
            if type(back) is not type(value) or back != value:
                return False
    return True


def flag_string(values):
    return "".join("1" if value else "0" for value in values)


def validated_params(state):
    """skorch's ``_params_to_validate`` of a net: its arguments with a ``__``."""
    return {key for key in state if isinstance(key, str) and "__" in key}


def virtual_params(optimizers):
    """The virtual parameters skorch registers for a net's ``_optimizers``."""
    params = {}
    for name in optimizers:
        setter = partial(
            optimizer_setter, optimizer_attr=name + "_", optimizer_name=name
        )
        patterns = [name + "__param_groups__*__*", name + "__*"]
        if name == "optimizer":
            patterns.append("lr")
        params.update(dict.fromkeys(patterns, setter))
    return params


def same_virtual_params(params, expected):
    return list(params) == list(expected) and all(
        isinstance(fn, partial)
        and (fn.func, fn.args, fn.keywords)
        == (expected[key].func, expected[key].args, expected[key].keywords)
        for key, fn in params.items()
    )


def history_json(history):
    """``history`` as JSON, or None when JSON would not give it back as it is.

    NumPy scalars become Python numbers of the same value; anything else JSON
    would change (tuples, arrays, non-string keys, objects) keeps the history
    as it is.
    """
    if not isinstance(history, History):
        return None
    entries = history.to_list()
    try:
        text = json.dumps(entries, default=_json_scalar, separators=(",", ":"))
    except (TypeError, ValueError):
        return None
    return text if _same(json.loads(text), entries) else None


def _json_scalar(value):
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    raise TypeError(type(value).__name__)


def _same(decoded, value):
    """Whether JSON-decoded ``decoded`` is ``value`` (NaN equal to NaN)."""
    if isinstance(value, dict):
        return (
            type(value) is dict
            and all(isinstance(key, str) for key in value)
            and decoded.keys() == value.keys()
            and all(_same(decoded[key], value[key]) for key in value)
        )
    if isinstance(value, list):
        return (
            type(value) is list
            and len(decoded) == len(value)
            and all(_same(d, v) for d, v in zip(decoded, value))
        )
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return isinstance(decoded, float) and math.isnan(decoded)
    return decoded == value and isinstance(value, (str, int, float, bool, np.generic))
