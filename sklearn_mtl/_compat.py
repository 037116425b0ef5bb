"""The one seam to scikit-learn's private API.

Everything this package uses from scikit-learn that is not public lives here,
so that a scikit-learn release that moves it breaks one file, and
``tests/test_compat.py`` pins each name.
"""

from sklearn.base import _fit_context
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
)
from sklearn.utils.metaestimators import _BaseComposition

__all__ = [
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
]

# The attribute in which scikit-learn's ``set_output`` keeps its choices; clone
# copies it, which is what makes the choice survive GridSearchCV.
_OUTPUT_CONFIG = "_sklearn_output_config"


def get_output_config(estimator):
    """The choices of ``estimator.set_output``, e.g. ``{"predict": "pandas"}``."""
    return dict(getattr(estimator, _OUTPUT_CONFIG, {}))


def set_output_config(estimator, config):
    """Store ``set_output``'s choices where :func:`~sklearn.base.clone` finds them."""
    setattr(estimator, _OUTPUT_CONFIG, dict(config))


def scorer_with_kwargs(scorer, kwargs):
    """A named scikit-learn scorer rebuilt with extra metric arguments."""
    from sklearn.metrics import make_scorer

    return make_scorer(
        scorer._score_func,
        response_method=scorer._response_method,
        greater_is_better=scorer._sign > 0,
        **{**scorer._kwargs, **kwargs},
    )
