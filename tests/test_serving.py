"""Serving: skops and MLflow round trips, ONNX export matching predict."""

import copy
import io
import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal

import sklearn_mtl
from sklearn_mtl import (
    PLE,
    CrossStitch,
    MMoE,
    MultiTaskNetEstimator,
    Task,
    TaskAttention,
)


def make_estimator(**params):
    params = {"trunk_sizes": (16,), "max_epochs": 3, "random_state": 0, **params}
    return MultiTaskNetEstimator(
        tasks=[
            ("income", Task("classification")),
            ("married", Task("classification")),
            ("age", Task("regression")),
        ],
        **params,
    )


@pytest.fixture(scope="module")
def fitted(census_module):
    X, Y = census_module
    return make_estimator().fit(X, Y), X, Y


def assert_same_predictions(a, b, X):
    assert_array_equal(a.predict(X), b.predict(X))
    for proba_a, proba_b in zip(a.predict_proba(X), b.predict_proba(X), strict=True):
        assert_array_equal(proba_a, proba_b)


# -- public target scales ------------------------------------------------------


def test_target_means_and_scales_are_the_labelled_values_moments(fitted):
    est, _, Y = fitted
    ages = Y["age"].dropna().to_numpy()
    assert set(est.target_means_) == set(est.target_scales_) == {"age"}
    assert est.target_means_["age"] == pytest.approx(ages.mean())
    assert est.target_scales_["age"] == pytest.approx(ages.std())


def test_target_means_are_empty_without_regression_tasks(census_module):
    X, Y = census_module
    est = MultiTaskNetEstimator(trunk_sizes=(4,), max_epochs=1, random_state=0)
    est.fit(X, Y[["income"]])
    assert est.target_means_ == {} and est.target_scales_ == {}


def test_predict_unscales_with_the_public_attributes(fitted):
    est, X, _ = fitted
    z = est._outputs(X, [None, None, lambda out: out[:, 0].astype(np.float64)])[2]
    expected = z * est.target_scales_["age"] + est.target_means_["age"]
    assert_allclose(est.predict(X)[:, 2].astype(np.float64), expected)


# -- skops ---------------------------------------------------------------------


def test_skops_round_trip_with_the_trusted_types(fitted):
    sio = pytest.importorskip("skops.io")
    est, X, _ = fitted
    data = sio.dumps(est)
    loaded = sio.loads(data, trusted=sklearn_mtl.skops_trusted_types())
    assert_same_predictions(est, loaded, X)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"early_stopping": True},
        {"verbose": 2},
        {"architecture": MMoE(n_experts=2)},
        {"architecture": PLE()},
        {"architecture": CrossStitch()},
        {"architecture": TaskAttention()},
        {"n_ensemble": 2},
        {"schedule": "sequential"},
        {"record_gradient_conflict": True},
        {"weighting": "uncertainty"},
        {"weighting": "dwa"},
        {"weighting": "gradnorm"},
        {"weighting": "pcgrad"},
        {"weighting": "mgda"},
        {"weighting": "famo"},
        {"lr_schedule": "coslog4"},
        {"label_smoothing": 0.1},
    ],
    ids=repr,
)
def test_skops_trusted_types_cover_the_options(census_module, params):
    sio = pytest.importorskip("skops.io")
    X, Y = census_module
    est = make_estimator(max_epochs=2, trunk_sizes=(4,), **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # progress bars, gradnorm's notes
        est.fit(X, Y)
    untrusted = sio.get_untrusted_types(data=sio.dumps(est))
    assert set(untrusted) <= set(sklearn_mtl.skops_trusted_types())


def test_skops_file_keeps_the_fitted_values_as_plain_data(fitted):
    sio = pytest.importorskip("skops.io")
    est, _, _ = fitted
    untrusted = sio.get_untrusted_types(data=sio.dumps(est))
    # the codecs and the fitted spec are plain values, not private objects
    assert not [
        t
        for t in untrusted
        if t.startswith(("sklearn_mtl._codecs", "sklearn_mtl._spec"))
    ]
    assert len([t for t in untrusted if t.startswith("sklearn_mtl.")]) == 9


def test_fitted_spec_is_kept_as_plain_values(fitted):
    est, _, _ = fitted
    state = est._spec_state_
    assert type(state) is dict
    assert type(state["module"]) is dict and type(state["loss"]) is dict
    assert est._spec_ == est._spec_  # made again, equal each time
    assert est._spec_.module.heads == (((), 3), ((), 2), ((), 1))


def test_fitted_spec_is_not_checked_again_on_another_machine(fitted):
    from sklearn_mtl._spec import spec_from_state

    est, _, _ = fitted
    # a spec checked at a CUDA fit, read where CUDA may be absent
    spec = spec_from_state({**est._spec_state_, "device": torch.device("cuda")})
    assert spec.device.type == "cuda"
    assert spec.module == est._spec_.module


def test_skops_trusted_types_is_a_fresh_list():
    types = sklearn_mtl.skops_trusted_types()
    types.clear()
    assert sklearn_mtl.skops_trusted_types()


def test_skops_file_is_within_three_times_joblib(census_module):
    sio = pytest.importorskip("skops.io")
    X, Y = census_module
    # The default network and epochs: the history must not outweigh the model.
    est = make_estimator(max_epochs=100, trunk_sizes=(128, 64)).fit(X, Y)
    buffer = io.BytesIO()
    joblib.dump(est, buffer)
    assert len(sio.dumps(est)) < 3 * len(buffer.getvalue())


def test_skops_file_grows_little_with_the_epochs(census_module):
    sio = pytest.importorskip("skops.io")
    X, Y = census_module
    short = len(sio.dumps(make_estimator(max_epochs=2).fit(X, Y)))
    long = len(sio.dumps(make_estimator(max_epochs=50).fit(X, Y)))
    # about 0.5 KB an epoch of three tasks (it was 11.5 KB)
    assert long - short < 48 * 1500


def test_pickled_history_comes_back_as_it_was(fitted):
    est, _, _ = fitted
    history = est.net_.history
    loaded = pickle.loads(pickle.dumps(est)).net_.history
    assert type(loaded) is type(history)
    assert loaded.to_list() == history.to_list()


def test_pickled_history_is_one_json_string_nan_included(fitted):
    est, _, _ = fitted
    net = copy.deepcopy(est.net_)
    net.history.record("valid_loss_age", float("nan"))
    assert isinstance(net.__getstate__()["history_"], str)
    assert np.isnan(pickle.loads(pickle.dumps(net)).history[-1, "valid_loss_age"])


def test_history_json_keeps_what_json_cannot_hold(fitted):
    est, _, _ = fitted
    net = copy.deepcopy(est.net_)
    net.history.record("matrix", np.eye(2))
    net.history.record("pair", (1, 2))
    loaded = pickle.loads(pickle.dumps(net)).history
    assert isinstance(loaded[-1, "matrix"], np.ndarray)
    assert loaded[-1, "pair"] == (1, 2)


# -- MLflow --------------------------------------------------------------------


def use_file_tracking(mlflow, tmp_path, monkeypatch):
    # MLflow 3.x refuses a directory as tracking store unless told it is
    # wanted; a database would need a migration at each test.
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())


def test_mlflow_round_trip_as_pyfunc_with_the_trusted_types(
    fitted, tmp_path, monkeypatch
):
    mlflow = pytest.importorskip("mlflow")
    pytest.importorskip("skops")
    est, X, _ = fitted
    use_file_tracking(mlflow, tmp_path, monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's own notices
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(
                est,
                name="model",
                serialization_format="skops",
                skops_trusted_types=sklearn_mtl.skops_trusted_types(),
            )
        model = mlflow.pyfunc.load_model(info.model_uri)
        predicted = model.predict(X)
    assert_array_equal(np.asarray(predicted), est.predict(X))


def test_mlflow_refuses_skops_without_the_trusted_types(fitted, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    pytest.importorskip("skops")
    est, _, _ = fitted
    use_file_tracking(mlflow, tmp_path, monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mlflow.start_run(), pytest.raises(Exception, match="untrusted types"):
            mlflow.sklearn.log_model(est, name="model", serialization_format="skops")


# -- ONNX ----------------------------------------------------------------------


def run_onnx(path, X):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path))
    names = [output.name for output in session.get_outputs()]
    rows = np.asarray(X, dtype=np.float32)
    return dict(zip(names, session.run(None, {"X": rows}), strict=True))


def assert_onnx_matches(est, path, X):
    outputs = run_onnx(path, X)
    assert list(outputs) == sklearn_mtl.onnx_output_names(est)
    predicted, probas = est.predict(X), iter(est.predict_proba(X))
    for j, (name, classes) in enumerate(zip(est.task_names_, est.classes_)):
        if classes is None:
            assert outputs[f"{name}_value"].dtype == np.float64
            assert_allclose(
                outputs[f"{name}_value"], predicted[:, j].astype(float), atol=1e-5
            )
        else:
            assert_allclose(outputs[f"{name}_proba"], next(probas), atol=1e-5)
            labels = outputs[f"{name}_label"]
            assert labels.dtype == np.int64
            assert_array_equal(classes[labels], predicted[:, j])


def test_to_onnx_matches_predict_and_predict_proba(fitted, tmp_path):
    pytest.importorskip("onnxscript")
    est, X, Y = fitted
    assert Y.isna().any().any()  # trained with missing labels
    path = tmp_path / "model.onnx"
    names = sklearn_mtl.to_onnx(est, path)
    assert names == [
        "income_proba",
        "income_label",
        "married_proba",
        "married_label",
        "age_value",
    ]
    assert_onnx_matches(est, path, X)
    assert_onnx_matches(est, path, X.iloc[:1])  # any number of rows


@pytest.mark.parametrize(
    "params",
    [
        {"n_ensemble": 3},
        {"architecture": MMoE(n_experts=2)},
        {"architecture": PLE()},
        {"architecture": CrossStitch()},
        {"architecture": TaskAttention()},
        {"num_embedding": "piecewise_linear", "n_ensemble": 2},
    ],
    ids=repr,
)
def test_to_onnx_exports_ensembles_architectures_and_embeddings(
    census_module, tmp_path, params
):
    pytest.importorskip("onnxscript")
    if "num_embedding" in params:
        pytest.importorskip("rtdl_num_embeddings")
    X, Y = census_module
    est = make_estimator(max_epochs=2, **params).fit(X, Y)
    path = tmp_path / "model.onnx"
    sklearn_mtl.to_onnx(est, path)
    assert_onnx_matches(est, path, X.iloc[:17])


def test_to_onnx_leaves_the_fitted_net_as_it_was(fitted, tmp_path):
    pytest.importorskip("onnxscript")
    est, X, _ = fitted
    before = est.predict_proba(X)
    sklearn_mtl.to_onnx(est, tmp_path / "model.onnx")
    assert est.net_.module_.training is False
    assert all(p.device.type == "cpu" for p in est.net_.module_.parameters())
    for a, b in zip(before, est.predict_proba(X), strict=True):
        assert_array_equal(a, b)


def test_to_onnx_refuses_what_is_not_a_fitted_estimator(tmp_path):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    with pytest.raises(TypeError, match="export its last step"):
        sklearn_mtl.to_onnx(
            make_pipeline(StandardScaler(), make_estimator()), tmp_path / "m.onnx"
        )
    with pytest.raises(ValueError, match="not fitted"):
        sklearn_mtl.to_onnx(make_estimator(), tmp_path / "m.onnx")


def test_onnx_output_names_name_each_task_output():
    est = make_estimator()
    est.task_names_ = ["a", "b"]
    est.classes_ = [None, np.array(["x", "y"])]
    est.net_ = object()  # fitted, as far as the names go
    assert sklearn_mtl.onnx_output_names(est) == ["a_value", "b_proba", "b_label"]


def test_onnx_labels_index_numeric_and_boolean_classes(census_module, tmp_path):
    pytest.importorskip("onnxscript")
    X, Y = census_module
    Y = pd.DataFrame({"married": Y["married"], "sign": (X["x0"] > 0).astype(int)})
    est = MultiTaskNetEstimator(trunk_sizes=(4,), max_epochs=2, random_state=0)
    est.fit(X, Y)
    path = tmp_path / "model.onnx"
    sklearn_mtl.to_onnx(est, path)
    assert_onnx_matches(est, path, X)
