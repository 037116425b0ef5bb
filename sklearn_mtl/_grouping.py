"""Which tasks should share a tower: groups from a task-affinity matrix.

:func:`suggest_task_groups` turns the affinities that
``MultiTaskNetEstimator(record_task_affinity=k)`` measures (TAG, Fifty et
al., NeurIPS 2021) into a partition of the tasks; :func:`group_tasks` puts
it into a task list.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
from sklearn.base import clone

from ._composition import final_multitask

#: Up to this many tasks, every partition is scored (Bell(10) = 115,975).
EXACT_MAX_TASKS = 10


def _affinity_and_names(source, task_names):
    """The affinity matrix and the task names of an estimator or a matrix."""
    if hasattr(source, "fit"):
        model, _, _ = final_multitask(source, fitted=True, caller="suggest_task_groups")
        affinity = getattr(model, "task_affinity_", None)
        if affinity is None:
            raise ValueError(
                "suggest_task_groups needs the estimator's task_affinity_, which "
                "only a fit with record_task_affinity set records. Fit it with "
                "e.g. record_task_affinity=10, or pass an affinity matrix."
            )
        if task_names is None:
            task_names = list(model.task_names_)
    else:
        affinity = source
    try:
        affinity = np.array(affinity, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            "suggest_task_groups takes a fitted MultiTaskNetEstimator or a square "
            f"matrix of numbers, got {type(source).__name__}."
        ) from None
    if (
        affinity.ndim != 2
        or affinity.shape[0] != affinity.shape[1]
        or not len(affinity)
    ):
        raise ValueError(
            "The affinity matrix must be square (n_tasks, n_tasks) with at least "
            f"one task, got shape {affinity.shape}."
        )
    if np.isinf(affinity).any():
        raise ValueError(
            "The affinity matrix holds infinite values; only finite numbers and "
            "NaN (not measured) are allowed."
        )
    n_tasks = len(affinity)
    if task_names is None:
        task_names = [f"task_{i}" for i in range(n_tasks)]
    task_names = list(task_names)
    if len(task_names) != n_tasks or len(set(task_names)) != n_tasks:
        raise ValueError(
            f"task_names must be {n_tasks} distinct names, one per row of the "
            f"affinity matrix, got {task_names!r}."
        )
    return affinity, task_names


def group_scores(labels, affinity):
    """TAG's objective of each partition: the sum of the tasks' scores.

    A task's score is the mean affinity *onto* it from its group-mates,
    ``mean(affinity[j, i] for j in its group, j != i)``; a task alone in
    its group scores 0 (no help, no harm). NaN entries (never measured)
    count as 0, and the diagonal is ignored.

    Parameters
    ----------
    labels : ndarray of int, shape (n_partitions, n_tasks)
    affinity : ndarray of shape (n_tasks, n_tasks)

    Returns
    -------
    scores : ndarray of shape (n_partitions,)
    """
    a = np.nan_to_num(np.asarray(affinity, dtype=np.float64), nan=0.0)
    np.fill_diagonal(a, 0.0)
    labels = np.atleast_2d(labels)
    same = labels[:, :, None] == labels[:, None, :]  # [n, j, i]
    received = np.einsum("nji,ji->ni", same, a)
    mates = same.sum(axis=1) - 1
    return np.where(mates > 0, received / np.maximum(mates, 1), 0.0).sum(axis=1)


def _partitions(n_tasks, n_groups):
    """Every partition into at most ``n_groups`` groups, as canonical labels.

    Canonical: the first task is in group 0 and each new group gets the
    next label, so that every partition appears once.
    """
    labels = np.zeros((1, 1), dtype=np.int8)
    for _ in range(1, n_tasks):
        top = labels.max(axis=1)
        blocks = []
        for label in range(min(n_groups, labels.shape[1] + 1)):
            rows = labels[top + 1 >= label]
            blocks.append(
                np.hstack([rows, np.full((len(rows), 1), label, dtype=np.int8)])
            )
        labels = np.vstack(blocks)
    return labels


def _best(labels, scores):
    """The best partition; ties go to fewer groups, then to the first found."""
    n_used = labels.max(axis=1) + 1
    best = scores.max()
    tied = np.flatnonzero(scores >= best - 1e-12 * max(1.0, abs(best)))
    return labels[tied[np.argmin(n_used[tied])]]


def _canonical(labels):
    _, first = np.unique(labels, return_index=True)
    order = {int(labels[i]): rank for rank, i in enumerate(sorted(first))}
    return np.array([order[int(v)] for v in labels], dtype=np.int64)


def _beam_search(affinity, n_groups, beam_width):
    """Tasks placed one by one, keeping the ``beam_width`` best partial
    partitions, then single-task moves while one improves the objective."""
    n_tasks = len(affinity)
    beam = np.zeros((1, 1), dtype=np.int64)
    for t in range(1, n_tasks):
        top = beam.max(axis=1)
        blocks = []
        for label in range(min(n_groups, t + 1)):
            rows = beam[top + 1 >= label]
            blocks.append(np.hstack([rows, np.full((len(rows), 1), label)]))
        candidates = np.vstack(blocks)
        scores = group_scores(candidates, affinity[: t + 1, : t + 1])
        keep = np.argsort(-scores, kind="stable")[:beam_width]
        beam = candidates[keep]
    labels = _best(beam, group_scores(beam, affinity))
    score = group_scores(labels, affinity)[0]
    improved = True
    while improved:
        improved = False
        for i in range(n_tasks):
            moves = np.repeat(labels[None], n_groups, axis=0)
            moves[:, i] = np.arange(n_groups)
            move_scores = group_scores(moves, affinity)
            k = int(np.argmax(move_scores))
            if move_scores[k] > score + 1e-12 * max(1.0, abs(score)):
                labels, score, improved = moves[k], move_scores[k], True
    return _canonical(labels)


def suggest_task_groups(
    estimator_or_affinity: Any,
    n_groups: int = 2,
    *,
    task_names: list[str] | None = None,
    beam_width: int = 64,
) -> dict[str, int]:
    """Partition the tasks into at most ``n_groups`` groups by their affinities.

    Task Affinity Grouping (TAG; Fifty et al., NeurIPS 2021) picks the
    groups that maximise the sum over tasks of each task's mean affinity
    from its group-mates: task ``i`` scores
    ``mean(affinity[j, i] for j != i in its group)``, the average effect of
    its mates' steps on its loss, and a task alone in its group scores 0.
    So tasks that help each other end up together and a task that every
    other task hurts ends up alone; with no conflict at all, fewer groups
    win ties. Unlike TAG's overlapping groups, the groups here partition the
    tasks, as ``Task(group=...)`` needs.

    Parameters
    ----------
    estimator_or_affinity : MultiTaskNetEstimator, Pipeline or array-like
        A fitted estimator with ``task_affinity_`` (``record_task_affinity``
        set), a pipeline or search ending in one, or an affinity matrix of
        shape (n_tasks, n_tasks) with ``[i, j]`` the effect of task ``i``'s
        step on task ``j``. NaN entries (pairs never measured) count as 0;
        the diagonal is ignored.
    n_groups : int, default=2
        The budget: at most this many groups.
    task_names : list of str, default=None
        The tasks' names, in the matrix's order; None takes the estimator's
        names, or ``task_0``, ``task_1``, ... for a matrix.
    beam_width : int, default=64
        Beyond 10 tasks, the number of partial partitions the beam search
        keeps (see Notes).

    Returns
    -------
    groups : dict of str to int
        Task name to its group label, ``0`` to ``n_used - 1`` in the order
        the groups first appear among the tasks. The labels can be given to
        ``Task(group=...)`` as they are; :func:`group_tasks` does it for a
        task list.

    See Also
    --------
    group_tasks : Set the tasks' groups.
    MultiTaskNetEstimator : Its ``record_task_affinity`` parameter.
    task_grouping_report : Whether the grouping pays, in cross-validation.

    Notes
    -----
    Up to 10 tasks every partition into at most ``n_groups`` groups is
    scored, so the result is optimal (ties: fewer groups, then the first
    found). Beyond, a beam search places the tasks one by one in their
    order, keeping the ``beam_width`` best partial partitions (scored on
    the tasks placed so far), and then moves single tasks to another group
    while a move improves the objective: good, not guaranteed optimal.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl import suggest_task_groups
    >>> affinity = np.array([[1.0, 0.5, -0.4],
    ...                      [0.6, 1.0, -0.3],
    ...                      [-0.2, -0.5, 1.0]])
    >>> suggest_task_groups(affinity, n_groups=2, task_names=["a", "b", "c"])
    {'a': 0, 'b': 0, 'c': 1}
    """
    affinity, names = _affinity_and_names(estimator_or_affinity, task_names)
    for value, what in ((n_groups, "n_groups"), (beam_width, "beam_width")):
        if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{what} must be an int >= 1, got {value!r}.")
    n_groups = min(int(n_groups), len(names))
    if len(names) <= EXACT_MAX_TASKS:
        labels = _partitions(len(names), n_groups)
        best = _canonical(_best(labels, group_scores(labels, affinity)))
    else:
        best = _beam_search(affinity, n_groups, int(beam_width))
    return {name: int(label) for name, label in zip(names, best)}


def group_tasks(tasks: list[tuple[str, Any]], groups: dict[str, Any]) -> list:
    """The tasks with their ``group`` set from ``groups``.

    Parameters
    ----------
    tasks : list of (str, Task) tuples
        The named tasks, e.g. an estimator's ``tasks`` or fitted ``tasks_``.
    groups : dict of str to int or str
        Task name to group label, e.g. from :func:`suggest_task_groups`. A
        task left out keeps its group.

    Returns
    -------
    tasks : list of (str, Task) tuples
        Clones of the tasks (the originals are not modified), in order.

    Examples
    --------
    >>> from sklearn_mtl import Task, group_tasks
    >>> tasks = [("a", Task()), ("b", Task()), ("c", Task())]
    >>> [task.group for _, task in group_tasks(tasks, {"a": 0, "b": 0, "c": 1})]
    [0, 0, 1]
    """
    names = [name for name, _ in tasks]
    unknown = sorted(set(groups) - set(names))
    if unknown:
        raise ValueError(
            f"groups names task(s) {unknown} that are not among the tasks {names}."
        )
    return [
        (name, clone(task).set_params(group=groups.get(name, task.group)))
        for name, task in tasks
    ]
