"""Bad input gets a clear error naming what is wrong, and leaves no fitted state."""

import re

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError
from skorch.callbacks import Callback

from sklearn_mtl import MultiTaskNetEstimator, Task

rng = np.random.RandomState(0)
X = rng.normal(size=(40, 3))
Y = pd.DataFrame(
    {
        "income": np.where(X[:, 0] > 0, "high", "low"),
        "age": 40 + 10 * X[:, 1],
    }
)
TASKS = [("income", Task("classification")), ("age", Task("regression"))]


def fit(y=Y, X=X, tasks=TASKS, **params):
    params = {"max_epochs": 1, **params}
    return MultiTaskNetEstimator(tasks=tasks, **params).fit(X, y)


def test_nan_or_inf_in_X():
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        fit(X=X_nan)
    X_nan[0, 0] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        fit(X=X_nan)


def test_non_numeric_X_suggests_encoding():
    X_str = pd.DataFrame({"a": X[:, 0], "island": ["Biscoe"] * len(X)})
    with pytest.raises(ValueError, match="X must be numeric.*'Biscoe'.*OneHotEncoder"):
        fit(X=X_str)


def test_wrong_feature_count_at_predict():
    est = fit()
    with pytest.raises(
        ValueError,
        match="X has 2 features, but MultiTaskNetEstimator is expecting 3 features",
    ):
        est.predict(X[:, :2])


def test_different_dataframe_columns_at_predict():
    columns = ["a", "b", "c"]
    est = fit(X=pd.DataFrame(X, columns=columns))
    with pytest.raises(ValueError, match="feature names should match"):
        est.predict(pd.DataFrame(X, columns=["a", "b", "z"]))


def test_wrong_number_of_columns_in_y():
    with pytest.raises(
        ValueError,
        match=re.escape("y has 3 column(s) but there are 2 tasks ['income', 'age']"),
    ):
        fit(y=np.column_stack([Y.to_numpy(), Y["age"]]))


def test_dataframe_y_lacking_a_task_column():
    with pytest.raises(
        ValueError, match=re.escape("y has no column for task(s) ['age']")
    ):
        fit(y=Y[["income"]])


def test_dataframe_y_with_extra_column():
    with pytest.raises(
        ValueError, match=re.escape("y has column(s) ['height'] that match no task")
    ):
        fit(y=Y.assign(height=1.0))


def test_classification_task_with_one_class():
    with pytest.raises(
        ValueError, match="Task 'income' .* only one class \\('high'\\)"
    ):
        fit(y=Y.assign(income="high"))


def test_non_numeric_regression_labels():
    with pytest.raises(
        ValueError,
        match="Task 'age' is a regression task, but its "
        "labels are not numeric \\(got 'old'",
    ):
        fit(y=Y.assign(age=["old"] * len(Y)))


def test_infinite_regression_labels():
    with pytest.raises(ValueError, match="Task 'age' has infinite labels"):
        fit(y=Y.assign(age=np.r_[np.inf, Y["age"][1:]]))


def test_mixed_label_types_in_classification_task():
    labels = np.array(["a", 1, "b", 2] * 10, dtype=object)
    with pytest.raises(
        TypeError, match="Task 'income' mixes label types \\['int', 'str'\\]"
    ):
        fit(y=Y.assign(income=labels))


def test_task_without_labels():
    with pytest.raises(ValueError, match="Task 'age' has no labels"):
        fit(y=Y.assign(age=np.nan))


@pytest.mark.parametrize(
    "task, message",
    [
        (
            Task("ranking"),
            "Task 'age': The 'kind' parameter of Task must be a str among",
        ),
        (
            Task(loss="hinge"),
            "Task 'age': The 'loss' parameter of Task must be a str among",
        ),
        (
            Task(weight=-1.0),
            "Task 'age': The 'weight' parameter of Task must be a float",
        ),
        (
            Task(head_sizes=(8, 0)),
            "Task 'age': head_sizes must be a tuple of positive ints",
        ),
    ],
)
def test_invalid_task_parameters_name_the_task(task, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        fit(tasks=[TASKS[0], ("age", task)])


def test_loss_of_the_wrong_kind():
    with pytest.raises(
        ValueError, match="Task 'age' is a regression task, but its loss is 'log_loss'"
    ):
        fit(tasks=[TASKS[0], ("age", Task("regression", loss="log_loss"))])


@pytest.mark.parametrize(
    "tasks, error, message",
    [
        (
            [("a", Task()), ("a", Task())],
            ValueError,
            "Task names must be unique; duplicated: ['a']",
        ),
        ([("a__b", Task()), ("c", Task())], ValueError, "must not contain '__'"),
        (
            [("lr", Task()), ("c", Task())],
            ValueError,
            "Task names ['lr'] clash with parameters",
        ),
        (
            [("a", "classification"), ("b", Task())],
            TypeError,
            "Task 'a' must be a Task instance",
        ),
        ([Task(), Task()], TypeError, "tasks must be a list of (name, Task) tuples"),
        ([], TypeError, "tasks must be None or a non-empty list"),
    ],
)
def test_invalid_task_lists(tasks, error, message):
    with pytest.raises(error, match=re.escape(message)):
        fit(tasks=tasks, y=Y.to_numpy(dtype=object))


def test_rows_of_X_and_y_differ():
    with pytest.raises(ValueError, match="X has 40 rows but y has 39"):
        fit(y=Y.iloc[:39])


def test_y_none_or_three_dimensional():
    with pytest.raises(ValueError, match="requires y to be passed"):
        fit(y=None)
    with pytest.raises(
        ValueError, match="y must be 1-D .* or 2-D .* shape \\(40, 2, 1\\)"
    ):
        fit(y=np.zeros((40, 2, 1)))


def test_predict_before_fit():
    est = MultiTaskNetEstimator(tasks=TASKS)
    for method in ("predict", "predict_proba"):
        with pytest.raises(NotFittedError):
            getattr(est, method)(X)
    with pytest.raises(NotFittedError):
        est.score(X, Y)


def test_invalid_estimator_parameter():
    with pytest.raises(
        ValueError,
        match="The 'max_epochs' parameter of "
        "MultiTaskNetEstimator must be an int in the range \\[1, inf\\)",
    ):
        fit(max_epochs=0)
    with pytest.raises(
        ValueError, match="trunk_sizes must be a tuple of positive ints"
    ):
        fit(trunk_sizes=(16, -1))
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer"):
        fit(optimizer=dict)


def test_cuda_requested_without_gpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="device='cuda', but no CUDA device"):
        fit(device="cuda")


def test_failed_fit_leaves_no_fitted_state():
    est = fit()
    with pytest.raises(ValueError):
        est.fit(X, Y.assign(age=np.nan))
    assert not [attr for attr in vars(est) if attr.endswith("_")]
    with pytest.raises(NotFittedError):
        est.predict(X)


def test_diverging_training_names_the_task():
    y = Y.assign(age=Y["age"])
    X_huge = X * 1e30  # absurd scale makes the losses overflow
    with pytest.raises(
        ValueError, match="Training diverged in epoch 1: the loss of task"
    ):
        fit(X=X_huge, y=y, lr=1e10)


class BlowUpAfterLastStep(Callback):
    """Stands for a last optimizer step that overflows the weights."""

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == net.max_epochs:
            with torch.no_grad():
                next(net.module_.parameters()).fill_(float("inf"))


def test_divergence_in_the_last_steps_is_an_error_not_an_inf_model():
    # The epoch's mean losses were finite, but the weights it ends with are
    # not: that fit must fail like any other divergence, not predict inf.
    est = MultiTaskNetEstimator(
        tasks=TASKS, max_epochs=2, random_state=0, callbacks=[BlowUpAfterLastStep()]
    )
    with pytest.raises(ValueError, match="weights are no longer finite"):
        est.fit(X, Y)
    assert not [attr for attr in vars(est) if attr.endswith("_")]


def test_device_that_torch_does_not_know_names_the_parameter():
    with pytest.raises(ValueError, match="device='gpu' is not a device torch knows"):
        fit(device="gpu")


def test_group_named_like_a_module_attribute():
    # Group names are the user's strings, not attribute names of a module.
    tasks = [(name, Task(task.kind, group="type")) for name, task in TASKS]
    est = fit(tasks=tasks)
    assert est.predict(X).shape == (len(X), len(TASKS))


def test_early_stopping_that_leaves_nothing_to_train_on():
    with pytest.raises(ValueError, match="leaves none to train on"):
        fit(early_stopping=True, validation_fraction=0.999)


def test_early_stopping_that_holds_out_every_label_of_a_task():
    # age is labelled in 2 rows only; a large held-out part takes both.
    y = Y.assign(age=np.where(np.arange(len(Y)) < 2, Y["age"], np.nan))
    for seed in range(20):
        try:
            fit(y=y, early_stopping=True, validation_fraction=0.9, random_state=seed)
        except ValueError as exc:
            assert "every label of task(s) ['age'] fell in the held-out part" in str(
                exc
            )
            return
    pytest.fail("no seed held out both labels of 'age'")


def test_task_named_like_a_skorch_history_flag():
    with pytest.raises(ValueError, match="collide with skorch's history entries"):
        fit(tasks=[("best", Task("classification")), ("age", Task("regression"))])
    with pytest.raises(ValueError, match="collide with skorch's history entries"):
        MultiTaskNetEstimator(max_epochs=1).fit(X, Y.rename(columns={"age": "best"}))


def test_device_without_data_names_the_parameter():
    with pytest.raises(ValueError, match="device='meta' cannot train or predict"):
        fit(device="meta")
