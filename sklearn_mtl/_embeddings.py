"""Numerical feature embeddings before the trunk (``num_embedding=``).

Gorishniy, Rubachev and Babenko, "On Embeddings for Numerical Features in
Tabular Deep Learning" (NeurIPS 2022), as implemented by the optional
package ``rtdl-num-embeddings`` (``pip install "sklearn-mtl[embeddings]"``).
Each of the ``n_features`` columns of ``X`` becomes a vector of
``d_embedding`` numbers; the trunk's MLP reads the ``n_features *
d_embedding`` of them, flattened.

This module takes plain values only: the kind, its options (a dict of
numbers, strings and booleans) and, for the piecewise-linear embedding, the
bin edges as tuples of floats, computed from the training ``X`` by
:func:`quantile_bins`. The package is imported only when an embedding is
built.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from torch import nn

#: Per kind, its options and their defaults (those of rtdl-num-embeddings'
#: classes; for "piecewise_linear" the MLP settings of its README and TabM:
#: version "B", no ReLU).
EMBEDDING_DEFAULTS = {
    "periodic": {
        "d_embedding": 24,
        "n_frequencies": 48,
        "frequency_init_scale": 0.01,
        "activation": True,
        "lite": False,
        "embed_binary": False,
    },
    "piecewise_linear": {
        "d_embedding": 16,
        "n_bins": 48,
        "activation": False,
        "version": "B",
        "embed_binary": False,
    },
}

_EXTRA = 'pip install "sklearn-mtl[embeddings]"'


def _import_rtdl():
    try:
        import rtdl_num_embeddings
    except ImportError:
        raise ImportError(
            "num_embedding='periodic' or 'piecewise_linear' needs the package "
            "rtdl-num-embeddings, which is not installed. Install it with "
            f"`{_EXTRA}` (or `pip install rtdl-num-embeddings`), or set "
            "num_embedding=None."
        ) from None
    return rtdl_num_embeddings


def resolve_embedding_params(kind, params):
    """The options of embedding ``kind``: ``params`` checked, defaults filled in.

    Parameters
    ----------
    kind : {"periodic", "piecewise_linear"}
    params : dict
        The user's ``num_embedding_params``.

    Returns
    -------
    params : dict
        Every option of ``kind``, with ints as int, floats as float.
    """
    defaults = EMBEDDING_DEFAULTS[kind]
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(
            f"num_embedding_params has {unknown}, which num_embedding={kind!r} does "
            f"not take; its options are {sorted(defaults)} (other kinds: "
            f"{ {k: sorted(v) for k, v in EMBEDDING_DEFAULTS.items() if k != kind} })."
        )
    resolved = {**defaults, **params}
    for key, value in resolved.items():
        default = defaults[key]
        if isinstance(default, bool):
            ok = isinstance(value, (bool, np.bool_))
            expected, value = "a bool", bool(value) if ok else value
        elif isinstance(default, int):
            low = 2 if key == "n_bins" else 1
            ok = (
                isinstance(value, Integral)
                and not isinstance(value, (bool, np.bool_))
                and value >= low
            )
            expected, value = f"an int >= {low}", int(value) if ok else value
        elif isinstance(default, float):
            ok = (
                isinstance(value, Real)
                and not isinstance(value, (bool, np.bool_))
                and np.isfinite(value)
                and value > 0
            )
            expected, value = "a positive float", float(value) if ok else value
        else:  # version
            ok = value in ("A", "B")
            expected = "'A' or 'B'"
        if not ok:
            raise ValueError(
                f"num_embedding_params[{key!r}] (num_embedding__{key}) must be "
                f"{expected} for num_embedding={kind!r}, got {value!r}."
            )
        resolved[key] = value
    if kind == "periodic" and resolved["lite"] and not resolved["activation"]:
        raise ValueError(
            "num_embedding_params lite=True shares the periodic embedding's linear "
            "layer between features, which rtdl-num-embeddings offers only with "
            "activation=True. Set activation=True or lite=False."
        )
    return resolved


def embedded_columns(X, embed_binary, weights=None):
    """The columns of ``X`` to embed: all, or those of more than two values.

    With ``embed_binary=False`` a column with at most two distinct values
    (a one-hot or indicator column, or a constant) is not a numerical
    feature in the paper's sense: it reaches the trunk as it is. Rows of
    weight 0 are not counted.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    embed_binary : bool
    weights : ndarray of shape (n_samples,) or None, default=None

    Returns
    -------
    columns : tuple of int
        Increasing column indices.
    """
    if embed_binary:
        return tuple(range(X.shape[1]))
    if weights is not None:
        X = X[weights > 0]
    return tuple(j for j in range(X.shape[1]) if len(np.unique(X[:, j])[:3]) > 2)


def quantile_bins(X, n_bins, weights=None):
    """Bin edges of each column of ``X`` at its ``n_bins + 1`` quantiles.

    The quantile bins of the paper (Section 3.2.1), equal quantiles merged
    as ``rtdl_num_embeddings.compute_bins(X, n_bins)`` merges them, but in
    NumPy and without its limits: a column with fewer distinct values gets
    fewer bins (a binary column one bin, which makes its encoding a min-max
    scaling), and a constant column the one bin ``[v, v + max(1, |v|)]``.
    The quantiles are those of the inverted CDF (each edge is a value of
    the column) of the rows weighted by ``weights``, so that a weight of 2
    is the same as a repeated row and a weight of 0 as a removed one.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The training features (dense, finite).
    n_bins : int
        The most bins per feature.
    weights : ndarray of shape (n_samples,) or None, default=None
        Non-negative row weights, not all zero; None: all 1.

    Returns
    -------
    bins : tuple of tuple of float
        Per feature, its increasing edges, exactly representable in float32.
    """
    X = np.asarray(X, dtype=np.float64)
    weights = np.ones(len(X)) if weights is None else np.asarray(weights, float)
    X, weights = X[weights > 0], weights[weights > 0]
    levels = np.linspace(0.0, 1.0, n_bins + 1)
    bins = []
    for column in X.T:
        # The inverted CDF: the smallest value whose cumulative weight
        # reaches the level (NumPy's method="inverted_cdf", which takes
        # weights only from NumPy 2.0 on).
        order = np.argsort(column, kind="stable")
        cumulative = np.cumsum(weights[order])
        at = np.searchsorted(cumulative, levels * cumulative[-1], side="left")
        edges = column[order][np.minimum(at, len(column) - 1)]
        edges = np.unique(edges.astype(np.float32))
        if len(edges) == 1:
            v = edges[0]
            edges = np.array([v, v + max(np.float32(1), abs(v))], dtype=np.float32)
        bins.append(tuple(float(e) for e in edges))
    return tuple(bins)


def embedding_width(kind, params):
    """The number of values each feature becomes (``d_embedding``)."""
    return int(params["d_embedding"])


class NumericalEmbedding(nn.Module):
    """Embed the chosen features, flatten, append the others as they are.

    ``(n, n_features)`` -> ``(n, n_embedded * d_embedding + n_others)``:
    first the flattened embeddings of the ``columns``, feature by feature,
    then the other columns of ``X`` unchanged.

    Parameters
    ----------
    n_features : int
    kind : {"periodic", "piecewise_linear"}
    params : dict
        The resolved options (:func:`resolve_embedding_params`).
    bins : tuple of tuple of float or None
        The piecewise-linear embedding's bin edges, one tuple per embedded
        feature.
    columns : tuple of int or None
        The features to embed (:func:`embedded_columns`); None: all.

    Attributes
    ----------
    embedding : torch.nn.Module or None
        The rtdl-num-embeddings module, output (n, n_embedded,
        d_embedding); None when no column is embedded.
    out_features : int
        ``n_embedded * d_embedding + n_others``.
    """

    def __init__(self, n_features, kind, params, bins=None, columns=None):
        super().__init__()
        columns = tuple(range(n_features)) if columns is None else tuple(columns)
        if any(not 0 <= j < n_features for j in columns) or list(columns) != sorted(
            set(columns)
        ):
            raise ValueError(
                f"The embedded columns must be increasing indices below {n_features}, "
                f"got {list(columns)[:5]}."
            )
        others = [j for j in range(n_features) if j not in set(columns)]
        self.register_buffer("columns", torch.tensor(columns, dtype=torch.long))
        self.register_buffer("others", torch.tensor(others, dtype=torch.long))
        self.embedding = None
        d = embedding_width(kind, params)
        if columns:
            rtdl = _import_rtdl()
            if kind == "periodic":
                self.embedding = rtdl.PeriodicEmbeddings(
                    len(columns),
                    d,
                    n_frequencies=params["n_frequencies"],
                    frequency_init_scale=params["frequency_init_scale"],
                    activation=params["activation"],
                    lite=params["lite"],
                )
            else:
                self.embedding = _piecewise_linear(rtdl, len(columns), d, params, bins)
        self.out_features = len(columns) * d + len(others)

    def forward(self, X):
        if self.embedding is None:
            return X
        if not len(self.others):  # every column: no copy
            return self.embedding(X).flatten(1)
        embedded = self.embedding(X[:, self.columns]).flatten(1)
        return torch.cat([embedded, X[:, self.others]], dim=1)


def _piecewise_linear(rtdl, n_features, d, params, bins):
    if bins is None or len(bins) != n_features:
        raise ValueError(
            f"num_embedding='piecewise_linear' needs the bin edges of each of the "
            f"{n_features} features, got {0 if bins is None else len(bins)}."
        )
    # The encoding's buffers are computed from the bins' values, which the
    # meta device (the shape check of a model file) cannot hold: the bins
    # always live on the CPU, and on the meta device the trainable layers
    # are rebuilt there at their real width.
    meta = torch.empty(0).device.type == "meta"
    with torch.device("cpu"), warnings.catch_warnings():
        # One bin (a binary column) is a min-max scaling; not worth a warning.
        warnings.filterwarnings("ignore", message=".*just two bin edges.*")
        edges = [torch.tensor(b, dtype=torch.float32) for b in bins]
        embedding = rtdl.PiecewiseLinearEmbeddings(
            edges,
            1 if meta else d,
            activation=params["activation"],
            version=params["version"],
        )
    if meta:
        linear = embedding.linear
        n_in = linear.weight.shape[1]
        embedding.linear = type(linear)(
            n_features, n_in, d, bias=linear.bias is not None
        )
        if embedding.linear0 is not None:
            embedding.linear0 = rtdl.LinearEmbeddings(n_features, d)
    return embedding
