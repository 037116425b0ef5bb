"""Frozen specs: NetSpec checks the parameter combinations when it is made."""

import dataclasses

import pytest
import torch
from torch import nn

from sklearn_mtl._spec import LossSpec, ModuleSpec, NetSpec


class _Trunk(nn.Module):
    def __init__(self, n_features, width=4):
        super().__init__()
        self.layer = nn.Linear(n_features, width)

    def forward(self, X):
        return self.layer(X)


def _module(**kwargs):
    return ModuleSpec(
        **{"n_features": 3, "heads": (((), 2), ((), 1)), "trunk_sizes": (8,), **kwargs}
    )


def _loss(weighting="fixed"):
    return LossSpec(weighting, ("log_loss", "squared_error"))


def _spec(module=None, loss=None, **kwargs):
    return NetSpec(
        task_names=("a", "b"),
        task_weights=(1.0, 1.0),
        module=module or _module(),
        loss=loss or _loss(),
        **kwargs,
    )


def test_a_valid_spec():
    spec = _spec()
    assert spec.optimizer is torch.optim.Adam
    assert spec.device == torch.device("cpu")
    assert not spec.per_task_gradients


@pytest.mark.parametrize(
    "weighting", ["uncertainty", "dwa", "gradnorm", "pcgrad", "mgda"]
)
def test_sequential_schedule_needs_fixed_weighting(weighting):
    with pytest.raises(ValueError, match="schedule='sequential' trains one task"):
        _spec(loss=_loss(weighting), schedule="sequential")


def test_sequential_schedule_with_fixed_weighting():
    assert _spec(schedule="sequential").schedule == "sequential"


def test_trunk_params_without_trunk_error():
    with pytest.raises(ValueError, match="trunk_params=.*but trunk=None"):
        _spec(module=_module(trunk_params={"width": 3}))


def test_trunk_params_with_trunk():
    spec = _spec(module=_module(trunk=_Trunk, trunk_params={"width": 3}))
    assert spec.module.trunk is _Trunk


@pytest.mark.parametrize("trunk", [dict, "mlp", _Trunk(3)])
def test_trunk_not_a_module_class_error(trunk):
    with pytest.raises(TypeError, match="trunk must be a torch.nn.Module class"):
        _spec(module=_module(trunk=trunk))


@pytest.mark.parametrize("optimizer", [object, dict, nn.Linear])
def test_optimizer_not_an_optimizer_class_error(optimizer):
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer"):
        _spec(optimizer=optimizer)


def test_optimizer_class():
    assert _spec(optimizer=torch.optim.SGD).optimizer is torch.optim.SGD


@pytest.mark.parametrize("activation", [int, object, torch.optim.Adam])
def test_activation_not_a_module_class_error(activation):
    with pytest.raises(TypeError, match="activation must be one of"):
        _spec(module=_module(activation=activation))


@pytest.mark.parametrize("activation", ["relu", "gelu", nn.SiLU])
def test_activation_names_and_module_classes(activation):
    assert _spec(module=_module(activation=activation)).module.activation is activation


@pytest.mark.parametrize("weighting", ["gradnorm", "pcgrad", "mgda"])
def test_gradient_methods_without_a_trunk_error(weighting):
    with pytest.raises(ValueError, match=rf"weighting='{weighting}'.*trunk_sizes=\(\)"):
        _spec(module=_module(trunk_sizes=()), loss=_loss(weighting))


@pytest.mark.parametrize("weighting", ["gradnorm", "pcgrad", "mgda"])
def test_gradient_methods_with_a_frozen_trunk_error(weighting):
    with pytest.raises(
        ValueError, match=rf"weighting='{weighting}'.*freeze_trunk=True"
    ):
        _spec(loss=_loss(weighting), freeze_trunk=True)


@pytest.mark.parametrize("weighting", ["gradnorm", "pcgrad", "mgda"])
def test_gradient_methods_with_a_trunk(weighting):
    assert _spec(loss=_loss(weighting)).per_task_gradients
    custom = _spec(module=_module(trunk=_Trunk, trunk_sizes=()), loss=_loss(weighting))
    assert custom.per_task_gradients


@pytest.mark.parametrize("weighting", ["fixed", "uncertainty", "dwa"])
def test_gradient_conflict_recording_needs_a_trained_trunk(weighting):
    assert _spec(
        loss=_loss(weighting), record_gradient_conflict=True
    ).per_task_gradients
    with pytest.raises(ValueError, match="record_gradient_conflict=True works on"):
        _spec(
            module=_module(trunk_sizes=()),
            loss=_loss(weighting),
            record_gradient_conflict=True,
        )
    with pytest.raises(ValueError, match="record_gradient_conflict=True.*freeze_trunk"):
        _spec(loss=_loss(weighting), record_gradient_conflict=True, freeze_trunk=True)


@pytest.mark.parametrize("weighting", ["fixed", "uncertainty", "dwa"])
def test_other_weightings_without_a_trunk(weighting):
    spec = _spec(
        module=_module(trunk_sizes=()), loss=_loss(weighting), freeze_trunk=True
    )
    assert not spec.per_task_gradients


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is available")
def test_cuda_without_a_gpu_error():
    with pytest.raises(ValueError, match="no CUDA device is available"):
        _spec(device=torch.device("cuda"))


@pytest.mark.parametrize(
    "spec, field",
    [
        (_spec(), "lr"),
        (_module(), "trunk_sizes"),
        (_loss(), "weighting"),
    ],
)
def test_specs_are_frozen(spec, field):
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(spec, field, 0)


def test_specs_compare_field_by_field():
    assert _module() == _module()
    assert _module(trunk_params={}) == _module()
    assert _module(dropout=0.1) != _module()
    assert _loss() == _loss()
    assert _loss("dwa") != _loss()
    assert LossSpec("dwa", ("huber",), {"temperature": 2.0}) != LossSpec(
        "dwa", ("huber",), {"temperature": 3.0}
    )
    assert _spec() == _spec()
    assert _spec(lr=0.1) != _spec()
    assert _spec(module=_module(trunk_sizes=(4,))) != _spec()


def test_trunk_source_does_not_take_part_in_equality():
    assert _spec(trunk_source=object()) == _spec()


def test_module_spec_kwargs_build_the_network():
    from sklearn_mtl._module import MultiTaskNetwork

    module = _module(head_groups=("g", None), group_sizes=(4,))
    net = MultiTaskNetwork(**module.kwargs())
    outputs = net(torch.zeros(5, 3))
    assert [tuple(o.shape) for o in outputs] == [(5, 2), (5, 1)]
    assert len(net.towers) == 1


def test_module_spec_trunk_kwargs_and_description():
    mlp = _module(activation="tanh")
    assert mlp.trunk_kwargs() == {
        "n_features": 3,
        "trunk": None,
        "trunk_params": {},
        "trunk_sizes": (8,),
        "activation": "tanh",
    }
    assert mlp.describe_trunk() == "trunk_sizes=(8,), activation='tanh'"
    # a custom trunk ignores the MLP's parameters
    custom = _module(trunk=_Trunk, trunk_params={"width": 3}, activation="tanh")
    assert custom.trunk_kwargs() == {
        "n_features": 3,
        "trunk": _Trunk,
        "trunk_params": {"width": 3},
    }
    assert custom.describe_trunk() == "trunk=_Trunk(width=3)"
