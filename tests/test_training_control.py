"""Interrupting, resuming and threading a fit."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal
from skorch.callbacks import Callback

from sklearn_mtl import MultiTaskNetEstimator, Task


class InterruptAt(Callback):
    """Raise KeyboardInterrupt in the middle of epoch ``epoch``, as Ctrl-C would."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_batch_end(self, net, **kwargs):
        if len(net.history) == self.epoch and len(net.history[-1]["batches"]) == 2:
            raise KeyboardInterrupt


def make_estimator(**params):
    params = {
        "max_epochs": 6,
        "random_state": 0,
        "trunk_sizes": (16,),
        "batch_size": 32,
        **params,
    }
    return MultiTaskNetEstimator(
        tasks=[("income", Task("classification")), ("age", Task("regression"))],
        **params,
    )


def test_interrupted_fit_keeps_last_finished_epoch(census):
    X, Y = census
    Y = Y[["income", "age"]]
    interrupted = make_estimator(callbacks=[InterruptAt(epoch=4)])
    with pytest.warns(UserWarning, match="interrupted .* weights of epoch 3"):
        interrupted.fit(X, Y)
    assert interrupted.n_iter_ == 3
    assert "train_loss" in interrupted.net_.history[-1]
    three_epochs = make_estimator(max_epochs=3).fit(X, Y)
    assert_array_equal(interrupted.predict(X), three_epochs.predict(X))


def test_interrupt_before_first_epoch_propagates(census):
    X, Y = census
    est = make_estimator(callbacks=[InterruptAt(epoch=1)])
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, Y[["income", "age"]])
    assert not hasattr(est, "net_")


def test_warm_start_continues_training(census):
    X, Y = census
    Y = Y[["income", "age"]]
    est = make_estimator(max_epochs=3, warm_start=True).fit(X, Y)
    loss_after_3 = est.net_.history[-1, "train_loss"]
    est.fit(X, Y)
    assert est.n_iter_ == 6
    assert est.net_.history[-1, "train_loss"] < loss_after_3
    with pytest.raises(
        ValueError, match="warm_start=True continues .* trunk_sizes changed"
    ):
        est.set_params(trunk_sizes=(8,)).fit(X, Y)


def test_warm_start_rejects_unseen_classes(census):
    X, Y = census
    Y = Y[["income", "age"]]
    est = make_estimator(max_epochs=1, warm_start=True).fit(X, Y)
    with pytest.raises(ValueError, match="Task 'income' has labels \\['top'\\]"):
        est.fit(X, Y.assign(income=np.where(Y["income"] == "high", "top", Y["income"])))


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda X, Y: (X, Y.assign(income=Y["income"].replace("high", "top"))),
            "Task 'income' has labels \\['top'\\]",
        ),
        (
            lambda X, Y: (X.iloc[:, :4], Y),
            "Feature names seen at fit time, yet now missing",
        ),
        (
            lambda X, Y: (X, Y.assign(extra=Y["age"])),
            "y has column\\(s\\) \\['extra'\\] that match no task",
        ),
        (lambda X, Y: (X, Y.assign(age="old")), "Task 'age' is a regression task"),
    ],
)
def test_rejected_warm_start_keeps_the_fitted_model(census, change, message):
    # Like MLPClassifier: a warm start that fails its checks leaves the model
    # it would have continued fitted and unchanged.
    X, Y = census
    Y = Y[["income", "age"]]
    est = make_estimator(max_epochs=2, warm_start=True).fit(X, Y)
    before = est.predict(X)
    n_epochs = len(est.net_.history)
    with pytest.raises(ValueError, match=message):
        est.fit(*change(X, Y))
    assert_array_equal(est.predict(X), before)
    assert len(est.net_.history) == n_epochs
    est.fit(X, Y)  # and it can still go on
    assert est.n_iter_ == 2 * n_epochs


def test_warm_start_with_other_tasks_is_rejected_and_keeps_the_model(census):
    X, Y = census
    est = make_estimator(max_epochs=1, warm_start=True).fit(X, Y[["income", "age"]])
    before = est.predict(X)
    est.set_params(tasks=[*est.tasks, ("married", Task("classification"))])
    with pytest.raises(ValueError, match="warm_start=True .* the tasks changed"):
        est.fit(X, Y)
    assert_array_equal(est.predict(X), before)


def test_training_failure_during_a_warm_start_keeps_the_model(census):
    X, Y = census
    Y = Y[["income", "age"]]
    est = make_estimator(max_epochs=1, warm_start=True).fit(X, Y)
    before = est.predict(X)
    with pytest.raises(ValueError, match="Training diverged"):
        est.set_params(lr=1e10).fit(X * 1e30, Y)
    assert_array_equal(est.predict(X), before)


def test_resume_after_interrupt_with_warm_start(census):
    X, Y = census
    Y = Y[["income", "age"]]
    est = make_estimator(callbacks=[InterruptAt(epoch=3)], warm_start=True)
    with pytest.warns(UserWarning, match="interrupted"):
        est.fit(X, Y)
    est.set_params(callbacks=None, max_epochs=2).fit(X, Y)
    assert est.n_iter_ == 4


def test_torch_thread_setting_is_restored(census):
    X, Y = census
    previous = torch.get_num_threads()
    est = make_estimator(max_epochs=1, num_threads=1).fit(X, Y[["income", "age"]])
    est.predict(X)
    assert torch.get_num_threads() == previous


class ModeRecordingTrunk(torch.nn.Module):
    """A trunk that records, at each forward pass, whether it was in training mode."""

    modes = []
    out_features = 8  # no dummy forward pass to find the width

    def __init__(self, n_features):
        super().__init__()
        self.linear = torch.nn.Linear(n_features, 8)
        self.dropout = torch.nn.Dropout(0.5)

    def forward(self, X):
        ModeRecordingTrunk.modes.append((self.training, self.dropout.training))
        return self.dropout(torch.relu(self.linear(X)))


@pytest.mark.parametrize("freeze_trunk", [False, True])
def test_training_batches_run_in_train_mode_and_validation_in_eval_mode(
    census, freeze_trunk
):
    X, Y = census
    Y = Y[["income", "age"]]  # the tasks of make_estimator
    params = {"trunk": ModeRecordingTrunk, "max_epochs": 2, "batch_size": 64}
    if freeze_trunk:
        source = make_estimator(**params).fit(X, Y)
        params.update(init_trunk_from=source, freeze_trunk=True)
    ModeRecordingTrunk.modes = []
    est = make_estimator(early_stopping=True, validation_fraction=0.25, **params)
    est.fit(X, Y)
    n_valid = int(np.ceil(0.25 * len(X)))
    n_train_batches = int(np.ceil((len(X) - n_valid) / 64))
    n_valid_batches = int(np.ceil(n_valid / 64))
    train = (not freeze_trunk, not freeze_trunk)  # a frozen trunk stays in eval
    epoch = [train] * n_train_batches + [(False, False)] * n_valid_batches
    modes = ModeRecordingTrunk.modes
    assert modes[: 2 * len(epoch)] == epoch * 2
    ModeRecordingTrunk.modes = []
    est.predict(X)
    assert set(ModeRecordingTrunk.modes) == {(False, False)}


def test_interrupt_in_the_first_epoch_with_early_stopping_propagates(census):
    X, Y = census
    est = make_estimator(early_stopping=True, callbacks=[InterruptAt(1)])
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, Y[["income", "age"]])
    assert not hasattr(est, "net_")
