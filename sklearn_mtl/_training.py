"""Training machinery plugged into skorch's extension points.

skorch runs the loop (epochs, optimizer steps, callbacks, history). This
module supplies what makes it fast and multi-task aware:

- :class:`TensorDataset` and :class:`TensorBatchIterator` feed mini-batches
  by slicing tensors built once per fit on the training device, instead of
  indexing and collating sample by sample;
- :class:`HoldoutSplit` holds out a random validation fraction the same way;
- :class:`MultiTaskNet` records each task's loss per epoch in the history
  (``train_loss_<task>``, ``valid_loss_<task>``) and stops with a clear error
  when a task's loss stops being finite.
"""

import math
from contextlib import contextmanager

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping


@contextmanager
def torch_threads(n_threads):
    """Run a block with ``n_threads`` torch CPU threads, then restore the setting.

    ``None`` leaves torch's setting alone.
    """
    previous = torch.get_num_threads()
    if n_threads is None or n_threads == previous:
        yield
        return
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class TensorDataset(torch.utils.data.Dataset):
    """Rows ``indices`` of the tensors ``X`` and ``y``, without copying them.

    Parameters
    ----------
    X : torch.Tensor of shape (n_samples, n_features)
    y : torch.Tensor of shape (n_samples, n_tasks) or None
    indices : torch.Tensor of int64 or None
        The rows that belong to this dataset; None means all rows.
    """

    def __init__(self, X, y=None, indices=None):
        self.X = torch.as_tensor(X)
        self.y = y
        self.indices = indices

    def __len__(self):
        return len(self.X) if self.indices is None else len(self.indices)

    def __getitem__(self, i):
        row = i if self.indices is None else self.indices[i]
        return self.X[row], (self.y[row] if self.y is not None else torch.empty(0))


class TensorBatchIterator:
    """Mini-batches of a :class:`TensorDataset`, one tensor gather per batch.

    Each pass over the iterator (one epoch) draws a fresh permutation when
    ``shuffle`` is true, from a generator seeded once with ``seed``.

    Parameters
    ----------
    dataset : TensorDataset
    batch_size : int
    shuffle : bool, default=False
    seed : int or None, default=None
    """

    def __init__(self, dataset, batch_size, shuffle=False, seed=None):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self):
        X, y, indices = self.dataset.X, self.dataset.y, self.dataset.indices
        n = len(self.dataset)
        if self.shuffle:
            order = torch.from_numpy(self.rng.permutation(n)).to(X.device)
            indices = order if indices is None else indices[order]
        for start in range(0, n, self.batch_size):
            if indices is None:  # contiguous views, no copy
                rows = slice(start, start + self.batch_size)
            else:
                rows = indices[start : start + self.batch_size]
            yield X[rows], (y[rows] if y is not None else None)


class HoldoutSplit:
    """skorch ``train_split``: hold out a random ``fraction`` of the rows.

    Parameters
    ----------
    fraction : float
        Share of rows held out for validation (rounded up, at least one row).
    seed : int
        Seed of the random partition.
    """

    def __init__(self, fraction, seed):
        self.fraction = fraction
        self.seed = seed

    def __call__(self, dataset, y=None, **fit_params):
        n = len(dataset)
        n_valid = math.ceil(self.fraction * n)
        order = np.random.default_rng(self.seed).permutation(n)
        order = torch.from_numpy(order).to(dataset.X.device)
        train, valid = order[n_valid:], order[:n_valid]
        return (
            TensorDataset(dataset.X, dataset.y, train),
            TensorDataset(dataset.X, dataset.y, valid),
        )


class MultiTaskNet(NeuralNet):
    """A skorch ``NeuralNet`` whose criterion is a multi-task loss.

    Its history gains, each epoch, the mean loss of every task over its
    labelled rows: ``train_loss_<task>`` and, when a validation split is
    used, ``valid_loss_<task>`` (NaN when the split holds no label of the
    task). The totals ``train_loss`` and ``valid_loss`` are the weighted
    objective, as in skorch.

    Parameters
    ----------
    *args, **kwargs
        As for :class:`skorch.NeuralNet`; the criterion must offer
        ``task_sums`` and ``combine`` like :class:`MaskedMultiTaskLoss`.
    task_names : sequence of str
        Names of the tasks, in the order of the module's outputs.
    """

    def __init__(self, *args, task_names=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.task_names = task_names

    def on_epoch_begin(self, net, **kwargs):
        super().on_epoch_begin(net, **kwargs)
        self._task_totals = {}

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        # skorch ends training quietly on KeyboardInterrupt, wherever it
        # struck. Roll the module back to the end of the last finished epoch,
        # so that the interrupted model is one that was actually trained.
        self._interrupted = self._stopped_early = False
        self._finished_epoch_state = self._module_state() if self.history else None
        try:
            return super().fit_loop(X, y, epochs, **fit_params)
        except KeyboardInterrupt:
            if self._stopped_early:
                raise  # skorch's way to end training: not an interruption
            self._interrupted = True
            if self._finished_epoch_state is not None:
                self.module_.load_state_dict(self._finished_epoch_state)
            if self.history and "train_loss" not in self.history[-1]:
                del self.history[-1]  # the unfinished epoch
            raise
        finally:
            self._finished_epoch_state = None  # don't pickle a copy of the weights

    def get_loss(self, y_pred, y_true, X=None, training=False):
        sums, counts = self.criterion_.task_sums(y_pred, y_true)
        totals = getattr(self, "_task_totals", {})
        prev_sums, prev_counts = totals.get(training, (0.0, 0))
        totals[training] = (prev_sums + sums.detach(), prev_counts + counts)
        self._task_totals = totals
        return self.criterion_.combine(sums, counts)

    def _module_state(self):
        return {key: value.detach().clone() for key, value in self.module_.state_dict().items()}

    def on_epoch_end(self, net, **kwargs):
        super().on_epoch_end(net, **kwargs)
        diverged = []
        for training, (sums, counts) in self._task_totals.items():
            means = (sums / counts).tolist()  # 0 / 0 is NaN: no label this epoch
            prefix = "train" if training else "valid"
            for name, mean, count in zip(self.task_names, means, counts.tolist()):
                self.history.record(f"{prefix}_loss_{name}", mean)
                if count and not math.isfinite(mean):
                    diverged.append(name)
        self._finished_epoch_state = self._module_state()
        if diverged:
            raise ValueError(
                f"Training diverged in epoch {len(self.history)}: the loss of "
                f"task(s) {sorted(set(diverged))} is not finite. Lower the learning "
                f"rate (lr={self.lr}) or standardize X (e.g. with StandardScaler)."
            )


class StopEarly(EarlyStopping):
    """skorch's ``EarlyStopping``, telling :class:`MultiTaskNet` that it stopped.

    skorch ends training by raising ``KeyboardInterrupt``; the flag lets the
    net tell that apart from a user's interruption.
    """

    def on_epoch_end(self, net, **kwargs):
        try:
            super().on_epoch_end(net, **kwargs)
        except KeyboardInterrupt:
            net._stopped_early = True
            raise
