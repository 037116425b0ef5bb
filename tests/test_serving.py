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


def _schema_nodes(node):
    """Every node of a skops schema, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _schema_nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _schema_nodes(value)


def test_skops_file_of_a_default_fit_holds_no_pickle(fitted):
    sio = pytest.importorskip("skops.io")
    import json
    import zipfile

    import safetensors.torch

    est, X, _ = fitted
    data = sio.dumps(est)
    untrusted = sio.get_untrusted_types(data=data)
    assert set(untrusted) <= set(sklearn_mtl.skops_trusted_types())
    assert_same_predictions(
        est, sio.loads(data, trusted=sklearn_mtl.skops_trusted_types()), X
    )
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
        blobs = [
            archive.read(node["file"])
            for node in _schema_nodes(schema)
            if node.get("__loader__") == "BytesNode"
        ]
    # skorch's pickle of the module, criterion and optimizer is a BytesNode
    # under this key; the only bytes left are the tensors, as safetensors
    assert "__cuda_dependent_attributes__" not in json.dumps(schema)
    assert len(blobs) == 1
    tensors = safetensors.torch.load(blobs[0])
    assert {name.partition(".")[0] for name in tensors} == {
        "module",
        "criterion",
        "optimizer",
    }


class SmallTrunk(torch.nn.Module):
    """A user's trunk: its state is its own, so skorch's pickle keeps it."""

    def __init__(self, n_features):
        super().__init__()
        self.linear = torch.nn.Linear(n_features, 4)
        self.out_features = 4

    def forward(self, X):
        return torch.relu(self.linear(X))


def test_skops_file_of_a_custom_trunk_keeps_skorchs_pickle(census_module):
    sio = pytest.importorskip("skops.io")
    X, Y = census_module
    est = make_estimator(max_epochs=1, trunk=SmallTrunk).fit(X, Y)
    data = sio.dumps(est)
    assert b"__cuda_dependent_attributes__" in data
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    assert_same_predictions(est, loaded, X)


def test_skops_file_of_a_tiny_model_is_within_four_times_joblib(census_module):
    sio = pytest.importorskip("skops.io")
    X, Y = census_module
    # 20 epochs of a one-layer network of 4 units: almost all of either file
    # is what the estimator keeps besides the weights (3.2 times; it was ten).
    est = make_estimator(max_epochs=20, trunk_sizes=(4,)).fit(X, Y)
    buffer = io.BytesIO()
    joblib.dump(est, buffer)
    assert len(sio.dumps(est)) < 4 * len(buffer.getvalue())


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"weighting": "uncertainty"},
        {"weighting": "gradnorm"},
        {"weighting": "pcgrad"},
        {"weighting": "famo"},
        {"architecture": MMoE(n_experts=2)},
        {"n_ensemble": 2},
        {"num_embedding": "periodic"},
        {"freeze_trunk": True},
        {"optimizer": torch.optim.SGD},
        {"schedule": "sequential"},
    ],
    ids=repr,
)
def test_pickle_round_trip_keeps_weights_criterion_and_optimizer(census_module, params):
    X, Y = census_module
    if params.get("freeze_trunk"):
        params["init_trunk_from"] = make_estimator(max_epochs=1, trunk_sizes=(4,))
        params["init_trunk_from"].fit(X, Y)
    est = make_estimator(max_epochs=2, trunk_sizes=(4,), **params).fit(X, Y)
    loaded = pickle.loads(pickle.dumps(est))
    assert_same_predictions(est, loaded, X)
    net, back = est.net_, loaded.net_
    for name in ("module_", "criterion_"):
        a, b = getattr(net, name), getattr(back, name)
        assert a.state_dict().keys() == b.state_dict().keys()
        for key, value in a.state_dict().items():
            assert torch.equal(value, b.state_dict()[key])
            assert value.dtype == b.state_dict()[key].dtype
        assert [m.training for m in a.modules()] == [m.training for m in b.modules()]
        assert [p.requires_grad for p in a.parameters()] == [
            p.requires_grad for p in b.parameters()
        ]
    old, new = net.optimizer_.state_dict(), back.optimizer_.state_dict()
    assert old["param_groups"] == new["param_groups"]
    assert net.optimizer_.defaults == back.optimizer_.defaults
    for index, entries in old["state"].items():
        for key, value in entries.items():
            assert torch.equal(value, new["state"][index][key])
    assert back._params_to_validate == net._params_to_validate
    assert list(back.virtual_params_) == list(net.virtual_params_)
    assert list(vars(back)) == list(vars(net))
    assert list(vars(loaded)) == list(vars(est))


def test_warm_start_after_a_pickle_round_trip_continues_as_without_it(
    census_module,
):
    X, Y = census_module
    est = make_estimator(max_epochs=2, weighting="uncertainty").fit(X, Y)
    loaded = pickle.loads(pickle.dumps(est))
    for model in (est, loaded):
        model.set_params(warm_start=True, max_epochs=2).fit(X, Y)
    for a, b in zip(est.net_.module_.parameters(), loaded.net_.module_.parameters()):
        assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=1e-6, rtol=0)
    assert_allclose(
        est.net_.criterion_.log_vars.detach().numpy(),
        loaded.net_.criterion_.log_vars.detach().numpy(),
        atol=1e-6,
        rtol=0,
    )


def test_partial_fit_after_a_pickle_round_trip_continues_as_without_it(
    census_module,
):
    X, Y = census_module
    est = make_estimator().partial_fit(X, Y)
    loaded = pickle.loads(pickle.dumps(est))
    est.partial_fit(X, Y)
    loaded.partial_fit(X, Y)
    for a, b in zip(est.net_.module_.parameters(), loaded.net_.module_.parameters()):
        assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=1e-6, rtol=0)


def test_unpickling_leaves_torchs_global_generator_alone(fitted):
    est, _, _ = fitted
    data = pickle.dumps(est)
    before = torch.random.get_rng_state()
    pickle.loads(data)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_pickle_of_the_earlier_layout_still_loads(fitted, monkeypatch):
    from sklearn.base import BaseEstimator

    from sklearn_mtl._training import MultiTaskNet

    est, X, _ = fitted
    # the earlier code's state: skorch's pickle of the torch objects, the
    # estimator's attributes as they are
    monkeypatch.setattr(MultiTaskNet, "_data_state", lambda self: None)
    monkeypatch.setattr(
        MultiTaskNetEstimator, "__getstate__", BaseEstimator.__getstate__
    )
    data = pickle.dumps(est)
    assert b"__cuda_dependent_attributes__" in data
    monkeypatch.undo()
    loaded = pickle.loads(data)
    assert_same_predictions(est, loaded, X)
    assert loaded.net_.history.to_list() == est.net_.history.to_list()
    # and it trains on
    loaded.set_params(warm_start=True, max_epochs=1).fit(X, fitted[2])


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_pickle_of_a_cuda_fit_loads_on_the_cpu(fitted):
    from skorch.exceptions import DeviceWarning

    est, X, _ = fitted
    state = est.net_.__getstate__()
    state["device"] = "cuda"  # as a GPU fit would have it
    net = type(est.net_).__new__(type(est.net_))
    with pytest.warns(DeviceWarning):
        net.__setstate__(state)
    assert net.device == torch.device("cpu")
    assert all(p.device.type == "cpu" for p in net.module_.parameters())
    loaded = copy.copy(est)
    loaded.net_ = net
    assert_same_predictions(est, loaded, X)


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
