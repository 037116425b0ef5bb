"""Property tests of the hardening guarantees: tampered model files, weights' scale.

- Any edit of a saved model file's JSON or tensors either loads a model
  that predicts (finite values, labels among its classes) or fails with a
  ``ValueError`` saying the file is invalid, and never allocates far more
  than the file's tensors hold.
- Scaling every ``sample_weight`` by a positive constant leaves the model's
  predictions unchanged.
"""

import functools
import json
import resource

import hypothesis
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import sklearn_mtl
from sklearn_mtl import MultiTaskNetEstimator, Task

safetensors = pytest.importorskip("safetensors")
from safetensors import safe_open  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        hypothesis.HealthCheck.too_slow,
        hypothesis.HealthCheck.function_scoped_fixture,
    ],
)

rng = np.random.RandomState(0)
X = rng.normal(size=(60, 4))
Y = np.empty((60, 2), dtype=object)
Y[:, 0] = np.where(X[:, 0] > 0, "yes", "no")
Y[:, 1] = X[:, 1] * 3.0


@functools.cache
def saved_model(directory):
    est = MultiTaskNetEstimator(
        tasks=[("answer", Task("classification")), ("value", Task("regression"))],
        trunk_sizes=(8,),
        max_epochs=2,
        random_state=0,
    ).fit(X, Y)
    path = directory / "model.safetensors"
    sklearn_mtl.save(est, path)
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata()
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    return metadata, tensors


def _paths(node, prefix=()):
    """Every (path, leaf) of a JSON document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))
    else:
        yield prefix, node


def _set(document, path, value):
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.lists(st.integers(0, 10**9), max_size=4),
)


def _peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _check_loads_sanely_or_refuses(path):
    before = _peak_rss_mib()
    try:
        est = sklearn_mtl.load(path)
    except ValueError as exc:
        assert "model file" in str(exc) or "invalid" in str(exc), exc
        return
    finally:
        assert _peak_rss_mib() - before < 512
    pred = est.predict(X)
    assert set(pred[:, 0].tolist()) <= set(est.classes_[0].tolist())
    assert np.all(np.isfinite(pred[:, 1].astype(float)))


@SETTINGS
@given(data=st.data())
def test_edited_json_loads_a_working_model_or_is_refused(tmp_path_factory, data):
    metadata, tensors = saved_model(tmp_path_factory.getbasetemp())
    document = json.loads(metadata["estimator"])
    paths = [p for p, _ in _paths(document) if p and p[0] != "history"]
    for _ in range(data.draw(st.integers(1, 3))):
        _set(document, data.draw(st.sampled_from(paths)), data.draw(LEAVES))
    path = tmp_path_factory.mktemp("edit") / "model.safetensors"
    save_file(tensors, path, metadata={**metadata, "estimator": json.dumps(document)})
    _check_loads_sanely_or_refuses(path)


@SETTINGS
@given(data=st.data())
def test_edited_tensors_load_a_working_model_or_are_refused(tmp_path_factory, data):
    metadata, tensors = saved_model(tmp_path_factory.getbasetemp())
    tensors = {name: tensor.clone() for name, tensor in tensors.items()}
    name = data.draw(st.sampled_from(sorted(tensors)))
    edit = data.draw(st.sampled_from(["value", "shape", "drop"]))
    if edit == "value" and tensors[name].is_floating_point() and tensors[name].numel():
        value = data.draw(st.sampled_from([float("nan"), float("inf"), 1e30]))
        tensors[name].view(-1)[0] = value
    elif edit == "shape":
        tensors[name] = torch.zeros(data.draw(st.integers(1, 64)))
    else:
        del tensors[name]
    path = tmp_path_factory.mktemp("edit") / "model.safetensors"
    save_file(tensors, path, metadata=metadata)
    _check_loads_sanely_or_refuses(path)


@settings(max_examples=8, deadline=None, derandomize=True, database=None)
@given(scale=st.floats(1e-6, 1e6))
def test_scaling_sample_weight_leaves_predictions_unchanged(scale):
    weights = np.random.RandomState(1).uniform(0.2, 3.0, size=len(X))

    def fit(w):
        est = MultiTaskNetEstimator(
            tasks=[("answer", Task("classification"))],
            trunk_sizes=(8,),
            max_epochs=3,
            random_state=0,
        )
        return est.fit(X, Y[:, 0], sample_weight=w).predict_proba(X)

    np.testing.assert_allclose(fit(weights * scale), fit(weights), rtol=1e-4, atol=1e-6)
