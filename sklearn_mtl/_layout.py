"""The training-tensor layout: how one fit's targets travel to the network.

Every target table is packed, once per fit, into one float32 matrix of shape
``(n_samples, 2 * n_tasks)``, and every training step reads it back with
:func:`unpack`:

- columns ``[0, n_tasks)``, the *codes*: for a classification task the class
  index (as a float), for a regression task the standardized value; ``0``
  where the label is missing;
- columns ``[n_tasks, 2 * n_tasks)``, the *label weights*: ``sample_weight``
  times ``Task.class_weight`` for a label, ``0`` where it is missing.

A weight of zero is the one encoding of "missing": a missing label and a
label of weight zero are the same thing to the network. Each task's loss is
the weighted mean ``sum(w * loss) / sum(w)`` over a batch's rows, so scaling
all weights by a constant changes nothing.
"""

import numpy as np


def pack(codes, weights):
    """The training matrix from per-task codes and label weights.

    Parameters
    ----------
    codes : list of ndarray of shape (n_samples,)
        Per task, the codes of its labels (any value where the weight is 0).
    weights : list of ndarray of shape (n_samples,)
        Per task, the weights of its labels, 0 where a label is missing.

    Returns
    -------
    packed : ndarray of shape (n_samples, 2 * n_tasks), float32

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl._layout import pack, unpack
    >>> packed = pack([np.array([1.0, np.nan])], [np.array([1.0, 0.0])])
    >>> packed
    array([[1., 1.],
           [0., 0.]], dtype=float32)
    >>> codes, weights = unpack(packed, n_tasks=1)
    >>> weights[:, 0]
    array([1., 0.], dtype=float32)
    """
    weights = np.column_stack(weights).astype(np.float32)
    codes = np.column_stack(codes).astype(np.float32)
    codes[weights == 0] = 0.0  # no NaN may reach the loss, even masked
    return np.ascontiguousarray(np.hstack([codes, weights]))


def unpack(packed, n_tasks):
    """The codes and label weights of a (batch of a) packed matrix.

    Works on NumPy arrays and torch tensors alike, returning views.

    Parameters
    ----------
    packed : ndarray or torch.Tensor of shape (n_samples, 2 * n_tasks)
    n_tasks : int

    Returns
    -------
    codes, weights : two arrays or tensors of shape (n_samples, n_tasks)
    """
    return packed[:, :n_tasks], packed[:, n_tasks:]
