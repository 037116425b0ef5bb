"""Per-label weights: fit(sample_weight=...) and Task(class_weight=...)."""

import re

import numpy as np
import pandas as pd
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import accuracy_score, recall_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_class_weight

from sklearn_mtl import MultiTaskNetEstimator, Task
from sklearn_mtl._codecs import ClassCodec
from sklearn_mtl._loss import MaskedMultiTaskLoss
from sklearn_mtl._targets import class_weights


def make_estimator(**params):
    params = {"trunk_sizes": (16,), "max_epochs": 3, "random_state": 0, **params}
    return MultiTaskNetEstimator(
        tasks=[
            ("income", Task("classification")),
            ("married", Task("classification", weight=0.5)),
            ("age", Task("regression", head_sizes=(4,))),
        ],
        **params,
    )


def assert_same_model(a, b, X):
    assert_array_equal(a.predict(X), b.predict(X))
    for key, value in a.net_.module_.state_dict().items():
        assert torch.equal(value, b.net_.module_.state_dict()[key]), key


def test_zero_weight_equals_a_missing_label(census):
    X, Y = census
    rng = np.random.RandomState(1)
    zero = rng.rand(*Y.shape) < 0.3
    zero[:, 0] |= Y["income"].eq("high").to_numpy()  # drops a whole class too
    weights = np.where(zero, 0.0, 1.0)
    Y_missing = Y.astype(object).mask(zero)
    for params in [{}, {"early_stopping": True}, {"weighting": "mgda"}]:
        weighted = make_estimator(**params).fit(X, Y, sample_weight=weights)
        missing = make_estimator(**params).fit(X, Y_missing)
        assert_same_model(weighted, missing, X)
        assert_array_equal(weighted.classes_[0], ["low", "mid"])
        assert weighted._codecs_[2].mean == missing._codecs_[2].mean


def test_zero_weight_equals_a_missing_label_with_other_weights(census):
    X, Y = census
    rng = np.random.RandomState(2)
    weights = rng.uniform(0.5, 3.0, size=Y.shape)
    zero = rng.rand(*Y.shape) < 0.2
    weighted = make_estimator().fit(X, Y, sample_weight=np.where(zero, 0.0, weights))
    missing = make_estimator().fit(
        X, Y.astype(object).mask(zero), sample_weight=weights
    )
    assert_same_model(weighted, missing, X)


def test_unit_weights_change_nothing(census):
    X, Y = census
    plain = make_estimator().fit(X, Y)
    assert_same_model(
        make_estimator().fit(X, Y, sample_weight=np.ones(len(X))), plain, X
    )
    assert_same_model(
        make_estimator().fit(X, Y, sample_weight=np.ones(Y.shape)), plain, X
    )


def test_task_loss_is_the_weighted_mean_over_labelled_rows():
    criterion = MaskedMultiTaskLoss(["squared_error", "squared_error"], [1.0, 1.0])
    outputs = (torch.tensor([[1.0], [2.0], [3.0]]), torch.tensor([[0.0], [0.0], [0.0]]))
    targets = torch.tensor([[0.0, 1.0], [0.0, 0.0], [0.0, 2.0]])
    weights = torch.tensor([[1.0, 2.0], [3.0, 0.0], [0.0, 1.0]])
    sums, totals = criterion.task_sums(outputs, torch.cat([targets, weights], dim=1))
    means = sums / totals
    assert means[0] == pytest.approx((1 * 1 + 3 * 4 + 0 * 9) / 4)
    assert means[1] == pytest.approx((2 * 1 + 1 * 4) / 3)


def test_integer_weights_equal_repeated_rows_in_one_batch():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 3))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] + X[:, 2]]).astype(float)
    Y[rng.rand(40) < 0.2, 1] = np.nan
    counts = rng.randint(1, 4, size=40)
    params = {
        # The regression task weighs 0: its targets are standardized on the
        # labelled values unweighted, so the repeated data scale it otherwise
        # and, through the shared trunk, would move the classes too.
        "tasks": [
            ("sign", Task("classification")),
            ("sum", Task("regression", weight=0.0)),
        ],
        "trunk_sizes": (8,),
        "dropout": 0.0,  # a repeated row would get a mask per copy
        "max_epochs": 5,
        "batch_size": 1000,
        "random_state": 0,
    }
    weighted = MultiTaskNetEstimator(**params).fit(X, Y, sample_weight=counts)
    repeated = MultiTaskNetEstimator(**params).fit(
        np.repeat(X, counts, axis=0), np.repeat(Y, counts, axis=0)
    )
    # compare the classes (the regression head learned nothing)
    assert_allclose(
        weighted.predict_proba(X)[0], repeated.predict_proba(X)[0], rtol=1e-4
    )


def test_per_task_weights_as_dataframe_are_matched_by_name(census):
    X, Y = census
    weights = pd.DataFrame(
        np.random.RandomState(0).uniform(0.5, 2, size=Y.shape), columns=Y.columns
    )
    by_name = make_estimator().fit(
        X, Y, sample_weight=weights[["age", "income", "married"]]
    )
    by_position = make_estimator().fit(X, Y, sample_weight=weights.to_numpy())
    assert_same_model(by_name, by_position, X)


def test_class_weight_balanced_raises_minority_recall():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 3))
    rare = (X[:, 0] + 0.8 * rng.normal(size=400) > 1.4).astype(int)  # ~10 %
    Y = np.column_stack([rare, X[:, 1]]).astype(float)
    recalls = {}
    for class_weight in (None, "balanced"):
        tasks = [
            ("rare", Task("classification", class_weight=class_weight)),
            ("other", Task("regression")),
        ]
        est = MultiTaskNetEstimator(
            tasks=tasks, trunk_sizes=(16,), max_epochs=20, lr=1e-2, random_state=0
        ).fit(X, Y)
        recalls[class_weight] = recall_score(rare, est.predict(X)[:, 0])
    assert recalls["balanced"] > recalls[None] + 0.2


def test_balanced_class_weights_follow_sklearn():
    values = np.array(["a", "b", "b", "b", "c", "c"])
    target = ClassCodec(np.array(["a", "b", "c"]))
    expected = compute_class_weight("balanced", classes=target.classes, y=values)
    weights = class_weights("t", target, "balanced", values)
    assert_allclose(weights, expected[np.searchsorted(target.classes, values)])


def test_class_weight_dict_is_keyed_by_original_labels(census):
    X, Y = census
    est = make_estimator(max_epochs=1)
    est.set_params(married__class_weight={True: 3.0}, income__class_weight={"low": 2})
    est.fit(X, Y)
    assert est.tasks_[1][1].class_weight == {True: 3.0}
    target = est._codecs_[1]
    assert_allclose(
        class_weights("m", target, {True: 3.0}, np.array([True, False])), [3.0, 1.0]
    )


def test_class_weight_multiplies_sample_weight():
    target = ClassCodec(np.array([0, 1]))
    weights = class_weights("t", target, {0: 2.0, 1: 5.0}, np.array([0, 1, 1]))
    assert_allclose(weights, [2.0, 5.0, 5.0])


@pytest.mark.parametrize(
    "sample_weight, message",
    [
        (
            np.ones(10),
            "sample_weight has shape (10,), but X has 240 rows and there are 3",
        ),
        (np.ones((240, 2)), "sample_weight has shape (240, 2)"),
        (
            np.r_[-1.0, np.ones(239)],
            "sample_weight must be non-negative, got -1.0 at row 0",
        ),
        (np.r_[np.nan, np.ones(239)], "sample_weight holds NaN or infinite values"),
        (np.zeros(240), "sample_weight is zero everywhere"),
        (
            np.column_stack([np.ones(240), np.ones(240), np.zeros(240)]),
            "Task 'age' has no label of positive weight",
        ),
    ],
)
def test_invalid_sample_weight(census, sample_weight, message):
    X, Y = census
    with pytest.raises(ValueError, match=re.escape(message)):
        make_estimator().fit(X, Y, sample_weight=sample_weight)


def test_class_weight_errors(census):
    X, Y = census
    with pytest.raises(
        ValueError,
        match="Task 'age' is a regression task, but it has class_weight='balanced'",
    ):
        make_estimator().set_params(age__class_weight="balanced").fit(X, Y)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Task 'income': class_weight has key(s) ['rich'] that are not classes of "
            "the "
            "task; its classes are ['high', 'low', 'mid']"
        ),
    ):
        make_estimator().set_params(income__class_weight={"rich": 2.0}).fit(X, Y)
    with pytest.raises(ValueError, match="class_weight values must be non-negative"):
        make_estimator().set_params(income__class_weight={"low": -1}).fit(X, Y)
    with pytest.raises(ValueError, match="The 'class_weight' parameter of Task"):
        make_estimator().set_params(income__class_weight="auto").fit(X, Y)


def test_sample_weight_in_pipeline_and_grid_search(census):
    X, Y = census
    weights = np.random.RandomState(0).uniform(0.5, 2, size=Y.shape)
    pipe = make_pipeline(StandardScaler(), make_estimator())
    pipe.fit(X, Y, multitasknetestimator__sample_weight=weights)
    search = GridSearchCV(
        make_estimator(),
        {"income__class_weight": [None, "balanced"]},
        cv=2,
        error_score="raise",
    ).fit(X, Y, sample_weight=weights)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_warm_start_with_sample_weight(census):
    X, Y = census
    est = make_estimator(warm_start=True).fit(X, Y)
    est.fit(X, Y, sample_weight=np.linspace(0.5, 2, len(X)))
    assert est.n_iter_ == 6


def test_scores_are_weighted(census):
    X, Y = census
    est = make_estimator().fit(X, Y)
    weights = np.random.RandomState(0).uniform(0, 2, size=Y.shape)
    scores = est.score_tasks(X, Y, sample_weight=weights)
    expected = accuracy_score(
        Y["income"], est.predict(X)[:, 0], sample_weight=weights[:, 0]
    )
    assert scores["income"] == pytest.approx(expected)
    mean = np.mean(list(scores.values()))
    assert est.score(X, Y, sample_weight=weights) == pytest.approx(mean)
    assert est.score_tasks(X, Y, sample_weight=np.ones(len(X))) == est.score_tasks(X, Y)


@pytest.mark.parametrize("scale", [1 / 240, 1e-3, 7.0])
def test_scaling_every_weight_changes_nothing(census, scale):
    # Each task's loss is a weighted mean: only the ratios of weights count,
    # also when the weights of a batch sum to less than one.
    X, Y = census
    weights = np.random.RandomState(3).uniform(0.5, 2.0, size=len(X))
    reference = make_estimator().fit(X, Y, sample_weight=weights)
    scaled = make_estimator().fit(X, Y, sample_weight=weights * scale)
    assert_array_equal(scaled.predict(X)[:, :2], reference.predict(X)[:, :2])
    np.testing.assert_allclose(
        scaled.predict(X)[:, 2].astype(float),
        reference.predict(X)[:, 2].astype(float),
        rtol=1e-4,
    )
