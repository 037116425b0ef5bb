"""The masked multi-task loss: each task's loss over its labelled rows.

:class:`MaskedMultiTaskLoss` is the ``"fixed"`` weighting and the base of the
adaptive ones in :mod:`sklearn_mtl._weighting`.
"""

import torch
from torch import nn
from torch.nn import functional as F

from ._layout import unpack


def task_means(sums, counts):
    """Each task's weighted mean loss; 0 for a task without labels in the batch.

    The mean is ``sums / counts`` whatever the scale of the weights (a batch
    whose weights sum to less than one is no exception), and a task with no
    label in the batch has a zero loss and a zero gradient, not a NaN.
    """
    return sums / torch.where(counts > 0, counts, 1.0)


def _elementwise_loss(name, output, target, label_smoothing=0.0):
    """Per-row loss of one task; ``target`` holds no NaN."""
    if name == "log_loss":
        target = target.long()
        if not label_smoothing:
            return F.cross_entropy(output, target, reduction="none")
        # Against the smoothed class probabilities: the same loss as
        # cross_entropy(label_smoothing=...), in fewer operations on CPU.
        # (A comparison, not scatter_: torch.func.vmap, used by the task
        # affinity, has a batching rule for it.)
        smoothed = _smoothed_targets(target, output, label_smoothing)
        return F.cross_entropy(output, smoothed, reduction="none")
    return _regression_loss(name, output[:, 0], target)


def _smoothed_targets(target, like, label_smoothing):
    """Class probabilities ``1 - s + s / C`` on the label, ``s / C`` elsewhere.

    ``target``: class indices of shape (n_rows,) or (n_rows, n_tasks);
    returns ``like``'s shape and dtype, classes along dimension 1.
    """
    n_classes = like.shape[1]
    classes = torch.arange(n_classes, device=like.device)
    classes = classes.view(n_classes, *[1] * (target.ndim - 1))
    return torch.where(
        classes == target.unsqueeze(1),
        1 - label_smoothing + label_smoothing / n_classes,
        label_smoothing / n_classes,
    ).to(like.dtype)


def _regression_loss(name, output, target):
    """Elementwise regression loss ``name`` of two tensors of one shape."""
    if name == "squared_error":
        return F.mse_loss(output, target, reduction="none")
    if name == "absolute_error":
        return F.l1_loss(output, target, reduction="none")
    return F.huber_loss(output, target, reduction="none", delta=1.0)


def _loss_groups(losses, outputs):
    """The tasks by loss and output width, in order of first appearance.

    Returns a list of ``((loss name, n_outputs), [task indices])``.
    """
    groups = {}
    for j, (name, output) in enumerate(zip(losses, outputs)):
        groups.setdefault((name, output.shape[1]), []).append(j)
    return list(groups.items())


def _grouped_loss(name, outputs, targets, label_smoothing=0.0):
    """Per-row losses of several tasks of one loss and one output width.

    ``outputs``: per task, its (n_rows, n_outputs) tensor; ``targets``: of
    shape (n_rows, n_tasks), no NaN. Returns (n_rows, n_tasks), column ``j``
    equal to :func:`_elementwise_loss` of task ``j``.
    """
    if name == "log_loss":
        log_proba = torch.log_softmax(torch.stack(outputs, dim=2), dim=1)
        target = targets.long()
        if not label_smoothing:
            return -log_proba.gather(1, target[:, None, :])[:, 0]
        smoothed = _smoothed_targets(target, log_proba, label_smoothing)
        return -(smoothed * log_proba).sum(dim=1)
    return _regression_loss(name, torch.cat(outputs, dim=1), targets)


class MaskedMultiTaskLoss(nn.Module):
    """Weighted sum of per-task losses, each averaged over its labelled rows.

    The targets come in the layout of :mod:`sklearn_mtl._layout`: codes and
    label weights, weight zero where a label is missing. Each task's loss is
    the weighted mean ``sum(w * loss) / sum(w)`` over the batch's rows; a task
    with no label in a batch contributes zero. Calling the module,
    ``criterion(outputs, targets)``, gives the training objective.

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
    label_smoothing : float, default=0.0
        The classification tasks' cross-entropy is taken against targets
        that put ``1 - label_smoothing`` on the label and spread
        ``label_smoothing`` evenly over all classes (Szegedy et al., 2016;
        :func:`torch.nn.functional.cross_entropy`), in training mode only:
        in evaluation mode (skorch's validation step) the loss is the plain
        cross-entropy, so that early stopping and the best epoch follow the
        loss of the predictions, not the regularized objective. Regression
        losses are unchanged.
    """

    #: Whether training needs each task's gradient of the shared parameters.
    per_task_gradients = False
    #: Whether the criterion learns from the batch's losses after each step
    #: (``update_from_losses(before, after, present)``, FAMO).
    loss_feedback = False

    def __init__(self, losses, weights, label_smoothing=0.0):
        super().__init__()
        self.losses = tuple(losses)
        self.label_smoothing = float(label_smoothing)
        self.register_buffer("weights", torch.as_tensor(weights, dtype=torch.float32))

    def forward(self, outputs, targets):
        return self.combine(*self.task_sums(outputs, targets))

    def task_sums(self, outputs, targets):
        """Per-task sums of the weighted row losses and of the label weights.

        Without ``sample_weight`` or class weights, the second tensor counts
        the labelled rows. Outputs of ``k`` times as many rows as the targets
        are an ensemble's members in training (member-major): each member is
        scored on the targets, and the means are the members' mean losses.
        """
        codes, weights = unpack(targets, len(self.losses))
        n_members = outputs[0].shape[0] // max(len(codes), 1)
        if n_members > 1:  # an ensemble in training: each member's rows in turn
            codes, weights = codes.repeat(n_members, 1), weights.repeat(n_members, 1)
        # The smoothed loss keeps falling while the plain one rises again:
        # stopping on it would train to max_epochs (see the docstring).
        smoothing = self.label_smoothing if self.training else 0.0
        # One (n_rows, n_tasks) matrix of row losses, weighted and summed at
        # once, computed group by group: the tasks of one loss and one output
        # width share their operations, so that a step's cost does not grow
        # with the number of tasks by a dozen small operations each.
        parts, columns = [], []
        for (name, _), group in _loss_groups(self.losses, outputs):
            if len(group) == 1:
                j = group[0]
                part = _elementwise_loss(name, outputs[j], codes[:, j], smoothing)
                parts.append(part[:, None])
            else:
                targets = codes.index_select(
                    1, torch.as_tensor(group, device=codes.device)
                )
                parts.append(
                    _grouped_loss(name, [outputs[j] for j in group], targets, smoothing)
                )
            columns += group
        row_losses = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        if columns != sorted(columns):  # back from the groups' order to the tasks'
            order = torch.as_tensor(columns, device=row_losses.device)
            row_losses = row_losses.index_select(1, torch.argsort(order))
        return (row_losses * weights).sum(dim=0), weights.sum(dim=0)

    def effective_weights(self):
        """Per task, the multiplier of its mean loss in the objective (1-D tensor)."""
        return self.weights

    def combine_means(self, means):
        """The training objective from the per-task mean losses."""
        return (self.weights * means).sum()

    def combine(self, sums, counts):
        """The training objective from :meth:`task_sums`' output."""
        return self.combine_means(task_means(sums, counts))

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
