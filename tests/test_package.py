"""The public surface of the package: names, type hints, typing marker."""

import inspect
import typing
from pathlib import Path

import sklearn_mtl


def test_public_names_are_importable():
    for name in sklearn_mtl.__all__:
        assert getattr(sklearn_mtl, name) is not None


def test_package_ships_typing_marker():
    assert (Path(sklearn_mtl.__file__).parent / "py.typed").is_file()


def test_public_api_is_annotated():
    # get_type_hints resolves every annotation, so a typo in one fails here.
    public = [
        sklearn_mtl.MultiTaskNetEstimator.__init__,
        sklearn_mtl.MultiTaskNetEstimator.fit,
        sklearn_mtl.MultiTaskNetEstimator.predict,
        sklearn_mtl.MultiTaskNetEstimator.predict_proba,
        sklearn_mtl.MultiTaskNetEstimator.score,
        sklearn_mtl.MultiTaskNetEstimator.score_tasks,
        sklearn_mtl.MultiTaskNetEstimator.set_output,
        sklearn_mtl.Task.__init__,
        sklearn_mtl.make_task_scorer,
        sklearn_mtl.save,
        sklearn_mtl.load,
        sklearn_mtl.transfer_report,
        sklearn_mtl.TrainingHistoryDisplay.from_estimator,
    ]
    for func in public:
        hints = typing.get_type_hints(func)
        parameters = [
            name
            for name, p in inspect.signature(func).parameters.items()
            if name != "self" and p.kind is not p.VAR_KEYWORD
        ]
        missing = [name for name in parameters if name not in hints]
        assert not missing, f"{func.__qualname__} lacks annotations for {missing}"
        assert "return" in hints, f"{func.__qualname__} lacks a return annotation"
