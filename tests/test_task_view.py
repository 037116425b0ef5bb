"""TaskView: one task of a fitted model in scikit-learn's displays and tools."""

import matplotlib
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import is_classifier, is_regressor
from sklearn.calibration import CalibrationDisplay
from sklearn.exceptions import NotFittedError
from sklearn.inspection import PartialDependenceDisplay, permutation_importance
from sklearn.metrics import RocCurveDisplay
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_mtl import MultiTaskNetEstimator, Task, TaskView

matplotlib.use("Agg")


def make_estimator(**params):
    params = {"trunk_sizes": (16,), "max_epochs": 5, "random_state": 0, **params}
    return MultiTaskNetEstimator(
        tasks=[
            ("income", Task("classification")),
            ("married", Task("classification")),
            ("age", Task("regression")),
        ],
        **params,
    )


@pytest.fixture(scope="module")
def fitted(census_module):
    X, Y = census_module
    return make_estimator().fit(X, Y), X, Y


def test_view_is_a_fitted_classifier_or_regressor(fitted):
    est, X, _ = fitted
    married, age = est.task_estimator("married"), est.task_estimator("age")
    assert is_classifier(married) and is_regressor(age)
    assert_array_equal(married.classes_, est.classes_[1])
    assert_array_equal(married.predict(X), est.predict(X)[:, 1].astype(bool))
    assert_allclose(married.predict_proba(X), est.predict_proba(X)[1])
    assert_allclose(age.predict(X), est.predict(X)[:, 2].astype(float))
    assert not hasattr(age, "predict_proba")
    assert list(married.feature_names_in_) == list(X.columns)


def test_unknown_task_and_unfitted_model():
    with pytest.raises(NotFittedError):
        make_estimator().task_estimator("age")
    assert not TaskView(make_estimator(), "age").__sklearn_is_fitted__()


def test_unknown_task_name(fitted):
    est, _, _ = fitted
    with pytest.raises(ValueError, match="TaskView got task='salary'"):
        est.task_estimator("salary")


def test_partial_dependence_of_two_tasks(fitted):
    est, X, _ = fitted
    for task in ("married", "age"):
        display = PartialDependenceDisplay.from_estimator(
            est.task_estimator(task), X, ["x0"], grid_resolution=5
        )
        assert display.pd_results[0]["average"].shape[-1] == 5


def test_roc_and_calibration_displays_on_a_binary_task(fitted):
    est, X, Y = fitted
    labelled = Y["married"].notna().to_numpy()
    view = est.task_estimator("married")
    y = Y["married"][labelled].astype(bool)
    RocCurveDisplay.from_estimator(view, X[labelled], y)
    CalibrationDisplay.from_estimator(view, X[labelled], y, n_bins=3)


def test_permutation_importance_of_one_task(fitted):
    est, X, Y = fitted
    labelled = Y["age"].notna().to_numpy()
    result = permutation_importance(
        est.task_estimator("age"), X[labelled], Y["age"][labelled], n_repeats=2,
        random_state=0,
    )  # fmt: skip
    assert result.importances_mean.shape == (X.shape[1],)


def test_view_of_a_pipeline_transforms_X(fitted):
    _, X, Y = fitted
    pipe = make_pipeline(StandardScaler(), make_estimator()).fit(X * 100, Y)
    view = TaskView(pipe, "age")
    assert is_regressor(view)
    assert_allclose(view.predict(X * 100), pipe.predict(X * 100)[:, 2].astype(float))
    PartialDependenceDisplay.from_estimator(view, X * 100, [0], grid_resolution=4)
