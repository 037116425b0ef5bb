"""What a fitted architecture learned about task relations, per task.

Runs an architecture module's ``mixing`` (gate or attention weights, see
:mod:`sklearn_mtl._experts`) on rows of ``X`` in batches, and maps its units
(a task, or the tasks of one group) to the tasks: each task reads its
unit's row, and a unit's column is shared equally among its tasks, so that
rows still sum to one.
"""

from __future__ import annotations

import numpy as np
import torch

from ._data import SparseRows, as_rows
from ._net import PREDICT_BATCH_SIZE, SPARSE_BATCH_ELEMENTS, torch_threads


def _mixing(net, X, num_threads, average):
    """The module's mixing weights on ``X``: per row, or their mean."""
    module, device = net.module_, net.device
    if module.training:
        module.eval()
    rows = as_rows(X, "cpu")
    step = PREDICT_BATCH_SIZE
    if isinstance(rows, SparseRows):
        step = max(1, min(step, SPARSE_BATCH_ELEMENTS // max(X.shape[1], 1)))
    parts, total = [], None
    with torch.inference_mode(), torch_threads(num_threads):
        for start in range(0, len(rows), step):
            batch = rows[start : start + step].to(device)
            if batch.layout == torch.sparse_csr:  # as the network's forward does
                batch = batch.to_dense()
            weights = module.trunk.mixing(batch)
            weights = weights.double().cpu()
            if average:
                batch_sum = weights.sum(0)
                total = batch_sum if total is None else total + batch_sum
            else:
                parts.append(weights.numpy())
    if average:
        return (total / max(len(rows), 1)).numpy()
    return np.concatenate(parts)


def _share_columns(weights, head_units):
    """Unit columns (last axis) to task columns, each unit's split among its tasks."""
    units = np.asarray(head_units)
    counts = np.bincount(units, minlength=weights.shape[-1])
    return weights[..., units] / counts[units]


def gate_weights(net, X, num_threads, average, level, module_params):
    """Per task, its gate's weight on each expert (MMoE and PLE).

    For PLE, the experts are numbered over all units: the task experts of
    unit 0, of unit 1, ..., then the shared experts; a task's gate puts
    zero weight on other units' experts. ``level`` picks PLE's level.
    """
    units = net.module_.head_units
    weights = _mixing(net, X, num_threads, average)
    if "n_levels" not in module_params:  # MMoE: (rows,) units, experts
        return weights[..., units, :]
    weights = weights[..., level, :, :]  # (rows,) units, own + shared
    n_task, n_shared = (
        module_params["n_task_experts"],
        module_params["n_shared_experts"],
    )
    n_units = max(units) + 1
    full = np.zeros((*weights.shape[:-1], n_units * n_task + n_shared))
    for u in range(n_units):
        full[..., u, u * n_task : (u + 1) * n_task] = weights[..., u, :n_task]
    full[..., n_units * n_task :] = weights[..., n_task:]
    return full[..., units, :]


def attention_weights(net, X, num_threads, average):
    """Per task, its attention weight on each task (TaskAttention)."""
    units = net.module_.head_units
    weights = _mixing(net, X, num_threads, average)[..., units, :]
    return _share_columns(weights, units)


def cross_stitch_weights(net):
    """The cross-stitch matrices between tasks: (n_layers, n_tasks, n_tasks)."""
    units = net.module_.head_units
    with torch.no_grad():
        alpha = net.module_.trunk.stitch_matrices.double().cpu().numpy()
    return _share_columns(alpha[:, units, :], units)
