"""Devices: training on a GPU, and GPU-trained models used on CPU-only machines.

The GPU tests run only where CUDA is available. The CPU test simulates a
model pickled on a GPU machine and loaded on a CPU-only one: skorch's
``NeuralNet.__setstate__`` maps the net's CUDA tensors to the CPU and says so
with a ``DeviceWarning``.
"""

import io
import pickle

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from skorch.callbacks import Callback
from skorch.exceptions import DeviceWarning

from sklearn_mtl import MultiTaskNetEstimator, Task

requires_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU"
)


class RecordDevices(Callback):
    """Record the devices of the training data and of every mini-batch."""

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.dataset_devices = {X.X.device.type, X.y.device.type}
        self.batch_devices = set()

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        Xi, yi = batch
        self.batch_devices |= {Xi.device.type, yi.device.type}


def make_estimator(**params):
    return MultiTaskNetEstimator(
        tasks=[
            ("income", Task("classification")),
            ("married", Task("classification")),
            ("age", Task("regression")),
        ],
        trunk_sizes=(8,),
        max_epochs=3,
        batch_size=64,
        random_state=0,
        **params,
    )


def unpickle_without_cuda(monkeypatch, data):
    """Unpickle ``data`` as a CPU-only machine would; return it and the warnings."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(DeviceWarning) as record:
        restored = pickle.loads(data)
    messages = [str(w.message) for w in record]
    assert any("no CUDA devices are available" in m for m in messages), messages
    assert any("Setting self.device = cpu" in m for m in messages), messages
    return restored


def assert_on_cpu(est):
    assert torch.device(est.net_.device).type == "cpu"
    for tensor in [*est.net_.module_.parameters(), *est.net_.criterion_.buffers()]:
        assert tensor.device.type == "cpu"


@requires_cuda
def test_fit_and_predict_on_gpu(census):
    X, Y = census
    est = make_estimator(device="cuda", callbacks=[("devices", RecordDevices())])
    est.fit(X, Y)
    # the data were moved to the GPU once, and batches are sliced there
    recorder = dict(est.net_.callbacks_)["devices"]
    assert recorder.dataset_devices == {"cuda"}
    assert recorder.batch_devices == {"cuda"}
    assert all(p.device.type == "cuda" for p in est.net_.module_.parameters())

    y_pred = est.predict(X)
    assert y_pred.shape == (len(X), 3)
    assert set(y_pred[:, 0]) <= set(est.classes_[0])
    assert np.isfinite(y_pred[:, 2].astype(float)).all()
    for proba in est.predict_proba(X):
        assert isinstance(proba, np.ndarray)  # back on the host
        assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    assert np.isfinite(est.score(X, Y))


@requires_cuda
def test_gpu_trained_model_unpickles_on_cpu_only_machine(census, monkeypatch):
    X, Y = census
    est = make_estimator(device="cuda").fit(X, Y)
    on_gpu = est.predict_proba(X)
    restored = unpickle_without_cuda(monkeypatch, pickle.dumps(est))
    assert_on_cpu(restored)
    for a, b in zip(restored.predict_proba(X), on_gpu, strict=True):
        assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_model_pickled_on_gpu_machine_predicts_on_cpu(census, monkeypatch):
    # Simulated on any machine: fit on the CPU, then mark the net (and the
    # estimator) as living on "cuda", as a model trained on a GPU would be.
    X, Y = census
    est = make_estimator().fit(X, Y)
    y_pred, proba, score = est.predict(X), est.predict_proba(X), est.score(X, Y)
    est.set_params(device="cuda")
    est.net_.device = "cuda"
    data = pickle.dumps(est)

    restored = unpickle_without_cuda(monkeypatch, data)
    assert_on_cpu(restored)
    assert_array_equal(restored.predict(X), y_pred)
    for a, b in zip(restored.predict_proba(X), proba, strict=True):
        assert_array_equal(a, b)
    assert restored.score(X, Y) == score

    # Training again needs the device parameter set to the CPU.
    with pytest.raises(ValueError, match="device='cuda', but no CUDA device"):
        restored.fit(X, Y)
    restored.set_params(device="cpu").fit(X, Y)
    assert_array_equal(restored.predict(X), y_pred)  # same random_state


def test_warm_start_of_gpu_model_on_cpu_only_machine_fails_clearly(census, monkeypatch):
    X, Y = census
    est = make_estimator().fit(X, Y)
    est.set_params(device="cuda")
    est.net_.device = "cuda"
    restored = unpickle_without_cuda(monkeypatch, pickle.dumps(est))
    restored.set_params(warm_start=True, max_epochs=1)
    with pytest.raises(ValueError, match="device='cuda', but no CUDA device"):
        restored.fit(X, Y)


class TensorSpy(pickle.Pickler):
    """A pickler that records the tensors it pickles itself."""

    def __init__(self, file):
        super().__init__(file)
        self.tensors = []

    def reducer_override(self, obj):
        if isinstance(obj, torch.Tensor):
            self.tensors.append(obj)
        return NotImplemented  # pickle it as usual


@pytest.mark.parametrize("early_stopping", [False, True])
def test_every_pickled_tensor_is_mapped_by_skorch(census, early_stopping):
    # skorch moves the tensors of its cuda_dependent_attributes_ (module_,
    # criterion_, optimizer_) to the CPU when CUDA is missing; it pickles them
    # with a pickler of its own. Any tensor that the outer pickler meets would
    # be restored on its original device, and fail there without CUDA.
    X, Y = census
    est = make_estimator(early_stopping=early_stopping).fit(X, Y)
    spy = TensorSpy(io.BytesIO())
    spy.dump(est)
    assert spy.tensors == []
