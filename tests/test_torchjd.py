"""TorchJD aggregators as ``weighting=`` (the ``jd`` extra)."""

import pickle
import sys

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from sklearn_mtl import MultiTaskNetEstimator, Task
from sklearn_mtl._torchjd import AggregatorLoss, check_aggregator, import_aggregation
from sklearn_mtl._weighting import (
    MGDALoss,
    PCGradLoss,
    min_norm_coefficients,
    project_conflicting,
)

A = pytest.importorskip("torchjd.aggregation")

# The aggregators of the docs' methods table.
SHIPPED = {
    "UPGrad": A.UPGrad,
    "IMTLG": A.IMTLG,
    "AlignedMTL": A.AlignedMTL,
    "MGDA": A.MGDA,
    "PCGrad": A.PCGrad,
    "DualProj": A.DualProj,
}


def make_estimator(**params):
    params = {"trunk_sizes": (16,), "max_epochs": 3, "random_state": 0, **params}
    return MultiTaskNetEstimator(
        tasks=[
            ("income", Task("classification")),
            ("married", Task("classification", weight=0.5)),
            ("age", Task("regression", head_sizes=(4,))),
        ],
        **params,
    )


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_aggregator_fits_with_missing_labels_and_records_weights(census, name):
    X, Y = census
    est = make_estimator(weighting=SHIPPED[name](), max_epochs=10, lr=1e-2).fit(X, Y)
    assert est.score(X, Y) > 0.6
    assert np.all(np.isfinite(est.task_weights_))
    assert est.net_.history[-1, "weight_age"] == est.task_weights_[2]


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_tasks_absent_from_a_batch_are_left_out_before_aggregation(name):
    torch.manual_seed(0)
    grads = torch.randn(3, 8)
    grads[1] = 0.0  # task 1 has no label in the batch: its gradient is zero
    present = torch.tensor([True, False, True])
    criterion = AggregatorLoss(["squared_error"] * 3, [1.0, 1.0, 2.0], SHIPPED[name]())
    torch.manual_seed(1)  # PCGrad draws its orders from torch's generator
    combined = criterion.combine_gradients(grads, None, present, torch.arange(8))
    torch.manual_seed(1)
    expected = SHIPPED[name]()(torch.stack([grads[0], 2.0 * grads[2]]))
    assert_allclose(combined, expected, rtol=1e-5, atol=1e-6)
    weights = criterion.epoch_weights()
    assert weights[1] == 0 and torch.all(weights[[0, 2]] != 0)


def test_no_task_present_gives_a_zero_update():
    criterion = AggregatorLoss(["squared_error"] * 2, [1.0, 1.0], A.MGDA())
    grads = torch.zeros(2, 4)
    combined = criterion.combine_gradients(
        grads, None, torch.tensor([False, False]), torch.arange(4)
    )
    assert_array_equal(combined, torch.zeros(4))


def test_builtin_pcgrad_agrees_with_torchjd_pcgrad():
    torch.manual_seed(0)
    grads = torch.randn(5, 20)
    grads[1] = -grads[0] + 0.1 * torch.randn(20)  # a strong conflict
    torch.manual_seed(3)
    orders = [torch.randperm(5).tolist() for _ in range(5)]
    torch.manual_seed(3)
    expected = A.PCGrad()(grads)
    assert_allclose(project_conflicting(grads, orders).sum(0), expected, rtol=1e-4)
    # and the criterion, with Task.weight folded into the rows
    criterion = PCGradLoss(["squared_error"] * 2, [1.0, 0.5])
    two = grads[:2]
    combined = criterion.combine_gradients(
        two, None, torch.ones(2) > 0, torch.arange(20)
    )
    assert_allclose(combined, A.PCGrad()(two * torch.tensor([[1.0], [0.5]])), 1e-4)


@pytest.mark.parametrize("n_tasks", [2, 3, 6])
def test_builtin_mgda_agrees_with_torchjd_mgda(n_tasks):
    torch.manual_seed(n_tasks)
    grads = torch.randn(n_tasks, 30, dtype=torch.float64)
    alpha = min_norm_coefficients((grads @ grads.T).numpy())
    ours = torch.from_numpy(alpha) @ grads
    # TorchJD runs Frank-Wolfe (Sener & Koltun's Algorithm 2); run it to
    # convergence, the built-in solves the same problem exactly.
    theirs = A.MGDA(epsilon=1e-9, max_iters=100_000)(grads)
    assert_allclose(ours, theirs, atol=1e-4 * grads.norm(dim=1).max().item())
    assert ours.norm() <= theirs.norm() + 1e-9  # the exact minimum norm
    criterion = MGDALoss(["squared_error"] * n_tasks, [1.0] * n_tasks)
    combined = criterion.combine_gradients(
        grads.float(), None, torch.ones(n_tasks) > 0, torch.arange(30)
    )
    assert_allclose(combined, ours, rtol=1e-4, atol=1e-5)


def test_grid_search_compares_aggregators_with_builtin_strings(census):
    X, Y = census
    grid = {"weighting": ["fixed", "famo", A.UPGrad(), A.IMTLG()]}
    search = GridSearchCV(make_estimator(max_epochs=2), grid, cv=2).fit(X, Y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_clone_and_pickle_keep_the_aggregator(census):
    X, Y = census
    aggregator = A.MGDA(epsilon=1e-4)
    est = make_estimator(weighting=aggregator)
    copy = clone(est)
    assert copy.weighting is not aggregator and repr(copy.weighting) == repr(aggregator)
    est.fit(X, Y)
    assert est.weighting is aggregator  # the fit trained on a copy
    restored = pickle.loads(pickle.dumps(est))
    assert_array_equal(restored.predict(X), est.predict(X))


def test_warm_start_continues_with_the_same_aggregator(census):
    X, Y = census
    est = make_estimator(weighting=A.UPGrad(), warm_start=True).fit(X, Y)
    est.fit(X, Y)
    assert est.n_iter_ == 6


def test_save_and_load_an_aggregator(census, tmp_path):
    pytest.importorskip("safetensors")
    import sklearn_mtl

    X, Y = census
    est = make_estimator(weighting=A.AlignedMTL(scale_mode="median")).fit(X, Y)
    sklearn_mtl.save(est, tmp_path / "model.safetensors")
    loaded = sklearn_mtl.load(tmp_path / "model.safetensors")
    assert repr(loaded.weighting) == repr(est.weighting)
    assert_array_equal(loaded.predict(X), est.predict(X))


def test_save_refuses_an_aggregator_it_cannot_store(census, tmp_path):
    pytest.importorskip("safetensors")
    import sklearn_mtl

    X, Y = census
    aggregator = A.UPGrad(pref_vector=torch.tensor([1.0, 2.0, 1.0]))
    est = make_estimator(weighting=aggregator, max_epochs=1).fit(X, Y)
    with pytest.raises(ValueError, match="Cannot save weighting=UPGrad.*pickle"):
        sklearn_mtl.save(est, tmp_path / "model.safetensors")


@pytest.mark.parametrize(
    "weighting, match",
    [
        (lambda g: g.sum(0), "a TorchJD aggregator instance such as"),
        (A.UPGrad, "not a torchjd.aggregation.Aggregator instance"),
        (A.UPGradWeighting(), "UPGrad\\(\\) rather than UPGrad"),
    ],
)
def test_a_callable_that_is_no_aggregator_is_refused(census, weighting, match):
    X, Y = census
    with pytest.raises(TypeError, match=match):
        make_estimator(weighting=weighting).fit(X, Y)


def test_missing_torchjd_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchjd.aggregation", None)
    with pytest.raises(ImportError, match=r"sklearn-mtl\[jd\]"):
        import_aggregation("weighting=UPGrad()")
    with pytest.raises(ImportError, match=r"sklearn-mtl\[jd\]"):
        check_aggregator(A.UPGrad())
