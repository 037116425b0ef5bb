"""Finding the multi-task estimator in Pipelines, nested pipelines and searches."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl._composition import final_multitask, transform_through


def _add_one(X):
    return X + 1.0


def _double(X):
    return X * 2.0


def _tiny():
    return MultiTaskNetEstimator(max_epochs=1, trunk_sizes=(4,), random_state=0)


def _data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(24, 3))
    Y = np.column_stack([(X[:, 0] > 0).astype(int), X[:, 1]])
    return X, Y


@pytest.fixture(scope="module")
def fitted_search():
    X, Y = _data()
    pipe = make_pipeline(StandardScaler(), _tiny())
    search = GridSearchCV(pipe, {"multitasknetestimator__lr": [1e-3]}, cv=2)
    return search.fit(X, Y), X


def test_bare_estimator():
    est = _tiny()
    final, prefix, preprocessing = final_multitask(est, fitted=False, caller="f")
    assert final is est
    assert prefix == ""
    assert preprocessing == []


def test_pipeline():
    est = _tiny()
    pipe = make_pipeline(StandardScaler(), est)
    final, prefix, preprocessing = final_multitask(pipe, fitted=False, caller="f")
    assert final is est
    assert prefix == "multitasknetestimator__"
    assert len(preprocessing) == 1
    assert [name for name, _ in preprocessing[0].steps] == ["standardscaler"]
    pipe.set_params(**{prefix + "max_epochs": 7})
    assert est.max_epochs == 7


def test_pipeline_of_the_estimator_alone():
    est = _tiny()
    pipe = Pipeline([("model", est)])
    final, prefix, preprocessing = final_multitask(pipe, fitted=False, caller="f")
    assert final is est
    assert prefix == "model__"
    assert preprocessing == []


def test_nested_pipeline():
    est = _tiny()
    inner = make_pipeline(FunctionTransformer(_double), est)
    outer = make_pipeline(FunctionTransformer(_add_one), inner)
    final, prefix, preprocessing = final_multitask(outer, fitted=False, caller="f")
    assert final is est
    assert prefix == "pipeline__multitasknetestimator__"
    assert len(preprocessing) == 2
    outer.set_params(**{prefix + "lr": 0.5})
    assert est.lr == 0.5
    X = np.arange(6.0).reshape(3, 2)
    # outermost first: (X + 1) * 2, not X * 2 + 1
    np.testing.assert_array_equal(transform_through(preprocessing, X), (X + 1) * 2)


def test_transform_through_without_preprocessing():
    X = np.ones((2, 2))
    assert transform_through([], X) is X


def test_fitted_search(fitted_search):
    search, X = fitted_search
    final, _, preprocessing = final_multitask(search, fitted=True, caller="f")
    assert final is search.best_estimator_[-1]
    assert hasattr(final, "task_names_")
    assert len(preprocessing) == 1
    np.testing.assert_allclose(
        transform_through(preprocessing, X),
        search.best_estimator_[0].transform(X),
    )


def test_fitted_bare_estimator(fitted_search):
    search, _ = fitted_search
    est = search.best_estimator_[-1]
    final, prefix, preprocessing = final_multitask(est, fitted=True, caller="f")
    assert final is est and prefix == "" and preprocessing == []


def test_search_is_not_looked_into_unless_fitted_is_required(fitted_search):
    search, _ = fitted_search
    with pytest.raises(TypeError, match="got GridSearchCV"):
        final_multitask(search, fitted=False, caller="f")


def test_other_estimator_error_unfitted_wording():
    with pytest.raises(TypeError) as info:
        final_multitask(StandardScaler(), fitted=False, caller="my_caller")
    assert str(info.value) == (
        "my_caller needs a MultiTaskNetEstimator, or a Pipeline whose final "
        "estimator is one; got StandardScaler."
    )


def test_other_estimator_error_fitted_wording():
    with pytest.raises(TypeError) as info:
        final_multitask(StandardScaler(), fitted=True, caller="my_caller")
    assert str(info.value) == (
        "my_caller needs a fitted MultiTaskNetEstimator, or a fitted Pipeline or "
        "search whose final estimator is one; got StandardScaler. Fit the "
        "estimator first."
    )


def test_pipeline_ending_in_another_estimator_error():
    pipe = make_pipeline(FunctionTransformer(_add_one), StandardScaler())
    with pytest.raises(TypeError, match="got StandardScaler"):
        final_multitask(pipe, fitted=False, caller="f")


def test_unfitted_estimator_when_fitted_is_required_error():
    pipe = make_pipeline(StandardScaler(), _tiny())
    with pytest.raises(TypeError, match="got MultiTaskNetEstimator. Fit the estimator"):
        final_multitask(pipe, fitted=True, caller="f")


def test_unfitted_search_when_fitted_is_required_error():
    search = GridSearchCV(_tiny(), {"lr": [1e-3]})
    with pytest.raises(TypeError, match="got GridSearchCV. Fit the estimator"):
        final_multitask(search, fitted=True, caller="f")
