"""Task parameters by name: routing, cloning, pipelines and hyperparameter search."""

import pickle

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from scipy.stats import loguniform
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_validate
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_mtl import MultiTaskNetEstimator, Task


def make_estimator(**params):
    return MultiTaskNetEstimator(
        tasks=[
            ("income", Task("classification")),
            ("married", Task("classification", weight=0.5)),
            ("age", Task("regression", head_sizes=(8,))),
        ],
        trunk_sizes=(16,),
        max_epochs=3,
        random_state=0,
        **params,
    )


def test_get_params_exposes_tasks_and_their_parameters():
    params = make_estimator().get_params()
    assert isinstance(params["married"], Task)
    assert params["married__weight"] == 0.5
    assert params["age__head_sizes"] == (8,)
    assert "married" not in make_estimator().get_params(deep=False)


def test_set_params_routes_to_tasks_and_replaces_them():
    est = make_estimator()
    est.set_params(married__weight=2.0, age__head_sizes=(), lr=0.1)
    assert dict(est.tasks)["married"].weight == 2.0
    assert dict(est.tasks)["age"].head_sizes == ()
    assert est.lr == 0.1
    est.set_params(age=Task("regression", loss="absolute_error"))
    assert dict(est.tasks)["age"].loss == "absolute_error"
    with pytest.raises(ValueError, match="Invalid parameter 'height'"):
        est.set_params(height__weight=1.0)


def test_clone_copies_tasks():
    est = make_estimator()
    cloned = clone(est)
    assert cloned.get_params()["married__weight"] == 0.5
    assert dict(cloned.tasks)["married"] is not dict(est.tasks)["married"]
    cloned.set_params(married__weight=3.0)
    assert dict(est.tasks)["married"].weight == 0.5


def test_repr_shows_tasks():
    assert "tasks=[('income', Task(kind='classification'" in repr(make_estimator())
    assert repr(Task("classification", weight=0.5)) == (
        "Task(kind='classification', weight=0.5)"
    )


def test_grid_search_over_task_parameters(census):
    X, Y = census
    search = GridSearchCV(
        make_estimator(),
        {
            "married__weight": [0.25, 1, 4],
            "age__head_sizes": [(), (8,)],
            "trunk_sizes": [(8,), (16, 8)],
        },
        cv=2,
    ).fit(X, Y)
    assert len(search.cv_results_["params"]) == 12
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    best = search.best_estimator_
    assert dict(best.tasks)["married"].weight == search.best_params_["married__weight"]
    assert search.predict(X).shape == (len(X), 3)


def test_randomized_search_with_distributions(census):
    X, Y = census
    search = RandomizedSearchCV(
        make_estimator(),
        {"married__weight": loguniform(0.1, 10), "income__weight": loguniform(0.1, 10)},
        n_iter=3,
        cv=2,
        random_state=0,
    ).fit(X, Y)
    weights = [p["married__weight"] for p in search.cv_results_["params"]]
    assert len(set(weights)) == 3 and all(0.1 <= w <= 10 for w in weights)


def test_cross_validate(census):
    X, Y = census
    result = cross_validate(make_estimator(), X, Y, cv=3)
    assert np.isfinite(result["test_score"]).all()


def test_user_script_pipeline_search_and_pickle():
    """A data scientist's script: raw table, string labels, missing labels."""
    rng = np.random.RandomState(0)
    n = 150
    frame = pd.DataFrame(
        {
            "hours": rng.uniform(10, 60, n),
            "education": rng.choice(["school", "college", "phd"], n),
            "sector": rng.choice(["private", "public"], n),
        }
    )
    signal = (frame["hours"] - 35) / 10 + (frame["education"] == "phd")
    Y = pd.DataFrame(
        {
            "income": np.where(signal > 0, ">50K", "<=50K"),
            "married": np.where(signal + rng.normal(size=n) > 0, "yes", "no"),
            "age": 30 + 5 * signal + rng.normal(size=n),
        }
    )
    Y.loc[rng.rand(n) < 0.2, "married"] = None
    Y.loc[rng.rand(n) < 0.1, "age"] = np.nan

    pipe = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), ["hours"]),
                        ("cat", OneHotEncoder(), ["education", "sector"]),
                    ]
                ),
            ),
            ("mtl", make_estimator()),
        ]
    )
    grid = GridSearchCV(
        pipe,
        {"mtl__married__weight": [0.5, 2.0], "mtl__age__head_sizes": [(), (4,)]},
        cv=2,
    ).fit(frame, Y)
    assert grid.best_params_["mtl__married__weight"] in (0.5, 2.0)
    randomized = RandomizedSearchCV(
        pipe,
        {"mtl__income__weight": loguniform(0.1, 10)},
        n_iter=2,
        cv=2,
        random_state=0,
    ).fit(frame, Y)

    for search in (grid, randomized):
        y_pred = search.predict(frame)
        assert set(y_pred[:, 0]) <= {">50K", "<=50K"}
        assert set(y_pred[:, 1]) <= {"yes", "no"}
        restored = pickle.loads(pickle.dumps(search))
        assert_array_equal(restored.predict(frame), y_pred)
        assert np.isfinite(restored.score(frame, Y))


def test_pipeline_set_params_reaches_tasks(census):
    X, Y = census
    pipe = make_pipeline(StandardScaler(), make_estimator())
    pipe.set_params(multitasknetestimator__married__weight=3.0)
    assert pipe.get_params()["multitasknetestimator__married__weight"] == 3.0
    pipe.fit(X, Y)
    assert pipe[-1].tasks_[1][1].weight == 3.0
