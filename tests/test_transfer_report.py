"""transfer_report: multi-task against single-task models in the same folds."""

import builtins

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_mtl import MultiTaskNetEstimator, Task, transfer_report

COLUMNS = [
    "metric",
    "multi_task_mean",
    "multi_task_std",
    "single_task_mean",
    "single_task_std",
    "delta",
    "negative_transfer",
]


def make_estimator(**params):
    params = {"trunk_sizes": (8,), "max_epochs": 2, "random_state": 0, **params}
    return MultiTaskNetEstimator(
        tasks=[
            ("income", Task("classification")),
            ("married", Task("classification", weight=0.5)),
            ("age", Task("regression", head_sizes=(4,))),
        ],
        **params,
    )


def test_report_compares_multi_and_single_task_models_in_the_same_folds(census):
    X, Y = census
    cv = KFold(3, shuffle=True, random_state=0)
    report = transfer_report(make_estimator(weighting="dwa"), X, Y, cv=cv)
    assert isinstance(report, pd.DataFrame)
    assert list(report.index) == ["income", "married", "age"]
    assert list(report.columns) == COLUMNS
    assert list(report["metric"]) == ["accuracy", "accuracy", "r2"]
    assert_allclose(
        report["delta"], report["multi_task_mean"] - report["single_task_mean"]
    )
    assert (report["negative_transfer"] == (report["delta"] < 0)).all()

    # the same numbers, fitted by hand in the same folds
    ages = []
    for train, test in cv.split(X):
        single = make_estimator().set_params(
            tasks=[("age", Task("regression", head_sizes=(4,)))]
        )
        single.fit(X.iloc[train], Y[["age"]].iloc[train])
        ages.append(single.score_tasks(X.iloc[test], Y[["age"]].iloc[test])["age"])
    assert report.loc["age", "single_task_mean"] == pytest.approx(np.mean(ages))
    assert report.loc["age", "single_task_std"] == pytest.approx(np.std(ages))


def test_single_task_models_get_unit_weight_and_fixed_weighting(census, monkeypatch):
    X, Y = census
    fitted = []
    original_fit = MultiTaskNetEstimator.fit

    def spy(self, X, y, sample_weight=None):
        fitted.append(clone(self))
        return original_fit(self, X, y, sample_weight)

    monkeypatch.setattr(MultiTaskNetEstimator, "fit", spy)
    transfer_report(make_estimator(weighting="pcgrad"), X, Y, cv=2)
    assert len(fitted) == 2 * 4  # 2 folds x (1 multi-task + 3 single-task)
    singles = [est for est in fitted if len(est.tasks) == 1]
    assert len(singles) == 6
    assert all(est.weighting == "fixed" for est in singles)
    assert all(est.tasks[0][1].weight == 1.0 for est in singles)
    assert sum(est.weighting == "pcgrad" for est in fitted) == 2


def test_report_on_arrays_pipelines_and_default_tasks():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(90, 3))
    Y = np.column_stack([X[:, 0] + X[:, 1], X[:, 0] - X[:, 2]])
    pipe = make_pipeline(
        StandardScaler(),
        MultiTaskNetEstimator(trunk_sizes=(4,), max_epochs=2, random_state=0),
    )
    report = transfer_report(pipe, X, Y, cv=2)
    assert list(report.index) == ["task_0", "task_1"]
    assert np.isfinite(report[["multi_task_mean", "single_task_mean"]].to_numpy()).all()


def test_report_on_nested_pipelines():
    # The multi-task model two pipelines deep: each level's preprocessing
    # transforms the test rows before they are scored.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(90, 3))
    Y = np.column_stack([X[:, 0] + X[:, 1], X[:, 0] - X[:, 2]])
    est = MultiTaskNetEstimator(trunk_sizes=(4,), max_epochs=2, random_state=0)
    nested = make_pipeline(StandardScaler(), make_pipeline(StandardScaler(), est))
    flat = make_pipeline(StandardScaler(), StandardScaler(), clone(est))
    report = transfer_report(nested, X, Y, cv=2)
    expected = transfer_report(flat, X, Y, cv=2)
    assert list(report.index) == ["task_0", "task_1"]
    assert_allclose(
        report[["multi_task_mean", "single_task_mean"]].to_numpy(),
        expected[["multi_task_mean", "single_task_mean"]].to_numpy(),
    )


def test_gradient_conflict_column(census):
    X, Y = census
    report = transfer_report(make_estimator(), X, Y, cv=2, gradient_conflict=True)
    cosines = report["mean_grad_cosine"]
    assert ((cosines >= -1) & (cosines <= 1)).all()


def test_report_as_dict_without_pandas(census, monkeypatch):
    X, Y = census
    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas":
            raise ImportError("no pandas here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    report = transfer_report(
        make_estimator(), X.to_numpy(), Y.to_numpy(dtype=object), cv=2
    )
    assert isinstance(report, dict)
    assert report["task"] == ["income", "married", "age"]
    assert set(COLUMNS) <= set(report)
    assert len(report["delta"]) == 3


def test_report_rejects_other_estimators(census):
    from sklearn.linear_model import LinearRegression

    X, Y = census
    with pytest.raises(
        TypeError, match="transfer_report needs a MultiTaskNetEstimator"
    ):
        transfer_report(LinearRegression(), X, Y)
