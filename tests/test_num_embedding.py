"""Numerical feature embeddings before the trunk (``num_embedding=``)."""

import pickle
import sys

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.model_selection import GridSearchCV

import sklearn_mtl
from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl._embeddings import NumericalEmbedding, quantile_bins

rtdl = pytest.importorskip("rtdl_num_embeddings")

KINDS = ["periodic", "piecewise_linear"]


def _data(n=120, n_features=5, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, n_features)).astype(np.float32)
    X[:, -1] = X[:, -1] > 0  # a binary column: one bin
    y = np.column_stack([X[:, 0] > 0, X[:, 1] + np.sin(2 * X[:, 2])])
    y[::4, 1] = np.nan
    return X, y


def _fit(kind, X, y, **params):
    params = {"max_epochs": 3, "random_state": 0, "trunk_sizes": (16,), **params}
    return MultiTaskNetEstimator(num_embedding=kind, **params).fit(X, y)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("d_embedding", [3, 8])
@pytest.mark.parametrize("embed_binary", [False, True])
def test_embedding_shapes_and_trunk_input_width(kind, d_embedding, embed_binary):
    X, y = _data()  # 5 columns, the last binary
    options = {"d_embedding": d_embedding, "embed_binary": embed_binary}
    est = _fit(kind, X, y, num_embedding_params=options)
    embedding, mlp = est.net_.module_.trunk
    n_embedded = 5 if embed_binary else 4
    with torch.no_grad():
        out = embedding.embedding(torch.from_numpy(X[:7, :n_embedded]))
        trunk_input = embedding(torch.from_numpy(X[:7]))
    assert out.shape == (7, n_embedded, d_embedding)
    assert mlp[0].in_features == n_embedded * d_embedding + 5 - n_embedded
    assert trunk_input.shape == (7, mlp[0].in_features)
    np.testing.assert_array_equal(
        trunk_input[:, : n_embedded * d_embedding].numpy(),
        out.flatten(1).numpy(),
    )
    if not embed_binary:  # the binary column passes through as it is
        np.testing.assert_array_equal(trunk_input[:, -1].numpy(), X[:7, -1])


def test_only_numeric_columns_are_embedded_by_default():
    X, y = _data()
    X[:, 1] = 3.0  # a constant column passes through too
    est = _fit("piecewise_linear", X, y)
    assert est._spec_.module.embedding_columns == (0, 2, 3)
    X[:, [0, 2, 3]] = X[:, [0, 2, 3]] > 0  # no numeric column: nothing to embed
    est = _fit("periodic", X, y)
    assert est._spec_.module.embedding_columns == ()
    assert est.net_.module_.trunk[0].out_features == X.shape[1]


@pytest.mark.parametrize("kind", KINDS)
def test_without_trunk_layers_the_heads_read_the_embedding(kind):
    X, y = _data()
    est = _fit(
        kind, X, y, trunk_sizes=(), weighting="pcgrad",
        num_embedding_params={"d_embedding": 5},
    )  # fmt: skip
    assert est.net_.module_.heads.linear.in_features == 4 * 5 + 1
    assert np.isfinite(est.predict(X).astype(float)).all()


@pytest.mark.parametrize("kind", KINDS)
def test_mixed_tasks_with_missing_labels(kind, census_module):
    X, Y = census_module
    est = _fit(kind, X, Y, max_epochs=20)
    pred = est.predict(X)
    assert pred.shape == Y.shape
    assert set(pred[:, 0]) <= {"low", "mid", "high"}
    income, married = est.predict_proba(X)
    np.testing.assert_allclose(income.sum(axis=1), 1, rtol=1e-5)
    scores = est.score_tasks(X, Y)
    assert scores["income"] > 0.5 and scores["age"] > 0.3


def test_options_are_parameters_by_name():
    est = MultiTaskNetEstimator(num_embedding="periodic")
    est.set_params(num_embedding__d_embedding=4, num_embedding__lite=True)
    assert est.num_embedding_params == {"d_embedding": 4, "lite": True}
    params = est.get_params()
    assert params["num_embedding__d_embedding"] == 4
    assert "num_embedding__d_embedding" not in est.get_params(deep=False)


def test_grid_search_over_the_embedding_options():
    X, y = _data(n=90)
    grid = [
        {
            "num_embedding": ["periodic"],
            "num_embedding__frequency_init_scale": [0.1, 1],
        },
        {"num_embedding": ["piecewise_linear"], "num_embedding__n_bins": [4, 8]},
    ]
    search = GridSearchCV(
        MultiTaskNetEstimator(max_epochs=2, trunk_sizes=(8,), random_state=0),
        grid,
        cv=2,
    ).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    best = search.best_estimator_
    module = best._spec_.module
    assert module.num_embedding == search.best_params_["num_embedding"]
    if module.num_embedding == "piecewise_linear":
        n_bins = search.best_params_["num_embedding__n_bins"]
        assert max(len(edges) - 1 for edges in module.embedding_bins) == n_bins


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_model(kind):
    X, y = _data()
    a, b = _fit(kind, X, y), _fit(kind, X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


@pytest.mark.parametrize("kind", KINDS)
def test_pickle_and_save_load_predict_identically(kind, tmp_path):
    X, y = _data()
    est = _fit(kind, X, y, num_embedding_params={"d_embedding": 4})
    expected = est.predict_proba(X)[0]
    path = tmp_path / "model.safetensors"
    sklearn_mtl.save(est, path)
    for copy in (pickle.loads(pickle.dumps(est)), sklearn_mtl.load(path)):
        np.testing.assert_array_equal(copy.predict_proba(X)[0], expected)
        np.testing.assert_array_equal(copy.predict(X), est.predict(X))
        assert copy._spec_.module == est._spec_.module  # the bins included
        assert copy.num_embedding_params == {"d_embedding": 4}


def test_loading_rejects_bins_that_do_not_fit(tmp_path):
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    X, y = _data()
    path = tmp_path / "model.safetensors"
    sklearn_mtl.save(_fit("piecewise_linear", X, y), path)
    with safe_open(path, framework="pt") as f:
        metadata, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    document = json.loads(metadata["estimator"])
    document["embedding_bins"][0] = [3.0, 1.0, 2.0]  # unsorted
    metadata["estimator"] = json.dumps(document)
    save_file(tensors, path, metadata=metadata)
    with pytest.raises(ValueError, match="The model file is invalid"):
        sklearn_mtl.load(path)


def test_warm_start_and_partial_fit_keep_the_first_bins():
    X, y = _data()
    est = _fit("piecewise_linear", X, y, warm_start=True)
    bins = est._spec_.module.embedding_bins
    assert bins == quantile_bins(X[:, :4], 48)
    before = est.predict_proba(X)[0]
    est.fit(X * 3 + 1, y)  # other quantiles: the bins stay
    assert est._spec_.module.embedding_bins == bins
    assert not np.array_equal(est.predict_proba(X)[0], before)  # it trained on

    est = MultiTaskNetEstimator(num_embedding="piecewise_linear", random_state=0)
    est.partial_fit(X[:60], y[:60])
    first = est._spec_.module.embedding_bins
    assert first == quantile_bins(X[:60, :4], 48)
    est.partial_fit(X[60:], y[60:])
    assert est._spec_.module.embedding_bins == first


def test_warm_start_refuses_another_embedding():
    X, y = _data()
    est = _fit("periodic", X, y, warm_start=True)
    est.set_params(num_embedding="piecewise_linear")
    with pytest.raises(ValueError, match="num_embedding.* changed"):
        est.fit(X, y)


def test_transfer_carries_the_embedding_and_its_bins():
    X, y = _data()
    source = _fit("piecewise_linear", X, y)
    target = _fit(
        "piecewise_linear",
        X[:50] * 2,
        y[:50, :1],
        init_trunk_from=source,
        freeze_trunk=True,
    )
    assert target._spec_.module.embedding_bins == source._spec_.module.embedding_bins
    assert target._spec_.module.embedding_columns == (0, 1, 2, 3)
    for a, b in zip(
        source.net_.module_.trunk.state_dict().values(),
        target.net_.module_.trunk.state_dict().values(),
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="num_embedding='piecewise_linear'"):
        _fit(None, X, y, init_trunk_from=source)


@pytest.mark.parametrize("kind", KINDS)
def test_gradient_weightings_see_the_embedding_as_shared(kind):
    X, y = _data()
    est = _fit(kind, X, y, record_gradient_conflict=True, weighting="mgda")
    n_shared = sum(p.numel() for p in est.net_.module_.trunk.parameters())
    n_embedding = sum(p.numel() for p in est.net_.module_.trunk[0].parameters())
    assert 0 < n_embedding < n_shared
    assert est.gradient_cosine_.shape == (2, 2)


def test_sparse_X_is_refused():
    X, y = _data()
    est = MultiTaskNetEstimator(num_embedding="periodic", max_epochs=1)
    with pytest.raises(ValueError, match="sparse X.*num_embedding=None"):
        est.fit(sp.csr_matrix(X), y)


class _Trunk(torch.nn.Module):
    def __init__(self, n_features):
        super().__init__()
        self.linear = torch.nn.Linear(n_features, 3)

    def forward(self, X):
        return self.linear(X)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"trunk": _Trunk}, "custom trunk"),
        ({"num_embedding_params": {"n_bins": 4}}, "does not take"),
        ({"num_embedding_params": {"d_embedding": 0}}, r"num_embedding__d_embedding"),
        (
            {"num_embedding_params": {"lite": True, "activation": False}},
            "lite=True",
        ),
        (
            {"num_embedding": None, "num_embedding_params": {"d_embedding": 4}},
            "num_embedding=None",
        ),
    ],
)
def test_clear_errors(params, message):
    X, y = _data()
    est = MultiTaskNetEstimator(num_embedding="periodic", max_epochs=1)
    with pytest.raises(ValueError, match=message):
        est.set_params(**params).fit(X, y)
    assert not hasattr(est, "net_")


def test_bad_n_bins_is_refused():
    X, y = _data()
    est = MultiTaskNetEstimator(
        num_embedding="piecewise_linear", num_embedding_params={"n_bins": 1}
    )
    with pytest.raises(ValueError, match=r"n_bins.*int >= 2"):
        est.fit(X, y)


def test_missing_package_names_the_extra(monkeypatch):
    X, y = _data()
    monkeypatch.setitem(sys.modules, "rtdl_num_embeddings", None)
    est = MultiTaskNetEstimator(num_embedding="periodic", max_epochs=1)
    with pytest.raises(ImportError, match=r"sklearn-mtl\[embeddings\]"):
        est.fit(X, y)
    MultiTaskNetEstimator(max_epochs=1).fit(X, y)  # no embedding: not needed


def test_quantile_bins_hold_equal_shares_of_the_rows():
    X = np.random.RandomState(0).normal(size=(500, 3)).astype(np.float32)
    bins = quantile_bins(X, 10)
    for j, edges in enumerate(bins):
        assert len(edges) == 11
        assert edges[0] == X[:, j].min() and edges[-1] == X[:, j].max()
        assert set(edges) <= set(X[:, j].tolist())  # edges are values of X
        counts = np.histogram(X[:, j], bins=edges)[0]
        assert counts.min() >= 48 and counts.max() <= 52
        # the same edges as rtdl-num-embeddings' (which interpolates) give
        theirs = rtdl.compute_bins(torch.from_numpy(X), n_bins=10)[j].numpy()
        np.testing.assert_allclose(edges, theirs, atol=0.05)
    assert quantile_bins(np.array([[0.0, 2.0], [1.0, 2.0], [3.0, 2.0]]), 4) == (
        (0.0, 1.0, 3.0),  # equal quantiles merged
        (2.0, 4.0),  # constant: one bin
    )


def test_bins_weigh_rows_like_repeats():
    X = np.random.RandomState(0).normal(size=(60, 2))
    weights = np.random.RandomState(1).randint(0, 3, size=60)
    repeated = np.repeat(X, weights, axis=0)
    assert quantile_bins(X, 8, weights.astype(float)) == quantile_bins(repeated, 8)


def test_piecewise_linear_encoding_is_the_papers_formula():
    # Equation 1 of Gorishniy et al. (2022): for bins B_t = [b_{t-1}, b_t),
    # e_t = 0 if x < b_{t-1} (t > 1), 1 if x >= b_t (t < T), else the
    # fraction (x - b_{t-1}) / (b_t - b_{t-1}); unclamped at both ends.
    bins = ((0.0, 1.0, 3.0, 4.0), (-2.0, 0.0, 2.0, 6.0))
    params = {"d_embedding": 2, "n_bins": 3, "activation": False, "version": "B"}
    embedding = NumericalEmbedding(2, "piecewise_linear", params, bins).embedding
    x = np.array([[-1.0, -3.0], [0.5, -1.0], [2.0, 1.0], [3.5, 4.0], [5.0, 8.0]])

    def formula(value, edges):
        T = len(edges) - 1
        out = []
        for t in range(1, T + 1):
            low, high = edges[t - 1], edges[t]
            fraction = (value - low) / (high - low)
            if t > 1 and value < low:
                out.append(0.0)
            elif t < T and value >= high:
                out.append(1.0)
            else:
                out.append(fraction)
        return out

    expected = [[formula(v, edges) for v, edges in zip(row, bins)] for row in x]
    with torch.no_grad():
        encoded = embedding.impl(torch.tensor(x, dtype=torch.float32))
    np.testing.assert_allclose(encoded.numpy(), np.array(expected), atol=1e-6)


def test_periodic_embedding_fits_a_high_frequency_target_an_mlp_cannot():
    # The paper's motivation (Section 3.3): an MLP on raw x is biased
    # towards smooth functions; periodic features at trained frequencies
    # reach high-frequency ones in a few epochs.
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(1000, 1)).astype(np.float32)
    y = np.sin(6 * np.pi * X[:, 0])
    params = {"max_epochs": 30, "trunk_sizes": (32,), "random_state": 0, "lr": 3e-3}
    plain = MultiTaskNetEstimator(**params).fit(X, y)
    periodic = MultiTaskNetEstimator(
        num_embedding="periodic",
        num_embedding_params={"frequency_init_scale": 1.0, "d_embedding": 16},
        **params,
    ).fit(X, y)
    assert periodic.score(X, y) > 0.9
    assert plain.score(X, y) < 0.5
