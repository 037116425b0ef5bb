"""The ``architecture`` parameter: MMoE, PLE/CGC, cross-stitch, task attention."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sklearn_mtl
from sklearn_mtl import (
    PLE,
    CrossStitch,
    MMoE,
    MultiTaskNetEstimator,
    Task,
    TaskAttention,
    transfer_report,
)
from sklearn_mtl._experts import StackedLinear

ARCHITECTURES = [
    MMoE(n_experts=3, expert_sizes=(8,)),
    PLE(n_levels=2, n_shared_experts=2, expert_sizes=(8,)),
    CrossStitch(expert_sizes=(8, 8)),
    TaskAttention(expert_sizes=(8,)),
]
IDS = ["mmoe", "ple", "cross_stitch", "task_attention"]


def make_data(n=120, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    y = np.column_stack([X[:, 0] + X[:, 1], np.sin(X[:, 2]) - X[:, 0]])
    return X, y


def make_est(architecture, **params):
    defaults = dict(trunk_sizes=(8,), max_epochs=3, batch_size=32, random_state=0)
    return MultiTaskNetEstimator(architecture=architecture, **{**defaults, **params})


# -- parameters --------------------------------------------------------------


def test_architecture_params_route_through_get_and_set_params():
    est = MultiTaskNetEstimator(architecture=MMoE(n_experts=4))
    params = est.get_params(deep=True)
    assert params["architecture__n_experts"] == 4
    est.set_params(architecture__n_experts=2, architecture__gate_sizes=(4,))
    assert est.architecture.get_params() == {
        "n_experts": 2,
        "expert_sizes": None,
        "gate_sizes": (4,),
    }
    cloned = clone(est)
    assert cloned.architecture is not est.architecture
    assert cloned.get_params()["architecture__n_experts"] == 2


def test_architecture_params_without_an_architecture_are_refused():
    est = MultiTaskNetEstimator()
    with pytest.raises(ValueError, match="architecture=None .* has none"):
        est.set_params(architecture__n_experts=3)
    est.set_params(architecture=MMoE(), architecture__n_experts=3)
    assert est.architecture.n_experts == 3


def test_partial_fit_trains_an_architecture_block_by_block():
    X, y = make_data()
    est = make_est(MMoE(n_experts=2))
    for block in np.array_split(np.arange(len(X)), 3):
        est.partial_fit(X[block], y[block])
    assert est.n_iter_ == 3
    np.testing.assert_allclose(est.gate_weights_.sum(1), 1.0, atol=1e-6)


def test_default_architecture_is_hard_sharing():
    assert MultiTaskNetEstimator().architecture is None


@pytest.mark.parametrize("architecture", ARCHITECTURES, ids=IDS)
def test_architecture_fits_mixed_tasks_with_missing_labels(census, architecture):
    X, Y = census
    est = make_est(clone(architecture)).fit(X, Y)
    assert set(est.score_tasks(X, Y)) == {"income", "married", "age"}
    assert est.predict(X).shape == (len(X), 3)
    assert [p.shape[1] for p in est.predict_proba(X)] == [3, 2]


def test_grid_search_over_architectures_by_name():
    X, y = make_data()
    search = GridSearchCV(
        make_est(None, max_epochs=2),
        {
            "architecture": [
                None,
                MMoE(n_experts=2),
                PLE(),
                CrossStitch(),
                TaskAttention(),
            ]
        },
        cv=2,
    ).fit(X, y)
    assert len(search.cv_results_["params"]) == 5
    search = GridSearchCV(
        make_est(MMoE(), max_epochs=2), {"architecture__n_experts": [1, 3]}, cv=2
    ).fit(X, y)
    assert search.best_estimator_.gate_weights_.shape[1] in (1, 3)


def test_pipeline_routes_architecture_params():
    X, y = make_data()
    pipe = make_pipeline(StandardScaler(), make_est(MMoE(n_experts=2)))
    pipe.set_params(multitasknetestimator__architecture__n_experts=3).fit(X, y)
    assert pipe[-1].gate_weights_.shape == (2, 3)


@pytest.mark.parametrize(
    "architecture, params, match",
    [
        (MMoE(n_experts=0), {}, "n_experts"),
        (MMoE(), {"trunk_sizes": ()}, "need at least one layer"),
        (MMoE(expert_sizes=(0,)), {}, "expert_sizes"),
        (MMoE(gate_sizes=(-1,)), {}, "gate_sizes"),
        (PLE(n_shared_experts=0, n_task_experts=0), {}, "PLE needs experts"),
        (CrossStitch(init_self=2.0), {}, "init_self"),
        (PLE(n_shared_experts=0), {"weighting": "pcgrad"}, "no shared parameters"),
    ],
)
def test_invalid_architecture_is_refused_naming_the_parameter(
    architecture, params, match
):
    X, y = make_data()
    with pytest.raises(ValueError, match=match):
        make_est(architecture, **params).fit(X, y)


def test_custom_trunk_with_an_architecture_is_refused():
    X, y = make_data()
    est = make_est(
        MMoE(),
        trunk=torch.nn.Linear,
        trunk_params={"in_features": 4, "out_features": 3},
    )
    with pytest.raises(ValueError, match="cannot use the custom trunk=Linear"):
        est.fit(X, y)


def test_architecture_of_another_type_is_refused():
    X, y = make_data()
    with pytest.raises(ValueError, match="'architecture' parameter"):
        make_est("mmoe").fit(X, y)


# -- mechanisms ----------------------------------------------------------------


def test_mmoe_gates_sum_to_one_per_task_and_row():
    X, y = make_data()
    est = make_est(MMoE(n_experts=4, gate_sizes=(4,))).fit(X, y)
    gates = est.gate_weights(X, average=False)
    assert gates.shape == (len(X), 2, 4)
    assert (gates >= 0).all()
    np.testing.assert_allclose(gates.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(est.gate_weights(X), gates.mean(0), atol=1e-6)
    np.testing.assert_allclose(est.gate_weights_, gates.mean(0), atol=1e-6)


def test_gates_depend_on_the_row():
    # A gate is a function of X: the experts are mixed differently per row.
    X, y = make_data()
    est = make_est(MMoE(n_experts=4), max_epochs=20).fit(X, y)
    gates = est.gate_weights(X, average=False)
    assert gates.std(axis=0).max() > 1e-3


def test_one_expert_mmoe_is_hard_sharing_of_that_expert():
    X, y = make_data()
    est = make_est(MMoE(n_experts=1)).fit(X, y)
    np.testing.assert_allclose(est.gate_weights(X, average=False), 1.0)


def test_tasks_of_a_group_share_one_gate(census):
    X, Y = census
    tasks = [
        ("income", Task(group="money")),
        ("married", Task()),
        ("age", Task(group="money")),
    ]
    est = make_est(MMoE(n_experts=3), tasks=tasks, max_epochs=5).fit(X, Y)
    gates = est.gate_weights(X, average=False)
    np.testing.assert_array_equal(gates[:, 0], gates[:, 2])
    assert not np.allclose(gates[:, 0], gates[:, 1])


def test_ple_without_shared_experts_is_per_task_networks():
    # No parameter reaches two tasks: a task's model does not depend on the
    # other task's labels at all.
    X, y = make_data()
    other = y.copy()
    other[:, 1] = np.random.RandomState(1).normal(size=len(y))
    for architecture, separate in [
        (PLE(n_levels=2, n_shared_experts=0, n_task_experts=2), True),
        (PLE(n_levels=2, n_shared_experts=1), False),
    ]:
        a = make_est(architecture, max_epochs=4).fit(X, y).predict(X)[:, 0]
        b = make_est(architecture, max_epochs=4).fit(X, other).predict(X)[:, 0]
        assert np.array_equal(a, b) == separate


def test_ple_gates_mix_own_and_shared_experts_only():
    X, y = make_data()
    est = make_est(PLE(n_levels=2, n_shared_experts=2, n_task_experts=1)).fit(X, y)
    for level in (0, 1, -1):
        gates = est.gate_weights(X, average=False, level=level)
        # experts: task 0's, task 1's, then the two shared ones
        assert gates.shape == (len(X), 2, 4)
        np.testing.assert_allclose(gates.sum(-1), 1.0, atol=1e-6)
        assert (gates[:, 0, 1] == 0).all() and (gates[:, 1, 0] == 0).all()
    with pytest.raises(ValueError, match="level=2 is not a level"):
        est.gate_weights(X, level=2)


def _perturb_column(est, unit):
    """Shift one task's column weights in the fitted network."""
    with torch.no_grad():
        for layer in est.net_.module_.trunk.modules():
            if isinstance(layer, StackedLinear):
                layer.weight[unit] += 1.0


@pytest.mark.parametrize("init_self, separate", [(1.0, True), (0.9, False)])
def test_cross_stitch_at_identity_is_separate_columns(init_self, separate):
    X, y = make_data()
    est = make_est(CrossStitch(expert_sizes=(8, 8), init_self=init_self))
    est.set_params(lr=1e-12).fit(X, y)  # effectively the initial network
    np.testing.assert_allclose(
        est.cross_stitch_weights_[0],
        [[init_self, 1 - init_self], [1 - init_self, init_self]],
        atol=1e-6,
    )
    before = est.predict(X)
    _perturb_column(est, unit=1)
    after = est.predict(X)
    assert np.array_equal(before[:, 0], after[:, 0]) == separate
    assert not np.allclose(before[:, 1], after[:, 1])


def test_cross_stitch_matrices_are_learned():
    X, y = make_data()
    est = make_est(CrossStitch(expert_sizes=(8, 8)), max_epochs=10, lr=0.01)
    est.fit(X, y)
    assert est.cross_stitch_weights_.shape == (2, 2, 2)
    assert not np.allclose(est.cross_stitch_weights_[0], [[0.9, 0.1], [0.1, 0.9]])


def test_attention_weights_sum_to_one_per_task_and_row(census):
    X, Y = census
    est = make_est(TaskAttention(expert_sizes=(8,))).fit(X, Y)
    weights = est.attention_weights(X, average=False)
    assert weights.shape == (len(X), 3, 3)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(est.attention_weights_, weights.mean(0), atol=1e-6)


def test_visibility_methods_exist_only_for_their_architectures():
    assert hasattr(MultiTaskNetEstimator(architecture=MMoE()), "gate_weights")
    assert hasattr(MultiTaskNetEstimator(architecture=PLE()), "gate_weights")
    assert not hasattr(MultiTaskNetEstimator(), "gate_weights")
    est = MultiTaskNetEstimator(architecture=TaskAttention())
    assert hasattr(est, "attention_weights") and not hasattr(est, "gate_weights")


def test_refit_without_architecture_forgets_the_gate_weights():
    X, y = make_data()
    est = make_est(MMoE(n_experts=2)).fit(X, y)
    est.set_params(architecture=None).fit(X, y)
    assert not hasattr(est, "gate_weights_")


# -- composition with the rest of the estimator ---------------------------------


@pytest.mark.parametrize(
    "weighting", ["fixed", "uncertainty", "dwa", "gradnorm", "pcgrad", "mgda", "famo"]
)
@pytest.mark.parametrize("architecture", ARCHITECTURES, ids=IDS)
def test_every_weighting_trains_every_architecture(architecture, weighting):
    X, y = make_data(n=64)
    est = make_est(clone(architecture), weighting=weighting, max_epochs=2).fit(X, y)
    assert np.isfinite(est.predict(X)).all()
    assert est.n_iter_ == 2


@pytest.mark.parametrize("architecture", ARCHITECTURES, ids=IDS)
def test_gradient_conflict_is_recorded_on_the_shared_parameters(architecture):
    X, y = make_data(n=64)
    est = make_est(clone(architecture), record_gradient_conflict=True).fit(X, y)
    assert est.gradient_cosine_.shape == (2, 2)
    assert np.isfinite(est.gradient_cosine_).all()


@pytest.mark.parametrize("architecture", ARCHITECTURES, ids=IDS)
def test_pickle_and_save_load_predict_identically(architecture, tmp_path, census):
    X, Y = census
    est = make_est(clone(architecture)).fit(X, Y)
    path = tmp_path / "model.safetensors"
    sklearn_mtl.save(est, path)
    for other in (pickle.loads(pickle.dumps(est)), sklearn_mtl.load(path)):
        assert other.architecture.get_params() == est.architecture.get_params()
        assert type(other.architecture) is type(est.architecture)
        np.testing.assert_array_equal(
            np.asarray(other.predict(X)), np.asarray(est.predict(X))
        )
        for attr in ("gate_weights_", "attention_weights_", "cross_stitch_weights_"):
            assert hasattr(other, attr) == hasattr(est, attr)
            if hasattr(est, attr):
                np.testing.assert_array_equal(getattr(other, attr), getattr(est, attr))


def test_saved_architecture_is_data_not_a_pickle(tmp_path):
    import json

    from safetensors import safe_open

    X, y = make_data()
    est = make_est(PLE(n_levels=2, expert_sizes=(4,))).fit(X, y)
    sklearn_mtl.save(est, tmp_path / "m.safetensors")
    with safe_open(tmp_path / "m.safetensors", framework="pt") as f:
        params = json.loads(f.metadata()["estimator"])["params"]
    assert params["architecture"] == {
        "architecture": "PLE",
        "params": {
            "expert_sizes": [4],
            "n_levels": 2,
            "n_shared_experts": 1,
            "n_task_experts": 1,
        },
    }


@pytest.mark.parametrize("architecture", ARCHITECTURES, ids=IDS)
def test_warm_start_continues_and_refuses_a_changed_architecture(architecture):
    X, y = make_data()
    est = make_est(clone(architecture), warm_start=True).fit(X, y)
    est.fit(X, y)
    assert len(est.net_.history) == 6
    est.set_params(architecture=MMoE(n_experts=7))
    with pytest.raises(ValueError, match="architecture"):
        est.fit(X, y)


@pytest.mark.parametrize("architecture", ARCHITECTURES, ids=IDS)
def test_sequential_schedule_early_stopping_and_sample_weight(architecture):
    X, y = make_data()
    weights = np.random.RandomState(0).uniform(0.5, 2.0, size=(len(X), 2))
    est = make_est(clone(architecture), schedule="sequential", max_epochs=2)
    assert est.fit(X, y, sample_weight=weights).n_iter_ == 4
    est = make_est(clone(architecture), early_stopping=True, max_epochs=4)
    est.fit(X, y, sample_weight=weights[:, 0])
    assert "valid_loss" in est.net_.history[-1]


def test_init_trunk_from_transfers_experts_and_gates():
    X, y = make_data()
    source = make_est(MMoE(n_experts=3)).fit(X, y)
    target = make_est(
        MMoE(n_experts=3),
        init_trunk_from=source,
        freeze_trunk=True,
        tasks=[("a", Task()), ("b", Task("regression"))],
    ).fit(X, y[:, ::-1])
    np.testing.assert_array_equal(target.gate_weights(X), source.gate_weights(X))
    with pytest.raises(ValueError, match="does not match"):
        make_est(MMoE(n_experts=2), init_trunk_from=source).fit(X, y)
    with pytest.raises(ValueError, match="2 task units"):
        make_est(MMoE(n_experts=3), init_trunk_from=source).fit(X, y[:, :1])


def test_transfer_report_runs_with_an_architecture():
    X, y = make_data()
    report = transfer_report(make_est(MMoE(n_experts=2), max_epochs=2), X, y, cv=2)
    assert list(report.index) == ["task_0", "task_1"]


def test_sparse_X_gives_the_dense_gate_weights():
    from scipy import sparse

    X, y = make_data()
    X[X < 0.5] = 0
    dense = make_est(MMoE(n_experts=2)).fit(X, y)
    sparse_fit = make_est(MMoE(n_experts=2)).fit(sparse.csr_matrix(X), y)
    np.testing.assert_allclose(dense.gate_weights_, sparse_fit.gate_weights_, atol=1e-6)


@pytest.mark.parametrize(
    "architecture",
    [
        {"architecture": "Sequential", "params": {}},
        {"architecture": "MMoE", "params": {"n_experts": "eval('1')"}},
        {"architecture": "MMoE", "params": {"bogus": 1}},
    ],
)
def test_load_refuses_an_architecture_that_is_not_ours(tmp_path, architecture):
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    X, y = make_data()
    path = tmp_path / "m.safetensors"
    sklearn_mtl.save(make_est(MMoE(n_experts=2)).fit(X, y), path)
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata()
        tensors = {key: f.get_tensor(key) for key in f.keys()}
    document = json.loads(metadata["estimator"])
    document["params"]["architecture"] = architecture
    metadata["estimator"] = json.dumps(document)
    save_file(tensors, path, metadata=metadata)
    with pytest.raises(ValueError, match="The model file is invalid"):
        sklearn_mtl.load(path)
