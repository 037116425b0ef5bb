"""The torch parts: the multi-task network, its heads and towers, the masked loss."""

import numpy as np
import pytest
import torch
from torch import nn

from sklearn_mtl._experts import UnitLinearHeads
from sklearn_mtl._layout import pack
from sklearn_mtl._loss import MaskedMultiTaskLoss, task_means
from sklearn_mtl._module import (
    FitDropout,
    LinearHeads,
    MultiTaskNetwork,
    _make_mlp,
    make_custom_trunk,
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _X(n=5, n_features=3):
    return torch.randn(n, n_features)


# -- dropout ----------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_zeroes_a_fraction_p_and_keeps_the_mean(p):
    dropout = FitDropout(p).train()
    out = dropout(torch.ones(400, 500))
    assert abs(float((out == 0).float().mean()) - p) < 0.005
    assert abs(float(out.mean()) - 1) < 0.02
    # p is rounded to a multiple of 2**-16
    assert out.unique().tolist() == [0.0, pytest.approx(1 / (1 - p), rel=1e-4)]


def test_dropout_below_its_resolution_drops_nothing():
    # p rounds to 0 in steps of 2**-16; the largest p keeps 1 element in 2**16
    X = torch.randn(300, 40)
    assert torch.equal(FitDropout(1e-6).train()(X), X)
    out = FitDropout(1 - 1e-6).train()(torch.ones(3000, 400))
    assert 0 < int((out > 0).sum()) < 60
    assert float(out.max()) == pytest.approx(2.0**16)


def test_dropout_masks_are_independent_across_elements():
    out = FitDropout(0.5).train()(torch.ones(2000, 64))
    # Neighbours share a 64-bit draw: their masks must still be uncorrelated.
    kept = (out > 0).float()
    correlation = torch.corrcoef(
        torch.stack([kept[:, ::2].ravel(), kept[:, 1::2].ravel()])
    )
    assert abs(float(correlation[0, 1])) < 0.02


def test_dropout_follows_its_generator_and_passes_through_in_evaluation():
    dropout = FitDropout(0.3)
    X = torch.randn(50, 7)
    masks = []
    for _ in range(2):
        dropout.generator = torch.Generator().manual_seed(4)
        masks.append(dropout.train()(X))
    torch.testing.assert_close(masks[0], masks[1])
    assert torch.equal(dropout.eval()(X), X)


def test_dropout_gradient_is_the_mask():
    dropout = FitDropout(0.5).train()
    X = torch.randn(30, 4, requires_grad=True)
    out = dropout(X)
    out.sum().backward()
    torch.testing.assert_close(X.grad, (out != 0).float() * 2)


# -- _make_mlp --------------------------------------------------------------------


def test_make_mlp_layers_and_width():
    mlp, width = _make_mlp(3, (8, 4), "tanh", dropout=0.5)
    assert width == 4
    expected = [nn.Linear, nn.Tanh, nn.Dropout, nn.Linear, nn.Tanh, nn.Dropout]
    assert len(mlp) == len(expected)
    assert all(isinstance(layer, kind) for layer, kind in zip(mlp, expected))
    assert mlp(_X()).shape == (5, 4)


def test_make_mlp_without_layers_is_the_identity():
    mlp, width = _make_mlp(3, (), "relu", dropout=0.0)
    X = _X()
    assert width == 3
    assert torch.equal(mlp(X), X)


def test_make_mlp_takes_an_activation_class():
    mlp, _ = _make_mlp(3, (2,), nn.Softplus, dropout=0.0)
    assert isinstance(mlp[1], nn.Softplus)


# -- MultiTaskNetwork -------------------------------------------------------------


@pytest.mark.parametrize("trunk_sizes", [(), (6,), (6, 5)])
@pytest.mark.parametrize("head_sizes", [(), (4,)])
def test_output_shapes_per_head(trunk_sizes, head_sizes):
    heads = [(head_sizes, 3), (head_sizes, 1), ((), 2)]
    net = MultiTaskNetwork(3, trunk_sizes, heads)
    outputs = net(_X(7))
    assert isinstance(outputs, tuple)
    assert [tuple(o.shape) for o in outputs] == [(7, 3), (7, 1), (7, 2)]


def test_heads_without_hidden_layers_are_fused():
    net = MultiTaskNetwork(3, (6,), [((), 3), ((), 1)])
    assert isinstance(net.heads, LinearHeads)
    unfused = MultiTaskNetwork(3, (6,), [((), 3), ((), 1)], fuse_heads=False)
    assert isinstance(unfused.heads, nn.ModuleList)
    with_hidden = MultiTaskNetwork(3, (6,), [((4,), 3), ((), 1)])
    assert isinstance(with_hidden.heads, nn.ModuleList)


def test_linear_heads_split_outputs():
    heads = LinearHeads(4, [3, 1, 2])
    outputs = heads(torch.randn(5, 4))
    assert [tuple(o.shape) for o in outputs] == [(5, 3), (5, 1), (5, 2)]


def test_linear_heads_initialized_like_separate_layers():
    n_in = 16
    heads = LinearHeads(n_in, [50, 50])
    bound = 1 / np.sqrt(n_in)
    for param in (heads.linear.weight, heads.linear.bias):
        assert param.detach().abs().max() <= bound
        assert param.detach().abs().max() > 0.8 * bound


def test_linear_heads_equal_separate_heads():
    heads = [((), 3), ((), 1), ((), 2)]
    fused = MultiTaskNetwork(4, (6,), heads)
    separate = MultiTaskNetwork(4, (6,), heads, fuse_heads=False)
    separate.trunk.load_state_dict(fused.trunk.state_dict())
    weight, bias = fused.heads.linear.weight, fused.heads.linear.bias
    with torch.no_grad():
        start = 0
        for head, (_, n_out) in zip(separate.heads, heads):
            (linear,) = head
            linear.weight.copy_(weight[start : start + n_out])
            linear.bias.copy_(bias[start : start + n_out])
            start += n_out
    X = _X(9, 4)
    for a, b in zip(fused(X), separate(X)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    "groups", [None, ["g", None, "g", None]], ids=["unit per task", "a group"]
)
def test_architecture_heads_fused_equal_separate_heads(groups):
    # Mixed widths (3 classes, 1 value, 2 classes); with the group, tasks 0
    # and 2 read one unit and sit side by side in its slice of the weight.
    heads = [((), 3), ((), 1), ((), 2), ((), 1)]
    kwargs = dict(
        architecture="mmoe",
        architecture_params={"n_experts": 3, "expert_sizes": (5,), "gate_sizes": ()},
        head_groups=groups,
    )
    fused = MultiTaskNetwork(4, (5,), heads, **kwargs)
    separate = MultiTaskNetwork(4, (5,), heads, fuse_heads=False, **kwargs)
    assert isinstance(fused.heads, UnitLinearHeads)
    assert isinstance(separate.heads, nn.ModuleList)
    separate.trunk.load_state_dict(fused.trunk.state_dict())
    stacked = fused.heads
    weight, bias = stacked.layer.weight, stacked.layer.bias  # (units, in, out)
    with torch.no_grad():
        for head, unit, start, (_, n_out) in zip(
            separate.heads, stacked.head_units, stacked.offsets, heads
        ):
            (linear,) = head
            linear.weight.copy_(weight[unit, :, start : start + n_out].T)
            linear.bias.copy_(bias[unit, start : start + n_out])
    X = _X(9, 4)
    outputs = fused(X)
    assert [tuple(o.shape) for o in outputs] == [(9, 3), (9, 1), (9, 2), (9, 1)]
    for a, b in zip(outputs, separate(X)):
        torch.testing.assert_close(a, b)


def test_group_tasks_share_one_tower():
    groups = ["g", "h", "g", None]
    net = MultiTaskNetwork(3, (6,), [((), 2)] * 4, head_groups=groups, group_sizes=(5,))
    assert len(net.towers) == 2
    X = _X()
    before = net(X)
    with torch.no_grad():  # change only the first group's tower
        for p in net.towers[0].parameters():
            p.add_(1.0)
    after = net(X)
    changed = [not torch.allclose(b, a) for b, a in zip(before, after)]
    assert changed == [True, False, True, False]


def test_group_tower_widths():
    net = MultiTaskNetwork(
        3, (6,), [((), 2), ((4,), 1)], head_groups=["g", None], group_sizes=(5,)
    )
    grouped_head, plain_head = net.heads
    assert grouped_head[0].in_features == 5  # on the tower
    assert plain_head[0].in_features == 6  # on the trunk
    assert [tuple(o.shape) for o in net(_X())] == [(5, 2), (5, 1)]


def test_task_without_group_sits_on_the_trunk():
    net = MultiTaskNetwork(
        3, (6,), [((), 2), ((), 2)], head_groups=[None, "g"], group_sizes=(5,)
    )
    X = _X()
    with torch.no_grad():
        expected = net.heads[0](net.trunk(X))
        torch.testing.assert_close(net(X)[0], expected)
        torch.testing.assert_close(net(X)[1], net.heads[1](net.towers[0](net.trunk(X))))


def test_group_named_like_a_module_attribute():
    net = MultiTaskNetwork(
        3, (6,), [((), 2), ((), 1)], head_groups=["trunk", "heads"], group_sizes=(4,)
    )
    assert isinstance(net.trunk, nn.Sequential)
    assert len(net.towers) == 2
    assert [tuple(o.shape) for o in net(_X())] == [(5, 2), (5, 1)]


def test_group_tower_without_layers_passes_the_trunk_through():
    net = MultiTaskNetwork(3, (6,), [((), 2)], head_groups=["g"], group_sizes=())
    X = _X()
    with torch.no_grad():
        torch.testing.assert_close(net(X)[0], net.heads[0](net.trunk(X)))


# -- custom trunks ----------------------------------------------------------------


class _TrunkWithOutFeatures(nn.Module):
    def __init__(self, n_features, width=7):
        super().__init__()
        self.seen_n_features = n_features
        self.layer = nn.Linear(n_features, width)
        self.out_features = width

    def forward(self, X):
        return self.layer(X)


class _TrunkWithoutOutFeatures(nn.Module):
    def __init__(self, n_features, width=5):
        super().__init__()
        self.seen_n_features = n_features
        self.layer = nn.Linear(n_features, width)
        self.seen_training = []

    def forward(self, X):
        self.seen_training.append(self.training)
        return torch.cat([self.layer(X), X], dim=1)


class _TrunkFixedInput(nn.Module):
    def __init__(self, width=3):
        super().__init__()
        self.layer = nn.Linear(10, width)

    def forward(self, X):
        return self.layer(X)


def test_custom_trunk_gets_n_features_and_its_out_features():
    module, width = make_custom_trunk(_TrunkWithOutFeatures, 4, {"width": 9})
    assert module.seen_n_features == 4
    assert width == 9


def test_custom_trunk_n_features_from_params_wins():
    module, _ = make_custom_trunk(_TrunkWithOutFeatures, 4, {"n_features": 4})
    assert module.seen_n_features == 4


def test_custom_trunk_width_from_a_dummy_forward():
    module, width = make_custom_trunk(_TrunkWithoutOutFeatures, 4, {"width": 2})
    assert width == 2 + 4
    assert module.seen_training == [False]  # probed in eval mode ...
    assert module.training  # ... then back to training mode


def test_custom_trunk_without_n_features_argument():
    module, width = make_custom_trunk(_TrunkFixedInput, 10, {"width": 4})
    assert width == 4
    assert isinstance(module, _TrunkFixedInput)


def test_custom_trunk_in_the_network():
    net = MultiTaskNetwork(
        4,
        (),
        [((), 3), ((2,), 1)],
        trunk=_TrunkWithoutOutFeatures,
        trunk_params={"width": 2},
    )
    assert [tuple(o.shape) for o in net(_X(5, 4))] == [(5, 3), (5, 1)]


def test_custom_trunk_not_a_module_error():
    with pytest.raises(TypeError, match="must be a torch.nn.Module class; calling it"):
        make_custom_trunk(dict, 3, {})


def test_custom_trunk_forward_failure_error():
    with pytest.raises(ValueError, match=r"Could not find the output width.*\(2, 3\)"):
        make_custom_trunk(_TrunkFixedInput, 3, {})


def test_custom_trunk_non_2d_output_error():
    class Flat(nn.Module):
        def forward(self, X):
            return X.sum()

    with pytest.raises(ValueError, match="must return a 2-D tensor"):
        make_custom_trunk(Flat, 3, {})


# -- masked loss ------------------------------------------------------------------


def _targets(codes, weights):
    return torch.from_numpy(pack(codes, weights))


def test_task_means():
    means = task_means(torch.tensor([6.0, 0.0, 1.0]), torch.tensor([3.0, 0.0, 0.25]))
    torch.testing.assert_close(means, torch.tensor([2.0, 0.0, 4.0]))


def test_masked_loss_is_the_weighted_mean_over_labelled_rows():
    output = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    codes = np.array([0.0, 0.0, np.nan, 1.0])
    weights = np.array([1.0, 3.0, 0.0, 2.0])
    loss = MaskedMultiTaskLoss(("squared_error",), (1.0,))
    value = loss((output,), _targets([codes], [weights]))
    expected = (1 * 1.0 + 3 * 4.0 + 2 * 9.0) / (1 + 3 + 2)
    assert value.item() == pytest.approx(expected)


def test_masked_loss_classification_matches_cross_entropy():
    logits = torch.randn(6, 3)
    labels = np.array([0, 2, 1, 1, 0, 2], dtype=float)
    loss = MaskedMultiTaskLoss(("log_loss",), (1.0,))
    value = loss((logits,), _targets([labels], [np.ones(6)]))
    expected = nn.functional.cross_entropy(logits, torch.from_numpy(labels).long())
    torch.testing.assert_close(value, expected)


@pytest.mark.parametrize(
    "name, reference",
    [
        ("squared_error", nn.functional.mse_loss),
        ("absolute_error", nn.functional.l1_loss),
        ("huber", nn.functional.huber_loss),
    ],
)
def test_masked_loss_regression_losses(name, reference):
    output = torch.randn(8, 1) * 3
    target = torch.randn(8)
    loss = MaskedMultiTaskLoss((name,), (1.0,))
    value = loss((output,), _targets([target.numpy()], [np.ones(8)]))
    torch.testing.assert_close(value, reference(output[:, 0], target))


def test_masked_loss_sums_task_means_times_task_weights():
    out_a, out_b = torch.randn(4, 1), torch.randn(4, 2)
    codes = [np.zeros(4), np.array([0.0, 1.0, 1.0, 0.0])]
    weights = [np.ones(4), np.array([1.0, 1.0, 0.0, 1.0])]
    targets = _targets(codes, weights)
    both = MaskedMultiTaskLoss(("squared_error", "log_loss"), (0.5, 2.0))
    only_a = MaskedMultiTaskLoss(("squared_error", "log_loss"), (1.0, 0.0))
    only_b = MaskedMultiTaskLoss(("squared_error", "log_loss"), (0.0, 1.0))
    expected = 0.5 * only_a((out_a, out_b), targets) + 2.0 * only_b(
        (out_a, out_b), targets
    )
    torch.testing.assert_close(both((out_a, out_b), targets), expected)


def test_task_without_labels_has_zero_loss_and_zero_finite_gradient():
    out_a = torch.randn(4, 1, requires_grad=True)
    out_b = torch.randn(4, 3, requires_grad=True)
    codes = [np.array([0.5, -1.0, 0.0, 2.0]), np.full(4, np.nan)]
    weights = [np.ones(4), np.zeros(4)]
    loss = MaskedMultiTaskLoss(("squared_error", "log_loss"), (1.0, 1.0))
    targets = _targets(codes, weights)
    sums, counts = loss.task_sums((out_a, out_b), targets)
    assert task_means(sums, counts)[1].item() == 0.0
    value = loss((out_a, out_b), targets)
    assert torch.isfinite(value)
    value.backward()
    assert torch.isfinite(out_b.grad).all()
    assert torch.equal(out_b.grad, torch.zeros_like(out_b))
    assert torch.isfinite(out_a.grad).all() and out_a.grad.abs().sum() > 0


def test_batch_without_any_label_gives_zero_loss():
    out = torch.randn(3, 1, requires_grad=True)
    loss = MaskedMultiTaskLoss(("squared_error",), (1.0,))
    value = loss((out,), _targets([np.full(3, np.nan)], [np.zeros(3)]))
    assert value.item() == 0.0
    value.backward()
    assert torch.equal(out.grad, torch.zeros_like(out))


@pytest.mark.parametrize("scale", [1 / 1000, 1 / 7, 3.0])
def test_scaling_all_weights_leaves_the_loss_unchanged(scale):
    n = 1000
    rng = np.random.default_rng(0)
    out_a = torch.randn(n, 1)
    out_b = torch.randn(n, 2)
    codes = [rng.normal(size=n), rng.integers(0, 2, size=n).astype(float)]
    weights = [rng.uniform(0, 2, size=n), (rng.uniform(size=n) > 0.3).astype(float)]
    loss = MaskedMultiTaskLoss(("squared_error", "log_loss"), (1.0, 1.0))
    reference = loss((out_a, out_b), _targets(codes, weights))
    scaled = loss((out_a, out_b), _targets(codes, [w * scale for w in weights]))
    torch.testing.assert_close(scaled, reference, rtol=1e-5, atol=0)


def test_weights_summing_to_less_than_one_are_not_inflated():
    # a batch whose weights sum to < 1 must still give the weighted mean
    output = torch.tensor([[1.0], [3.0]])
    weights = np.array([0.1, 0.3])
    loss = MaskedMultiTaskLoss(("squared_error",), (1.0,))
    value = loss((output,), _targets([np.zeros(2)], [weights]))
    assert value.item() == pytest.approx((0.1 * 1 + 0.3 * 9) / 0.4, rel=1e-6)


def test_loss_effective_weights_are_the_task_weights():
    loss = MaskedMultiTaskLoss(("squared_error", "log_loss"), (0.5, 2.0))
    torch.testing.assert_close(loss.effective_weights(), torch.tensor([0.5, 2.0]))
    assert not loss.per_task_gradients
    assert "weights" in dict(loss.named_buffers())


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_tasks_of_one_loss_share_their_operations_with_the_same_result(smoothing):
    # Interleaved kinds and widths: groups (log_loss, 2), (squared_error, 1),
    # (log_loss, 3) and a lone huber task, taken back to the tasks' order.
    losses = ["log_loss", "squared_error", "log_loss", "log_loss", "squared_error"]
    losses += ["huber", "log_loss"]
    widths = [2, 1, 2, 3, 1, 1, 2]
    n = 40
    outputs = tuple(torch.randn(n, w, requires_grad=True) for w in widths)
    codes = [
        np.random.default_rng(j).integers(0, w, n).astype(float)
        if loss == "log_loss"
        else np.random.default_rng(j).normal(size=n)
        for j, (loss, w) in enumerate(zip(losses, widths))
    ]
    weights = [np.random.default_rng(10 + j).random(n) for j in range(len(losses))]
    targets = _targets(codes, weights)
    criterion = MaskedMultiTaskLoss(losses, [1.0] * len(losses), smoothing).train()
    sums, counts = criterion.task_sums(outputs, targets)
    for j, (loss, output) in enumerate(zip(losses, outputs)):
        code = torch.as_tensor(codes[j], dtype=torch.float32)
        if loss == "log_loss":
            row = nn.functional.cross_entropy(
                output, code.long(), reduction="none", label_smoothing=smoothing
            )
        elif loss == "squared_error":
            row = (output[:, 0] - code) ** 2
        else:
            row = nn.functional.huber_loss(output[:, 0], code, reduction="none")
        weight = torch.as_tensor(weights[j], dtype=torch.float32)
        torch.testing.assert_close(sums[j], (row * weight).sum())
        torch.testing.assert_close(counts[j], weight.sum())
