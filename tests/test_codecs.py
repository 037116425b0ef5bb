"""Per-task codecs: class labels <-> indices, regression targets <-> z-scores."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_mtl._codecs import ClassCodec, ScaleCodec, fit_codec

INVALID = "The model file is invalid"


# -- ClassCodec -------------------------------------------------------------------


def test_class_codec_classes_are_sorted_and_unique():
    codec = ClassCodec.from_labels("t", np.array(["red", "blue", "red", "green"]))
    np.testing.assert_array_equal(codec.classes, ["blue", "green", "red"])
    assert codec.n_outputs == 3
    assert codec.kind == "classification"


def test_class_codec_sorts_numbers():
    codec = ClassCodec.from_labels("t", np.array([3, -1, 3, 2]))
    np.testing.assert_array_equal(codec.classes, [-1, 2, 3])


@pytest.mark.parametrize(
    "labels",
    [
        np.array(["b", "a", "c", "a"]),
        np.array([10, 5, 7, 5]),
        np.array([True, False, True]),
        np.array([0.5, 2.5, 0.5]),
        np.array(["x", "y", "x"], dtype=object),
    ],
)
def test_class_codec_encode_decode_round_trip(labels):
    codec = ClassCodec.from_labels("t", labels)
    codes = codec.encode(labels)
    assert codes.dtype == np.float64
    assert set(codes.tolist()) <= set(range(codec.n_outputs))
    one_hot = np.eye(codec.n_outputs)[codes.astype(int)]
    np.testing.assert_array_equal(codec.decode(one_hot), labels)


def test_class_codec_class_indices_match_encode():
    labels = np.array(["b", "a", "c", "a"])
    codec = ClassCodec.from_labels("t", labels)
    np.testing.assert_array_equal(codec.class_indices(labels), codec.encode(labels))


def test_class_codec_proba_rows_sum_to_one_and_agree_with_decode():
    codec = ClassCodec.from_labels("t", np.array(["a", "b", "c"]))
    logits = np.random.default_rng(0).normal(scale=3.0, size=(20, 3)).astype(np.float32)
    proba = codec.proba(logits)
    assert proba.dtype == np.float64
    assert proba.shape == (20, 3)
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(
        codec.classes[proba.argmax(axis=1)], codec.decode(logits)
    )


def test_class_codec_one_class_error():
    with pytest.raises(ValueError, match="only one class.*at least 2 classes"):
        ClassCodec.from_labels("t", np.array(["a", "a", "a"]))


def test_class_codec_mixed_types_error():
    with pytest.raises(TypeError, match=r"Task 't' mixes label types \['int', 'str'\]"):
        ClassCodec.from_labels("t", np.array(["a", 1, "b"], dtype=object))


def test_class_codec_check_labels_accepts_known_subset():
    codec = ClassCodec.from_labels("t", np.array(["a", "b", "c"]))
    codec.check_labels("t", np.array(["c", "a"]))


def test_class_codec_check_labels_rejects_unseen():
    codec = ClassCodec.from_labels("t", np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"labels \['z'\].*warm_start=False"):
        codec.check_labels("t", np.array(["a", "z"]))


# -- ScaleCodec -------------------------------------------------------------------


def test_scale_codec_standardizes():
    values = np.array([3.0, 7.0, 10.0, -2.0, 4.5])
    codec = ScaleCodec.from_labels("t", values)
    encoded = codec.encode(values)
    assert codec.kind == "regression" and codec.n_outputs == 1
    assert encoded.mean() == pytest.approx(0.0, abs=1e-12)
    assert encoded.std() == pytest.approx(1.0)
    assert codec.proba is None


def test_scale_codec_accepts_integers():
    codec = ScaleCodec.from_labels("t", np.array([1, 2, 3]))
    assert codec.mean == pytest.approx(2.0)
    assert codec.encode(np.array([2])) == pytest.approx([0.0])


def test_scale_codec_decode_inverts_encode():
    values = np.array([3.0, 7.0, 10.0, -2.0, 4.5])
    codec = ScaleCodec.from_labels("t", values)
    decoded = codec.decode(codec.encode(values)[:, None].astype(np.float32))
    assert decoded.dtype == np.float64
    np.testing.assert_allclose(decoded, values, rtol=1e-6)


def test_scale_codec_constant_target_has_scale_one():
    codec = ScaleCodec.from_labels("t", np.array([5.0, 5.0, 5.0]))
    assert codec.mean == 5.0
    assert codec.scale == 1.0
    np.testing.assert_array_equal(codec.encode(np.array([5.0, 6.0])), [0.0, 1.0])


def test_scale_codec_non_numeric_error():
    with pytest.raises(ValueError, match="not numeric.*'a' of type str"):
        ScaleCodec.from_labels("t", np.array([1.0, "a"], dtype=object))


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_scale_codec_infinite_error(bad):
    with pytest.raises(ValueError, match="has infinite labels"):
        ScaleCodec.from_labels("t", np.array([1.0, bad, 2.0]))


def test_scale_codec_check_labels_runs_fit_checks():
    codec = ScaleCodec.from_labels("t", np.array([1.0, 2.0]))
    codec.check_labels("t", np.array([100.0]))
    with pytest.raises(ValueError, match="has infinite labels"):
        codec.check_labels("t", np.array([np.inf]))


@settings(max_examples=50, deadline=None, derandomize=True, database=None)
@given(
    st.lists(
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
        min_size=1,
        max_size=30,
    )
)
def test_scale_codec_decode_encode_property(values):
    values = np.array(values)
    codec = ScaleCodec.from_labels("t", values)
    decoded = codec.decode(codec.encode(values)[:, None])
    np.testing.assert_allclose(
        decoded, values, rtol=1e-9, atol=1e-9 * max(1.0, np.abs(values).max())
    )


# -- fit_codec --------------------------------------------------------------------


def test_fit_codec_picks_the_kind():
    assert isinstance(fit_codec("t", "classification", np.array([0, 1])), ClassCodec)
    assert isinstance(fit_codec("t", "regression", np.array([0.0, 1.0])), ScaleCodec)


def test_fit_codec_without_labels_error():
    with pytest.raises(ValueError, match="Task 't' has no labels in y"):
        fit_codec("t", "regression", np.array([]))


# -- to_dict / from_dict ----------------------------------------------------------


@pytest.mark.parametrize(
    "labels",
    [
        np.array(["blue", "red", "green"]),
        np.array([3, 1, 2]),
        np.array([0.5, 1.5]),
        np.array([True, False]),
        np.array(["x", "y"], dtype=object),
    ],
    ids=["str", "int", "float", "bool", "object-str"],
)
def test_class_codec_dict_round_trip(labels):
    codec = ClassCodec.from_labels("t", labels)
    data = codec.to_dict("t")
    restored = ClassCodec.from_dict("t", data)
    assert restored.classes.dtype == codec.classes.dtype
    np.testing.assert_array_equal(restored.classes, codec.classes)
    np.testing.assert_array_equal(restored.encode(labels), codec.encode(labels))


def test_class_codec_to_dict_is_plain_data():
    data = ClassCodec.from_labels("t", np.array([2, 1])).to_dict("t")
    assert all(type(v) is int for v in data["classes"])
    assert isinstance(data["dtype"], str)


def test_class_codec_to_dict_rejects_non_string_objects():
    codec = ClassCodec(np.array([1.5, "a"], dtype=object))
    with pytest.raises(ValueError, match="Cannot save task 't'"):
        codec.to_dict("t")


@pytest.mark.parametrize(
    "data, match",
    [
        ({"dtype": "O", "classes": ["a", "b"]}, "unsupported class dtype 'O'"),
        ({"dtype": "<U1", "classes": "ab"}, "list of at least 2 class labels"),
        ({"dtype": "<U1", "classes": ("a", "b")}, "list of at least 2 class labels"),
        ({"dtype": "<U1", "classes": ["a"]}, "list of at least 2 class labels"),
        ({"classes": ["a", "b"]}, "unsupported class dtype None"),
        ({"dtype": "object", "classes": ["a", 1]}, "must be strings"),
        ({"dtype": "<i8", "classes": [1, None]}, "numbers, booleans or strings"),
        ({"dtype": "<i8", "classes": ["a", "b"]}, "class labels"),
        ({"dtype": "|i1", "classes": [1, 1000]}, "class labels"),
    ],
)
def test_class_codec_from_dict_rejects_invalid(data, match):
    with pytest.raises(ValueError, match=f"{INVALID}.*{match}"):
        ClassCodec.from_dict("t", data)


@pytest.mark.parametrize(
    "data",
    [
        {"dtype": "<U2", "classes": ["blue", "red"]},
        {"dtype": "<i8", "classes": [0.5, 1.5]},
    ],
    ids=["str-truncated", "float-to-int"],
)
def test_class_codec_from_dict_rejects_lossy_dtype(data):
    with pytest.raises(ValueError, match=INVALID):
        ClassCodec.from_dict("t", data)


@pytest.mark.parametrize(
    "classes", [["b", "a"], ["a", "a"]], ids=["unsorted", "duplicated"]
)
def test_class_codec_from_dict_rejects_unsorted_or_duplicated(classes):
    with pytest.raises(ValueError, match=INVALID):
        ClassCodec.from_dict("t", {"dtype": "<U1", "classes": classes})


def test_scale_codec_dict_round_trip():
    codec = ScaleCodec.from_labels("t", np.array([1.0, 4.0, 9.0]))
    data = codec.to_dict("t")
    assert data == {"mean": codec.mean, "scale": codec.scale}
    restored = ScaleCodec.from_dict("t", data)
    assert (restored.mean, restored.scale) == (codec.mean, codec.scale)


def test_scale_codec_from_dict_accepts_ints():
    restored = ScaleCodec.from_dict("t", {"mean": 2, "scale": 3})
    assert (restored.mean, restored.scale) == (2.0, 3.0)
    assert isinstance(restored.mean, float)


@pytest.mark.parametrize(
    "data",
    [
        {"mean": "0.5", "scale": 1.0},
        {"mean": 0.0, "scale": None},
        {"mean": True, "scale": 1.0},
        {"scale": 1.0},
        {"mean": [0.0], "scale": 1.0},
    ],
)
def test_scale_codec_from_dict_rejects_non_numeric(data):
    with pytest.raises(ValueError, match=f"{INVALID}.*numeric mean and scale"):
        ScaleCodec.from_dict("t", data)


@pytest.mark.parametrize(
    "data",
    [
        {"mean": float("nan"), "scale": 1.0},
        {"mean": float("inf"), "scale": 1.0},
        {"mean": 0.0, "scale": 0.0},
        {"mean": 0.0, "scale": -1.0},
        {"mean": 0.0, "scale": float("nan")},
    ],
    ids=["nan-mean", "inf-mean", "zero-scale", "negative-scale", "nan-scale"],
)
def test_scale_codec_from_dict_rejects_degenerate(data):
    with pytest.raises(ValueError, match=INVALID):
        ScaleCodec.from_dict("t", data)


def test_class_codec_from_dict_rejects_a_string_dtype_wider_than_its_labels():
    # '<U300000000' would make np.array allocate 1.2 GB per label.
    with pytest.raises(ValueError, match="wider than its labels"):
        ClassCodec.from_dict("t", {"dtype": "<U300000000", "classes": ["a", "b"]})
