"""partial_fit: one epoch per call, classes fixed on the first call."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from sklearn_mtl import MultiTaskNetEstimator, Task


def make_estimator(**params):
    params = {"trunk_sizes": (16,), "random_state": 0, "lr": 1e-2, **params}
    return MultiTaskNetEstimator(
        tasks=[
            ("income", Task("classification")),
            ("married", Task("classification")),
            ("age", Task("regression")),
        ],
        **params,
    )


CLASSES = {"income": ["high", "low", "mid"], "married": [False, True]}


def test_blocks_with_missing_labels_and_mixed_tasks_train_one_epoch_each(census):
    X, Y = census
    est = make_estimator()
    blocks = np.array_split(np.arange(len(X)), 4)
    for _ in range(5):
        for rows in blocks:
            est.partial_fit(X.iloc[rows], Y.iloc[rows], classes=CLASSES)
    assert est.n_iter_ == 20
    assert [list(c) for c in est.classes_[:2]] == [
        ["high", "low", "mid"],
        [False, True],
    ]
    losses = est.net_.history[:, "train_loss"]
    assert np.mean(losses[-4:]) < np.mean(losses[:4])
    assert est.score(X, Y) > 0.5


def test_classes_by_position_and_for_a_1d_y(census):
    X, Y = census
    est = make_estimator().partial_fit(
        X.iloc[:20], Y.iloc[:20], classes=[CLASSES["income"], [False, True], None]
    )
    assert list(est.classes_[0]) == ["high", "low", "mid"]
    single = MultiTaskNetEstimator(max_epochs=1, random_state=0)
    single.partial_fit(X.iloc[:5], Y["income"].iloc[:5], classes=["high", "low", "mid"])
    assert list(single.classes_[0]) == ["high", "low", "mid"]


def test_labels_outside_the_classes_are_an_error_and_keep_the_model(census):
    X, Y = census
    est = make_estimator().partial_fit(X, Y, classes=CLASSES)
    before = est.predict(X)
    with pytest.raises(ValueError, match="Task 'income' has labels \\['top'\\]"):
        est.partial_fit(X, Y.assign(income="top"))
    assert_array_equal(est.predict(X), before)


def test_without_classes_the_first_block_fixes_them(census):
    X, Y = census
    rows = Y["income"].ne("high").to_numpy()
    est = make_estimator().partial_fit(X[rows], Y[rows])
    assert list(est.classes_[0]) == ["low", "mid"]
    with pytest.raises(ValueError, match="has labels \\['high'\\]"):
        est.partial_fit(X, Y)


def test_bad_classes_arguments(census):
    X, Y = census
    with pytest.raises(ValueError, match="classes has 2 entries but there are 3"):
        make_estimator().partial_fit(X, Y, classes=[None, None])
    with pytest.raises(ValueError, match="'salary'.* not tasks"):
        make_estimator().partial_fit(X, Y, classes={"salary": [1, 2]})
    with pytest.raises(ValueError, match="regression task"):
        make_estimator().partial_fit(X, Y, classes={"age": [1, 2]})


def test_regression_scaling_is_fixed_by_the_first_call(census):
    X, Y = census
    est = make_estimator().partial_fit(X, Y, classes=CLASSES)
    scale = est._codecs_[2].scale
    est.partial_fit(X, Y.assign(age=Y["age"] * 10))
    assert est._codecs_[2].scale == scale


def test_partial_fit_is_not_offered_with_the_sequential_schedule():
    assert not hasattr(make_estimator(schedule="sequential"), "partial_fit")
    assert hasattr(make_estimator(), "partial_fit")
