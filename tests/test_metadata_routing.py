"""sample_weight routed through Pipeline and GridSearchCV (metadata routing)."""

import numpy as np
import sklearn
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_mtl import MultiTaskNetEstimator, Task


def test_sample_weight_reaches_fit_and_score_through_pipeline_and_search(census):
    X, Y = census
    weights = np.random.RandomState(0).uniform(0.5, 2.0, size=len(X))
    with sklearn.config_context(enable_metadata_routing=True):
        est = (
            MultiTaskNetEstimator(
                tasks=[
                    ("income", Task("classification")),
                    ("married", Task("classification")),
                    ("age", Task("regression")),
                ],
                trunk_sizes=(8,),
                max_epochs=2,
                random_state=0,
            )
            .set_fit_request(sample_weight=True)
            .set_score_request(sample_weight=True)
        )
        scaler = StandardScaler().set_fit_request(sample_weight=False)
        pipe = make_pipeline(scaler, est)
        search = GridSearchCV(
            pipe, {"multitasknetestimator__age__weight": [0.5, 1.0]}, cv=KFold(2)
        )
        search.fit(X, Y, sample_weight=weights)
        # the refit model is the one a direct weighted fit gives
        best_weight = search.best_params_["multitasknetestimator__age__weight"]
        direct = make_pipeline(
            StandardScaler().set_fit_request(sample_weight=False),
            est.set_params(age__weight=best_weight),
        ).fit(X, Y, sample_weight=weights)
        unweighted = clone(direct).fit(X, Y)
    assert_array_equal(search.predict(X), direct.predict(X))
    # and the weights did reach the network
    assert not np.array_equal(direct.predict(X)[:, 2], unweighted.predict(X)[:, 2])
