"""The learning-rate schedules and label smoothing."""

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback
from torch.nn import functional as F

from sklearn_mtl import MultiTaskNetEstimator, Task, load, save
from sklearn_mtl._loss import MaskedMultiTaskLoss
from sklearn_mtl._training import LR_SCHEDULES

TASKS = [
    ("income", Task("classification")),
    ("married", Task("classification")),
    ("age", Task("regression")),
]


class RateAfterStep(Callback):
    """Records the learning rate each training step ran at."""

    def __init__(self, sink):
        self.sink = sink

    def __deepcopy__(self, memo):
        return self  # the estimator copies its callbacks: keep the one sink

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            self.sink.append(net.optimizer_.param_groups[0]["lr"])


def make_estimator(**params):
    params = {
        "tasks": TASKS,
        "trunk_sizes": (8,),
        "max_epochs": 4,
        "batch_size": 64,
        "random_state": 0,
        **params,
    }
    return MultiTaskNetEstimator(**params)


def test_constant_schedule_keeps_the_rate(census):
    X, Y = census
    rates = []
    make_estimator(callbacks=[RateAfterStep(rates)]).fit(X, Y)
    assert rates == [1e-3] * 16


@pytest.mark.parametrize("schedule", ["cosine", "coslog4"])
def test_schedule_scales_the_rate_of_every_step(census, schedule):
    X, Y = census  # 240 rows, 4 batches of 64 per epoch, 4 epochs
    rates = []
    est = make_estimator(
        lr=0.01, lr_schedule=schedule, callbacks=[RateAfterStep(rates)]
    )
    est.fit(X, Y)
    n_steps = 4 * 4
    expected = [0.01 * LR_SCHEDULES[schedule](s / n_steps) for s in range(n_steps)]
    np.testing.assert_allclose(rates, expected, rtol=1e-6, atol=1e-12)
    # the fitted optimizer holds the base rate again, ready for a warm start
    assert est.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(0.01)


def test_schedules_have_their_documented_shape():
    cosine, coslog4 = LR_SCHEDULES["cosine"], LR_SCHEDULES["coslog4"]
    assert cosine(0.0) == 1.0 and cosine(0.5) == pytest.approx(0.5)
    assert cosine(1.0) == pytest.approx(0.0, abs=1e-12)
    # four cycles, each twice as long as the one before: zeros at 1/15, 3/15,
    # 7/15 and 1, peaks halfway on the log scale
    for end in (1 / 15, 3 / 15, 7 / 15, 1.0):
        assert coslog4(end) == pytest.approx(0.0, abs=1e-12)
    for peak in (0.5, 1.5, 2.5, 3.5):
        assert coslog4((2**peak - 1) / 15) == pytest.approx(1.0)


def test_schedule_runs_anew_at_each_warm_start(census):
    X, Y = census
    rates = []
    est = make_estimator(
        lr_schedule="cosine", max_epochs=2, callbacks=[RateAfterStep(rates)]
    )
    est.fit(X, Y)
    est.set_params(warm_start=True).fit(X, Y)
    assert rates[0] == rates[8] == pytest.approx(1e-3)
    assert rates[7] == pytest.approx(1e-3 * LR_SCHEDULES["cosine"](7 / 8))


def test_early_stopped_fit_ends_part_way_through_the_schedule(census):
    X, Y = census
    rates = []
    est = make_estimator(
        lr_schedule="cosine",
        max_epochs=200,
        early_stopping=True,
        n_iter_no_change=2,
        callbacks=[RateAfterStep(rates)],
    )
    est.fit(X, Y)
    n_epochs = est.n_iter_
    assert n_epochs < 200
    # 216 training rows: 4 batches per epoch, over 200 planned epochs
    assert rates[-1] == pytest.approx(
        1e-3 * LR_SCHEDULES["cosine"]((4 * n_epochs - 1) / 800)
    )


def test_partial_fit_trains_at_the_constant_rate(census):
    X, Y = census
    rates = []
    est = make_estimator(lr_schedule="cosine", callbacks=[RateAfterStep(rates)])
    est.partial_fit(
        X, Y, classes={"income": ["high", "low", "mid"], "married": [False, True]}
    )
    est.partial_fit(X, Y)
    assert rates == [1e-3] * 8


def test_label_smoothing_is_the_cross_entropy_against_smoothed_targets():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 3, generator=gen)
    value = torch.randn(5, 1, generator=gen)
    codes = torch.tensor([[0, 0.5], [2, -1.0], [1, 0.0], [1, 2.0], [0, 1.0]])
    targets = torch.cat([codes, torch.ones(5, 2)], dim=1)  # label weights 1
    loss = MaskedMultiTaskLoss(
        ("log_loss", "squared_error"), (1.0, 1.0), label_smoothing=0.3
    )
    sums, counts = loss.task_sums((logits, value), targets)
    smoothed = F.one_hot(codes[:, 0].long(), 3) * 0.7 + 0.1
    expected = -(smoothed * F.log_softmax(logits, dim=1)).sum(dim=1).sum()
    torch.testing.assert_close(sums[0], expected)
    # regression is unchanged
    torch.testing.assert_close(sums[1], ((value[:, 0] - codes[:, 1]) ** 2).sum())
    torch.testing.assert_close(counts, torch.tensor([5.0, 5.0]))


def test_label_smoothing_applies_in_training_mode_only():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 3, generator=gen)
    codes = torch.tensor([[0.0], [2.0], [1.0], [1.0], [0.0], [2.0]])
    targets = torch.cat([codes, torch.ones(6, 1)], dim=1)
    loss = MaskedMultiTaskLoss(("log_loss",), (1.0,), label_smoothing=0.3)
    plain = F.cross_entropy(logits, codes[:, 0].long(), reduction="sum")
    assert not torch.allclose(loss.task_sums((logits,), targets)[0][0], plain)
    loss.eval()
    torch.testing.assert_close(loss.task_sums((logits,), targets)[0][0], plain)


def test_early_stopping_follows_the_plain_validation_loss():
    # The best epoch's validation loss, restored at the end, is the plain
    # cross-entropy of the fitted model's probabilities, not the smoothed one.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 4)).astype(np.float32)
    Y = np.column_stack([X[:, 0] + 0.5 * rng.normal(size=400) > 0, X[:, 1] > 0])
    Y = Y.astype(int)
    X_val, Y_val = X[300:], Y[300:]
    tasks = [("a", Task("classification")), ("b", Task("classification"))]
    est = MultiTaskNetEstimator(
        tasks=tasks, max_epochs=30, early_stopping=True, label_smoothing=0.3,
        dropout=0.0, random_state=0,
    )  # fmt: skip
    est.fit(X[:300], Y[:300], X_val=X_val, y_val=Y_val)
    best = min(est.net_.history[:, "valid_loss"])
    plain = sum(
        -np.mean(np.log(proba[np.arange(len(Y_val)), Y_val[:, j]]))
        for j, proba in enumerate(est.predict_proba(X_val))
    )
    assert best == pytest.approx(plain, rel=1e-4)


def test_label_smoothing_bounds_the_confidence_on_separable_data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 2)).astype(np.float32)
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(int)
    tasks = [("a", Task("classification")), ("b", Task("classification"))]

    def confidence(label_smoothing):
        est = MultiTaskNetEstimator(
            tasks=tasks, max_epochs=150, lr=0.01, dropout=0.0,
            label_smoothing=label_smoothing, random_state=0,
        )  # fmt: skip
        return np.median(est.fit(X, Y).predict_proba(X)[0].max(axis=1))

    # the smoothed loss is least at p = 1 - eps + eps / 2, far from one
    assert confidence(0.0) > 0.99
    assert confidence(0.2) == pytest.approx(0.9, abs=0.02)


def test_missing_labels_take_no_part_in_the_smoothed_loss(census):
    X, Y = census
    est = make_estimator(label_smoothing=0.1).fit(X, Y)
    assert np.isfinite(est.net_.history[-1, "train_loss"])
    assert np.isfinite(est.predict_proba(X)[1]).all()


def test_schedule_and_smoothing_survive_save_and_load(census, tmp_path):
    X, Y = census
    est = make_estimator(lr_schedule="coslog4", label_smoothing=0.1).fit(X, Y)
    save(est, tmp_path / "model")
    loaded = load(tmp_path / "model")
    assert loaded.get_params()["lr_schedule"] == "coslog4"
    assert loaded.get_params()["label_smoothing"] == 0.1
    np.testing.assert_allclose(loaded.predict_proba(X)[0], est.predict_proba(X)[0])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"lr_schedule": "linear"}, "lr_schedule"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"label_smoothing": -0.1}, "label_smoothing"),
    ],
)
def test_invalid_schedule_or_smoothing_is_refused(census, params, match):
    X, Y = census
    with pytest.raises(ValueError, match=match):
        make_estimator(**params).fit(X, Y)
