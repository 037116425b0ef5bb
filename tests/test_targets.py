"""Target tables: columns, missing labels, label weights, the packed matrix."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.utils.class_weight import compute_class_weight

from sklearn_mtl import Task
from sklearn_mtl._layout import unpack
from sklearn_mtl._targets import (
    check_sample_weight,
    class_weights,
    drop_zero_weight,
    encode_targets,
    labelled_values,
    match_columns,
    read_targets,
    split_columns,
    stack_predictions,
    task_column,
)

RESERVED = ("lr", "max_epochs", "tasks")


# -- split_columns / read_targets / match_columns ---------------------------------


def test_split_columns_of_arrays_and_frames():
    columns, names, was_1d = split_columns(np.arange(6).reshape(3, 2))
    assert names is None and not was_1d
    np.testing.assert_array_equal(columns[1], [1, 3, 5])
    columns, names, was_1d = split_columns([1, 2, 3])
    assert len(columns) == 1 and names is None and was_1d
    columns, names, was_1d = split_columns(pd.DataFrame({1: [1], "b": [2]}))
    assert names == ["1", "b"] and not was_1d
    _, names, was_1d = split_columns(pd.Series([1, 2], name="s"))
    assert names == ["s"] and was_1d
    _, names, _ = split_columns(pd.Series([1, 2]))
    assert names is None


def test_split_columns_keeps_series_dtype():
    y = pd.DataFrame({"a": pd.array([1, None], dtype="Int64")})
    columns, _, _ = split_columns(y)
    assert str(columns[0].dtype) == "Int64"


def test_split_columns_errors():
    with pytest.raises(TypeError, match="y must be dense"):
        split_columns(sp.csr_matrix(np.eye(2)))
    with pytest.raises(ValueError, match=r"got an array of shape \(2, 2, 2\)"):
        split_columns(np.zeros((2, 2, 2)))


def test_read_targets_none_y_error():
    with pytest.raises(ValueError, match="requires y to be passed"):
        read_targets(None, None, RESERVED, 3)


def test_read_targets_matches_dataframe_columns_by_name():
    y = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "x"]})
    tasks = [("b", Task()), ("a", Task())]
    out_tasks, columns, y_1d = read_targets(y, tasks, RESERVED, 3)
    assert [name for name, _ in out_tasks] == ["b", "a"]
    assert list(columns[0]) == ["x", "y", "x"]
    assert list(columns[1]) == [1, 2, 3]
    assert not y_1d


def test_read_targets_matches_array_columns_by_position():
    y = np.array([[1.0, 10.0], [2.0, 20.0]])
    tasks = [("b", Task()), ("a", Task())]
    _, columns, _ = read_targets(y, tasks, RESERVED, 2)
    np.testing.assert_array_equal(columns[0], [1.0, 2.0])
    np.testing.assert_array_equal(columns[1], [10.0, 20.0])


def test_read_targets_default_tasks_are_named_by_position():
    tasks, columns, y_1d = read_targets(np.zeros((4, 3)), None, RESERVED, 4)
    assert [name for name, _ in tasks] == ["task_0", "task_1", "task_2"]
    assert all(isinstance(task, Task) for _, task in tasks)
    assert len(columns) == 3 and not y_1d
    tasks, _, y_1d = read_targets(np.zeros(4), None, RESERVED, 4)
    assert [name for name, _ in tasks] == ["task_0"] and y_1d


def test_read_targets_default_tasks_of_a_dataframe_take_its_column_names():
    y = pd.DataFrame({"income": [1, 2], "age": [3.0, 4.0]})
    tasks, _, _ = read_targets(y, None, RESERVED, 2)
    assert [name for name, _ in tasks] == ["income", "age"]


def test_read_targets_row_count_mismatch_error():
    with pytest.raises(ValueError, match="X has 5 rows but y has 4"):
        read_targets(np.zeros(4), None, RESERVED, 5)


def test_read_targets_validates_tasks():
    with pytest.raises(ValueError, match="clash with parameters"):
        read_targets(np.zeros(2), [("lr", Task())], RESERVED, 2)


def test_match_columns_errors():
    tasks = [("a", Task()), ("b", Task())]
    with pytest.raises(ValueError, match="y has 1 column.*but there are 2 tasks"):
        match_columns([np.zeros(2)], None, tasks)
    with pytest.raises(ValueError, match=r"no column for task\(s\) \['b'\]"):
        match_columns([np.zeros(2), np.zeros(2)], ["a", "c"], tasks)
    with pytest.raises(ValueError, match=r"column\(s\) \['c'\] that match no task"):
        match_columns([np.zeros(2)] * 3, ["a", "b", "c"], tasks)


# -- labelled_values --------------------------------------------------------------


def test_labelled_values_float_nan():
    values, missing, is_cat = labelled_values(np.array([1.0, np.nan, 3.0]))
    np.testing.assert_array_equal(values, [1.0, 3.0])
    np.testing.assert_array_equal(missing, [False, True, False])
    assert not is_cat


def test_labelled_values_object_none_nan_and_pandas_na():
    column = np.array(["a", None, pd.NA, np.nan, "b"], dtype=object)
    values, missing, _ = labelled_values(column)
    assert values.tolist() == ["a", "b"]
    np.testing.assert_array_equal(missing, [False, True, True, True, False])


def test_labelled_values_nullable_ints_become_int64():
    values, missing, is_cat = labelled_values(pd.Series([1, None, 3], dtype="Int64"))
    assert values.dtype == np.int64
    np.testing.assert_array_equal(values, [1, 3])
    np.testing.assert_array_equal(missing, [False, True, False])
    assert not is_cat


def test_labelled_values_nullable_boolean():
    values, missing, _ = labelled_values(
        pd.Series([True, None, False], dtype="boolean")
    )
    assert values.dtype == bool
    np.testing.assert_array_equal(missing, [False, True, False])


def test_labelled_values_object_numbers_become_numeric():
    values, missing, _ = labelled_values(np.array([1, None, 2.5], dtype=object))
    assert values.dtype.kind == "f"
    np.testing.assert_array_equal(values, [1.0, 2.5])
    np.testing.assert_array_equal(missing, [False, True, False])
    values, _, _ = labelled_values(np.array([1, 2, None], dtype=object))
    assert values.dtype.kind == "i"


def test_labelled_values_object_bools_become_bool():
    values, _, _ = labelled_values(np.array([True, None, False], dtype=object))
    assert values.dtype == bool


def test_labelled_values_mixed_objects_stay_object():
    values, _, _ = labelled_values(np.array([1, "a", True], dtype=object))
    assert values.dtype == object


def test_labelled_values_categorical():
    values, missing, is_cat = labelled_values(
        pd.Series(["a", None, "b"], dtype="category")
    )
    assert is_cat
    assert values.tolist() == ["a", "b"]
    np.testing.assert_array_equal(missing, [False, True, False])


def test_labelled_values_ints_have_no_missing():
    values, missing, _ = labelled_values(np.array([3, 1, 2]))
    np.testing.assert_array_equal(values, [3, 1, 2])
    assert not missing.any()


# -- check_sample_weight / drop_zero_weight ----------------------------------------


def test_check_sample_weight_none():
    assert check_sample_weight(None, 3, ["a", "b"]) is None


def test_check_sample_weight_1d_is_broadcast_to_each_task():
    weights = check_sample_weight([1, 2, 3], 3, ["a", "b"])
    assert weights.dtype == np.float64
    np.testing.assert_array_equal(weights, [[1, 1], [2, 2], [3, 3]])


def test_check_sample_weight_2d_is_kept():
    given = np.array([[1.0, 0.0], [0.5, 2.0]])
    np.testing.assert_array_equal(check_sample_weight(given, 2, ["a", "b"]), given)


def test_check_sample_weight_dataframe_is_matched_by_name():
    frame = pd.DataFrame({"b": [1.0, 2.0], "a": [3.0, 4.0]})
    weights = check_sample_weight(frame, 2, ["a", "b"])
    np.testing.assert_array_equal(weights, [[3.0, 1.0], [4.0, 2.0]])
    with pytest.raises(ValueError, match="no column for task"):
        check_sample_weight(frame[["a"]], 2, ["a", "b"])


@pytest.mark.parametrize(
    "sample_weight, match",
    [
        ([1.0, -1.0, 1.0], r"non-negative, got -1.0 at row 1 \(task 'a'\)"),
        ([1.0, np.nan, 1.0], "NaN or infinite"),
        ([1.0, np.inf, 1.0], "NaN or infinite"),
        ([0.0, 0.0, 0.0], "zero everywhere"),
        ([1.0, 1.0], r"shape \(2,\), but X has 3 rows"),
        (np.ones((3, 3)), r"shape \(3, 3\), but X has 3 rows"),
        (["a", "b", "c"], "must hold numbers"),
    ],
)
def test_check_sample_weight_errors(sample_weight, match):
    with pytest.raises(ValueError, match=match):
        check_sample_weight(sample_weight, 3, ["a", "b"])


def test_check_sample_weight_sparse_error():
    with pytest.raises(TypeError, match="must be dense"):
        check_sample_weight(sp.csr_matrix(np.ones((3, 1))), 3, ["a"])


def test_drop_zero_weight():
    column = np.array(["a", None, "b", "c"], dtype=object)
    values, missing, _ = labelled_values(column)
    values, missing = drop_zero_weight(values, missing, np.array([1.0, 1.0, 0.0, 2.0]))
    assert values.tolist() == ["a", "c"]
    np.testing.assert_array_equal(missing, [False, True, True, False])
    same = drop_zero_weight(values, missing, None)
    assert same[0] is values and same[1] is missing


# -- class weights and encode_targets ----------------------------------------------


def test_class_weights_balanced_matches_sklearn():
    from sklearn_mtl._codecs import ClassCodec

    values = np.array(["a", "a", "a", "b", "c", "c"])
    codec = ClassCodec.from_labels("t", values)
    expected = compute_class_weight("balanced", classes=codec.classes, y=values)
    np.testing.assert_allclose(
        class_weights("t", codec, "balanced", values),
        expected[codec.class_indices(values)],
    )
    assert class_weights("t", codec, None, values) is None


def test_class_weights_dict_unknown_key_error():
    from sklearn_mtl._codecs import ClassCodec

    codec = ClassCodec.from_labels("t", np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"class_weight has key\(s\) \['z'\]"):
        class_weights("t", codec, {"z": 2.0}, np.array(["a", "b"]))


def _encode(tasks, columns, sample_weight=None, fitted_codecs=None):
    names = [name for name, _ in tasks]
    weights = check_sample_weight(sample_weight, len(columns[0]), names)
    return encode_targets(tasks, columns, weights, fitted_codecs)


def test_encode_targets_packs_codes_and_weights():
    tasks = [("c", Task()), ("r", Task())]
    columns = [
        np.array(["b", "a", None, "b"], dtype=object),
        np.array([1.0, 2.0, 3.0, np.nan]),
    ]
    resolved, codecs, packed = _encode(tasks, columns)
    assert [t.kind for _, t in resolved] == ["classification", "regression"]
    assert [t.loss for _, t in resolved] == ["log_loss", "squared_error"]
    assert packed.shape == (4, 4) and packed.dtype == np.float32
    codes, weights = unpack(packed, 2)
    np.testing.assert_array_equal(weights, [[1, 1], [1, 1], [0, 1], [1, 0]])
    np.testing.assert_array_equal(codes[:, 0], [1, 0, 0, 1])
    np.testing.assert_allclose(codes[:3, 1], codecs[1].encode(columns[1][:3]))
    assert codes[3, 1] == 0


@pytest.mark.parametrize(
    "column_with_missing, column",
    [
        (
            np.array(["a", "b", None, "b", "a", "c"], dtype=object),
            np.array(["a", "b", "c", "b", "a", "c"], dtype=object),
        ),
        (np.array([1.0, 2.5, np.nan, 4.0, 7.0]), np.array([1.0, 2.5, 100.0, 4.0, 7.0])),
    ],
    ids=["classification", "regression"],
)
def test_encode_targets_zero_weight_equals_missing(column_with_missing, column):
    n = len(column)
    tasks = [("t", Task())]
    weight = np.ones(n)
    weight[2] = 0.0
    _, codecs_missing, packed_missing = _encode(tasks, [column_with_missing])
    _, codecs_zero, packed_zero = _encode(tasks, [column], sample_weight=weight)
    np.testing.assert_array_equal(packed_zero, packed_missing)
    assert codecs_zero[0].to_dict("t") == codecs_missing[0].to_dict("t")


def test_encode_targets_sample_weight_is_the_label_weight():
    tasks = [("a", Task()), ("b", Task())]
    columns = [np.array([0.5, 1.5, 2.5]), np.array(["x", "y", "x"])]
    sw = np.array([[1.0, 2.0], [0.5, 3.0], [4.0, 0.25]])
    _, _, packed = _encode(tasks, columns, sample_weight=sw)
    np.testing.assert_array_equal(unpack(packed, 2)[1], sw.astype(np.float32))


def test_encode_targets_class_weights_multiply_sample_weights():
    tasks = [("t", Task(class_weight={"a": 2.0, "c": 0.5}))]
    column = np.array(["a", "b", "c", "a"])
    sw = np.array([1.0, 3.0, 2.0, 0.5])
    _, _, packed = _encode(tasks, [column], sample_weight=sw)
    np.testing.assert_allclose(unpack(packed, 1)[1][:, 0], sw * [2.0, 1.0, 0.5, 2.0])


def test_encode_targets_balanced_matches_sklearn():
    column = np.array(["a", "a", "a", "b", None, "c", "c"], dtype=object)
    _, codecs, packed = _encode([("t", Task(class_weight="balanced"))], [column])
    labelled = np.array([v is not None for v in column])
    y = column[labelled].astype(str)
    per_class = compute_class_weight("balanced", classes=codecs[0].classes, y=y)
    expected = np.zeros(len(column))
    expected[labelled] = per_class[codecs[0].class_indices(y)]
    np.testing.assert_allclose(unpack(packed, 1)[1][:, 0], expected, rtol=1e-6)


def test_encode_targets_balanced_counts_positive_weight_labels_only():
    # a label of weight zero is missing: it is not counted for "balanced"
    column = np.array(["a", "a", "b", "b", "b"])
    sw = np.array([1.0, 1.0, 1.0, 1.0, 0.0])
    _, _, packed = _encode([("t", Task(class_weight="balanced"))], [column], sw)
    np.testing.assert_allclose(unpack(packed, 1)[1][:, 0], [1, 1, 1, 1, 0])


def test_encode_targets_reuses_fitted_codecs():
    tasks = [("c", Task()), ("r", Task())]
    first = [np.array(["a", "b", "c"]), np.array([0.0, 10.0, 20.0])]
    _, codecs, _ = _encode(tasks, first)
    second = [np.array(["c", "b"]), np.array([100.0, 200.0])]
    _, reused, packed = _encode(tasks, second, fitted_codecs=codecs)
    assert reused[0] is codecs[0] and reused[1] is codecs[1]
    codes = unpack(packed, 2)[0]
    np.testing.assert_array_equal(codes[:, 0], [2, 1])  # indices of the first fit
    np.testing.assert_allclose(codes[:, 1], codecs[1].encode(second[1]), rtol=1e-6)


def test_encode_targets_fitted_codecs_reject_unseen_labels():
    tasks = [("c", Task())]
    _, codecs, _ = _encode(tasks, [np.array(["a", "b"])])
    with pytest.raises(ValueError, match=r"Task 'c' has labels \['z'\]"):
        _encode(tasks, [np.array(["a", "z"])], fitted_codecs=codecs)


def test_encode_targets_all_labels_zero_weight_error():
    tasks = [("a", Task()), ("b", Task())]
    columns = [np.array([1.0, 2.0]), np.array([1.0, 2.0])]
    sw = np.array([[1.0, 0.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match="Task 'b' has no label of positive weight"):
        _encode(tasks, columns, sample_weight=sw)


def test_encode_targets_does_not_mutate_tasks():
    task = Task(class_weight={"a": 2.0})
    before = task.get_params()
    resolved, _, _ = _encode([("t", task)], [np.array(["a", "b"])])
    assert task.get_params() == before
    assert resolved[0][1] is not task


# -- task_column / stack_predictions ----------------------------------------------


def test_task_column_by_name():
    y = pd.DataFrame({"b": [1, 2], "a": [3, 4]})
    column, y_1d = task_column(y, "a", ["a", "b"])
    assert list(column) == [3, 4] and not y_1d


def test_task_column_by_position():
    y = np.array([[1, 3], [2, 4]])
    column, y_1d = task_column(y, "b", ["a", "b"])
    np.testing.assert_array_equal(column, [3, 4])
    assert not y_1d
    column, y_1d = task_column(np.array([5, 6]), "only", ["only"])
    np.testing.assert_array_equal(column, [5, 6])
    assert y_1d


def test_task_column_of_a_named_series():
    column, y_1d = task_column(pd.Series([1, 2], name="a"), "a", ["a"])
    assert list(column) == [1, 2] and y_1d


def test_task_column_errors():
    y = pd.DataFrame({"b": [1, 2], "a": [3, 4]})
    with pytest.raises(ValueError, match="y has no column named 'c'"):
        task_column(y, "c", ["a", "b", "c"])
    with pytest.raises(ValueError, match="y has 1 column.*has 2 tasks"):
        task_column(np.array([1, 2]), "a", ["a", "b"])


@pytest.mark.parametrize(
    "columns, dtype",
    [
        ([np.array([1.0, 2.0]), np.array([1.5, 2.5], dtype=np.float32)], np.float64),
        ([np.array([1, 2]), np.array([3, 4], dtype=np.int32)], np.int64),
        ([np.array(["a", "b"]), np.array(["cc", "d"])], np.dtype("<U2")),
        ([np.array(["a", "b"]), np.array([1.5, 2.5])], object),
        ([np.array([1, 2]), np.array([1.5, 2.5])], object),
        ([np.array([True, False]), np.array([1, 0])], object),
    ],
)
def test_stack_predictions_dtype_rules(columns, dtype):
    out = stack_predictions(columns)
    assert out.shape == (2, len(columns))
    assert out.dtype == dtype
    for j, col in enumerate(columns):
        assert out[:, j].tolist() == col.tolist()


def test_stack_predictions_object_keeps_value_types():
    out = stack_predictions([np.array(["a", "b"]), np.array([1.5, 2.5])])
    assert isinstance(out[0, 1], float)
    assert out[0, 0] == "a"
