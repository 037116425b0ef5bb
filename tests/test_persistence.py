"""save/load: a fitted estimator as data, reloaded identically, never unpickled."""

import json
import pathlib
import pickle
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sklearn_mtl
from sklearn_mtl import MultiTaskNetEstimator, Task

safetensors = pytest.importorskip("safetensors")
from safetensors.torch import save_file  # noqa: E402


def make_estimator(**params):
    params = {"trunk_sizes": (16,), "max_epochs": 3, "random_state": 0, **params}
    return MultiTaskNetEstimator(
        tasks=[
            ("income", Task("classification")),
            ("married", Task("classification", weight=0.5)),
            ("age", Task("regression", head_sizes=(4,), loss="huber")),
        ],
        **params,
    )


@pytest.fixture
def saved(census, tmp_path):
    X, Y = census
    est = make_estimator(early_stopping=True).fit(X, Y)
    path = tmp_path / "model.safetensors"
    sklearn_mtl.save(est, path)
    return est, path, X


def assert_same_predictions(a, b, X):
    assert_array_equal(a.predict(X), b.predict(X))
    if hasattr(a, "predict_proba"):
        for proba_a, proba_b in zip(
            a.predict_proba(X), b.predict_proba(X), strict=True
        ):
            assert_array_equal(proba_a, proba_b)


def read_metadata(path):
    with safetensors.safe_open(path, framework="pt") as f:
        return f.metadata(), {name: f.get_tensor(name) for name in f.keys()}


def rewrite(path, edit):
    """Rewrite a model file with its estimator JSON changed by ``edit``."""
    metadata, tensors = read_metadata(path)
    document = json.loads(metadata["estimator"])
    edit(document)
    metadata["estimator"] = json.dumps(document)
    save_file(tensors, path, metadata=metadata)


def test_round_trip_predicts_identically_with_feature_names(saved):
    est, path, X = saved
    loaded = sklearn_mtl.load(path)
    assert_same_predictions(loaded, est, X)
    assert_array_equal(loaded.feature_names_in_, est.feature_names_in_)
    with pytest.raises(ValueError, match="feature names should match"):
        loaded.predict(X.rename(columns={"x0": "z"}))


def test_round_trip_restores_parameters_and_fitted_attributes(saved):
    est, path, _ = saved
    loaded = sklearn_mtl.load(path)
    assert repr(loaded) == repr(est)
    assert loaded.get_params()["married__weight"] == 0.5
    assert [(n, t.get_params()) for n, t in loaded.tasks_] == [
        (n, t.get_params()) for n, t in est.tasks_
    ]
    assert loaded.task_names_ == est.task_names_
    for a, b in zip(loaded.classes_, est.classes_, strict=True):
        assert (a is None and b is None) or (a.dtype == b.dtype and (a == b).all())
    assert loaded.n_iter_ == est.n_iter_
    assert loaded.n_features_in_ == est.n_features_in_
    for key in ("train_loss_age", "valid_loss_income", "valid_loss"):
        assert loaded.net_.history[:, key] == est.net_.history[:, key]


def test_pandas_output_setting_is_restored(census, tmp_path):
    X, Y = census
    est = make_estimator().fit(X, Y).set_output(predict="pandas")
    sklearn_mtl.save(est, tmp_path / "m.safetensors")
    loaded = sklearn_mtl.load(tmp_path / "m.safetensors")
    pd.testing.assert_frame_equal(loaded.predict(X), est.predict(X))


def test_learned_loss_weights_are_restored(census, tmp_path):
    if "weighting" not in MultiTaskNetEstimator().get_params():
        pytest.skip("this version of MultiTaskNetEstimator has no weighting")
    X, Y = census
    est = make_estimator(weighting="uncertainty").fit(X, Y)
    assert len(list(est.net_.criterion_.parameters())) > 0
    sklearn_mtl.save(est, tmp_path / "m.safetensors")
    loaded = sklearn_mtl.load(tmp_path / "m.safetensors")
    for a, b in zip(
        loaded.net_.criterion_.parameters(),
        est.net_.criterion_.parameters(),
        strict=True,
    ):
        assert torch.equal(a, b)
    assert_array_equal(loaded.task_weights_, est.task_weights_)
    assert_same_predictions(loaded, est, X)


def test_optimizer_state_is_restored(saved):
    est, path, _ = saved
    loaded = sklearn_mtl.load(path)
    saved_state = est.net_.optimizer_.state_dict()
    loaded_state = loaded.net_.optimizer_.state_dict()
    assert loaded_state["param_groups"] == saved_state["param_groups"]
    for index, state in saved_state["state"].items():
        for key, value in state.items():
            assert torch.equal(loaded_state["state"][index][key], value)


def test_loaded_estimator_continues_training_like_the_saved_one(census, tmp_path):
    X, Y = census
    est = make_estimator(warm_start=True, early_stopping=True).fit(X, Y)
    sklearn_mtl.save(est, tmp_path / "m.safetensors")
    loaded = sklearn_mtl.load(tmp_path / "m.safetensors")
    est.fit(X, Y)
    loaded.fit(X, Y)  # weights, optimizer state and seeds were all restored
    assert loaded.n_iter_ == est.n_iter_ == 6
    assert_same_predictions(loaded, est, X)


@pytest.mark.parametrize(
    "y",
    [
        np.array([0, 7, 7, 0] * 15, dtype=np.int16),
        np.array(["yes", "no", "no", "maybe"] * 15),
        np.array([True, False] * 30),
        np.array([0.0, 1.0, np.nan] * 20),  # float classes
        pd.Series(pd.Categorical(["b", "a", None, "a"] * 15), name="grade"),
        pd.Series([1.0, 2.5, None, 3.0] * 15, name="value"),
    ],
)
def test_round_trip_of_label_types_and_one_dimensional_y(y, tmp_path):
    X = np.random.RandomState(0).normal(size=(60, 3))
    est = MultiTaskNetEstimator(trunk_sizes=(4,), max_epochs=2, random_state=0)
    est.fit(X, y)
    sklearn_mtl.save(est, tmp_path / "m.safetensors")
    loaded = sklearn_mtl.load(tmp_path / "m.safetensors")
    assert_same_predictions(loaded, est, X)
    assert loaded.predict(X).dtype == est.predict(X).dtype
    assert loaded.predict(X).ndim == 1


def test_torch_classes_are_stored_by_name(census, tmp_path):
    X, Y = census
    est = make_estimator(optimizer=torch.optim.SGD, activation=torch.nn.ELU).fit(X, Y)
    sklearn_mtl.save(est, tmp_path / "m.safetensors")
    metadata, _ = read_metadata(tmp_path / "m.safetensors")
    params = json.loads(metadata["estimator"])["params"]
    assert params["optimizer"] == {"torch_class": "torch.optim.SGD"}
    assert params["activation"] == {"torch_class": "torch.nn.ELU"}
    loaded = sklearn_mtl.load(tmp_path / "m.safetensors")
    assert loaded.optimizer is torch.optim.SGD and loaded.activation is torch.nn.ELU
    assert_same_predictions(loaded, est, X)


def test_pipeline_step_can_be_saved(census, tmp_path):
    X, Y = census
    pipe = make_pipeline(StandardScaler(), make_estimator()).fit(X, Y)
    sklearn_mtl.save(pipe[-1], tmp_path / "m.safetensors")
    pipe.steps[-1] = ("loaded", sklearn_mtl.load(tmp_path / "m.safetensors"))
    assert pipe.predict(X).shape == (len(X), 3)


def test_device_can_be_chosen_at_load(saved, tmp_path):
    est, path, X = saved
    rewrite(path, lambda doc: doc["params"].update(device="cuda"))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="load\\(path, device='cpu'\\)"):
            sklearn_mtl.load(path)
    loaded = sklearn_mtl.load(path, device="cpu")
    assert loaded.device == "cpu"
    assert_same_predictions(loaded, est, X)


class Swish(torch.nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


class MyAdam(torch.optim.Adam):
    pass


@pytest.mark.parametrize(
    "params, message",
    [
        ({"activation": Swish}, "only those of torch.nn"),
        ({"optimizer": MyAdam}, "only those of torch.optim"),
        ({"random_state": np.random.RandomState(0)}, "only an int or None"),
    ],
)
def test_parameters_that_are_code_are_refused(census, tmp_path, params, message):
    X, Y = census
    est = make_estimator(max_epochs=1, **params).fit(X, Y)
    with pytest.raises(ValueError, match=message):
        sklearn_mtl.save(est, tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()


def test_callbacks_are_refused(census, tmp_path):
    from skorch.callbacks import Callback

    X, Y = census
    est = make_estimator(max_epochs=1, callbacks=[("noop", Callback())]).fit(X, Y)
    with pytest.raises(ValueError, match="callbacks are code"):
        sklearn_mtl.save(est, tmp_path / "m.safetensors")


def test_only_fitted_estimators_are_saved(census, tmp_path):
    X, Y = census
    with pytest.raises(NotFittedError):
        sklearn_mtl.save(make_estimator(), tmp_path / "m.safetensors")
    pipe = make_pipeline(StandardScaler(), make_estimator(max_epochs=1)).fit(X, Y)
    with pytest.raises(
        TypeError, match="save\\(\\) stores a fitted MultiTaskNetEstimator"
    ):
        sklearn_mtl.save(pipe, tmp_path / "m.safetensors")


# -- a tampered file cannot run code ------------------------------------------


class Payload:
    """Unpickling this creates the file ``marker``: stands for arbitrary code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


@pytest.fixture
def payload(tmp_path):
    marker = tmp_path / "pwned"
    data = pickle.dumps(Payload(marker))
    pickle.loads(data)  # the payload works when unpickled...
    assert marker.exists()
    marker.unlink()
    return data, marker


def test_pickle_in_place_of_the_file_is_not_unpickled(payload, tmp_path):
    data, marker = payload
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    with pytest.raises(ValueError, match="is not a sklearn_mtl model file"):
        sklearn_mtl.load(path)
    assert not marker.exists()


def test_torch_save_file_is_not_unpickled(payload, saved):
    data, marker = payload
    est, path, _ = saved
    torch.save(
        {"weights": est.net_.module_.state_dict(), "hook": Payload(marker)}, path
    )
    with pytest.raises(ValueError, match="is not a sklearn_mtl model file"):
        sklearn_mtl.load(path)
    assert not marker.exists()


def test_pickle_in_the_json_metadata_is_not_unpickled(payload, saved):
    data, marker = payload
    _, path, _ = saved
    metadata, tensors = read_metadata(path)
    metadata["estimator"] = data.decode("latin-1")
    save_file(tensors, path, metadata=metadata)
    with pytest.raises(ValueError, match="estimator metadata is not JSON"):
        sklearn_mtl.load(path)
    assert not marker.exists()


def test_pickle_in_place_of_the_weights_is_not_unpickled(payload, saved):
    data, marker = payload
    _, path, _ = saved
    metadata, tensors = read_metadata(path)
    tensors["module.trunk.0.weight"] = torch.frombuffer(
        bytearray(data), dtype=torch.uint8
    )
    save_file(tensors, path, metadata=metadata)
    with pytest.raises(ValueError, match="weights do not fit the network"):
        sklearn_mtl.load(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "field, qualname",
    [
        ("optimizer", "os.system"),
        ("optimizer", "builtins.eval"),
        ("optimizer", "torch.optim.__builtins__"),
        ("activation", "torch.nn.functional.relu"),
        ("activation", "torch.optim.Adam"),
    ],
)
def test_only_torch_optim_and_nn_classes_are_resolved(saved, field, qualname):
    _, path, _ = saved
    rewrite(path, lambda doc: doc["params"].update({field: {"torch_class": qualname}}))
    with pytest.raises(ValueError, match=f"{field} must be a .* class of torch"):
        sklearn_mtl.load(path)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda doc: doc["params"].update(lr=-1.0), "The 'lr' parameter"),
        (lambda doc: doc["params"].update(nonsense=1), "incompatible version"),
        (lambda doc: doc["tasks_"][0][1].update(kind="auto"), "classification or a"),
        (lambda doc: doc["codecs"][0].update(dtype="O"), "class dtype"),
        (lambda doc: doc["codecs"][2].update(mean="os.system"), "numeric mean"),
        (lambda doc: doc.update(history={"a": 1}), "history must be a list"),
        (
            lambda doc: doc.update(n_features_in_=99, feature_names_in_=None),
            "do not fit the network",
        ),
    ],
)
def test_malformed_documents_are_rejected(saved, edit, message):
    _, path, _ = saved
    rewrite(path, edit)
    with pytest.raises(ValueError, match=message):
        sklearn_mtl.load(path)


def test_file_of_an_older_format_version_names_it(saved):
    _, path, _ = saved
    metadata, tensors = read_metadata(path)
    save_file(tensors, path, metadata={**metadata, "format_version": "1"})
    with pytest.raises(ValueError, match="format version '1' is not supported"):
        sklearn_mtl.load(path)


def test_file_without_sklearn_mtl_metadata(tmp_path):
    save_file({"w": torch.zeros(2)}, tmp_path / "other.safetensors")
    with pytest.raises(ValueError, match="not written by sklearn_mtl.save"):
        sklearn_mtl.load(tmp_path / "other.safetensors")


def test_clear_error_without_safetensors(saved, monkeypatch):
    est, path, _ = saved
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    with pytest.raises(ImportError, match="requires safetensors.*pip install"):
        sklearn_mtl.save(est, path)
    with pytest.raises(ImportError, match="requires safetensors"):
        sklearn_mtl.load(path)


# -- a small tampered file cannot exhaust memory or load a broken model --------


def _peak_rss_mib():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize(
    "edit",
    [
        # 32768 x 32768 float32 layers: 4 GiB each, had load allocated them
        lambda doc: doc["params"].update(trunk_sizes=[32768, 32768]),
        lambda doc: doc.update(n_features_in_=10**8, feature_names_in_=None),
        lambda doc: doc["tasks_"][2][1].update(head_sizes=[10**6]),
        lambda doc: doc["codecs"][0].update(classes=[f"c{i}" for i in range(10**5)]),
        lambda doc: (
            doc["params"].update(group_sizes=[10**6]),
            doc["tasks_"][0][1].update(group="g"),
        ),
    ],
    ids=["trunk", "features", "head", "classes", "towers"],
)
def test_sizes_in_the_json_are_checked_against_the_stored_tensors(saved, edit):
    _, path, _ = saved
    rewrite(path, edit)
    before = _peak_rss_mib()
    with pytest.raises(ValueError, match="The model file is invalid"):
        sklearn_mtl.load(path)
    assert _peak_rss_mib() - before < 512


@pytest.mark.parametrize(
    "qualname", ["torch.nn.Transformer", "torch.nn.Module", "torch.optim.Optimizer"]
)
def test_only_activation_functions_and_concrete_optimizers_are_built(saved, qualname):
    _, path, _ = saved
    field = "optimizer" if "optim" in qualname else "activation"
    rewrite(path, lambda doc: doc["params"].update({field: {"torch_class": qualname}}))
    with pytest.raises(ValueError, match=f"{field} must be a .* class of torch"):
        sklearn_mtl.load(path)


def test_an_activation_with_weights_must_come_with_them(saved):
    # PReLU is an activation function with a parameter the file does not hold.
    _, path, _ = saved
    rewrite(
        path,
        lambda doc: doc["params"].update(activation={"torch_class": "torch.nn.PReLU"}),
    )
    with pytest.raises(ValueError, match="weights do not fit the network"):
        sklearn_mtl.load(path)


def test_non_finite_weights_are_rejected(saved):
    _, path, _ = saved
    metadata, tensors = read_metadata(path)
    tensors["module.trunk.0.weight"][0, 0] = float("nan")
    save_file(tensors, path, metadata=metadata)
    with pytest.raises(ValueError, match="holds NaN or infinite values"):
        sklearn_mtl.load(path)


def test_absurd_thread_count_from_a_file_is_capped(saved):
    est, path, X = saved
    rewrite(path, lambda doc: doc["params"].update(num_threads=100_000))
    loaded = sklearn_mtl.load(path)
    previous = torch.get_num_threads()
    assert_array_equal(loaded.predict(X), est.predict(X))
    assert torch.get_num_threads() == previous


# -- whatever save writes, load reads ----------------------------------------------


def test_columns_named_like_parameters_round_trip(tmp_path):
    # tasks=None names the tasks after y's columns, which may look like a
    # parameter, hold "__" or be empty: save used to write files load refused.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    Y = pd.DataFrame({"lr": X[:, 0], "a__b": X[:, 1] > 0, "": X[:, 2]})
    est = MultiTaskNetEstimator(trunk_sizes=(4,), max_epochs=2, random_state=0)
    est.fit(X, Y)
    sklearn_mtl.save(est, tmp_path / "model.safetensors")
    loaded = sklearn_mtl.load(tmp_path / "model.safetensors")
    assert loaded.task_names_ == ["lr", "a__b", ""]
    assert_same_predictions(est, loaded, X)


def test_class_weight_keyed_by_float_labels_round_trips(tmp_path):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(float)
    est = MultiTaskNetEstimator(
        tasks=[("t", Task("classification", class_weight={0.0: 1, 1.0: 3}))],
        trunk_sizes=(4,),
        max_epochs=2,
        random_state=0,
    ).fit(X, y)
    sklearn_mtl.save(est, tmp_path / "model.safetensors")
    loaded = sklearn_mtl.load(tmp_path / "model.safetensors")
    assert loaded.tasks[0][1].class_weight == {0.0: 1, 1.0: 3}
    assert_same_predictions(est, loaded, X)
