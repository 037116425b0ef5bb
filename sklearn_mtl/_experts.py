"""Torch modules that learn how much tasks share: MMoE, PLE, cross-stitch, attention.

Torch only, like :mod:`sklearn_mtl._module`: each class takes plain values
(widths, counts, an activation) and knows nothing of scikit-learn or skorch.
Each takes a batch ``X`` of shape (n_rows, n_features) and returns one
representation per *unit* as a tensor of shape (n_units, n_rows, width); a
unit is a task, or the tasks of one ``Task(group=...)``, which then share
what a single task would own (its gate, its experts, its column, its
attention query). The heads sit on these representations.

Experts, gates and columns are computed as batched products over stacked
weights (:class:`StackedLinear`: one ``baddbmm`` or one matrix product per
layer for all experts), never as a Python loop over experts or tasks; so
are the tasks' linear heads on the units' representations
(:class:`UnitLinearHeads`).

Every module keeps the parameters that more than one task's loss reaches
in its submodule ``shared``: that is what the weightings that combine
per-task gradients (PCGrad, MGDA, GradNorm, TorchJD aggregators) and the
gradient-conflict diagnostic treat as the shared parameters. The rest (the
gates of MMoE, the task experts and task gates of PLE) is in ``specific``.
Each also has ``mixing(X)``, the weights it mixes with on ``X``: gate
weights (MMoE, PLE) or attention weights (task attention).
"""

import math

import torch
from torch import nn

from ._module import ACTIVATIONS, FitDropout


class StackedLinear(nn.Module):
    """``n_stack`` independent linear layers, applied as one batched product.

    Layer ``s`` has weight ``weight[s]`` of shape (n_in, n_out) and bias
    ``bias[s]``, initialized as :class:`torch.nn.Linear` initializes its
    own (uniform in ``±1/sqrt(n_in)``).

    The input is either one batch for all layers, of shape (n_rows, n_in),
    or one batch per layer, of shape (n_stack, n_rows, n_in); the output
    has shape (n_stack, n_rows, n_out).
    """

    def __init__(self, n_stack, n_in, n_out):
        super().__init__()
        self.n_stack, self.n_in, self.n_out = int(n_stack), int(n_in), int(n_out)
        self.weight = nn.Parameter(torch.empty(self.n_stack, self.n_in, self.n_out))
        self.bias = nn.Parameter(torch.empty(self.n_stack, self.n_out))
        self.reset_parameters()

    def reset_parameters(self, generator=None):
        """Draw the weights, from ``generator`` when given (the fit's own)."""
        # nn.Linear's Kaiming-uniform with a=sqrt(5) has bound 1/sqrt(fan_in),
        # the same as its bias.
        bound = 1 / math.sqrt(self.n_in) if self.n_in else 0.0
        nn.init.uniform_(self.weight, -bound, bound, generator=generator)
        nn.init.uniform_(self.bias, -bound, bound, generator=generator)

    def forward(self, X):
        if X.ndim == 2:
            # One input for all: broadcast, not copied, over the stack. (The
            # weights flattened into one matrix product cost a copy of them
            # each step, and a transposed output: slower on CPU.) -1 rather
            # than len(X): an int would fix the batch size of a traced
            # (ONNX) graph.
            X = X.expand(self.n_stack, -1, -1)
        return torch.baddbmm(self.bias.unsqueeze(1), X, self.weight)


def _activation(activation):
    return ACTIVATIONS.get(activation, activation)()


class StackedMLP(nn.Module):
    """``n_stack`` MLPs of the same shape, each layer one :class:`StackedLinear`.

    Every hidden layer is followed by the activation (and dropout), as in
    the trunk's MLP. ``out_features`` is the width of the last layer.
    """

    def __init__(self, n_stack, n_in, sizes, activation, dropout):
        super().__init__()
        layers = []
        for size in sizes:
            layers += [StackedLinear(n_stack, n_in, size), _activation(activation)]
            if dropout:
                layers.append(FitDropout(dropout))
            n_in = size
        self.layers = nn.Sequential(*layers)
        self.out_features = n_in

    def forward(self, X):
        return self.layers(X)


class MixtureOfExperts(nn.Module):
    """Multi-gate Mixture-of-Experts (Ma et al., KDD 2018).

    ``n_experts`` expert MLPs of ``expert_sizes`` read ``X``; each unit's
    gate (an MLP of ``gate_sizes``, then a softmax over the experts) weighs
    them, per row, into the unit's representation. A single unit is the
    one-gate mixture of experts (OMoE) of the paper.
    """

    def __init__(
        self,
        n_features,
        n_units,
        activation,
        dropout,
        n_experts,
        expert_sizes,
        gate_sizes=(),
    ):
        super().__init__()
        self.shared = StackedMLP(
            n_experts, n_features, expert_sizes, activation, dropout
        )
        hidden = StackedMLP(n_units, n_features, gate_sizes, activation, dropout)
        self.specific = nn.Sequential(
            hidden, StackedLinear(n_units, hidden.out_features, n_experts)
        )
        self.out_features = self.shared.out_features

    def _gates(self, X):
        return torch.softmax(self.specific(X), dim=-1)

    def mixing(self, X):
        """The gate weights, of shape (n_rows, n_units, n_experts)."""
        return self._gates(X).transpose(0, 1)

    def forward(self, X):
        experts = self.shared(X)  # (n_experts, n_rows, width)
        gates = self._gates(X)  # (n_units, n_rows, n_experts)
        # One product per row, batched: einsum plans this contraction with
        # more copies, slower on CPU (see "On another machine" on the
        # architectures benchmark page).
        mixed = torch.bmm(gates.transpose(0, 1), experts.transpose(0, 1))
        return mixed.transpose(0, 1)


# With one expert of a kind, as in CGC's usual 1 + 1, the mixture is one
# broadcast product: cheaper on CPU than einsum's general contraction.


def _mix_task_experts(gates, experts):
    """Each unit's gate-weighted sum of its own experts.

    ``gates``: (n_units, n_rows, n_task); ``experts``: (n_units, n_task,
    n_rows, width); returns (n_units, n_rows, width).
    """
    if experts.shape[1] == 1:
        return gates * experts[:, 0]
    return torch.einsum("ubt,utbd->ubd", gates, experts)


def _mix_shared_experts(gates, experts):
    """Each unit's gate-weighted sum of the shared experts.

    ``gates``: (n_units, n_rows, n_shared); ``experts``: (n_shared, n_rows,
    width); returns (n_units, n_rows, width).
    """
    if experts.shape[0] == 1:
        return gates * experts[0]
    return torch.einsum("ubs,sbd->ubd", gates, experts)


class _PLELevel(nn.Module):
    """One extraction level of PLE: task experts, shared experts and gates."""

    def __init__(
        self, n_in, n_units, n_shared, n_task, sizes, activation, dropout, last
    ):
        super().__init__()
        self.n_units, self.n_shared, self.n_task = n_units, n_shared, n_task
        self.task_experts = StackedMLP(
            n_units * n_task, n_in, sizes, activation, dropout
        )
        self.task_gates = StackedLinear(n_units, n_in, n_task + n_shared)
        self.shared_experts = StackedMLP(n_shared, n_in, sizes, activation, dropout)
        # The shared gate feeds the next level's shared experts.
        self.shared_gate = (
            StackedLinear(1, n_in, n_units * n_task + n_shared)
            if n_shared and not last
            else None
        )
        self.out_features = self.task_experts.out_features

    def gates(self, task_input):
        return torch.softmax(self.task_gates(task_input), dim=-1)

    def forward(self, task_input, shared_input):
        """``task_input``: (n_rows, n_in) or per unit; ``shared_input``: 2-D."""
        if task_input.ndim == 3 and self.n_task > 1:
            expert_input = task_input.repeat_interleave(self.n_task, dim=0)
        else:
            expert_input = task_input
        task_experts = self.task_experts(expert_input) if self.n_task else None
        n_rows = task_input.shape[-2]
        if task_experts is not None:  # (n_units, n_task, n_rows, width)
            task_experts = task_experts.view(self.n_units, self.n_task, n_rows, -1)
        shared = self.shared_experts(shared_input) if self.n_shared else None
        gates = self.gates(task_input)  # (n_units, n_rows, n_task + n_shared)
        parts = []
        if task_experts is not None:
            parts.append(_mix_task_experts(gates[..., : self.n_task], task_experts))
        if shared is not None:
            parts.append(_mix_shared_experts(gates[..., self.n_task :], shared))
        out = parts[0] if len(parts) == 1 else parts[0] + parts[1]
        shared_out = None
        if self.shared_gate is not None:
            weights = torch.softmax(self.shared_gate(shared_input)[0], dim=-1)
            every = [] if task_experts is None else [task_experts.flatten(0, 1)]
            every = torch.cat([*every, shared], dim=0)  # (n_experts, n_rows, width)
            shared_out = torch.einsum("be,ebd->bd", weights, every)
        return out, shared_out, gates


class ProgressiveLayeredExtraction(nn.Module):
    """Progressive Layered Extraction (Tang et al., RecSys 2020); one level is CGC.

    Each level has ``n_task_experts`` experts per unit and
    ``n_shared_experts`` shared experts, MLPs of ``expert_sizes``. A unit's
    gate (linear, then softmax) mixes its own experts and the shared ones
    into its representation; below the last level, a shared gate mixes all
    experts into the input of the next level's shared experts, and each
    unit's representation is the input of its next-level experts and gate.
    """

    def __init__(
        self,
        n_features,
        n_units,
        activation,
        dropout,
        n_levels,
        n_shared_experts,
        n_task_experts,
        expert_sizes,
    ):
        super().__init__()
        self.n_units = n_units
        levels = []
        n_in = n_features
        for level in range(n_levels):
            levels.append(
                _PLELevel(
                    n_in,
                    n_units,
                    n_shared_experts,
                    n_task_experts,
                    expert_sizes,
                    activation,
                    dropout,
                    last=level == n_levels - 1,
                )  # fmt: skip
            )
            n_in = levels[-1].out_features
        self.levels = nn.ModuleList(levels)
        self.out_features = n_in
        # The same parameters, viewed as shared and task-specific (see the
        # module docstring); registered as plain lists, not submodules, so
        # that state_dict names each tensor once.
        self._shared_parts = [
            part
            for lv in levels
            for part in (lv.shared_experts, lv.shared_gate)
            if part is not None
        ]

    @property
    def shared(self):
        return _View(self._shared_parts)

    def _run(self, X):
        task_input, shared_input, gates = X, X, []
        for level in self.levels:
            task_input, shared_out, level_gates = level(task_input, shared_input)
            gates.append(level_gates)
            shared_input = shared_out
        return task_input, gates

    def mixing(self, X):
        """The task gates: (n_rows, n_levels, n_units, n_task + n_shared)."""
        return torch.stack(self._run(X)[1]).permute(2, 0, 1, 3)

    def forward(self, X):
        return self._run(X)[0]


class _View(nn.Module):
    """Modules gathered for their parameters, without owning them in a state_dict."""

    def __init__(self, parts):
        super().__init__()
        object.__setattr__(self, "_parts", list(parts))

    def parameters(self, recurse=True):
        for part in self._parts:
            yield from part.parameters(recurse)

    def modules(self):
        for part in self._parts:
            yield from part.modules()


class CrossStitch(nn.Module):
    """Cross-stitch networks (Misra et al., CVPR 2016).

    One column per unit, an MLP of ``expert_sizes``; after each hidden
    layer, a learned (n_units, n_units) matrix ``alpha`` mixes the columns:
    unit ``u``'s next input is ``sum_v alpha[u, v] * h_v``. The matrices
    start at ``init_self`` on the diagonal and share the rest of each row
    equally (the identity when ``init_self=1``: separate columns).
    """

    def __init__(
        self, n_features, n_units, activation, dropout, expert_sizes, init_self
    ):
        super().__init__()
        off = (1.0 - init_self) / (n_units - 1) if n_units > 1 else 0.0
        start = torch.full((n_units, n_units), off)
        start.fill_diagonal_(1.0 if n_units == 1 else init_self)
        # Stitches first: GradNorm balances the last layer of ``shared``,
        # which should be the columns' last layer.
        self.shared = nn.ModuleDict(
            {
                "stitches": _Stitches(len(expert_sizes), start),
                "columns": StackedMLP(
                    n_units, n_features, expert_sizes, activation, dropout
                ),
            }
        )
        self.out_features = self.shared["columns"].out_features

    @property
    def stitch_matrices(self):
        """The mixing matrices, one per hidden layer: (n_layers, n_units, n_units)."""
        return torch.stack(list(self.shared["stitches"].alpha))

    def forward(self, X):
        h = X
        stitches = iter(self.shared["stitches"].alpha)
        for layer in self.shared["columns"].layers:
            h = layer(h)
            if isinstance(layer, StackedLinear):
                continue
            if not isinstance(layer, FitDropout):
                alpha = next(stitches)
                h = torch.einsum("uv,vbd->ubd", alpha, h)
        return h


class _Stitches(nn.Module):
    def __init__(self, n_layers, start):
        super().__init__()
        self.alpha = nn.ParameterList(
            [nn.Parameter(start.clone()) for _ in range(n_layers)]
        )


class TaskAttention(nn.Module):
    """Attention between tasks over their own columns (after AITM and MTAN).

    One column per unit, an MLP of ``expert_sizes``, gives each unit a
    representation ``t_u``; then each unit attends over all units' (one
    head of scaled dot-product attention, projections shared by all
    units): ``a_u = softmax_v(q(t_u) . k(t_v) / sqrt(width))`` and the
    unit's representation is ``t_u + sum_v a_uv v(t_v)``. ``a`` is the
    attention between tasks, each row summing to one.
    """

    def __init__(self, n_features, n_units, activation, dropout, expert_sizes):
        super().__init__()
        columns = StackedMLP(n_units, n_features, expert_sizes, activation, dropout)
        width = columns.out_features
        self.shared = nn.ModuleDict(
            {
                "columns": columns,
                "query": nn.Linear(width, width),
                "key": nn.Linear(width, width),
                "value": nn.Linear(width, width),
            }
        )
        self.out_features = width

    def _attend(self, X):
        shared = self.shared
        tokens = shared["columns"](X)  # (n_units, n_rows, width)
        q, k = shared["query"](tokens), shared["key"](tokens)
        scores = torch.einsum("ubd,vbd->buv", q, k) / math.sqrt(tokens.shape[-1])
        weights = torch.softmax(scores, dim=-1)  # (n_rows, n_units, n_units)
        return tokens, weights

    def mixing(self, X):
        """The attention weights, of shape (n_rows, n_units, n_units)."""
        return self._attend(X)[1]

    def forward(self, X):
        tokens, weights = self._attend(X)
        values = self.shared["value"](tokens)
        return tokens + torch.einsum("buv,vbd->ubd", weights, values)


class UnitLinearHeads(nn.Module):
    """Each task's linear head on its unit's representation, in one product.

    Task ``t`` reads unit ``head_units[t]`` (the tasks of a group share a
    unit) and has ``n_outputs[t]`` outputs. The function is that of one
    ``nn.Linear(n_in, n_outputs[t])`` per task, but one batched product over
    the units replaces a product per task, forward and backward: with many
    tasks, the heads' small products would cost more than the network. A
    unit's tasks sit side by side in its slice of the weight, padded to the
    widest unit's; the padding's outputs are never read.

    The input has shape (n_units, n_rows, n_in); the output is a tuple of
    one (n_rows, n_outputs[t]) tensor per task.
    """

    def __init__(self, n_in, n_outputs, head_units):
        super().__init__()
        self.n_outputs = tuple(int(n) for n in n_outputs)
        self.head_units = tuple(int(unit) for unit in head_units)
        widths, offsets = [0] * (max(self.head_units) + 1), []
        for unit, n in zip(self.head_units, self.n_outputs):
            offsets.append(widths[unit])
            widths[unit] += n
        self.offsets = tuple(offsets)
        self.layer = StackedLinear(len(widths), n_in, max(widths))
        # One task per unit, in order and all as wide: a unit's output is
        # its task's, with no slicing.
        self.one_per_unit = self.head_units == tuple(range(len(widths))) and all(
            n == max(widths) for n in self.n_outputs
        )

    def forward(self, units):
        per_unit = self.layer(units).unbind(0)
        if self.one_per_unit:
            return per_unit
        return tuple(
            per_unit[unit].narrow(1, offset, n)
            for unit, offset, n in zip(self.head_units, self.offsets, self.n_outputs)
        )


#: The architecture modules by the name the spec gives them.
MODULES = {
    "mmoe": MixtureOfExperts,
    "ple": ProgressiveLayeredExtraction,
    "cross_stitch": CrossStitch,
    "task_attention": TaskAttention,
}


def make_architecture(name, n_features, n_units, activation, dropout, params):
    """The architecture module ``name`` for ``n_units`` units, from its params."""
    return MODULES[name](n_features, n_units, activation, dropout, **params)


def has_shared_parameters(name, params):
    """Whether architecture ``name`` has parameters that several tasks reach."""
    return name != "ple" or params["n_shared_experts"] > 0
