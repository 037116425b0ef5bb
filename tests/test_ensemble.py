"""n_ensemble: TabM-mini members in one network, predictions averaged."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV

import sklearn_mtl
from sklearn_mtl import MultiTaskNetEstimator, Task
from sklearn_mtl._loss import MaskedMultiTaskLoss

TASKS = [
    ("income", Task("classification")),
    ("married", Task("classification")),
    ("age", Task("regression")),
]


def make_estimator(**params):
    params = {
        "tasks": TASKS,
        "trunk_sizes": (8,),
        "max_epochs": 3,
        "batch_size": 64,
        "random_state": 0,
        **params,
    }
    return MultiTaskNetEstimator(**params)


def test_ensemble_of_identical_members_equals_one_network(census):
    X, Y = census
    ensemble = make_estimator(n_ensemble=3, max_epochs=1).fit(X, Y)
    single = make_estimator(max_epochs=1).fit(X, Y)
    module = ensemble.net_.module_
    with torch.no_grad():
        module.ensemble_input.weight.fill_(1.0)
        module.heads.weight.copy_(
            module.heads.weight[:1].expand_as(module.heads.weight)
        )
        module.heads.bias.copy_(module.heads.bias[:1].expand_as(module.heads.bias))
        target = single.net_.module_
        target.trunk.load_state_dict(module.trunk.state_dict())
        target.heads.linear.weight.copy_(module.heads.weight[0].T)
        target.heads.linear.bias.copy_(module.heads.bias[0, 0])
    for a, b in zip(ensemble.predict_proba(X), single.predict_proba(X)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(
        ensemble.predict(X)[:, 2].astype(float),
        single.predict(X)[:, 2].astype(float),
        rtol=1e-5,
    )


def test_prediction_averages_the_members_probabilities_and_values(census):
    X, Y = census
    est = make_estimator(n_ensemble=4).fit(X, Y)
    module = est.net_.module_.eval()
    X_t = torch.tensor(X.to_numpy(), dtype=torch.float32)
    with torch.no_grad():
        members = module._forward(module.ensemble_input(X_t))
    members = [out.reshape(4, len(X), -1) for out in members]
    assert not torch.allclose(members[0][0], members[0][1])  # members differ
    for j, proba in enumerate(est.predict_proba(X)):
        mean = members[j].softmax(dim=2).mean(dim=0).numpy()
        np.testing.assert_allclose(proba, mean, atol=1e-6)
    codec = est._codecs_[2]
    ages = codec.decode(members[2].mean(dim=0).numpy())
    np.testing.assert_allclose(est.predict(X)[:, 2].astype(float), ages, rtol=1e-5)


def test_each_member_is_trained_on_its_own_loss():
    # With missing labels and weights: the loss of k members' rows is the
    # mean of the members' losses.
    torch.manual_seed(0)
    criterion = MaskedMultiTaskLoss(("log_loss", "squared_error"), (1.0, 0.5))
    n, k = 10, 3
    targets = torch.stack(
        [
            torch.randint(0, 2, (n,)).float(),
            torch.randn(n),
            (torch.rand(n) > 0.3).float(),
            torch.rand(n),
        ],
        dim=1,
    )
    members = [(torch.randn(n, 2), torch.randn(n, 1)) for _ in range(k)]
    stacked = tuple(torch.cat([m[j] for m in members]) for j in range(2))
    expected = torch.stack([criterion(m, targets) for m in members]).mean()
    torch.testing.assert_close(criterion(stacked, targets), expected)


def test_members_start_at_random_signs_and_own_output_layers(census):
    X, Y = census
    module = make_estimator(n_ensemble=5, max_epochs=1, lr=1e-12).fit(X, Y)
    weight = module.net_.module_.ensemble_input.weight.detach()
    np.testing.assert_allclose(weight.abs().numpy(), 1.0, atol=1e-6)
    assert (weight > 0).any() and (weight < 0).any()
    heads = module.net_.module_.heads.weight.detach()
    assert heads.shape[0] == 5 and not torch.allclose(heads[0], heads[1])


@pytest.mark.parametrize(
    "params",
    [
        {"weighting": "pcgrad"},
        {"weighting": "uncertainty"},
        {"weighting": "famo"},
        {"schedule": "sequential"},
        {"early_stopping": True, "validation_fraction": 0.2},
        {"tasks": [(n, Task(t.kind, head_sizes=(4,))) for n, t in TASKS]},
    ],
    ids=["pcgrad", "uncertainty", "famo", "sequential", "early_stopping", "heads"],
)
def test_ensemble_trains_with_every_training_option(census, params):
    X, Y = census
    est = make_estimator(n_ensemble=3, **params).fit(X, Y)
    assert all(np.isfinite(p).all() for p in est.predict_proba(X))
    assert 0 < est.score(X, Y) <= 1


def test_ensemble_survives_pickle_and_save_load(census, tmp_path):
    X, Y = census
    est = make_estimator(n_ensemble=3).fit(X, Y)
    expected = est.predict_proba(X)
    restored = pickle.loads(pickle.dumps(est))
    sklearn_mtl.save(est, tmp_path / "model.safetensors")
    loaded = sklearn_mtl.load(tmp_path / "model.safetensors")
    for model in (restored, loaded):
        for a, b in zip(model.predict_proba(X), expected):
            np.testing.assert_allclose(a, b, atol=1e-7)


def test_warm_start_refuses_another_ensemble_size(census):
    X, Y = census
    est = make_estimator(n_ensemble=2, warm_start=True).fit(X, Y)
    before = est.predict(X)
    with pytest.raises(ValueError, match="n_ensemble changed"):
        est.set_params(n_ensemble=3).fit(X, Y)
    np.testing.assert_array_equal(est.predict(X), before)


def test_ensemble_size_is_tuned_by_name(census):
    X, Y = census
    search = GridSearchCV(make_estimator(max_epochs=2), {"n_ensemble": [1, 2]}, cv=2)
    search.fit(X, Y)
    assert search.best_params_["n_ensemble"] in (1, 2)


def test_ensemble_adapters_follow_a_numerical_embedding(census):
    # TabM scales the embedded features: a sign flip of a raw value would
    # leave the range of the piecewise-linear bins.
    pytest.importorskip("rtdl_num_embeddings")
    from sklearn_mtl._module import EnsembleInput

    X, Y = census
    est = make_estimator(n_ensemble=3, num_embedding="piecewise_linear").fit(X, Y)
    module = est.net_.module_
    assert not hasattr(module, "ensemble_input")
    adapter = module.trunk[1]
    assert isinstance(adapter, EnsembleInput)
    assert adapter.weight.shape == (3, module.trunk[0].out_features)
    assert all(np.isfinite(p).all() for p in est.predict_proba(X))


def test_ensemble_with_a_learned_sharing_architecture(census):
    from sklearn_mtl import MMoE

    X, Y = census
    est = make_estimator(n_ensemble=3, architecture=MMoE(n_experts=2)).fit(X, Y)
    assert all(np.isfinite(p).all() for p in est.predict_proba(X))
    np.testing.assert_allclose(est.gate_weights_.sum(axis=1), 1.0, rtol=1e-5)


def test_numerical_embedding_with_an_architecture_is_refused(census):
    pytest.importorskip("rtdl_num_embeddings")
    from sklearn_mtl import MMoE

    X, Y = census
    est = make_estimator(num_embedding="periodic", architecture=MMoE())
    with pytest.raises(ValueError, match="an architecture builds its own experts"):
        est.fit(X, Y)
    assert not hasattr(est, "net_")
