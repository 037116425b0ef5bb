"""The one seam to scikit-learn's private API: every name it re-exports, pinned."""

from numbers import Integral, Real

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, get_scorer, log_loss

from sklearn_mtl import MultiTaskNetEstimator, _compat
from sklearn_mtl._compat import (
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
    _BaseComposition,
    _fit_context,
    _safe_indexing,
    get_output_config,
    scorer_with_kwargs,
    set_output_config,
)

EXPECTED = {
    "HasMethods",
    "Interval",
    "InvalidParameterError",
    "StrOptions",
    "_BaseComposition",
    "_fit_context",
    "_safe_indexing",
    "get_output_config",
    "scorer_with_kwargs",
    "set_output_config",
}


def test_all_names_are_pinned():
    assert set(_compat.__all__) == EXPECTED
    for name in _compat.__all__:
        assert getattr(_compat, name) is not None


def test_functions_are_callable():
    for function in (
        _fit_context,
        _safe_indexing,
        get_output_config,
        scorer_with_kwargs,
        set_output_config,
    ):
        assert callable(function)


def test_types_are_classes():
    for cls in (HasMethods, Interval, StrOptions, _BaseComposition):
        assert isinstance(cls, type)
    assert issubclass(InvalidParameterError, ValueError)
    assert issubclass(InvalidParameterError, TypeError)


def test_constraints_behave():
    assert Interval(Real, 0, None, closed="left").is_satisfied_by(0.0)
    assert not Interval(Real, 0, None, closed="left").is_satisfied_by(-0.5)
    assert not Interval(Integral, 1, None, closed="left").is_satisfied_by(0)
    assert StrOptions({"a", "b"}).is_satisfied_by("a")
    assert not StrOptions({"a", "b"}).is_satisfied_by("c")
    assert HasMethods(["fit"]).is_satisfied_by(LogisticRegression())
    assert not HasMethods(["fit"]).is_satisfied_by(object())


def test_fit_context_validates_parameters():
    class Estimator(BaseEstimator):
        _parameter_constraints = {"alpha": [Interval(Real, 0, None, closed="left")]}

        def __init__(self, alpha=1.0):
            self.alpha = alpha

        @_fit_context(prefer_skip_nested_validation=True)
        def fit(self, X=None, y=None):
            self.fitted_ = True
            return self

    assert Estimator().fit().fitted_
    with pytest.raises(InvalidParameterError, match="alpha"):
        Estimator(alpha=-1.0).fit()


def test_base_composition_manages_named_steps():
    class Composite(_BaseComposition):
        def __init__(self, steps):
            self.steps = steps

        def get_params(self, deep=True):
            return self._get_params("steps", deep=deep)

        def set_params(self, **params):
            self._set_params("steps", **params)
            return self

    composite = Composite([("lr", LogisticRegression())])
    assert composite.get_params()["lr__C"] == 1.0
    composite.set_params(lr__C=2.0)
    assert composite.steps[0][1].C == 2.0


def test_safe_indexing_of_arrays_and_frames():
    np.testing.assert_array_equal(_safe_indexing(np.arange(5), [0, 3]), [0, 3])
    frame = pd.DataFrame({"a": [1, 2, 3], "b": [4, 5, 6]})
    assert _safe_indexing(frame, [2, 0]).to_dict("list") == {"a": [3, 1], "b": [6, 4]}
    assert _safe_indexing(frame, "b", axis=1).tolist() == [4, 5, 6]


def _classification():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 2))
    y = np.where(X[:, 0] + 0.3 * rng.normal(size=60) > 0.3, "b", "a")
    return X, y, LogisticRegression().fit(X, y)


def test_scorer_with_kwargs_adds_metric_arguments():
    X, y, model = _classification()
    scorer = scorer_with_kwargs(get_scorer("f1"), {"pos_label": "a"})
    assert scorer(model, X, y) == pytest.approx(
        f1_score(y, model.predict(X), pos_label="a")
    )
    other = scorer_with_kwargs(get_scorer("f1"), {"pos_label": "b"})
    assert other(model, X, y) == pytest.approx(
        f1_score(y, model.predict(X), pos_label="b")
    )
    assert scorer(model, X, y) != other(model, X, y)


def test_scorer_with_kwargs_keeps_the_scorer_own_arguments():
    X, y, model = _classification()
    scorer = scorer_with_kwargs(get_scorer("f1_macro"), {"zero_division": 0.0})
    expected = f1_score(y, model.predict(X), average="macro", zero_division=0.0)
    assert scorer(model, X, y) == pytest.approx(expected)


def test_scorer_with_kwargs_keeps_sign_and_response_method():
    X, y, model = _classification()
    original = get_scorer("neg_log_loss")
    rebuilt = scorer_with_kwargs(original, {})
    assert rebuilt(model, X, y) == pytest.approx(original(model, X, y))
    assert rebuilt(model, X, y) == pytest.approx(-log_loss(y, model.predict_proba(X)))
    assert rebuilt(model, X, y) < 0


def test_scorer_with_kwargs_does_not_change_the_given_scorer():
    original = get_scorer("f1")
    before = dict(original._kwargs)
    scorer_with_kwargs(original, {"pos_label": "b"})
    assert original._kwargs == before


def test_output_config_round_trip():
    est = MultiTaskNetEstimator()
    assert get_output_config(est) == {}
    set_output_config(est, {"predict": "pandas"})
    assert get_output_config(est) == {"predict": "pandas"}


def test_output_config_is_copied_in_and_out():
    est = MultiTaskNetEstimator()
    config = {"predict": "pandas"}
    set_output_config(est, config)
    config["predict"] = "default"
    got = get_output_config(est)
    got["transform"] = "pandas"
    assert get_output_config(est) == {"predict": "pandas"}


def test_output_config_survives_clone():
    est = MultiTaskNetEstimator(max_epochs=3)
    set_output_config(est, {"predict": "pandas", "transform": "default"})
    cloned = clone(est)
    assert cloned is not est
    assert get_output_config(cloned) == {"predict": "pandas", "transform": "default"}


def test_output_config_of_set_output():
    # the config set_output writes is the one get_output_config reads
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().set_output(transform="pandas")
    assert get_output_config(scaler) == {"transform": "pandas"}
    assert get_output_config(clone(scaler)) == {"transform": "pandas"}


def test_estimator_set_output_is_read_back_and_survives_clone():
    est = MultiTaskNetEstimator().set_output(predict="pandas")
    assert get_output_config(est) == {"predict": "pandas"}
    assert get_output_config(clone(est)) == {"predict": "pandas"}
