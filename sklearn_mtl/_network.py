"""PyTorch modules: the hard-parameter-sharing network and the masked loss."""

import inspect

import torch
from torch import nn
from torch.nn import functional as F

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "logistic": nn.Sigmoid,
    "identity": nn.Identity,
    "gelu": nn.GELU,
}


def _make_mlp(n_in, sizes, activation, dropout):
    """Stack Linear → activation (→ dropout) blocks; return it and its width."""
    make_activation = ACTIVATIONS.get(activation, activation)
    layers = []
    for size in sizes:
        layers += [nn.Linear(n_in, size), make_activation()]
        if dropout:
            layers.append(nn.Dropout(dropout))
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
        self.linear = nn.Linear(n_in, sum(self.n_outputs))

    def forward(self, X):
        return self.linear(X).split(self.n_outputs, dim=1)


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
    head_groups : list of (str or None) or None, default=None
        Per task, its group; tasks of a group share a tower of
        ``group_sizes`` hidden layers. None: no groups.
    group_sizes : tuple of int, default=()
        Hidden layer sizes of each group's tower.
    fuse_heads : bool, default=True
        When no task has a group or hidden head layers, compute all heads
        as one :class:`LinearHeads` layer (the same function, faster).
        ``heads`` is then that layer rather than a ``ModuleList``.
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
        head_groups=None,
        group_sizes=(),
        fuse_heads=True,
    ):
        super().__init__()
        if trunk is None:
            self.trunk, width = _make_mlp(n_features, trunk_sizes, activation, dropout)
        else:
            self.trunk, width = make_custom_trunk(trunk, n_features, trunk_params or {})
        head_groups = list(head_groups or [None] * len(heads))
        self.towers = nn.ModuleDict()
        for group in dict.fromkeys(g for g in head_groups if g is not None):
            self.towers[group], tower_width = _make_mlp(
                width, group_sizes, activation, dropout
            )
        self.head_groups = head_groups
        if fuse_heads and not self.towers and all(not sizes for sizes, _ in heads):
            self.heads = LinearHeads(width, [n_outputs for _, n_outputs in heads])
            return
        self.heads = nn.ModuleList()
        for (head_sizes, n_outputs), group in zip(heads, head_groups):
            n_in = width if group is None else tower_width
            hidden, head_width = _make_mlp(n_in, head_sizes, activation, dropout)
            self.heads.append(nn.Sequential(*hidden, nn.Linear(head_width, n_outputs)))

    def forward(self, X):
        shared = self.trunk(X)
        if isinstance(self.heads, LinearHeads):
            return self.heads(shared)
        if not self.towers:
            return tuple(head(shared) for head in self.heads)
        towers = {group: tower(shared) for group, tower in self.towers.items()}
        return tuple(
            head(shared if group is None else towers[group])
            for head, group in zip(self.heads, self.head_groups)
        )


def _elementwise_loss(name, output, target):
    """Per-row loss of one task; ``target`` holds no NaN."""
    if name == "log_loss":
        return F.cross_entropy(output, target.long(), reduction="none")
    output = output[:, 0]
    if name == "squared_error":
        return F.mse_loss(output, target, reduction="none")
    if name == "absolute_error":
        return F.l1_loss(output, target, reduction="none")
    return F.huber_loss(output, target, reduction="none", delta=1.0)


class MaskedMultiTaskLoss(nn.Module):
    """Weighted sum of per-task losses, each averaged over its labelled rows.

    A missing label is a NaN in the target matrix; it contributes nothing to
    its task's loss. A task with no label in a batch contributes zero. When
    the target matrix carries a second block of ``n_tasks`` columns, those
    are per-label weights (zero where the label is missing) and each task's
    loss is the weighted mean ``sum(w * loss) / sum(w)`` over its labelled
    rows.

    This is the ``"fixed"`` weighting: each task's mean loss is multiplied
    by its ``Task.weight``. The adaptive weightings of
    :mod:`sklearn_mtl._weighting` subclass it and override
    :meth:`combine_means` and :meth:`effective_weights`; the methods that
    combine per-task gradients also set ``per_task_gradients`` and
    implement :meth:`combine_gradients`.

    Parameters
    ----------
    losses : tuple of str
        Per task, the name of its loss (scikit-learn's names).
    weights : tuple of float
        Per task, the multiplier of its mean loss (``Task.weight``).
    """

    #: Whether training needs each task's gradient of the shared parameters.
    per_task_gradients = False

    def __init__(self, losses, weights):
        super().__init__()
        self.losses = tuple(losses)
        self.register_buffer("weights", torch.as_tensor(weights, dtype=torch.float32))

    def task_sums(self, outputs, targets):
        """Per-task sums of the (weighted) row losses and of the rows' weights.

        Without label weights, the second tensor counts the labelled rows.
        """
        n_tasks = len(self.losses)
        label_weights = targets[:, n_tasks:] if targets.shape[1] > n_tasks else None
        targets = targets[:, :n_tasks]
        labelled = ~torch.isnan(targets)
        clean = torch.where(labelled, targets, 0.0)
        # One (n_rows, n_tasks) matrix of row losses, masked and summed at
        # once: fewer small tensor operations per training step.
        row_losses = torch.stack(
            [
                _elementwise_loss(name, output, clean[:, j])
                for j, (name, output) in enumerate(zip(self.losses, outputs))
            ],
            dim=1,
        )
        if label_weights is not None:
            row_losses = row_losses * label_weights
        sums = torch.where(labelled, row_losses, 0.0).sum(dim=0)
        if label_weights is None:
            return sums, labelled.sum(dim=0)
        return sums, torch.where(labelled, label_weights, 0.0).sum(dim=0)

    def effective_weights(self):
        """Per task, the multiplier of its mean loss in the objective (1-D tensor)."""
        return self.weights

    def combine_means(self, means):
        """The training objective from the per-task mean losses."""
        return (self.weights * means).sum()

    def combine(self, sums, counts):
        """The training objective from :meth:`task_sums`' output."""
        return self.combine_means(sums / counts.clamp(min=1))

    def combine_gradients(self, grads, means, present, last_layer):
        """The gradient of the shared parameters from per-task gradients.

        Parameters
        ----------
        grads : torch.Tensor of shape (n_tasks, n_shared)
            Row ``i``: the gradient of task ``i``'s mean loss with respect to
            the trainable trunk parameters, flattened.
        means : torch.Tensor of shape (n_tasks,)
            The tasks' mean losses in the batch.
        present : torch.Tensor of bool, shape (n_tasks,)
            Whether the batch holds a label of the task.
        last_layer : torch.Tensor of int
            The columns of ``grads`` that belong to the trunk's last layer.

        Returns
        -------
        grad : torch.Tensor of shape (n_shared,)
            Here the gradient of :meth:`combine_means`.
        """
        return self.effective_weights().detach() @ grads

    def head_objective(self, means):
        """The objective whose gradient trains everything but the shared trunk."""
        return self.combine_means(means)

    def begin_epoch(self):
        """Hook at the start of each epoch."""

    def after_step(self):
        """Hook after each optimizer step of the per-task-gradient path."""

    def end_epoch(self, train_means):
        """Hook at the end of each epoch, with the tasks' mean training losses."""

    def epoch_weights(self):
        """The effective weights to record for the epoch just finished."""
        return self.effective_weights().detach()
