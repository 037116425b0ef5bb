"""make_task_scorer: one task's metric, on its labelled rows, in sklearn's tools."""

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.inspection import permutation_importance
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    roc_auc_score,
)
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_mtl import MultiTaskNetEstimator, Task, make_task_scorer


def make_estimator(**params):
    params = {"trunk_sizes": (16,), "max_epochs": 10, "random_state": 0, **params}
    return MultiTaskNetEstimator(
        tasks=[
            ("income", Task("classification")),
            ("married", Task("classification")),
            ("age", Task("regression")),
        ],
        **params,
    )


@pytest.fixture
def fitted(census):
    X, Y = census
    return make_estimator().fit(X, Y), X, Y


def test_classification_metric_on_labelled_rows_only(fitted):
    est, X, Y = fitted
    labelled = Y["married"].notna().to_numpy()
    assert not labelled.all()
    expected = accuracy_score(
        Y["married"][labelled].astype(bool), est.predict(X)[labelled, 1].astype(bool)
    )
    assert make_task_scorer("married", "accuracy")(est, X, Y) == pytest.approx(expected)


def test_neg_regression_metric_on_labelled_rows_only(fitted):
    est, X, Y = fitted
    labelled = Y["age"].notna().to_numpy()
    expected = mean_absolute_error(
        Y["age"][labelled], est.predict(X)[labelled, 2].astype(float)
    )
    score = make_task_scorer("age", "neg_mean_absolute_error")(est, X, Y)
    assert score == pytest.approx(-expected)


def test_roc_auc_uses_the_positive_class_probability(fitted):
    est, X, Y = fitted
    labelled = Y["married"].notna().to_numpy()
    _, married_proba = est.predict_proba(X)  # married is the 2nd classification task
    assert list(est.classes_[1]) == [False, True]
    expected = roc_auc_score(
        Y["married"][labelled].astype(bool), married_proba[labelled, 1]
    )
    assert make_task_scorer("married", "roc_auc")(est, X, Y) == pytest.approx(expected)


def test_multiclass_probability_metric(fitted):
    est, X, Y = fitted
    income_proba, _ = est.predict_proba(X)
    expected = roc_auc_score(Y["income"], income_proba, multi_class="ovr")
    score = make_task_scorer("income", "roc_auc_ovr")(est, X, Y)
    assert score == pytest.approx(expected)


def test_metric_keyword_arguments(fitted):
    est, X, Y = fitted
    expected = f1_score(Y["income"], est.predict(X)[:, 0], average=None)[0]
    scorer = make_task_scorer("income", "f1", pos_label="high", average="binary")
    with pytest.raises(ValueError, match="Target is multiclass"):
        scorer(est, X, Y)  # binary f1 on a 3-class task: sklearn's own error
    scorer = make_task_scorer("income", "f1_macro", average=None)
    assert scorer(est, X, Y)[0] == pytest.approx(expected)


def test_callable_metric_and_make_scorer_arguments(fitted):
    est, X, Y = fitted
    scorer = make_task_scorer("income", accuracy_score)
    assert scorer(est, X, Y) == pytest.approx(
        accuracy_score(Y["income"], est.predict(X)[:, 0])
    )
    scorer = make_task_scorer(
        "income", log_loss, response_method="predict_proba", greater_is_better=False
    )
    income_proba, _ = est.predict_proba(X)
    expected = log_loss(Y["income"], income_proba, labels=est.classes_[0])
    assert scorer(est, X, Y) == pytest.approx(-expected)
    assert repr(scorer) == (
        "make_task_scorer('income', log_loss, response_method='predict_proba', "
        "greater_is_better=False)"
    )


def test_array_y_is_read_in_task_order(fitted):
    est, X, Y = fitted
    scorer = make_task_scorer("age", "r2")
    assert scorer(est, X, Y.to_numpy(dtype=object)) == pytest.approx(scorer(est, X, Y))


def test_dataframe_y_is_matched_by_column_name(fitted):
    est, X, Y = fitted
    scorer = make_task_scorer("age", "r2")
    assert scorer(est, X, Y[["age", "income", "married"]]) == scorer(est, X, Y)
    assert scorer(est, X, Y[["age"]]) == scorer(est, X, Y)


def test_estimator_with_pandas_output(fitted):
    est, X, Y = fitted
    scorers = [make_task_scorer("married", "roc_auc"), make_task_scorer("age", "r2")]
    expected = [scorer(est, X, Y) for scorer in scorers]
    est.set_output(predict="pandas")
    assert [scorer(est, X, Y) for scorer in scorers] == expected


def test_single_task_fitted_on_one_dimensional_y():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 3))
    y = np.where(X[:, 0] > 0, "pos", "neg")
    est = MultiTaskNetEstimator(max_epochs=20, random_state=0).fit(X, y)
    expected = roc_auc_score(y == "pos", est.predict_proba(X)[:, 1])
    assert make_task_scorer("task_0", "roc_auc")(est, X, y) == pytest.approx(expected)


def test_task_without_labels_scores_nan(fitted):
    est, X, Y = fitted
    assert np.isnan(make_task_scorer("age", "r2")(est, X, Y.assign(age=np.nan)))


def test_sample_weight_is_restricted_to_labelled_rows(fitted):
    est, X, Y = fitted
    weights = np.random.RandomState(0).uniform(size=len(X))
    labelled = Y["age"].notna().to_numpy()
    expected = mean_absolute_error(
        Y["age"][labelled],
        est.predict(X)[labelled, 2].astype(float),
        sample_weight=weights[labelled],
    )
    scorer = make_task_scorer("age", "neg_mean_absolute_error")
    assert scorer(est, X, Y, sample_weight=weights) == pytest.approx(-expected)


def test_grid_search_with_several_task_scorers_and_refit(census):
    X, Y = census
    scoring = {
        "married_auc": make_task_scorer("married", "roc_auc"),
        "age_mae": make_task_scorer("age", "neg_mean_absolute_error"),
    }
    search = GridSearchCV(
        make_pipeline(StandardScaler(), make_estimator(max_epochs=3)),
        {"multitasknetestimator__married__weight": [0.5, 2.0]},
        scoring=scoring,
        refit="married_auc",
        cv=2,
    ).fit(X, Y)
    results = search.cv_results_
    assert np.isfinite(results["mean_test_married_auc"]).all()
    assert (results["mean_test_age_mae"] < 0).all()
    best = int(np.argmax(results["mean_test_married_auc"]))
    assert search.best_index_ == best
    assert search.score(X, Y) == pytest.approx(scoring["married_auc"](search, X, Y))


def test_cross_validate_on_a_pipeline(census):
    X, Y = census
    pipe = make_pipeline(StandardScaler(), make_estimator(max_epochs=3))
    result = cross_validate(
        pipe, X, Y, cv=2, scoring={"acc": make_task_scorer("income", "accuracy")}
    )
    assert ((result["test_acc"] >= 0) & (result["test_acc"] <= 1)).all()


def test_permutation_importance_of_one_task(census):
    X, Y = census
    pipe = make_pipeline(StandardScaler(), make_estimator(max_epochs=30, lr=1e-2))
    pipe.fit(X, Y)
    result = permutation_importance(
        pipe,
        X,
        Y,
        scoring=make_task_scorer("income", "accuracy"),
        n_repeats=2,
        random_state=0,
    )
    # income depends on x0 and x1 only
    assert result.importances_mean.shape == (6,)
    assert result.importances_mean[:2].min() > result.importances_mean[2:].max()


def test_unknown_task_names_the_tasks(fitted):
    est, X, Y = fitted
    with pytest.raises(
        ValueError,
        match=re.escape(
            "task='height', but the estimator's tasks are ['income', 'married', 'age']"
        ),
    ):
        make_task_scorer("height", "r2")(est, X, Y)


def test_dataframe_y_without_the_task_column(fitted):
    est, X, Y = fitted
    with pytest.raises(ValueError, match="y has no column named 'age'"):
        make_task_scorer("age", "r2")(est, X, Y[["income", "married"]])


def test_wrong_number_of_array_columns(fitted):
    est, X, Y = fitted
    with pytest.raises(ValueError, match="y has 2 column\\(s\\) but the estimator"):
        make_task_scorer("age", "r2")(est, X, Y.to_numpy(dtype=object)[:, :2])


def test_probability_metric_on_a_regression_task(fitted):
    est, X, Y = fitted
    with pytest.raises(
        ValueError,
        match="Task 'age' is a regression task, but the "
        "metric 'roc_auc' needs class probabilities",
    ):
        make_task_scorer("age", "roc_auc")(est, X, Y)


def test_invalid_arguments():
    with pytest.raises(TypeError, match="task must be the name of a task"):
        make_task_scorer(0, "r2")
    with pytest.raises(TypeError, match="metric must be a scikit-learn scorer name"):
        make_task_scorer("age", 3)
    with pytest.raises(ValueError, match="'r3' is not a valid scoring value"):
        make_task_scorer("age", "r3")


def test_unfitted_or_foreign_estimator():
    X, y = np.zeros((4, 2)), pd.DataFrame({"age": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(TypeError, match="needs a fitted MultiTaskNetEstimator"):
        make_task_scorer("age", "r2")(make_estimator(), X, y)
