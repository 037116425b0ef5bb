"""Task specifications: validation of task lists, kind inference, resolution."""

import numpy as np
import pandas as pd
import pytest

from sklearn_mtl import Task
from sklearn_mtl._compat import InvalidParameterError
from sklearn_mtl._targets import labelled_values
from sklearn_mtl._task import (
    check_layer_sizes,
    check_task_list,
    default_tasks,
    infer_kind,
    resolve_task,
)

RESERVED = ("lr", "max_epochs", "tasks", "trunk")


# -- infer_kind -------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        np.array(["a", "b", "a"]),
        np.array(["a", "b"], dtype=object),
        np.array([True, False, True]),
        np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),  # many integer values
        np.array([3, 7], dtype=np.uint8),
        np.array([0.0, 1.0, 1.0]),  # two whole floats
        np.array([-1.0, 1.0]),
        np.array([2.0, 5.0, 2.0]),
    ],
    ids=[
        "str",
        "object-str",
        "bool",
        "int",
        "uint",
        "0/1-float",
        "-1/1-float",
        "2/5-float",
    ],
)
def test_infer_kind_classification(values):
    assert infer_kind(values, is_categorical=False) == "classification"


@pytest.mark.parametrize(
    "values",
    [
        np.array([0.5, 1.0, 2.0]),
        np.array([0.0, 1.0, 2.0]),  # three whole floats
        np.array([0.0, 0.5]),  # two values, not both whole
        np.array([4.0, 4.0]),  # one whole value
        np.array([1.0, 2.0], dtype=np.float32) + np.float32(0.25),
    ],
    ids=["floats", "three-whole", "two-not-whole", "one-whole", "float32"],
)
def test_infer_kind_regression(values):
    assert infer_kind(values, is_categorical=False) == "regression"


def test_infer_kind_categorical_is_classification_whatever_its_values():
    assert (
        infer_kind(np.array([0.5, 1.5, 2.5]), is_categorical=True) == "classification"
    )


@pytest.mark.parametrize(
    "column, kind",
    [
        (pd.Series([0.0, 1.0, None, 1.0]), "classification"),  # pandas' binary+NaN
        (pd.Series([1, None, 3], dtype="Int64"), "classification"),
        (pd.Series([True, None], dtype="boolean"), "classification"),
        (pd.Series(["x", None, "y"], dtype="string"), "classification"),
        (pd.Series([0.5, 1.5, 2.5], dtype="category"), "classification"),
        (pd.Series([0.5, None, 2.5]), "regression"),
        (np.array([1, None, 2.5], dtype=object), "regression"),
    ],
    ids=[
        "binary-float-nan",
        "Int64",
        "boolean",
        "string",
        "category",
        "float",
        "object-numbers",
    ],
)
def test_infer_kind_of_labelled_columns(column, kind):
    values, _, is_categorical = labelled_values(column)
    assert infer_kind(values, is_categorical) == kind


# -- resolve_task -----------------------------------------------------------------


def test_resolve_task_auto_loss():
    classification = resolve_task("t", Task(), np.array(["a", "b"]))
    assert (classification.kind, classification.loss) == ("classification", "log_loss")
    regression = resolve_task("t", Task(), np.array([0.1, 0.2, 0.3]))
    assert (regression.kind, regression.loss) == ("regression", "squared_error")


def test_resolve_task_explicit_kind_needs_no_values():
    resolved = resolve_task("t", Task("regression", loss="huber"))
    assert (resolved.kind, resolved.loss) == ("regression", "huber")


def test_resolve_task_explicit_kind_overrides_inference():
    resolved = resolve_task("t", Task("regression"), np.array([0, 1, 2]))
    assert resolved.kind == "regression"


def test_resolve_task_auto_without_labels_error():
    with pytest.raises(ValueError, match="Task 't' has no labels in y"):
        resolve_task("t", Task(), np.array([]))
    with pytest.raises(ValueError, match="Task 't' has no labels in y"):
        resolve_task("t", Task())


@pytest.mark.parametrize(
    "task, values, match",
    [
        (
            Task(loss="huber"),
            np.array(["a", "b"]),
            "is a classification task, but its loss is 'huber', which is a loss for "
            "regression",
        ),
        (
            Task("regression", loss="log_loss"),
            None,
            "is a regression task, but its loss is 'log_loss', which is a loss for "
            "classification",
        ),
    ],
)
def test_resolve_task_wrong_loss_for_kind_error(task, values, match):
    with pytest.raises(ValueError, match=match):
        resolve_task("t", task, values)


@pytest.mark.parametrize("class_weight", ["balanced", {1.0: 2.0}])
def test_resolve_task_class_weight_on_regression_error(class_weight):
    with pytest.raises(ValueError, match="class weights apply to classification"):
        resolve_task("t", Task(class_weight=class_weight), np.array([0.5, 1.5, 2.5]))


def test_resolve_task_never_mutates_the_input_task():
    task = Task(head_sizes=[8, 4], weight=2, class_weight={"a": 3.0}, group="g")
    before = task.get_params()
    resolved = resolve_task("t", task, np.array(["a", "b"]))
    assert task.get_params() == before
    assert resolved is not task
    resolved.class_weight["a"] = 0.0
    assert task.class_weight == {"a": 3.0}
    assert task.kind == "auto" and task.loss == "auto"


def test_resolve_task_makes_fields_concrete():
    resolved = resolve_task(
        "t", Task(head_sizes=8, weight=2, group="g"), np.array([0.5, 1.5, 2.5])
    )
    assert resolved.head_sizes == (8,)
    assert resolved.weight == 2.0 and isinstance(resolved.weight, float)
    assert resolved.group == "g"
    resolved = resolve_task(
        "t", Task(head_sizes=[16, np.int64(4)]), np.array(["a", "b"])
    )
    assert resolved.head_sizes == (16, 4)
    assert all(type(s) is int for s in resolved.head_sizes)


def test_resolve_task_is_idempotent():
    once = resolve_task("t", Task(class_weight="balanced"), np.array(["a", "b"]))
    twice = resolve_task("t", once)
    assert twice.get_params() == once.get_params()


# -- check_task_list / default_tasks / check_layer_sizes --------------------------


def test_check_task_list_returns_a_list():
    tasks = (("a", Task()), ("b", Task("regression")))
    checked = check_task_list(tasks, RESERVED)
    assert isinstance(checked, list) and checked == list(tasks)


@pytest.mark.parametrize("tasks", [[], (), None, "a", {"a": Task()}])
def test_check_task_list_empty_or_not_a_list_error(tasks):
    with pytest.raises(TypeError, match="non-empty list of \\(name, Task\\) tuples"):
        check_task_list(tasks, RESERVED)


@pytest.mark.parametrize(
    "item", [["a", Task()], ("a",), ("a", Task(), 1), (1, Task()), "a"]
)
def test_check_task_list_malformed_item_error(item):
    with pytest.raises(TypeError, match="with str names, got the item"):
        check_task_list([item], RESERVED)


@pytest.mark.parametrize("task", ["classification", None, object(), Task])
def test_check_task_list_non_task_error(task):
    with pytest.raises(TypeError, match="Task 'a' must be a Task instance"):
        check_task_list([("a", task)], RESERVED)


def test_check_task_list_duplicates_error():
    tasks = [("a", Task()), ("b", Task()), ("a", Task())]
    with pytest.raises(ValueError, match=r"unique; duplicated: \['a'\]"):
        check_task_list(tasks, RESERVED)


@pytest.mark.parametrize("name", ["a__b", "__", ""])
def test_check_task_list_dunder_or_empty_name_error(name):
    with pytest.raises(ValueError, match="must not contain '__'"):
        check_task_list([(name, Task())], RESERVED)


def test_check_task_list_reserved_name_error():
    tasks = [("lr", Task()), ("ok", Task()), ("trunk", Task())]
    with pytest.raises(ValueError, match=r"\['lr', 'trunk'\] clash with parameters"):
        check_task_list(tasks, RESERVED)


@pytest.mark.parametrize(
    "task", [Task(weight=-1.0), Task(kind="ordinal"), Task(loss="hinge")]
)
def test_check_task_list_invalid_task_parameter(task):
    with pytest.raises(InvalidParameterError, match="^Task 'a': "):
        check_task_list([("a", task)], RESERVED)


@pytest.mark.parametrize("group", ["", "a.b"])
def test_check_task_list_bad_group_error(group):
    with pytest.raises(ValueError, match="group must be a non-empty str without '.'"):
        check_task_list([("a", Task(group=group))], RESERVED)


@pytest.mark.parametrize("weight", [-1.0, float("nan"), float("inf"), True, "2"])
def test_check_task_list_bad_class_weight_value_error(weight):
    with pytest.raises(ValueError, match="class_weight values must be non-negative"):
        check_task_list([("a", Task(class_weight={"x": weight}))], RESERVED)


def test_default_tasks():
    tasks = default_tasks([np.zeros(2)] * 2, None)
    assert [name for name, _ in tasks] == ["task_0", "task_1"]
    assert tasks[0][1] is not tasks[1][1]
    assert all(task.get_params() == Task().get_params() for _, task in tasks)
    assert [n for n, _ in default_tasks([np.zeros(2)] * 2, ["x", "y"])] == ["x", "y"]


def test_default_tasks_errors():
    with pytest.raises(ValueError, match="y has no columns"):
        default_tasks([], None)
    with pytest.raises(ValueError, match="unique names"):
        default_tasks([np.zeros(2)] * 2, ["x", "x"])


@pytest.mark.parametrize(
    "sizes, expected",
    [
        (8, (8,)),
        ((), ()),
        ([4, 2], (4, 2)),
        (np.int64(3), (3,)),
        (np.array([5, 6]), (5, 6)),
    ],
)
def test_check_layer_sizes(sizes, expected):
    result = check_layer_sizes(sizes, "head_sizes")
    assert result == expected
    assert all(type(s) is int for s in result)


@pytest.mark.parametrize("sizes", [0, (4, 0), (4, -1), (2.5,), (True,), ("4",)])
def test_check_layer_sizes_value_error(sizes):
    with pytest.raises(
        ValueError, match="trunk_sizes must be a tuple of positive ints"
    ):
        check_layer_sizes(sizes, "trunk_sizes")


@pytest.mark.parametrize("sizes", [2.5, True, None])
def test_check_layer_sizes_type_error(sizes):
    with pytest.raises(TypeError, match="trunk_sizes must be a tuple of positive ints"):
        check_layer_sizes(sizes, "trunk_sizes")
