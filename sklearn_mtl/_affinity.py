"""Inter-task affinity by lookahead steps (TAG), measured on one batch.

Task Affinity Grouping (Fifty et al., NeurIPS 2021, "Efficiently
Identifying Task Groupings in Multi-Task Learning") asks, during a joint
training run, how a step of the shared parameters on task ``i``'s loss alone
would change task ``j``'s loss on the same batch::

    Z[i, j] = 1 - L_j(shared - lr * grad_shared L_i, own_j) / L_j(shared, own_j)

Positive: task ``i``'s step helps task ``j``; negative: it hurts. Only the
shared parameters move in the lookahead; the towers and heads keep their
values. Torch only: the functions here take a module, a batch and a
criterion, and never touch parameters, gradients or an optimizer's state;
the lookahead parameters live in ``torch.func.functional_call``.
"""

import numpy as np
import torch
from torch.func import functional_call, vmap

from ._layout import unpack
from ._loss import task_means


def colabelled(weights):
    """Which pairs of tasks share at least one labelled row.

    Parameters
    ----------
    weights : torch.Tensor of shape (n_rows, n_tasks)
        Label weights, zero where a label is missing.

    Returns
    -------
    pairs : torch.Tensor of bool, shape (n_tasks, n_tasks)
        The diagonal says whether the task has a label at all.
    """
    labelled = (weights > 0).to(torch.float32)
    return (labelled.T @ labelled) > 0


def lookahead_affinity(module, shared_names, X, targets, criterion, lr, batched=True):
    """One TAG measurement of every pair of tasks on one batch.

    The network runs in evaluation mode (no dropout, no batch-norm
    statistics updates), so that a measurement draws no random numbers and
    changes no buffer: training goes on exactly as without it. Each labelled
    task's gradient of the shared parameters comes from one forward pass;
    the losses before and after every task's lookahead step come from one
    more, batched over the lookaheads with :func:`torch.func.vmap`
    (``batched=True``) or one per lookahead (``batched=False``, for trunks
    whose operations vmap does not support).

    Parameters
    ----------
    module : torch.nn.Module
        The network; returns one output per task.
    shared_names : list of str
        Names (in ``module.named_parameters()``) of the shared parameters
        that the lookahead steps move.
    X : torch.Tensor
        The batch's inputs.
    targets : torch.Tensor of shape (n_rows, 2 * n_tasks)
        The batch's targets in the layout of :mod:`sklearn_mtl._layout`.
    criterion : MaskedMultiTaskLoss
        Gives the tasks' weighted loss sums (``task_sums``); sample and
        class weights count as in training. ``Task.weight`` and the
        weighting do not: each task's own mean loss is used.
    lr : float
        The lookahead step size.
    batched : bool, default=True

    Returns
    -------
    affinity : torch.Tensor of shape (n_tasks, n_tasks), float64, on the CPU
        ``[i, j]``: the relative decrease of task ``j``'s loss after task
        ``i``'s lookahead step; 0 where not defined.
    defined : torch.Tensor of bool, shape (n_tasks, n_tasks), on the CPU
        Where the batch holds a row labelled for both tasks and task ``j``'s
        loss is positive.
    """
    n_tasks = len(criterion.losses)
    params = dict(module.named_parameters())
    shared = [params[name] for name in shared_names]
    fixed = {name: p.detach() for name, p in params.items() if name not in shared_names}
    fixed.update(dict(module.named_buffers()))
    _, weights = unpack(targets, n_tasks)
    was_training = module.training
    module.eval()
    try:
        sums, counts = criterion.task_sums(module(X), targets)
        present = counts > 0
        tasks = present.nonzero().flatten()
        if not len(tasks):
            return _nothing(n_tasks)
        means = task_means(sums, counts)[tasks]
        if batched:
            directions = torch.eye(len(tasks), dtype=means.dtype, device=means.device)
            grads = torch.autograd.grad(
                means, shared, directions, is_grads_batched=True, allow_unused=True
            )
        else:
            per_task = [
                torch.autograd.grad(m, shared, retain_graph=True, allow_unused=True)
                for m in means
            ]
            grads = [None if g[0] is None else torch.stack(g) for g in zip(*per_task)]
        with torch.no_grad():
            # Row 0: the current parameters; row 1 + k: after the step of
            # tasks[k]. Both sides of each ratio come from the same pass.
            # A parameter no task's loss reaches has no gradient: it stays.
            lookahead = {
                name: torch.cat(
                    [p.detach()[None], p.detach()[None] - lr * g]
                    if g is not None
                    else [p.detach()[None].expand(len(tasks) + 1, *p.shape)]
                )
                for name, p, g in zip(shared_names, shared, grads)
            }

            def loss_sums(shared_params):
                outputs = functional_call(module, (shared_params, fixed), (X,))
                return criterion.task_sums(outputs, targets)[0]

            if batched:
                after = vmap(loss_sums)(lookahead)
            else:
                after = torch.stack(
                    [
                        loss_sums({name: v[r] for name, v in lookahead.items()})
                        for r in range(len(tasks) + 1)
                    ]
                )
    finally:
        module.train(was_training)
    after = after.double().cpu()
    before = after[0]
    affinity = torch.zeros((n_tasks, n_tasks), dtype=torch.float64)
    positive = before > 0
    ratio = after[1:] / torch.where(positive, before, 1.0)
    affinity[tasks.cpu()] = 1.0 - ratio
    defined = torch.zeros((n_tasks, n_tasks), dtype=torch.bool)
    defined[tasks.cpu()] = True
    defined &= colabelled(weights).cpu() & positive[None, :]
    defined &= torch.isfinite(affinity)
    affinity[~defined] = 0.0
    return affinity, defined


def _nothing(n_tasks):
    return (
        torch.zeros((n_tasks, n_tasks), dtype=torch.float64),
        torch.zeros((n_tasks, n_tasks), dtype=torch.bool),
    )


def mean_affinity(sums, counts):
    """The mean of the recorded measurements; NaN for a pair never measured.

    Parameters
    ----------
    sums : ndarray of shape (n_tasks, n_tasks)
    counts : ndarray of int, shape (n_tasks, n_tasks)

    Returns
    -------
    affinity : ndarray of shape (n_tasks, n_tasks), float64
    """
    counts = np.asarray(counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.asarray(sums, dtype=np.float64) / counts
    mean[counts == 0] = np.nan
    return mean
