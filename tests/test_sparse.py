"""Sparse X: kept sparse, densified batch by batch, same model as dense X."""

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
    assert_array_equal(on_sparse.predict(to_sparse(X)), on_dense.predict(dense))
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
