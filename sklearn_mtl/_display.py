"""Plot each task's training and validation loss per epoch."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._composition import final_multitask


def _import_pyplot(caller):
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            f"{caller} requires matplotlib, which is not installed. Install it "
            "with `pip install matplotlib` (or `pip install sklearn-mtl[plot]`)."
        ) from None
    return plt


class TrainingHistoryDisplay:
    """Per-task training and validation losses per epoch.

    Use :meth:`from_estimator` to read them from a fitted
    :class:`MultiTaskNetEstimator`'s ``net_.history``, or create the display
    from the losses and call :meth:`plot`. Each task gets one colour: a
    solid line for its training loss and a dashed line for its validation
    loss (recorded with ``early_stopping=True``). Requires matplotlib.

    Parameters
    ----------
    train_losses : dict of str to array-like of shape (n_epochs,)
        Task name to the task's mean training loss in each epoch.

    valid_losses : dict of str to array-like of shape (n_epochs,), default=None
        Task name to the task's mean validation loss in each epoch; NaN
        where the validation rows hold no label of the task.

    epochs : array-like of shape (n_epochs,), default=None
        The epoch numbers; None means ``1, 2, ..., n_epochs``.

    Attributes
    ----------
    lines_ : dict of str to matplotlib Line2D
        The plotted lines, keyed like the history: ``"train_loss_<task>"``
        and ``"valid_loss_<task>"``.

    ax_ : matplotlib Axes
        The axes with the curves.

    figure_ : matplotlib Figure
        The figure holding ``ax_``.

    See Also
    --------
    MultiTaskNetEstimator : Its ``net_.history`` records the losses.
    sklearn.metrics.RocCurveDisplay : A display of the same design.

    Notes
    -----
    The losses are those the network minimizes: cross-entropy for
    classification and the task's loss on the *standardized* target for
    regression, each averaged over the task's labelled rows, before
    ``Task.weight`` is applied. They are comparable across epochs, and
    roughly across tasks, but are not scores.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_mtl import MultiTaskNetEstimator, TrainingHistoryDisplay
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = np.column_stack([X[:, 0] > 0, X[:, 1]]).astype(float)
    >>> est = MultiTaskNetEstimator(
    ...     max_epochs=5, early_stopping=True, random_state=0
    ... ).fit(X, y)
    >>> display = TrainingHistoryDisplay.from_estimator(est)
    >>> sorted(display.lines_)
    ['train_loss_task_0', 'train_loss_task_1', 'valid_loss_task_0', 'valid_loss_task_1']
    """

    def __init__(
        self,
        train_losses: dict[str, Any],
        *,
        valid_losses: dict[str, Any] | None = None,
        epochs: Any = None,
    ) -> None:
        self.train_losses = train_losses
        self.valid_losses = valid_losses
        self.epochs = epochs

    def plot(
        self,
        ax: Any = None,
        *,
        log_scale: bool = False,
        train_kw: dict[str, Any] | None = None,
        valid_kw: dict[str, Any] | None = None,
    ) -> TrainingHistoryDisplay:
        """Plot the loss curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to plot on; None creates a new figure and axes.

        log_scale : bool, default=False
            Whether to use a logarithmic loss axis.

        train_kw : dict, default=None
            Keyword arguments of ``ax.plot`` for the training curves, e.g.
            ``{"linewidth": 2}``.

        valid_kw : dict, default=None
            Keyword arguments of ``ax.plot`` for the validation curves.

        Returns
        -------
        display : TrainingHistoryDisplay
            This display, with ``ax_``, ``figure_`` and ``lines_`` set.
        """
        plt = _import_pyplot(f"{type(self).__name__}.plot")
        if ax is None:
            _, ax = plt.subplots()
        valid_losses = self.valid_losses or {}
        self.lines_ = {}
        colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", [None])
        for i, (task, losses) in enumerate(self.train_losses.items()):
            losses = np.asarray(losses, dtype=float)
            epochs = (
                np.arange(1, len(losses) + 1)
                if self.epochs is None
                else np.asarray(self.epochs)
            )
            color = colors[i % len(colors)]
            (self.lines_[f"train_loss_{task}"],) = ax.plot(
                epochs,
                losses,
                **{"color": color, "label": f"{task} (train)", **(train_kw or {})},
            )
            if task in valid_losses:
                (self.lines_[f"valid_loss_{task}"],) = ax.plot(
                    epochs,
                    np.asarray(valid_losses[task], dtype=float),
                    **{
                        "color": color,
                        "linestyle": "--",
                        "label": f"{task} (valid)",
                        **(valid_kw or {}),
                    },
                )
        ax.set_xlabel("Epoch")
        ax.set_ylabel("Loss")
        if log_scale:
            ax.set_yscale("log")
        ax.legend()
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(
        cls,
        estimator: Any,
        *,
        tasks: list[str] | None = None,
        ax: Any = None,
        log_scale: bool = False,
        train_kw: dict[str, Any] | None = None,
        valid_kw: dict[str, Any] | None = None,
    ) -> TrainingHistoryDisplay:
        """Plot the loss curves recorded while fitting ``estimator``.

        Parameters
        ----------
        estimator : MultiTaskNetEstimator or Pipeline
            A fitted multi-task estimator, or a fitted pipeline (or search)
            whose final estimator is one.

        tasks : list of str, default=None
            The tasks to plot, by name; None plots all of them.

        ax : matplotlib Axes, default=None
            Axes to plot on; None creates a new figure and axes.

        log_scale : bool, default=False
            Whether to use a logarithmic loss axis.

        train_kw : dict, default=None
            Keyword arguments of ``ax.plot`` for the training curves.

        valid_kw : dict, default=None
            Keyword arguments of ``ax.plot`` for the validation curves.

        Returns
        -------
        display : TrainingHistoryDisplay
            The display, plotted.
        """
        _import_pyplot(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator)
        model, _, _ = final_multitask(
            estimator, fitted=True, caller=f"{cls.__name__}.from_estimator"
        )
        names = list(model.task_names_)
        if tasks is None:
            tasks = names
        elif isinstance(tasks, str) or not all(isinstance(t, str) for t in tasks):
            raise TypeError(
                f"tasks must be a list of task names or None, got {tasks!r}. "
                f"Example: tasks={names[:1]!r}."
            )
        unknown = [task for task in tasks if task not in names]
        if unknown:
            raise ValueError(
                f"Unknown task(s) {unknown} in tasks; the estimator's tasks are "
                f"{names}."
            )
        history = model.net_.history
        epochs = np.asarray(history[:, "epoch"])
        train_losses = {task: history[:, f"train_loss_{task}"] for task in tasks}
        valid_losses = None
        if all(f"valid_loss_{task}" in history[-1] for task in tasks):
            valid_losses = {task: history[:, f"valid_loss_{task}"] for task in tasks}
        display = cls(train_losses, valid_losses=valid_losses, epochs=epochs)
        return display.plot(
            ax=ax, log_scale=log_scale, train_kw=train_kw, valid_kw=valid_kw
        )
