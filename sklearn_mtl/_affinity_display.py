"""Plot a task-affinity matrix as a heat map, its groups outlined."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._composition import final_multitask
from ._display import _import_pyplot
from ._grouping import _affinity_and_names, suggest_task_groups


class TaskAffinityDisplay:
    """Heat map of the tasks' affinities, with their groups outlined.

    Cell ``(i, j)`` (row ``i``, column ``j``) is the effect of task ``i``'s
    lookahead step on task ``j``'s loss: red where it helps, blue where it
    hurts, white for no effect or not measured (NaN). The tasks are
    reordered so that each group's tasks are adjacent, and each group is
    outlined. Use :meth:`from_estimator` for a fitted
    :class:`MultiTaskNetEstimator` with ``record_task_affinity`` set, or
    create the display from a matrix and call :meth:`plot`. Requires
    matplotlib.

    Parameters
    ----------
    affinity : array-like of shape (n_tasks, n_tasks)
        ``[i, j]``: the effect of task ``i``'s step on task ``j``, e.g. an
        estimator's ``task_affinity_``.

    task_names : list of str, default=None
        The tasks' names in the matrix's order; None: ``task_0``, ...

    groups : dict of str to int or str, default=None
        Task name to group, e.g. from :func:`suggest_task_groups`; None
        draws no outline and keeps the tasks' order.

    Attributes
    ----------
    im_ : matplotlib AxesImage
        The heat map.

    rectangles_ : list of matplotlib Rectangle
        One outline per group, in the order of the axes.

    order_ : list of str
        The task names in the order of the axes.

    ax_ : matplotlib Axes
        The axes with the heat map.

    figure_ : matplotlib Figure
        The figure holding ``ax_``.

    See Also
    --------
    suggest_task_groups : Groups from the affinities.
    TrainingHistoryDisplay : The losses per epoch.

    Notes
    -----
    The diagonal (a task's effect on itself) is much larger than the rest
    and plays no part in the grouping; it is left blank unless
    ``include_diagonal=True``. The colour scale is symmetric around 0.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_mtl import TaskAffinityDisplay
    >>> affinity = np.array([[1.0, 0.5, -0.4], [0.6, 1.0, -0.3], [-0.2, -0.5, 1.0]])
    >>> display = TaskAffinityDisplay(
    ...     affinity, task_names=["a", "b", "c"], groups={"a": 0, "b": 0, "c": 1}
    ... ).plot()
    >>> display.order_, len(display.rectangles_)
    (['a', 'b', 'c'], 2)
    """

    def __init__(
        self,
        affinity: Any,
        *,
        task_names: list[str] | None = None,
        groups: dict[str, Any] | None = None,
    ) -> None:
        self.affinity = affinity
        self.task_names = task_names
        self.groups = groups

    def plot(
        self,
        ax: Any = None,
        *,
        cmap: str = "RdBu_r",
        include_diagonal: bool = False,
        annotate: bool | None = None,
        colorbar: bool = True,
    ) -> TaskAffinityDisplay:
        """Plot the heat map.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to plot on; None creates a new figure and axes.

        cmap : str or matplotlib Colormap, default="RdBu_r"
            A diverging colour map: its middle is no effect.

        include_diagonal : bool, default=False
            Whether to show each task's effect on itself.

        annotate : bool or None, default=None
            Whether to write the values in the cells; None does so for up to
            10 tasks.

        colorbar : bool, default=True
            Whether to add a colour bar.

        Returns
        -------
        display : TaskAffinityDisplay
            This display, with ``im_``, ``rectangles_``, ``order_``, ``ax_``
            and ``figure_`` set.
        """
        plt = _import_pyplot(f"{type(self).__name__}.plot")
        from matplotlib.patches import Rectangle

        affinity, names = _affinity_and_names(self.affinity, self.task_names)
        groups = self.groups or {}
        unknown = sorted(set(groups) - set(names))
        if unknown:
            raise ValueError(
                f"groups names task(s) {unknown} that are not among the tasks {names}."
            )
        # Grouped tasks first, group by group in order of appearance.
        labels = list(dict.fromkeys(groups[n] for n in names if n in groups))
        rank = {label: r for r, label in enumerate(labels)}
        order = sorted(
            range(len(names)),
            key=lambda i: (rank.get(groups.get(names[i]), len(labels)), i),
        )
        shown = affinity[np.ix_(order, order)].copy()
        if not include_diagonal:
            np.fill_diagonal(shown, np.nan)
        finite = shown[np.isfinite(shown)]
        limit = float(np.abs(finite).max()) if finite.size else 1.0
        limit = limit or 1.0
        if ax is None:
            _, ax = plt.subplots()
        self.im_ = ax.imshow(
            np.ma.masked_invalid(shown), cmap=cmap, vmin=-limit, vmax=limit
        )
        self.order_ = [names[i] for i in order]
        ax.set_xticks(range(len(order)), self.order_, rotation=45, ha="right")
        ax.set_yticks(range(len(order)), self.order_)
        ax.set_xlabel("affected task j")
        ax.set_ylabel("task i taking the step")
        if annotate is None:
            annotate = len(names) <= 10
        if annotate:
            for r in range(len(order)):
                for c in range(len(order)):
                    if np.isfinite(shown[r, c]):
                        ax.text(
                            c,
                            r,
                            f"{shown[r, c]:.2g}",
                            ha="center",
                            va="center",
                            fontsize="small",
                        )
        self.rectangles_ = []
        start = 0
        for label in labels:
            size = sum(groups.get(n) == label for n in names if n in groups)
            rect = Rectangle(
                (start - 0.5, start - 0.5),
                size,
                size,
                fill=False,
                edgecolor="black",
                linewidth=2,
            )
            ax.add_patch(rect)
            self.rectangles_.append(rect)
            start += size
        if colorbar:
            ax.figure.colorbar(self.im_, ax=ax, label="affinity")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(
        cls,
        estimator: Any,
        *,
        groups: dict[str, Any] | None = None,
        n_groups: int = 2,
        ax: Any = None,
        cmap: str = "RdBu_r",
        include_diagonal: bool = False,
        annotate: bool | None = None,
        colorbar: bool = True,
    ) -> TaskAffinityDisplay:
        """Plot the affinities recorded while fitting ``estimator``.

        Parameters
        ----------
        estimator : MultiTaskNetEstimator or Pipeline
            A fitted estimator with ``task_affinity_``
            (``record_task_affinity`` set), or a fitted pipeline or search
            ending in one.

        groups : dict of str to int or str, default=None
            The groups to outline; None outlines those of
            :func:`suggest_task_groups` with ``n_groups``.

        n_groups : int, default=2
            The budget of groups when ``groups`` is None.

        ax, cmap, include_diagonal, annotate, colorbar
            As for :meth:`plot`.

        Returns
        -------
        display : TaskAffinityDisplay
            The display, plotted.
        """
        _import_pyplot(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator)
        model, _, _ = final_multitask(
            estimator, fitted=True, caller=f"{cls.__name__}.from_estimator"
        )
        if groups is None:
            groups = suggest_task_groups(model, n_groups)
        affinity = getattr(model, "task_affinity_", None)
        display = cls(affinity, task_names=list(model.task_names_), groups=groups)
        return display.plot(
            ax=ax,
            cmap=cmap,
            include_diagonal=include_diagonal,
            annotate=annotate,
            colorbar=colorbar,
        )
