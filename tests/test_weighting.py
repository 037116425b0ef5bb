"""Task weighting methods: each does what its paper says, with missing labels too."""

import copy
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback

from sklearn_mtl import MultiTaskNetEstimator, Task
from sklearn_mtl._training import MultiTaskNet
from sklearn_mtl._weighting import (
    FAMOLoss,
    UncertaintyLoss,
    dwa_weights,
    famo_logit_gradient,
    gradient_cosines,
    gradnorm_scale_gradient,
    min_norm_coefficients,
    project_conflicting,
)

METHODS = ["fixed", "uncertainty", "dwa", "gradnorm", "pcgrad", "mgda", "famo"]


def make_estimator(**params):
    # No dropout: the tests recompute training steps by hand.
    params = {
        "trunk_sizes": (16,),
        "max_epochs": 4,
        "dropout": 0.0,
        "random_state": 0,
        **params,
    }
    return MultiTaskNetEstimator(
        tasks=[
            ("income", Task("classification")),
            ("married", Task("classification", weight=0.5)),
            ("age", Task("regression", head_sizes=(4,))),
        ],
        **params,
    )


def signal_and_noise(n=300, seed=0):
    """Two regression targets: one predictable from X, one pure noise."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 4))
    signal = X[:, 0] + 0.5 * X[:, 1] + 0.05 * rng.normal(size=n)
    return X, np.column_stack([signal, rng.normal(size=n)])


TWO_REGRESSIONS = [("signal", Task("regression")), ("noise", Task("regression"))]


# -- PCGrad ----------------------------------------------------------------------


def test_pcgrad_removes_the_conflicting_component():
    g1, g2 = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])  # g1 . g2 = -1
    projected = project_conflicting(torch.stack([g1, g2]), [[1], [0]])
    # g1 loses its component along g2, g2 its component along g1
    assert_allclose(projected[0], [0.5, 0.5])
    assert_allclose(projected[1], [0.0, 1.0])
    assert float(projected[0] @ g2) == pytest.approx(0.0)
    assert float(projected[1] @ g1) == pytest.approx(0.0)


def test_pcgrad_leaves_non_conflicting_gradients_untouched():
    grads = torch.tensor([[1.0, 0.0, 2.0], [1.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
    orders = [[1, 2], [0, 2], [0, 1]]
    assert torch.equal(project_conflicting(grads, orders), grads)
    # a zero gradient (a task without labels in the batch) changes nothing
    with_zero = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    assert torch.equal(project_conflicting(with_zero, [[1], [0]]), with_zero)


class Snapshot(Callback):
    """Keep the module's weights as training begins."""

    def on_train_begin(self, net, **kwargs):
        self.state = copy.deepcopy(net.module_.state_dict())


def one_sgd_step(X, Y, random_state=0, **params):
    """One full-batch SGD step with lr=1: the weights move by minus the gradient."""
    tasks = [(name, Task("regression")) for name in ("a", "b", "c")[: Y.shape[1]]]
    est = MultiTaskNetEstimator(
        tasks=tasks,
        trunk_sizes=(6,),
        dropout=0.0,  # the step is recomputed by hand
        max_epochs=1,
        batch_size=len(X),
        optimizer=torch.optim.SGD,
        lr=1.0,
        random_state=random_state,
        callbacks=[("snapshot", Snapshot())],
        **params,
    )
    est.fit(X, Y)
    before = dict(est.net_.callbacks_)["snapshot"].state
    module = copy.deepcopy(est.net_.module_)
    module.load_state_dict(before)
    codes = torch.as_tensor(((Y - Y.mean(0)) / Y.std(0)).astype(np.float32))
    outputs = module(torch.as_tensor(X, dtype=torch.float32))
    trunk = list(module.trunk.parameters())
    grads = []
    for j, output in enumerate(outputs):
        loss = torch.nn.functional.mse_loss(output[:, 0], codes[:, j])
        grads.append(
            torch.cat(
                [
                    g.reshape(-1)
                    for g in torch.autograd.grad(loss, trunk, retain_graph=True)
                ]
            )
        )
    after = torch.cat(
        [p.detach().reshape(-1) for p in est.net_.module_.trunk.parameters()]
    )
    applied = torch.cat([p.reshape(-1) for p in trunk]).detach() - after
    return est, torch.stack(grads).detach(), applied


def conflicting_targets(n=200):
    X, Y = signal_and_noise(n)
    return X, np.column_stack([Y[:, 0], -Y[:, 0] + 0.3 * Y[:, 1]])


def conflicting_step(**params):
    """``one_sgd_step`` on opposed targets, from an initialization where the
    two tasks' trunk gradients conflict (whether they do depends on the random
    heads: the first of a few seeds where they do)."""
    X, Y = conflicting_targets()
    for seed in range(20):
        est, grads, applied = one_sgd_step(X, Y, random_state=seed, **params)
        if float(grads[0] @ grads[1]) < 0:
            return est, grads, applied
    raise AssertionError("no seed gave conflicting task gradients")


def test_pcgrad_step_applies_the_projected_sum_to_the_trunk():
    est, grads, applied = conflicting_step(weighting="pcgrad")
    expected = project_conflicting(grads, [[1], [0]]).sum(dim=0)
    assert_allclose(applied, expected, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(expected, grads.sum(dim=0), atol=1e-4)


def test_mgda_step_applies_the_min_norm_combination_to_the_trunk():
    est, grads, applied = conflicting_step(weighting="mgda")
    alpha = min_norm_coefficients((grads @ grads.T).double().numpy())
    assert_allclose(
        applied,
        torch.as_tensor(alpha, dtype=torch.float32) @ grads,
        rtol=1e-4,
        atol=1e-6,
    )
    assert_allclose(est.task_weights_, alpha, rtol=1e-5)


def test_recorded_gradient_cosine_is_that_of_the_trunk_gradients():
    est, grads, applied = conflicting_step(record_gradient_conflict=True)
    cosine = float(grads[0] @ grads[1] / (grads[0].norm() * grads[1].norm()))
    recorded = est.net_.history[-1, "grad_cosine"][0][1]
    assert recorded == pytest.approx(cosine, rel=1e-4)
    assert cosine < 0
    assert_allclose(applied, grads.sum(dim=0), rtol=1e-4, atol=1e-6)  # fixed sum


# -- MGDA ------------------------------------------------------------------------


@pytest.mark.parametrize("n_tasks", [2, 3, 5])
def test_min_norm_point_is_a_descent_direction_for_every_task(n_tasks):
    rng = np.random.RandomState(n_tasks)
    for _ in range(20):
        grads = rng.normal(size=(n_tasks, 8)) + 0.5  # mostly, not always, aligned
        alpha = min_norm_coefficients(grads @ grads.T)
        assert alpha.min() >= 0 and alpha.sum() == pytest.approx(1)
        d = alpha @ grads
        scale = np.abs(grads).max() ** 2
        # optimality: d . g_i >= |d|^2 >= 0 for every task
        assert np.all(grads @ d >= d @ d - 1e-6 * scale)


def test_mgda_step_decreases_every_task_loss():
    # Quadratic task losses L_i(theta) = |theta - c_i|^2 / 2 pulling apart.
    centres = np.array([[1.0, 0.0], [0.0, 1.0], [-0.3, 0.8]])
    theta = np.array([0.2, -0.5])
    grads = theta - centres
    d = min_norm_coefficients(grads @ grads.T) @ grads
    step = theta - 1e-2 * d
    before = 0.5 * ((theta - centres) ** 2).sum(axis=1)
    after = 0.5 * ((step - centres) ** 2).sum(axis=1)
    assert np.all(after < before)


def test_min_norm_two_task_closed_form():
    assert_allclose(min_norm_coefficients([[1.0, 0.0], [0.0, 1.0]]), [0.5, 0.5])
    # g2 = 2 g1: the shorter gradient is the min-norm point
    assert_allclose(min_norm_coefficients([[1.0, 2.0], [2.0, 4.0]]), [1.0, 0.0])
    assert_allclose(min_norm_coefficients([[3.0]]), [1.0])


def test_mgda_records_coefficients_that_sum_to_one():
    X, Y = signal_and_noise()
    est = MultiTaskNetEstimator(
        tasks=TWO_REGRESSIONS,
        trunk_sizes=(8,),
        max_epochs=3,
        weighting="mgda",
        random_state=0,
    ).fit(X, Y)
    weights = est.net_.history[:, ["weight_signal", "weight_noise"]]
    # every batch labels both tasks, so the mean coefficients sum to 1
    assert_allclose(np.sum(weights, axis=1), 1.0, rtol=1e-5)
    assert np.all(np.asarray(weights) >= 0)


# -- Dynamic Weight Average ------------------------------------------------------


def test_dwa_weights_formula():
    assert_array_equal(dwa_weights([1.0, 2.0], [np.nan, np.nan], 2.0), [1.0, 1.0])
    weights = dwa_weights([0.5, 0.9], [1.0, 1.0], temperature=2.0)
    expected = np.exp(np.array([0.5, 0.9]) / 2)
    assert_allclose(weights, 2 * expected / expected.sum())
    assert weights[1] > weights[0]  # the task whose loss fell less gets more
    assert weights.sum() == pytest.approx(2)


def test_dwa_weights_follow_the_loss_ratios_of_the_last_two_epochs(census):
    X, Y = census
    est = make_estimator(weighting="dwa", max_epochs=5, lr=1e-2).fit(X, Y)
    history = est.net_.history
    names, task_weights = est.task_names_, np.array([1.0, 0.5, 1.0])
    losses = np.array(history[:, [f"train_loss_{n}" for n in names]])
    weights = np.array(history[:, [f"weight_{n}" for n in names]])
    assert_allclose(weights[:2], np.tile(task_weights, (2, 1)))  # uniform at first
    for epoch in range(2, 5):
        ratio = losses[epoch - 1] / losses[epoch - 2]
        z = np.exp(ratio / 2.0)
        assert_allclose(weights[epoch], task_weights * 3 * z / z.sum(), rtol=1e-5)
    assert_array_equal(est.task_weights_, weights[-1])


# -- uncertainty -----------------------------------------------------------------


def test_uncertainty_gives_a_pure_noise_task_a_small_weight():
    X, Y = signal_and_noise()
    est = MultiTaskNetEstimator(
        tasks=TWO_REGRESSIONS,
        trunk_sizes=(16,),
        max_epochs=30,
        lr=1e-2,
        batch_size=64,
        weighting="uncertainty",
        random_state=0,
    ).fit(X, Y)
    signal, noise = est.task_weights_
    assert noise < 0.25 * signal
    # the noise task's loss stays near 1 (standardized), and its learned
    # weight approaches 1 / (2 L), the optimum of the uncertainty objective
    noise_loss = est.net_.history[-1, "train_loss_noise"]
    assert noise == pytest.approx(1 / (2 * noise_loss), rel=0.25)
    log_vars = est.net_.criterion_.log_vars.detach().numpy()
    assert log_vars[1] > log_vars[0]  # larger sigma for the noise task


def test_uncertainty_task_absent_from_a_batch_keeps_its_log_variance():
    criterion = UncertaintyLoss(["squared_error", "squared_error"], [1.0, 1.0])
    criterion.combine_means(torch.tensor([0.7, 0.0])).backward()  # b: no labels
    grad = criterion.log_vars.grad
    assert grad[0] != 0 and grad[1] == 0


def test_uncertainty_log_variances_are_trained_without_weight_decay():
    X, Y = signal_and_noise(n=60)
    est = MultiTaskNetEstimator(
        tasks=TWO_REGRESSIONS,
        trunk_sizes=(8,),
        max_epochs=2,
        weight_decay=1e-2,
        weighting="uncertainty",
        random_state=0,
    ).fit(X, Y)
    net = est.net_
    log_vars = net.criterion_.log_vars
    groups = [
        g
        for g in net.optimizer_.param_groups
        if any(p is log_vars for p in g["params"])
    ]
    assert len(groups) == 1 and groups[0]["weight_decay"] == 0.0
    assert not torch.equal(log_vars.detach(), torch.zeros(2))  # they were trained


# -- GradNorm --------------------------------------------------------------------


def test_gradnorm_gradient_moves_norms_toward_their_targets():
    scales = torch.tensor([1.0, 1.0])
    grad_norms = torch.tensor([3.0, 1.0])  # task 0 dominates the shared layer
    ratios = torch.tensor([0.5, 0.5])  # equal training rates
    grad = gradnorm_scale_gradient(scales, grad_norms, ratios, alpha=1.5)
    assert grad[0] > 0 and grad[1] < 0  # a descent step shrinks 0, grows 1
    # a task that trains slower gets a higher target
    grad = gradnorm_scale_gradient(
        scales, torch.tensor([1.0, 1.0]), torch.tensor([0.2, 0.8]), alpha=1.5
    )
    assert grad[0] > 0 and grad[1] < 0


def _last_layer_gradient_norms(est, X, Y):
    module, weight = est.net_.module_, est.net_.module_.trunk[0].weight
    outputs = module(torch.as_tensor(X, dtype=torch.float32))
    targets = torch.as_tensor(((Y - Y.mean(0)) / Y.std(0)).astype(np.float32))
    norms = []
    for j, output in enumerate(outputs):
        loss = torch.nn.functional.mse_loss(output[:, 0], targets[:, j])
        (grad,) = torch.autograd.grad(loss, weight, retain_graph=True)
        norms.append(grad.norm().item())
    return np.array(norms)


def test_gradnorm_balances_gradient_norms_on_the_last_shared_layer():
    X, Y = signal_and_noise()
    est = MultiTaskNetEstimator(
        tasks=TWO_REGRESSIONS,
        trunk_sizes=(16,),
        max_epochs=30,
        lr=1e-2,
        batch_size=64,
        weighting="gradnorm",
        gradnorm_alpha=0.0,
        dropout=0.0,  # the gradient norms are recomputed without it
        random_state=0,
    ).fit(X, Y)
    scales = est.task_weights_
    assert scales.sum() == pytest.approx(2, rel=1e-5)  # normalized to n_tasks
    raw = _last_layer_gradient_norms(est, X, Y)
    scaled = scales * raw
    imbalance = lambda norms: abs(np.log(norms[0] / norms[1]))  # noqa: E731
    assert imbalance(scaled) < 0.5 * imbalance(raw)
    assert np.argmax(scales) == np.argmin(raw)  # the weaker gradient is scaled up


def test_gradnorm_favours_the_slower_task_with_positive_alpha():
    X, Y = signal_and_noise()
    est = MultiTaskNetEstimator(
        tasks=TWO_REGRESSIONS,
        trunk_sizes=(16,),
        max_epochs=20,
        lr=1e-2,
        batch_size=64,
        weighting="gradnorm",
        gradnorm_alpha=1.5,
        random_state=0,
    ).fit(X, Y)
    signal, noise = est.task_weights_
    assert noise > signal  # the noise task's loss barely falls: slow
    history = est.net_.history[:, ["weight_signal", "weight_noise"]]
    assert_allclose(np.sum(history, axis=1), 2.0, rtol=1e-5)


def test_task_weight_multiplies_the_adaptive_weight():
    X, Y = signal_and_noise(n=80)
    tasks = [("signal", Task("regression", weight=3.0)), ("noise", Task("regression"))]
    est = MultiTaskNetEstimator(
        tasks=tasks,
        trunk_sizes=(8,),
        max_epochs=2,
        weighting="gradnorm",
        random_state=0,
    ).fit(X, Y)
    scales = est.net_.criterion_.scales.detach().numpy()
    assert_allclose(est.task_weights_, [3.0, 1.0] * scales, rtol=1e-6)


# -- gradient conflict -------------------------------------------------------------


def test_gradient_cosines_function():
    grads = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    present = torch.tensor([True, True, True, True])
    cosines = gradient_cosines(grads, present)
    assert cosines[0, 1] == pytest.approx(-1.0)
    assert cosines[0, 2] == pytest.approx(0.0)
    assert torch.isnan(cosines[3]).all()  # a zero gradient has no direction
    absent = gradient_cosines(grads, torch.tensor([True, False, True, True]))
    assert torch.isnan(absent[0, 1])


def test_gradient_conflict_is_recorded_per_epoch(census):
    X, Y = census
    est = make_estimator(max_epochs=2, record_gradient_conflict=True).fit(X, Y)
    history = est.net_.history
    matrices = np.array(history[:, "grad_cosine"])
    assert matrices.shape == (2, 3, 3)
    assert np.all((-1 <= matrices) & (matrices <= 1))
    assert est.gradient_cosine_.shape == (3, 3)
    assert_allclose(est.gradient_cosine_, est.gradient_cosine_.T)
    assert_allclose(np.diag(est.gradient_cosine_), 1.0)
    assert est.gradient_cosine_[0, 2] == history[-1, "grad_cosine"][0][2]


def test_gradient_cosines_of_tasks_whose_names_share_underscores(census):
    # "a_b" with "c" and "a" with "b_c" made the same history key once.
    X, Y = census
    tasks = [
        ("a_b", Task("classification")),
        ("c", Task("classification")),
        ("a", Task("regression")),
    ]
    est = MultiTaskNetEstimator(
        tasks=tasks, max_epochs=1, record_gradient_conflict=True, random_state=0
    ).fit(X, Y.set_axis(["a_b", "c", "a"], axis=1))
    assert_allclose(np.array(est.net_.history[-1, "grad_cosine"]), est.gradient_cosine_)


@pytest.mark.parametrize("weighting", ["fixed", "famo"])
def test_recording_conflict_does_not_change_a_loss_based_fit(census, weighting):
    # the per-task-gradient path must reproduce the loss's own gradient
    X, Y = census
    plain = make_estimator(weighting=weighting).fit(X, Y)
    recorded = make_estimator(weighting=weighting, record_gradient_conflict=True)
    recorded.fit(X, Y)
    assert_allclose(
        recorded.predict(X)[:, 2].astype(float),
        plain.predict(X)[:, 2].astype(float),
        rtol=1e-4,
    )
    assert not hasattr(plain, "gradient_cosine_")


# -- FAMO ----------------------------------------------------------------------------


def test_famo_logit_gradient_is_the_softmax_jacobian_times_the_loss_decrease():
    logits = torch.tensor([0.3, -0.2, 0.5], requires_grad=True)
    delta = torch.tensor([0.1, -0.4, 0.25])
    (expected,) = torch.autograd.grad(torch.softmax(logits, 0), logits, delta)
    assert_allclose(famo_logit_gradient(logits.detach(), delta), expected, atol=1e-7)


def test_famo_update_is_a_convex_combination_of_log_loss_gradients():
    # d objective / d L_i = g_i = a_i / L_i, the g_i summing to 1, with a_i
    # proportional to Task.weight * softmax(logits)
    criterion = FAMOLoss(["squared_error"] * 3, [1.0, 2.0, 1.0])
    criterion.logits.copy_(torch.tensor([0.0, 0.5, -0.5]))
    means = torch.tensor([0.5, 2.0, 1.0], requires_grad=True)
    criterion.combine_means(means).backward()
    g = means.grad
    assert g.sum().item() == pytest.approx(1.0, rel=1e-6)
    z = torch.softmax(criterion.logits, 0) * torch.tensor([1.0, 2.0, 1.0])
    assert_allclose(g * means.detach() / (g * means.detach()).sum(), z / z.sum())


def test_famo_shifts_weight_to_the_task_whose_loss_falls_slower():
    criterion = FAMOLoss(["squared_error"] * 2, [1.0, 1.0])
    for _ in range(20):  # task a halves its loss at every step, task b barely moves
        criterion.update_from_losses(
            torch.tensor([1.0, 1.0]),
            torch.tensor([0.5, 0.99]),
            torch.tensor([1, 1]) > 0,
        )
    z = torch.softmax(criterion.logits, 0)
    assert z[1] > 0.6 > 0.4 > z[0]


def test_famo_task_absent_from_a_batch_keeps_its_logit_and_no_say():
    criterion = FAMOLoss(["squared_error"] * 3, [1.0, 1.0, 1.0])
    criterion.logits.copy_(torch.tensor([0.2, -0.1, 0.4]))
    present = torch.tensor([True, False, True])
    before, after = torch.tensor([1.0, 0.0, 2.0]), torch.tensor([0.5, 0.0, 1.9])
    criterion.update_from_losses(before, after, present)
    assert criterion.logits[1] == pytest.approx(-0.1)
    assert criterion.adam_steps.tolist() == [1.0, 0.0, 1.0]
    # the other two move exactly as FAMO on those two tasks alone
    pair = FAMOLoss(["squared_error"] * 2, [1.0, 1.0])
    pair.logits.copy_(torch.tensor([0.2, 0.4]))
    pair.update_from_losses(before[[0, 2]], after[[0, 2]], present[[0, 2]])
    assert_allclose(criterion.logits[[0, 2]], pair.logits)
    assert_allclose(criterion.epoch_weights()[[0, 2]], pair.epoch_weights())
    assert criterion.epoch_weights()[1] == 0


def test_famo_matches_torchjd_famo_scalarization():
    scalarization = pytest.importorskip("torchjd.scalarization")
    reference = scalarization.FAMO(3)  # the paper's lr=0.025, weight_decay=1e-3
    criterion = FAMOLoss(["squared_error"] * 3, [1.0, 1.0, 1.0])
    rng = np.random.default_rng(0)
    for _ in range(5):
        losses = torch.tensor(rng.uniform(0.5, 2.0, 3), dtype=torch.float32)
        losses.requires_grad_(True)
        mine = losses.detach().clone().requires_grad_(True)
        reference(losses).backward()
        criterion.combine_means(mine).backward()
        assert_allclose(mine.grad, losses.grad, rtol=1e-5)
        after = losses.detach() * torch.tensor(rng.uniform(0.7, 1.0, 3)).float()
        reference.update(after)
        criterion.update_from_losses(losses.detach(), after, torch.ones(3) > 0)
        assert_allclose(criterion.logits, reference._w.detach(), atol=1e-6)


def test_famo_gives_the_pure_noise_task_more_weight():
    # The noise task's loss cannot fall, so FAMO, which makes every log loss
    # fall at the same rate, raises its weight (unlike "uncertainty").
    X, Y = signal_and_noise()
    est = MultiTaskNetEstimator(
        tasks=TWO_REGRESSIONS,
        trunk_sizes=(16,),
        max_epochs=15,
        lr=1e-2,
        batch_size=64,
        weighting="famo",
        random_state=0,
    ).fit(X, Y)
    logits = est.net_.criterion_.logits
    assert logits[1] > logits[0]


# -- the fast path and integration --------------------------------------------------


@pytest.mark.parametrize("weighting", ["fixed", "uncertainty", "dwa", "famo"])
def test_loss_based_weightings_take_one_backward_pass(census, weighting, monkeypatch):
    def per_task_gradient(*args, **kwargs):
        raise AssertionError("per-task gradients computed on the fast path")

    monkeypatch.setattr(MultiTaskNet, "_flat_grad", staticmethod(per_task_gradient))
    X, Y = census
    make_estimator(weighting=weighting, max_epochs=2).fit(X, Y)


def test_fixed_weighting_records_the_task_weights(census):
    X, Y = census
    est = make_estimator(max_epochs=2).fit(X, Y)
    assert_array_equal(est.task_weights_, [1.0, 0.5, 1.0])
    assert est.net_.history[:, "weight_married"] == [0.5, 0.5]


@pytest.mark.parametrize("weighting", METHODS)
def test_every_method_learns_with_missing_labels_and_pickles(census, weighting):
    X, Y = census  # married and age have missing labels
    est = make_estimator(weighting=weighting, max_epochs=15, lr=1e-2).fit(X, Y)
    assert est.score(X, Y) > 0.6
    assert est.task_weights_.shape == (3,) and np.all(np.isfinite(est.task_weights_))
    restored = pickle.loads(pickle.dumps(est))
    assert_array_equal(restored.predict(X), est.predict(X))
    for a, b in zip(restored.predict_proba(X), est.predict_proba(X)):
        assert_array_equal(a, b)


@pytest.mark.parametrize(
    "weighting", ["uncertainty", "dwa", "gradnorm", "mgda", "famo"]
)
def test_warm_start_keeps_the_learned_weighting_state(census, weighting):
    X, Y = census
    est = make_estimator(weighting=weighting, max_epochs=3, warm_start=True).fit(X, Y)
    est.fit(X, Y)
    assert est.n_iter_ == 6
    with pytest.raises(ValueError, match="weighting changed"):
        est.set_params(weighting="fixed").fit(X, Y)


def test_grid_search_compares_weightings_in_a_pipeline(census):
    X, Y = census
    pipe = make_pipeline(StandardScaler(), make_estimator(max_epochs=2))
    search = GridSearchCV(
        pipe, {"multitasknetestimator__weighting": METHODS}, cv=2, error_score="raise"
    ).fit(X, Y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_params_["multitasknetestimator__weighting"] in METHODS
    restored = pickle.loads(pickle.dumps(search))
    assert_array_equal(restored.predict(X), search.predict(X))


def test_gradient_methods_need_a_trained_trunk(census):
    X, Y = census
    for params in [
        {"weighting": "pcgrad", "trunk_sizes": ()},
        {"record_gradient_conflict": True, "trunk_sizes": ()},
    ]:
        with pytest.raises(ValueError, match="gradients of the shared trunk"):
            make_estimator(**params).fit(X, Y)


def test_invalid_weighting_parameters(census):
    X, Y = census
    with pytest.raises(ValueError, match="The 'weighting' parameter"):
        make_estimator(weighting="nash").fit(X, Y)
    with pytest.raises(ValueError, match="The 'gradnorm_alpha' parameter"):
        make_estimator(gradnorm_alpha=-1.0).fit(X, Y)
    with pytest.raises(ValueError, match="The 'dwa_temperature' parameter"):
        make_estimator(dwa_temperature=0.0).fit(X, Y)


def test_mgda_ignores_tasks_absent_from_a_batch():
    # Task b is labelled in the first half of the rows only; sorted batches
    # without shuffling are impossible, so check the combination directly.
    from sklearn_mtl._weighting import MGDALoss

    criterion = MGDALoss(["squared_error", "squared_error"], [1.0, 1.0])
    grads = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    combined = criterion.combine_gradients(
        grads, torch.zeros(2), torch.tensor([True, False]), torch.arange(2)
    )
    assert_allclose(combined, [1.0, 0.0])  # not the zero vector
    assert_allclose(criterion.epoch_weights(), [1.0, 0.0])


def test_history_weights_with_pandas_y(census):
    X, Y = census
    est = make_estimator(weighting="uncertainty", max_epochs=2).fit(X, Y)
    frame = pd.DataFrame(est.net_.history[:, [f"weight_{n}" for n in est.task_names_]])
    assert frame.shape == (2, 3) and np.isfinite(frame.to_numpy()).all()
