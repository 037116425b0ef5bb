"""Determinism: the same random_state gives the same model, wherever it is fitted.

Two fits with the same ``random_state`` must predict identically (bit for bit,
on the CPU), whatever the global random state and torch's global thread
setting; pickling must not change a model, nor how it trains further; and a
candidate fitted inside a parallel search must score like the same candidate
fitted sequentially.
"""

import pickle

import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_mtl import MultiTaskNetEstimator, Task


def make_estimator(**params):
    params = {
        "trunk_sizes": (8,),
        "max_epochs": 4,
        "batch_size": 32,  # several shuffled batches per epoch
        "random_state": 0,
        **params,
    }
    return MultiTaskNetEstimator(
        tasks=[
            ("income", Task("classification")),
            ("married", Task("classification", head_sizes=(4,))),
            ("age", Task("regression")),
        ],
        **params,
    )


def assert_same_predictions(a, b, X):
    assert_array_equal(a.predict(X), b.predict(X))
    for proba_a, proba_b in zip(a.predict_proba(X), b.predict_proba(X), strict=True):
        assert_array_equal(proba_a, proba_b)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"dropout": 0.3},  # dropout masks come from torch's generator
        {"early_stopping": True, "validation_fraction": 0.2},  # a seeded split
        {"random_state": np.random.RandomState(7)},  # copied by clone below
    ],
    ids=["plain", "dropout", "early_stopping", "RandomState"],
)
def test_same_random_state_gives_identical_predictions(census, params):
    X, Y = census
    first = make_estimator(**params)
    second = clone(first)  # a fresh RandomState(7) gets its own copy
    first.fit(X, Y)
    torch.manual_seed(12345)  # global random states don't matter
    np.random.seed(12345)
    second.fit(X, Y)
    assert_same_predictions(first, second, X)
    assert first.n_iter_ == second.n_iter_


def test_refitting_the_same_object_gives_the_same_model(census):
    X, Y = census
    est = make_estimator()
    first = est.fit(X, Y).predict_proba(X)
    est.fit(X[:100], Y[:100])  # an unrelated fit in between
    second = est.fit(X, Y).predict_proba(X)
    for a, b in zip(first, second, strict=True):
        assert_array_equal(a, b)


def test_global_torch_thread_setting_does_not_change_the_model(census):
    X, Y = census
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with_two = make_estimator().fit(X, Y)
        torch.set_num_threads(1)
        with_one = make_estimator().fit(X, Y)
    finally:
        torch.set_num_threads(previous)
    assert_same_predictions(with_two, with_one, X)


def test_pickle_round_trip_keeps_predictions_and_further_training(census):
    X, Y = census
    est = make_estimator().fit(X, Y)
    restored = pickle.loads(pickle.dumps(est))
    assert_same_predictions(est, restored, X)

    # warm-started training continues identically: weights and optimizer
    # state (Adam's moments) survive the round trip
    est.set_params(warm_start=True, max_epochs=2).fit(X, Y)
    restored.set_params(warm_start=True, max_epochs=2).fit(X, Y)
    assert_same_predictions(est, restored, X)


def test_unfitted_estimator_sent_through_pickle_fits_identically(census):
    # What a parallel search does: pickle the unfitted estimator to a worker.
    X, Y = census
    est = make_estimator(dropout=0.2)
    shipped = pickle.loads(pickle.dumps(est))
    assert_same_predictions(est.fit(X, Y), shipped.fit(X, Y), X)


def test_parallel_grid_search_matches_sequential(census):
    X, Y = census
    grid = {"married__weight": [0.5, 2.0], "trunk_sizes": [(8,), (4, 4)]}

    def search(n_jobs):
        return GridSearchCV(
            make_estimator(max_epochs=3),
            grid,
            cv=KFold(2, shuffle=True, random_state=0),
            n_jobs=n_jobs,
        ).fit(X, Y)

    sequential, parallel = search(n_jobs=None), search(n_jobs=2)

    assert parallel.cv_results_["params"] == sequential.cv_results_["params"]
    for key in ["split0_test_score", "split1_test_score", "mean_test_score"]:
        assert_array_equal(parallel.cv_results_[key], sequential.cv_results_[key])
    assert parallel.best_params_ == sequential.best_params_
    assert_same_predictions(parallel.best_estimator_, sequential.best_estimator_, X)


def test_concurrent_fits_in_threads_equal_serial_fits(census):
    # Fits own their generators (initialization, dropout, shuffling, split):
    # running at once in threads, as joblib's threading backend or a
    # multi-threaded Dask worker does, changes nothing.
    from concurrent.futures import ThreadPoolExecutor

    from sklearn_mtl import MultiTaskNetEstimator, Task

    X, Y = census
    tasks = [("income", Task("classification")), ("age", Task("regression"))]
    Y = Y[["income", "age"]]

    def fit(seed):
        est = MultiTaskNetEstimator(
            tasks=tasks, trunk_sizes=(16,), dropout=0.3, max_epochs=4,
            early_stopping=True, random_state=seed,
        )  # fmt: skip
        return est.fit(X, Y).predict(X)

    seeds = [0, 1, 0, 1]
    serial = [fit(seed) for seed in seeds]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(fit, seeds))
    for a, b in zip(serial, concurrent):
        np.testing.assert_array_equal(a, b)
