"""score_tasks of a pipeline, and out-of-fold predictions of every task."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_mtl import MultiTaskNetEstimator, Task, cross_val_predict, score_tasks


def make_estimator():
    return MultiTaskNetEstimator(
        tasks=[
            ("income", Task("classification")),
            ("married", Task("classification")),
            ("age", Task("regression")),
        ],
        trunk_sizes=(8,),
        max_epochs=3,
        random_state=0,
    )


def test_score_tasks_of_a_nested_pipeline(census):
    X, Y = census
    model = make_pipeline(
        StandardScaler(), make_pipeline(StandardScaler(), make_estimator())
    )
    model.fit(X, Y)
    inner = model[-1]
    expected = inner[-1].score_tasks(inner[:-1].transform(model[:-1].transform(X)), Y)
    assert score_tasks(model, X, Y) == expected


def test_out_of_fold_predictions_and_probabilities(census):
    X, Y = census
    cv = KFold(3)
    model = make_pipeline(StandardScaler(), make_estimator())
    predictions = cross_val_predict(model, X, Y, cv=cv)
    probas = cross_val_predict(model, X, Y, cv=cv, method="predict_proba")
    assert predictions.shape == (len(X), 3)
    assert [p.shape for p in probas] == [(len(X), 3), (len(X), 2)]
    for proba in probas:
        assert_allclose(proba.sum(axis=1), 1.0)
    train, test = next(cv.split(X))
    fold = clone(model).fit(X.iloc[train], Y.iloc[train])
    assert_allclose(probas[0][test], fold.predict_proba(X.iloc[test])[0])
    assert_array_equal(predictions[test, 0], fold.predict(X.iloc[test])[:, 0])
    assert_allclose(
        predictions[test, 2].astype(float),
        fold.predict(X.iloc[test])[:, 2].astype(float),
    )


def test_a_class_absent_from_a_training_fold_gets_probability_zero():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 2))
    y = np.array(["a", "b"] * 14 + ["c", "c"])  # "c" only in the last fold
    est = MultiTaskNetEstimator(max_epochs=1, random_state=0)
    proba = cross_val_predict(est, X, y, cv=KFold(3), method="predict_proba")
    assert proba.shape == (30, 3)
    assert_allclose(proba[20:, 2], 0.0)


def test_folds_must_partition_the_rows(census):
    X, Y = census
    overlapping = [(np.arange(100), np.arange(50)), (np.arange(50, 240), np.arange(40))]
    with pytest.raises(ValueError, match="partition the rows"):
        cross_val_predict(make_estimator(), X, Y, cv=overlapping)
    with pytest.raises(ValueError, match="method must be"):
        cross_val_predict(make_estimator(), X, Y, method="decision_function")
