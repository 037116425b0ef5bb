"""TrainingHistoryDisplay: per-task loss curves from a fitted estimator."""

import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_mtl import MultiTaskNetEstimator, Task, TrainingHistoryDisplay

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def make_estimator(**params):
    params = {"trunk_sizes": (8,), "max_epochs": 4, "random_state": 0, **params}
    return MultiTaskNetEstimator(
        tasks=[("income", Task("classification")), ("age", Task("regression"))],
        **params,
    )


@pytest.fixture
def data(census):
    X, Y = census
    return X, Y[["income", "age"]]


def test_from_estimator_plots_train_and_valid_loss_of_each_task(data):
    X, Y = data
    est = make_estimator(early_stopping=True).fit(X, Y)
    display = TrainingHistoryDisplay.from_estimator(est)

    history = est.net_.history
    assert set(display.lines_) == {
        "train_loss_income",
        "valid_loss_income",
        "train_loss_age",
        "valid_loss_age",
    }
    for key, line in display.lines_.items():
        assert_array_equal(line.get_xdata(), [1, 2, 3, 4])
        assert_allclose(line.get_ydata(), history[:, key])
    assert display.lines_["valid_loss_age"].get_linestyle() == "--"
    # one colour per task
    assert (
        display.lines_["train_loss_age"].get_color()
        == display.lines_["valid_loss_age"].get_color()
        != display.lines_["train_loss_income"].get_color()
    )
    assert display.ax_.get_xlabel() == "Epoch"
    assert display.figure_ is display.ax_.figure
    legend = [text.get_text() for text in display.ax_.get_legend().get_texts()]
    assert legend == ["income (train)", "income (valid)", "age (train)", "age (valid)"]


def test_without_validation_only_training_curves(data):
    X, Y = data
    est = make_estimator().fit(X, Y)
    display = TrainingHistoryDisplay.from_estimator(est)
    assert set(display.lines_) == {"train_loss_income", "train_loss_age"}


def test_subset_of_tasks_on_given_axes_with_log_scale(data):
    X, Y = data
    est = make_estimator().fit(X, Y)
    _, ax = plt.subplots()
    display = TrainingHistoryDisplay.from_estimator(
        est, tasks=["age"], ax=ax, log_scale=True, train_kw={"linewidth": 3}
    )
    assert display.ax_ is ax
    assert list(display.lines_) == ["train_loss_age"]
    assert display.lines_["train_loss_age"].get_linewidth() == 3
    assert ax.get_yscale() == "log"


def test_from_a_fitted_pipeline(data):
    X, Y = data
    pipe = make_pipeline(StandardScaler(), make_estimator()).fit(X, Y)
    display = TrainingHistoryDisplay.from_estimator(pipe)
    assert "train_loss_income" in display.lines_


def test_display_from_losses():
    display = TrainingHistoryDisplay(
        {"a": [3.0, 2.0, 1.0]}, valid_losses={"a": [3.5, np.nan, 2.0]}
    ).plot()
    assert_array_equal(display.lines_["valid_loss_a"].get_xdata(), [1, 2, 3])
    assert np.isnan(display.lines_["valid_loss_a"].get_ydata()[1])


def test_unknown_or_malformed_tasks(data):
    X, Y = data
    est = make_estimator(max_epochs=1).fit(X, Y)
    with pytest.raises(ValueError, match="Unknown task\\(s\\) \\['height'\\]"):
        TrainingHistoryDisplay.from_estimator(est, tasks=["height"])
    with pytest.raises(TypeError, match="tasks must be a list of task names"):
        TrainingHistoryDisplay.from_estimator(est, tasks="age")


def test_unfitted_estimator():
    with pytest.raises(NotFittedError):
        TrainingHistoryDisplay.from_estimator(make_estimator())


def test_clear_error_without_matplotlib(data, monkeypatch):
    X, Y = data
    est = make_estimator(max_epochs=1).fit(X, Y)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="requires matplotlib.*pip install"):
        TrainingHistoryDisplay.from_estimator(est)
