"""PyTorch modules: the hard-parameter-sharing network and the masked loss."""

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


class MultiTaskNetwork(nn.Module):
    """A shared trunk feeding one head per task.

    ``X`` → trunk (``trunk_sizes``) → for each task: its hidden layers
    (``head_sizes``) → an output layer of ``n_outputs`` units (class logits, or
    one value for regression).

    Parameters
    ----------
    n_features : int
        Width of the input.
    trunk_sizes : tuple of int
        Hidden layer sizes of the shared trunk; ``()`` feeds ``X`` to the heads.
    heads : list of (tuple of int, int)
        Per task, its head's hidden layer sizes and its number of outputs.
    activation : str or type of torch.nn.Module, default="relu"
        The nonlinearity after every hidden layer.
    dropout : float, default=0.0
        Dropout probability after every hidden layer.
    """

    def __init__(self, n_features, trunk_sizes, heads, activation="relu", dropout=0.0):
        super().__init__()
        self.trunk, width = _make_mlp(n_features, trunk_sizes, activation, dropout)
        self.heads = nn.ModuleList()
        for head_sizes, n_outputs in heads:
            hidden, head_width = _make_mlp(width, head_sizes, activation, dropout)
            self.heads.append(nn.Sequential(*hidden, nn.Linear(head_width, n_outputs)))

    def forward(self, X):
        shared = self.trunk(X)
        return tuple(head(shared) for head in self.heads)


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
    its task's loss. A task with no label in a batch contributes zero.

    Parameters
    ----------
    losses : tuple of str
        Per task, the name of its loss (scikit-learn's names).
    weights : tuple of float
        Per task, the multiplier of its mean loss.
    """

    def __init__(self, losses, weights):
        super().__init__()
        self.losses = tuple(losses)
        self.register_buffer("weights", torch.as_tensor(weights, dtype=torch.float32))

    def task_sums(self, outputs, targets):
        """Per-task sums of the row losses and per-task label counts (1-D tensors)."""
        labelled = ~torch.isnan(targets)
        clean = torch.where(labelled, targets, 0.0)
        sums = []
        for j, (name, output) in enumerate(zip(self.losses, outputs)):
            row_loss = _elementwise_loss(name, output, clean[:, j])
            sums.append(torch.where(labelled[:, j], row_loss, 0.0).sum())
        return torch.stack(sums), labelled.sum(dim=0)

    def combine(self, sums, counts):
        """The training objective from :meth:`task_sums`' output."""
        return (self.weights * sums / counts.clamp(min=1)).sum()

    def forward(self, outputs, targets):
        return self.combine(*self.task_sums(outputs, targets))
