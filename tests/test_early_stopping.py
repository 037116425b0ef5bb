"""Early stopping: the "auto" rule, a given validation set, best-epoch weights."""

import pickle

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_mtl import MultiTaskNetEstimator, Task
from sklearn_mtl._estimator import AUTO_EARLY_STOPPING_MIN_SAMPLES

TASKS = [
    ("income", Task("classification")),
    ("married", Task("classification")),
    ("age", Task("regression")),
]


def make_estimator(**params):
    params = {
        "tasks": TASKS,
        "trunk_sizes": (8,),
        "max_epochs": 3,
        "batch_size": 64,
        "random_state": 0,
        **params,
    }
    return MultiTaskNetEstimator(**params)


def split(census):
    X, Y = census
    return X.iloc[:180], Y.iloc[:180], X.iloc[180:], Y.iloc[180:]


def test_auto_rule_stops_early_from_the_documented_size():
    rng = np.random.RandomState(0)
    n = AUTO_EARLY_STOPPING_MIN_SAMPLES
    X = rng.normal(size=(n, 3))
    y = X[:, 0] + rng.normal(size=n)
    params = {"trunk_sizes": (4,), "max_epochs": 1, "batch_size": n}
    small = MultiTaskNetEstimator(**params, random_state=0).fit(X[: n - 1], y[: n - 1])
    large = MultiTaskNetEstimator(**params, random_state=0).fit(X, y)
    assert not small.early_stopping_
    assert "valid_loss" not in small.net_.history[-1]
    assert large.early_stopping_
    assert "valid_loss" in large.net_.history[-1]


def test_auto_rule_stops_early_on_a_given_validation_set(census):
    X, Y, X_val, Y_val = split(census)
    est = make_estimator().fit(X, Y, X_val=X_val, y_val=Y_val)
    assert est.early_stopping_
    assert len(est.net_.history[:, "valid_loss"]) == est.n_iter_


def test_given_validation_set_trains_on_every_row_and_restores_the_best_epoch(census):
    # Validating draws no random numbers and holds out nothing, so the
    # stopped fit must equal a fit of exactly the best epoch's length.
    X, Y, X_val, Y_val = split(census)
    stopped = make_estimator(max_epochs=60, n_iter_no_change=3, lr=0.05).fit(
        X, Y, X_val=X_val, y_val=Y_val
    )
    valid = stopped.net_.history[:, "valid_loss"]
    best = int(np.argmin(valid)) + 1
    assert best < stopped.n_iter_ < 60
    plain = make_estimator(max_epochs=best, lr=0.05, early_stopping=False).fit(X, Y)
    for a, b in zip(stopped.predict_proba(X_val), plain.predict_proba(X_val)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(
        stopped.predict(X_val)[:, 2].astype(float),
        plain.predict(X_val)[:, 2].astype(float),
        rtol=1e-5,
    )


def test_validation_set_with_missing_labels_and_weights(census):
    X, Y, X_val, Y_val = split(census)
    Y_val = Y_val.copy()
    Y_val.loc[Y_val.index[:20], "age"] = np.nan
    weights = np.linspace(0.5, 2, len(X_val))
    est = make_estimator().fit(
        X, Y, X_val=X_val, y_val=Y_val, sample_weight_val=weights
    )
    assert np.isfinite(est.net_.history[:, "valid_loss"]).all()
    # An array y_val is matched by position, like y.
    est.fit(X.to_numpy(), Y, X_val=X_val.to_numpy(), y_val=Y_val.to_numpy(dtype=object))


def test_fitted_net_keeps_no_validation_data(census):
    X, Y, X_val, Y_val = split(census)
    est = make_estimator().fit(X, Y, X_val=X_val, y_val=Y_val)
    assert est.net_.train_split is None
    restored = pickle.loads(pickle.dumps(est))
    assert restored.early_stopping_
    np.testing.assert_array_equal(restored.predict(X_val), est.predict(X_val))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"X_val": "X"}, "X_val was given without y_val"),
        ({"y_val": "Y"}, "y_val was given without X_val"),
        ({"sample_weight_val": np.ones(60)}, "X_val and y_val are None"),
    ],
)
def test_incomplete_validation_set_is_refused(census, kwargs, message):
    X, Y, X_val, Y_val = split(census)
    values = {"X": X_val, "Y": Y_val}
    kwargs = {
        k: values.get(v, v) if isinstance(v, str) else v for k, v in kwargs.items()
    }
    with pytest.raises(ValueError, match=message):
        make_estimator().fit(X, Y, **kwargs)


def test_validation_set_without_early_stopping_is_refused(census):
    X, Y, X_val, Y_val = split(census)
    with pytest.raises(ValueError, match="early_stopping=False"):
        make_estimator(early_stopping=False).fit(X, Y, X_val=X_val, y_val=Y_val)


def test_validation_labels_outside_the_training_classes_are_refused(census):
    X, Y, X_val, Y_val = split(census)
    Y_val = Y_val.copy()
    Y_val["income"] = Y_val["income"].astype(object)
    Y_val.iloc[0, 0] = "very high"
    with pytest.raises(ValueError, match="Task 'income': y_val has labels"):
        make_estimator().fit(X, Y, X_val=X_val, y_val=Y_val)


def test_validation_set_of_the_wrong_shape_names_it(census):
    X, Y, X_val, Y_val = split(census)
    with pytest.raises(ValueError, match="X_val has 60 rows but y_val has 59"):
        make_estimator().fit(X, Y, X_val=X_val, y_val=Y_val.iloc[1:])
    with pytest.raises(ValueError, match="y_val has no column for task"):
        make_estimator().fit(X, Y, X_val=X_val, y_val=Y_val.drop(columns="age"))
    with pytest.raises(ValueError, match="X_val does not match X: The feature names"):
        make_estimator().fit(X, Y, X_val=X_val.iloc[:, :3], y_val=Y_val)


def test_failed_warm_start_with_a_bad_validation_set_keeps_the_model(census):
    X, Y, X_val, Y_val = split(census)
    est = make_estimator(warm_start=True).fit(X, Y)
    before = est.predict(X_val)
    with pytest.raises(ValueError):
        est.fit(X, Y, X_val=X_val, y_val=Y_val.iloc[1:])
    np.testing.assert_array_equal(est.predict(X_val), before)


def test_pipeline_transforms_the_validation_set_when_asked(census):
    X, Y, X_val, Y_val = split(census)
    X, X_val = 10 * X + 3, 10 * X_val + 3  # scaling matters
    with sklearn.config_context(enable_metadata_routing=True):
        net = make_estimator().set_fit_request(X_val=True, y_val=True)
        pipe = Pipeline(
            [("scale", StandardScaler()), ("net", net)], transform_input=["X_val"]
        )
        pipe.fit(X, Y, X_val=X_val, y_val=Y_val)
    scaler = StandardScaler().fit(X)
    by_hand = make_estimator().fit(
        scaler.transform(X), Y, X_val=scaler.transform(X_val), y_val=Y_val
    )
    assert pipe[-1].early_stopping_
    np.testing.assert_allclose(
        pipe[-1].net_.history[:, "valid_loss"], by_hand.net_.history[:, "valid_loss"]
    )


def test_early_stopping_false_keeps_the_old_behaviour():
    rng = np.random.RandomState(0)
    n = AUTO_EARLY_STOPPING_MIN_SAMPLES + 10
    X = pd.DataFrame(rng.normal(size=(n, 2)))
    y = X[0] + rng.normal(size=n)
    est = MultiTaskNetEstimator(
        trunk_sizes=(4,), max_epochs=2, batch_size=1024, early_stopping=False
    ).fit(X, y)
    assert not est.early_stopping_
    assert est.n_iter_ == 2
