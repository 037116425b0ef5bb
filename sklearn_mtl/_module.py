"""The torch modules of the network: trunk, group towers and heads.

Torch only: everything here takes plain values (sizes, classes, names) and
knows nothing of scikit-learn, skorch or the estimator. A new network
architecture is one more class here, built from the fields of
:class:`~sklearn_mtl._spec.ModuleSpec`; the architectures that learn what
tasks share (``architecture=``) are in :mod:`sklearn_mtl._experts`.
"""

import inspect
import math

import torch
from torch import nn

from ._embeddings import NumericalEmbedding

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "logistic": nn.Sigmoid,
    "identity": nn.Identity,
    "gelu": nn.GELU,
}


def dropout_keep_mask(X, p, generator=None):
    """The scaled keep mask of inverted dropout for ``X``, as ``X``'s dtype.

    Each element is kept (and scaled by ``1 / (1 - p)``) with probability
    ``1 - p``, ``p`` rounded to a multiple of ``2**-16``, and zero otherwise.

    :class:`torch.nn.Dropout` draws one float per element
    (``bernoulli_``), which on CPU costs more than the small layers it
    follows; here one 64-bit draw (``random_``) gives four elements their
    16 bits, fewer and cheaper draws. See "What the defaults and
    ``n_ensemble`` cost" in the quality benchmarks page for the measured
    difference (``benchmarks/bench_defaults.py``).

    Parameters
    ----------
    X : torch.Tensor
        The activations the mask is for: its shape, dtype and device.
    p : float
        Drop probability, in [0, 1).
    generator : torch.Generator or None, default=None
        Where the bits come from; None: torch's global generator.

    Returns
    -------
    mask : torch.Tensor
        Of ``X``'s shape: ``0`` or ``1 / (1 - p)``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl._module import dropout_keep_mask
    >>> g = torch.Generator().manual_seed(0)
    >>> mask = dropout_keep_mask(torch.ones(1000, 100), 0.25, g)
    >>> [round(v, 4) for v in sorted(mask.unique().tolist())]
    [0.0, 1.3333]
    >>> round(float((mask == 0).float().mean()), 2)
    0.25
    """
    levels = 1 << 16  # each element reads one int16 of the draws below
    dropped = min(round(p * levels), levels - 1)
    if not dropped:  # p rounds to 0: nothing to draw, nothing dropped
        return torch.ones_like(X)
    n = X.numel()
    # random_ over the whole int64 range fills all 64 bits (random_()
    # without bounds stops at 2**63): as int16, four values uniform on
    # [-2**15, 2**15) a draw, read in one contiguous pass.
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=X.device)
    words.random_(-(2**63), None, generator=generator)
    bits = words.view(torch.int16)[:n].view(X.shape)
    # An element is dropped where its bits are <= low (``dropped`` values
    # of the 2**16). Clamping to [low, low + 1] and shifting gives the 0/1
    # of that comparison in integer operations, which run vectorized on
    # CPU where a comparison and a cast from bool do not (see the dropout
    # table of bench_defaults.py).
    low = dropped - levels // 2 - 1
    keep = bits.clamp(low, low + 1).sub_(low)
    return keep.to(X.dtype).mul_(levels / (levels - dropped))


class FitDropout(nn.Dropout):
    """Dropout drawing its masks from a generator owned by the fit.

    :class:`torch.nn.Dropout` draws from torch's global generator, which
    fits running at once in threads would share: their results would depend
    on the interleaving. The fit sets ``generator`` for its training
    (:func:`set_generator`) and clears it afterwards, so the module pickles;
    without one the masks come from torch's global generator. The masks are
    :func:`dropout_keep_mask`'s, cheaper to draw than ``nn.Dropout``'s.
    """

    generator = None

    def forward(self, X):
        if not self.training or not self.p:
            return X
        return X * dropout_keep_mask(X, self.p, self.generator)


def set_generator(module, generator):
    """Give every :class:`FitDropout` of ``module`` the fit's ``generator``."""
    for submodule in module.modules():
        if isinstance(submodule, FitDropout):
            submodule.generator = generator


class _SparseLinearFunction(torch.autograd.Function):
    """``X @ weight.T + bias`` for a sparse CSR ``X``, never densified.

    The weight keeps :class:`torch.nn.Linear`'s (n_out, n_in) layout:
    forward gathers the weight's columns of the batch's non-zeros and adds
    them up row by row; backward scatters the rows' output gradients back
    into those columns. The work grows with the batch's non-zeros, not with
    ``n_in`` (see "Sparse inputs" in the speed benchmarks page).
    """

    @staticmethod
    def forward(ctx, crow, col, values, weight, bias):
        n_rows = len(crow) - 1
        rows = torch.repeat_interleave(
            torch.arange(n_rows, device=crow.device), crow.diff()
        )
        # The weight's columns are read (and written backward) in increasing
        # order, which the memory prefetcher follows: a row-major weight's
        # columns lie far apart. Stable, so each row still sums its
        # non-zeros in their order and the result is the unsorted one's.
        col, order = col.sort(stable=True)
        rows, values = rows[order], values[order]
        gathered = weight.index_select(1, col) * values  # (n_out, nnz)
        out = weight.new_zeros(weight.shape[0], n_rows).index_add_(1, rows, gathered)
        ctx.save_for_backward(rows, col, values)
        ctx.weight_shape = weight.shape
        ctx.has_bias = bias is not None
        # Row-major, as nn.Linear's output: what follows (dropout masks drawn
        # with empty_like) must see the same memory layout as on dense X.
        out = out.t().contiguous()
        return out + bias if bias is not None else out

    @staticmethod
    def backward(ctx, grad):
        rows, col, values = ctx.saved_tensors
        grad_weight = grad_bias = None
        if ctx.needs_input_grad[3]:
            scaled = grad.index_select(0, rows) * values.unsqueeze(1)  # (nnz, n_out)
            grad_weight = grad.new_zeros(ctx.weight_shape).index_add_(
                1, col, scaled.t()
            )
        if ctx.has_bias and ctx.needs_input_grad[4]:
            grad_bias = grad.sum(0)
        return None, None, None, grad_weight, grad_bias


class SparseInputLinear(nn.Linear):
    """:class:`torch.nn.Linear` that also takes a sparse CSR batch.

    On a dense input it is ``nn.Linear`` (same parameters, same state
    dict); on a ``torch.sparse_csr`` tensor it multiplies sparsely
    (:class:`_SparseLinearFunction`), which is the same function without
    building the dense batch. A sparse ``X`` reaches the first layer of the
    plain MLP trunk, or of the heads when the trunk has no layer.
    """

    def forward(self, X):
        if X.layout != torch.sparse_csr:
            return super().forward(X)
        return _SparseLinearFunction.apply(
            X.crow_indices(), X.col_indices(), X.values(), self.weight, self.bias
        )


def reset_linear_layers(module, generator, skip=None):
    """Re-draw every ``nn.Linear`` (and experts' stacked layer) of ``module``.

    The same distributions as :meth:`torch.nn.Linear.reset_parameters`
    (Kaiming-uniform weights, biases uniform in ``±1/sqrt(fan_in)``), but
    from the fit's own generator instead of torch's global one. Layers
    inside ``skip`` (a user's trunk, which initializes itself) are left as
    they are.
    """
    skipped = set() if skip is None else {id(m) for m in skip.modules()}
    for layer in module.modules():
        if id(layer) in skipped:
            continue
        if hasattr(layer, "n_stack"):  # the experts' StackedLinear (_experts.py)
            layer.reset_parameters(generator)
        elif isinstance(layer, nn.Linear):
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
            if layer.bias is not None:
                bound = 1 / math.sqrt(layer.in_features) if layer.in_features else 0
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)


def _make_mlp(n_in, sizes, activation, dropout):
    """Stack Linear → activation (→ dropout) blocks; return it and its width."""
    make_activation = ACTIVATIONS.get(activation, activation)
    layers = []
    for size in sizes:
        layers += [SparseInputLinear(n_in, size), make_activation()]
        if dropout:
            layers.append(FitDropout(dropout))
        n_in = size
    return nn.Sequential(*layers), n_in


def make_custom_trunk(trunk, n_features, params):
    """Instantiate a user's trunk class and find the width of its output.

    The class receives ``params`` (the estimator's ``trunk__<arg>``
    parameters), plus ``n_features`` when its ``__init__`` takes an argument
    of that name that ``params`` leaves out. The output width is the
    module's ``out_features`` attribute when it is an int, else the width of
    its output on a dummy batch of two all-zero rows.
    """
    params = dict(params)
    try:
        signature = inspect.signature(trunk)
    except (TypeError, ValueError):  # some builtins have no signature
        signature = None
    if signature is not None and "n_features" in signature.parameters:
        params.setdefault("n_features", n_features)
    module = trunk(**params)
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"trunk={trunk!r} must be a torch.nn.Module class; calling it gave a "
            f"{type(module).__name__}."
        )
    width = getattr(module, "out_features", None)
    if isinstance(width, int) and not isinstance(width, bool) and width > 0:
        return module, width
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(torch.zeros(2, n_features))
    except Exception as exc:
        raise ValueError(
            f"Could not find the output width of trunk={trunk.__name__}: running it "
            f"on a (2, {n_features}) float32 batch failed ({type(exc).__name__}: "
            f"{exc}). The trunk receives X as float32 rows of {n_features} "
            "features; fix its input size, or give it an int attribute "
            "out_features."
        ) from None
    finally:
        module.train(was_training)
    if not (isinstance(out, torch.Tensor) and out.ndim == 2 and len(out) == 2):
        raise ValueError(
            f"trunk={trunk.__name__} must return a 2-D tensor (n_samples, width); "
            f"on a batch of 2 rows it returned "
            f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out)}."
        )
    return module, int(out.shape[1])


class LinearHeads(nn.Module):
    """Several linear heads on the same input, computed as one ``nn.Linear``.

    Equivalent to one ``nn.Linear(n_in, n_out)`` per entry of ``n_outputs``
    (each row of the weight matrix is initialized as that layer's would be:
    uniform with bound ``1 / sqrt(n_in)``), but one matrix product replaces
    one per head, forward and backward. On a CPU a few narrow products cost
    far more than one product of their total width.

    Parameters
    ----------
    n_in : int
        Width of the input.
    n_outputs : sequence of int
        Number of outputs of each head.
    """

    def __init__(self, n_in, n_outputs):
        super().__init__()
        self.n_outputs = tuple(int(n) for n in n_outputs)
        self.linear = SparseInputLinear(n_in, sum(self.n_outputs))

    def forward(self, X):
        return self.linear(X).split(self.n_outputs, dim=1)


class EnsembleInput(nn.Module):
    """Copies of each row, one per ensemble member, scaled feature by feature.

    TabM-mini's adapter (Gorishniy et al., ICLR 2025): member ``m`` sees
    ``r_m * x``, with ``r_m`` a learned vector started at random signs
    (:func:`reset_ensemble`); everything after it is shared, so one matrix
    product serves all members. A batch of ``n`` rows becomes ``k * n`` rows,
    member-major (rows ``m * n`` to ``(m + 1) * n - 1`` are member ``m``'s).

    Parameters
    ----------
    n_members : int
    n_features : int
    """

    def __init__(self, n_members, n_features):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n_members, n_features))

    def forward(self, X):
        return (X.unsqueeze(0) * self.weight.unsqueeze(1)).reshape(-1, X.shape[1])


class EnsembleLinearHeads(nn.Module):
    """:class:`LinearHeads` with one output layer per ensemble member.

    Member ``m``'s rows (see :class:`EnsembleInput`) go through its own
    ``(n_in, sum(n_outputs))`` matrix: one batched product for all members.

    Parameters
    ----------
    n_members : int
    n_in : int
    n_outputs : sequence of int
    """

    def __init__(self, n_members, n_in, n_outputs):
        super().__init__()
        self.n_outputs = tuple(int(n) for n in n_outputs)
        width = sum(self.n_outputs)
        self.weight = nn.Parameter(torch.empty(n_members, n_in, width))
        self.bias = nn.Parameter(torch.empty(n_members, 1, width))

    def forward(self, X):
        n_members = self.weight.shape[0]
        rows = X.reshape(n_members, -1, X.shape[1])
        out = torch.baddbmm(self.bias, rows, self.weight)
        return out.reshape(-1, out.shape[2]).split(self.n_outputs, dim=1)


def reset_ensemble(module, generator):
    """Draw the ensemble's adapters and output layers from ``generator``.

    Adapters start at random signs (TabM-mini); each member's output layer
    like an ``nn.Linear`` of its own (uniform within ``±1/sqrt(n_in)``).
    """
    for layer in module.modules():
        if isinstance(layer, EnsembleInput):
            signs = torch.randint(
                0, 2, layer.weight.shape, generator=generator,
                device=layer.weight.device,
            )  # fmt: skip
            with torch.no_grad():
                layer.weight.copy_(2.0 * signs - 1.0)
        elif isinstance(layer, EnsembleLinearHeads):
            n_in = layer.weight.shape[1]
            bound = 1 / math.sqrt(n_in) if n_in else 0
            nn.init.uniform_(layer.weight, -bound, bound, generator=generator)
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)


class MultiTaskNetwork(nn.Module):
    """A shared trunk feeding one head per task, optionally through group towers.

    ``X`` → trunk → for each task: (its group's tower →) its hidden layers
    (``head_sizes``) → an output layer of ``n_outputs`` units (class logits,
    or one value for regression).

    Parameters
    ----------
    n_features : int
        Width of the input.
    trunk_sizes : tuple of int
        Hidden layer sizes of the shared trunk; ``()`` feeds ``X`` to the heads.
        Unused with a custom ``trunk``.
    heads : list of (tuple of int, int)
        Per task, its head's hidden layer sizes and its number of outputs.
    activation : str or type of torch.nn.Module, default="relu"
        The nonlinearity after every hidden layer of the MLP parts.
    dropout : float, default=0.0
        Dropout probability after every hidden layer of the MLP parts.
    trunk : type of torch.nn.Module or None, default=None
        A custom trunk class, instantiated with ``trunk_params`` (see
        :func:`make_custom_trunk`); None builds an MLP of ``trunk_sizes``.
    trunk_params : dict or None, default=None
        Keyword arguments of ``trunk``.
    num_embedding : {"periodic", "piecewise_linear"} or None, default=None
        Embed each feature before the MLP trunk (:class:`NumericalEmbedding`,
        the trunk's first layer); its MLP then reads ``d_embedding`` values
        per embedded feature and the other features as they are. Not with a
        custom ``trunk``.
    num_embedding_params : dict or None, default=None
        The embedding's resolved options.
    embedding_bins : tuple of tuple of float or None, default=None
        The piecewise-linear embedding's bin edges, per embedded feature.
    embedding_columns : tuple of int or None, default=None
        The features the embedding embeds (the others pass through); None:
        all.
    head_groups : list of (str or None) or None, default=None
        Per task, its group; tasks of a group share a tower of
        ``group_sizes`` hidden layers. None: no groups.
    group_sizes : tuple of int, default=()
        Hidden layer sizes of each group's tower.
    fuse_heads : bool, default=True
        When no task has a group or hidden head layers, compute all heads
        as one :class:`LinearHeads` layer (the same function, faster); with
        an ``architecture``, when no task has hidden head layers, as one
        :class:`sklearn_mtl._experts.UnitLinearHeads` over the units.
        ``heads`` is then that layer rather than a ``ModuleList``.
    n_ensemble : int, default=1
        Members of a parameter-efficient ensemble (TabM-mini): each row is
        copied once per member through :class:`EnsembleInput`; the trunk,
        towers and hidden head layers are shared, and fused output layers
        are per member (:class:`EnsembleLinearHeads`). In training mode each
        task's output holds ``n_ensemble * n`` rows (member-major), each
        member trained on its own loss; in evaluation mode the members'
        predictions are averaged: probabilities (returned as their log,
        which are logits of the mean probabilities) for the tasks of
        ``head_proba``, values for the others.
    head_proba : tuple of bool or None, default=None
        Per task, whether its outputs are class logits (averaged as
        probabilities); None: all are.
    architecture : str or None, default=None
        A key of :data:`sklearn_mtl._experts.MODULES`: the trunk is then
        that module (experts and gates, columns), which gives each unit (a
        task, or the tasks of one group) its own representation, and each
        head reads its unit's. None: the shared trunk (hard sharing).
    architecture_params : dict or None, default=None
        The architecture module's own arguments.

    Notes
    -----
    ``X`` may be a ``torch.sparse_csr`` batch. The plain MLP network (no
    ``architecture``, custom ``trunk``, ``num_embedding`` or ensemble)
    multiplies it sparsely in its first layers (:class:`SparseInputLinear`,
    attribute ``sparse_input``); the others densify it first.
    """

    def __init__(
        self,
        n_features,
        trunk_sizes,
        heads,
        activation="relu",
        dropout=0.0,
        trunk=None,
        trunk_params=None,
        num_embedding=None,
        num_embedding_params=None,
        embedding_bins=None,
        embedding_columns=None,
        head_groups=None,
        group_sizes=(),
        fuse_heads=True,
        n_ensemble=1,
        head_proba=None,
        architecture=None,
        architecture_params=None,
    ):
        super().__init__()
        self.n_ensemble = int(n_ensemble)
        self.head_proba = (
            (True,) * len(heads) if head_proba is None else tuple(head_proba)
        )
        if self.n_ensemble > 1 and num_embedding is None:
            self.ensemble_input = EnsembleInput(self.n_ensemble, n_features)
        self.custom_trunk = trunk is not None
        self.head_units = None
        # Where every layer reading X is a SparseInputLinear, a sparse batch
        # goes in as it is; elsewhere it is densified first.
        self.sparse_input = (
            architecture is None
            and trunk is None
            and num_embedding is None
            and self.n_ensemble == 1
        )
        if architecture is not None:
            self._build_architecture(
                n_features, heads, activation, dropout, head_groups,
                architecture, architecture_params or {}, fuse_heads,
            )  # fmt: skip
            return
        if num_embedding is not None:
            # Inside the trunk: transferred, frozen and counted as shared
            # parameters (per-task gradients, gradient conflict) with it.
            embedding = NumericalEmbedding(
                n_features,
                num_embedding,
                num_embedding_params,
                embedding_bins,
                embedding_columns,
            )
            mlp, width = _make_mlp(
                embedding.out_features, trunk_sizes, activation, dropout
            )
            # An ensemble's adapters scale the embedded features, as TabM's
            # do: a sign flip of the raw value would leave the bins' range.
            layers = [embedding, mlp]
            if self.n_ensemble > 1:
                layers.insert(1, EnsembleInput(self.n_ensemble, embedding.out_features))
            self.trunk = nn.Sequential(*layers)
        elif trunk is None:
            self.trunk, width = _make_mlp(n_features, trunk_sizes, activation, dropout)
        else:
            self.trunk, width = make_custom_trunk(trunk, n_features, trunk_params or {})
        head_groups = list(head_groups or [None] * len(heads))
        # Towers are numbered, not named after their groups: a group name is
        # the user's string, and must not collide with nn.Module attributes.
        group_names = list(dict.fromkeys(g for g in head_groups if g is not None))
        self.towers = nn.ModuleList()
        tower_width = width
        for _ in group_names:
            tower, tower_width = _make_mlp(width, group_sizes, activation, dropout)
            self.towers.append(tower)
        self.head_towers = [
            None if g is None else group_names.index(g) for g in head_groups
        ]
        if fuse_heads and not group_names and all(not sizes for sizes, _ in heads):
            n_outputs = [n_outputs for _, n_outputs in heads]
            self.heads = (
                LinearHeads(width, n_outputs)
                if self.n_ensemble == 1
                else EnsembleLinearHeads(self.n_ensemble, width, n_outputs)
            )
            return
        self.heads = nn.ModuleList()
        for (head_sizes, n_outputs), tower in zip(heads, self.head_towers):
            n_in = width if tower is None else tower_width
            hidden, head_width = _make_mlp(n_in, head_sizes, activation, dropout)
            self.heads.append(
                nn.Sequential(*hidden, SparseInputLinear(head_width, n_outputs))
            )

    def _build_architecture(
        self, n_features, heads, activation, dropout, groups, name, params, fuse
    ):
        """The trunk as architecture ``name`` over units; one head per task."""
        from ._experts import UnitLinearHeads, make_architecture

        # A unit is a task, or the tasks of one group (which share its gate,
        # experts or column).
        groups = list(groups or [None] * len(heads))
        keys = [
            ("task", i) if g is None else ("group", g) for i, g in enumerate(groups)
        ]
        units = list(dict.fromkeys(keys))
        self.head_units = [units.index(key) for key in keys]
        self.trunk = make_architecture(
            name, n_features, len(units), activation, dropout, params
        )
        width = self.trunk.out_features
        self.towers = nn.ModuleList()
        self.head_towers = [None] * len(heads)
        if fuse and all(not sizes for sizes, _ in heads):
            n_outputs = [n_outputs for _, n_outputs in heads]
            self.heads = UnitLinearHeads(width, n_outputs, self.head_units)
            return
        self.heads = nn.ModuleList()
        for head_sizes, n_outputs in heads:
            hidden, head_width = _make_mlp(width, head_sizes, activation, dropout)
            self.heads.append(nn.Sequential(*hidden, nn.Linear(head_width, n_outputs)))

    def forward(self, X):
        # getattr: a network pickled before sparse input existed lacks it.
        if X.layout == torch.sparse_csr and not getattr(self, "sparse_input", False):
            X = X.to_dense()
        if self.n_ensemble == 1:
            return self._forward(X)
        if hasattr(self, "ensemble_input"):  # else it follows the embedding
            X = self.ensemble_input(X)
        outputs = self._forward(X)
        if self.training:
            return outputs
        return tuple(
            _mean_of_members(out, self.n_ensemble, proba)
            for out, proba in zip(outputs, self.head_proba)
        )

    def _forward(self, X):
        if self.head_units is not None:
            units = self.trunk(X)  # (n_units, n_rows, width)
            if not isinstance(self.heads, nn.ModuleList):  # UnitLinearHeads
                return self.heads(units)
            return tuple(
                head(units[unit]) for head, unit in zip(self.heads, self.head_units)
            )
        shared = self.trunk(X)
        if isinstance(self.heads, LinearHeads | EnsembleLinearHeads):
            return tuple(self.heads(shared))
        if not len(self.towers):
            return tuple(head(shared) for head in self.heads)
        towers = [tower(shared) for tower in self.towers]
        return tuple(
            head(shared if tower is None else towers[tower])
            for head, tower in zip(self.heads, self.head_towers)
        )


def _mean_of_members(output, n_members, proba):
    """Average an output's member-major rows over the members.

    Class logits are averaged as probabilities: the log of the mean
    probability is returned, a logit vector whose softmax is that mean.
    """
    output = output.reshape(n_members, -1, output.shape[1])
    if proba:
        return torch.logsumexp(output.log_softmax(dim=2), dim=0) - math.log(n_members)
    return output.mean(dim=0)
