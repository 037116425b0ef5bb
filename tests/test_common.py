"""scikit-learn's common estimator checks."""

import importlib.util

import pytest
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_param_validation,
    parametrize_with_checks,
)

from sklearn_mtl import MultiTaskNetEstimator

# Small and seeded so that the checks run in seconds and compare equal fits.
# Without dropout (the default has 0.1): dropout draws a mask per row, so a row
# of weight 2 and two copies of it see different masks, and the sample-weight
# equivalence checks could only hold in expectation.
ESTIMATOR = MultiTaskNetEstimator(
    trunk_sizes=(16,), max_epochs=5, dropout=0.0, random_state=0
)
# ... and with each numerical embedding (which refuses a sparse X), when its
# optional package is there.
EMBEDDINGS = (
    [
        MultiTaskNetEstimator(
            trunk_sizes=(16,),
            max_epochs=5,
            dropout=0.0,
            random_state=0,
            num_embedding=kind,
        )
        for kind in ("periodic", "piecewise_linear")
    ]
    if importlib.util.find_spec("rtdl_num_embeddings")
    else []
)

EXPECTED_FAILED_CHECKS = {}


@parametrize_with_checks(
    [ESTIMATOR, *EMBEDDINGS], expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize(
    "check", [check_param_validation, check_dataframe_column_names_consistency]
)
def test_checks_not_in_the_generator(check):
    # parametrize_with_checks does not yield these two; scikit-learn runs
    # them on its own estimators separately.
    check(type(ESTIMATOR).__name__, ESTIMATOR)
