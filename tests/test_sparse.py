"""Sparse X: kept sparse, multiplied sparsely or densified batch by batch,
the same model as dense X."""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_mtl import MultiTaskNetEstimator, Task


def make_data():
    X = sp.random(300, 40, density=0.1, format="csr", random_state=0, dtype=np.float64)
    dense = X.toarray()
    Y = np.empty((300, 2), dtype=object)
    Y[:, 0] = np.where(dense[:, 0] + dense[:, 1] > 0.1, "yes", "no")
    Y[:, 1] = dense[:, 2] * 3 + dense[:, 3]
    Y[::7, 1] = np.nan
    return X, dense, Y


def make_estimator():
    return MultiTaskNetEstimator(
        tasks=[("answer", Task("classification")), ("value", Task("regression"))],
        trunk_sizes=(16,),
        dropout=0.1,
        max_epochs=4,
        early_stopping=True,
        random_state=0,
    )


@pytest.mark.parametrize(
    "to_sparse", [sp.csr_matrix, sp.csc_matrix, sp.csr_array, sp.coo_array]
)
def test_sparse_and_dense_X_give_the_same_model(to_sparse):
    X, dense, Y = make_data()
    on_sparse = make_estimator().fit(to_sparse(X), Y)
    on_dense = make_estimator().fit(dense, Y)
    # The sparse first layer adds the same products in another order: equal
    # up to float32 rounding.
    predicted, expected = on_sparse.predict(to_sparse(X)), on_dense.predict(dense)
    assert_array_equal(predicted[:, 0], expected[:, 0])
    assert_allclose(
        predicted[:, 1].astype(float), expected[:, 1].astype(float), atol=1e-6
    )
    assert_allclose(
        on_sparse.predict_proba(to_sparse(X))[0], on_dense.predict_proba(dense)[0],
        atol=1e-6,
    )  # fmt: skip
    assert on_sparse.score(to_sparse(X), Y) == pytest.approx(on_dense.score(dense, Y))


def test_fit_memory_grows_with_the_sparse_data_not_its_dense_size():
    # 1,000 x 40,000 float32 is 160 MB dense; stored sparse it is 0.1 MB.
    # tracemalloc sees every NumPy buffer, densified batches included.
    X = sp.random(
        1000, 40_000, density=2e-4, format="csr", random_state=0, dtype=np.float32
    )
    y = np.asarray(X[:, :100].sum(axis=1)).ravel() > 0
    est = MultiTaskNetEstimator(trunk_sizes=(4,), max_epochs=1, random_state=0)
    tracemalloc.start()
    try:
        est.fit(X, y).predict(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 40 * 2**20


def test_sparse_first_layer_is_the_dense_linear_layer():
    # The same outputs and the same gradients as nn.Linear on the dense batch.
    import torch

    from sklearn_mtl._data import SparseRows
    from sklearn_mtl._module import SparseInputLinear

    X = sp.random(50, 40, density=0.1, format="csr", random_state=0, dtype=np.float32)
    layer = SparseInputLinear(40, 8)
    grads = []
    for batch in (SparseRows(X, "cpu")[0:50], torch.from_numpy(X.toarray())):
        layer.zero_grad()
        out = layer(batch)
        out.square().sum().backward()
        grads.append((out.detach(), layer.weight.grad.clone(), layer.bias.grad.clone()))
    for on_sparse, on_dense in zip(*grads):
        assert_allclose(on_sparse, on_dense, rtol=1e-5, atol=1e-6)
    assert grads[0][0].is_contiguous()  # row-major, like nn.Linear's output


@pytest.mark.parametrize(
    "params",
    [
        {"trunk_sizes": ()},  # the heads read X
        {
            "tasks": [
                ("answer", Task("classification", head_sizes=(4,))),
                ("value", Task("regression")),
            ]
        },  # fmt: skip
        {"n_ensemble": 2},  # densified batches
    ],
    ids=["no-trunk", "head-layers", "ensemble"],
)
def test_sparse_X_gives_the_dense_model_in_every_layout(params):
    X, dense, Y = make_data()
    on_sparse = make_estimator().set_params(**params).fit(X, Y)
    on_dense = make_estimator().set_params(**params).fit(dense, Y)
    assert_allclose(
        on_sparse.predict_proba(X)[0], on_dense.predict_proba(dense)[0], atol=1e-6
    )


def test_fit_never_builds_a_dense_batch_of_a_wide_sparse_X():
    # 2,000,000 columns: one dense batch of 128 rows would take 1 GB, the
    # first layer's weights, gradient and Adam state 64 MB. Peak resident
    # memory is only readable per process, hence the subprocess.
    code = """
import resource, numpy as np, scipy.sparse as sp
from sklearn_mtl import MultiTaskNetEstimator
rng = np.random.default_rng(0)
n, k, width = 1000, 5, 2_000_000
X = sp.csr_matrix((rng.standard_normal(n * k).astype(np.float32),
                   rng.integers(0, width, n * k), np.arange(0, n * k + 1, k)),
                  shape=(n, width))
y = rng.random(n) > 0.5
est = MultiTaskNetEstimator(trunk_sizes=(2,), max_epochs=2, early_stopping=False,
                            random_state=0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
est.fit(X, y).predict(X)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert float(out.stdout.split()[-1]) < 300  # MB
