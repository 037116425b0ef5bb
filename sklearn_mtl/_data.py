"""Feeding mini-batches by slicing tensors built once per fit.

:class:`TensorDataset` and :class:`TensorBatchIterator` hand skorch batches
gathered from tensors that already live on the training device, instead of
indexing and collating sample by sample; :class:`HoldoutSplit` holds out a
random validation fraction the same way. A sparse ``X`` stays sparse
(:class:`SparseRows`): each batch is a sparse tensor, so memory grows with
the sparse data, not with ``n_samples * n_features``.
"""

import math
import warnings

import numpy as np
import torch
from scipy import sparse

from ._layout import unpack


def _consume_csr_beta_warning():
    """Build a CSR tensor once, silencing torch's one-time "beta" warning.

    torch warns once per process that its sparse CSR support is in beta;
    the package only builds CSR batches and reads their three arrays, so
    the warning would only alarm users who passed a sparse ``X``.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sparse CSR tensor support", UserWarning)
        torch.sparse_csr_tensor(
            torch.tensor([0, 0]), torch.tensor([], dtype=torch.int64),
            torch.tensor([]), size=(1, 1), check_invariants=False,
        )  # fmt: skip


class SparseRows:
    """A SciPy CSR matrix handing out batches of rows as torch CSR tensors.

    It answers what the batch iterator asks of a tensor: ``len``, slices of
    rows, ``index_select(0, rows)`` and ``device``. A batch is a
    ``torch.sparse_csr`` tensor on ``device``, which the network multiplies
    sparsely or densifies (:class:`~sklearn_mtl._module.MultiTaskNetwork`);
    a single row (``rows[i]``) is a dense vector.

    Parameters
    ----------
    matrix : scipy.sparse CSR matrix or array of float32
    device : torch.device
    """

    def __init__(self, matrix, device):
        self.matrix = matrix
        self.device = torch.device(device)
        _consume_csr_beta_warning()

    def __len__(self):
        return self.matrix.shape[0]

    @property
    def shape(self):
        return tuple(self.matrix.shape)

    def _csr(self, block):
        return torch.sparse_csr_tensor(
            torch.from_numpy(block.indptr),
            torch.from_numpy(block.indices),
            torch.from_numpy(block.data),
            size=block.shape,
            # scipy keeps its CSR invariants; checking them again costs a pass.
            check_invariants=False,
        ).to(self.device)

    def __getitem__(self, rows):
        if isinstance(rows, slice):
            return self._csr(self.matrix[rows])
        row = self.matrix[[int(rows)]].toarray()[0]
        return torch.from_numpy(np.asarray(row)).to(self.device)

    def index_select(self, dim, rows):
        return self._csr(self.matrix[rows.cpu().numpy()])


def as_rows(X, device):
    """``X`` as what batches are gathered from: a tensor on ``device``, or
    :class:`SparseRows` for a sparse matrix."""
    if sparse.issparse(X):
        return SparseRows(X, device)
    return torch.as_tensor(X, device=device)


class TensorDataset(torch.utils.data.Dataset):
    """Rows ``indices`` of the tensors ``X`` and ``y``, without copying them.

    Parameters
    ----------
    X : torch.Tensor or SparseRows of shape (n_samples, n_features)
    y : torch.Tensor of shape (n_samples, n_tasks) or None
    indices : torch.Tensor of int64 or None
        The rows that belong to this dataset; None means all rows.
    """

    def __init__(self, X, y=None, indices=None):
        self.X = X if isinstance(X, SparseRows) else torch.as_tensor(X)
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
                yield X[rows], (y[rows] if y is not None else None)
            else:
                # index_select gathers rows several times faster than
                # advanced indexing (X[rows]) on the CPU.
                rows = indices[start : start + self.batch_size]
                yield (
                    X.index_select(0, rows),
                    y.index_select(0, rows) if y is not None else None,
                )


class HoldoutSplit:
    """skorch ``train_split``: hold out a random ``fraction`` of the rows.

    Parameters
    ----------
    fraction : float
        Share of rows held out for validation (rounded up, at least one row).
    seed : int
        Seed of the random partition.
    task_names : sequence of str, default=()
        The tasks, in the order of the targets' columns, for the error raised
        when a task keeps no label to train on.
    """

    def __init__(self, fraction, seed, task_names=()):
        self.fraction = fraction
        self.seed = seed
        self.task_names = task_names

    def __call__(self, dataset, y=None, **fit_params):
        n = len(dataset)
        n_valid = math.ceil(self.fraction * n)
        order = np.random.default_rng(self.seed).permutation(n)
        order = torch.from_numpy(order).to(dataset.X.device)
        train, valid = order[n_valid:], order[:n_valid]
        self._check_training_part(dataset, train, n)
        return (
            TensorDataset(dataset.X, dataset.y, train),
            TensorDataset(dataset.X, dataset.y, valid),
        )

    def _check_training_part(self, dataset, train, n):
        """Raise rather than train on nothing, or leave a head without labels."""
        if not len(train):
            raise ValueError(
                f"early_stopping=True holds out validation_fraction={self.fraction} "
                f"of the {n} rows, which leaves none to train on. Lower "
                "validation_fraction, or set early_stopping=False."
            )
        n_tasks = dataset.y.shape[1] // 2
        _, weights = unpack(dataset.y.index_select(0, train), n_tasks)
        unlabelled = (weights.sum(dim=0) == 0).nonzero().flatten().tolist()
        if unlabelled:
            names = (
                [self.task_names[j] for j in unlabelled]
                if self.task_names
                else unlabelled
            )
            raise ValueError(
                f"early_stopping=True holds out validation_fraction={self.fraction} "
                f"of the rows, and every label of task(s) {names} fell in the "
                "held-out part: their heads would never be trained. Lower "
                "validation_fraction, give these tasks more labels, or set "
                "early_stopping=False."
            )


class GivenSplit:
    """skorch ``train_split``: train on all rows, validate on a given set.

    The validation rows are the user's (``fit(X_val=..., y_val=...)``), in
    the same packed layout as the training targets. The fit sets it for its
    training and clears it afterwards, so a fitted net keeps no data.

    Parameters
    ----------
    valid : TensorDataset
    """

    def __init__(self, valid):
        self.valid = valid

    def __call__(self, dataset, y=None, **fit_params):
        return dataset, self.valid
