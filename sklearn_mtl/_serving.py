"""Serving a fitted estimator: the types skops must trust, and ONNX export.

:func:`skops_trusted_types` lists the types a skops (or MLflow "skops"
flavour) file of a :class:`MultiTaskNetEstimator` holds beyond those skops
trusts by default. :func:`to_onnx` exports the whole predictor, network and
decoding, as an ONNX graph built by ``torch.onnx`` from the fitted module.
"""

from __future__ import annotations

import copy
import os
import warnings

import torch

from ._estimator import MultiTaskNetEstimator

# Every type a fitted estimator's skops file names: this package's own, then
# skorch's and torch's. An option that adds one (early stopping, a
# weighting, an architecture) adds it here; test_serving checks the list
# against the files of such fits. skorch.setter.optimizer_setter and
# functools.partial (skorch's virtual parameters) appear only in the files
# that keep skorch's pickle (see the note in skops_trusted_types).
_TRUSTED_TYPES = (
    # the estimator and its parameters
    "sklearn_mtl._estimator.MultiTaskNetEstimator",
    "sklearn_mtl._task.Task",
    "sklearn_mtl._architecture.MMoE",
    "sklearn_mtl._architecture.PLE",
    "sklearn_mtl._architecture.CrossStitch",
    "sklearn_mtl._architecture.TaskAttention",
    # the skorch net and the classes it names
    "sklearn_mtl._training.MultiTaskNet",
    "sklearn_mtl._training.EpochLog",
    "sklearn_mtl._training.StopEarly",
    "sklearn_mtl._training.LRSchedule",
    "sklearn_mtl._module.MultiTaskNetwork",
    "sklearn_mtl._data.TensorDataset",
    "sklearn_mtl._data.TensorBatchIterator",
    "sklearn_mtl._data.HoldoutSplit",
    "sklearn_mtl._net._silent",
    "sklearn_mtl._net._print",
    "sklearn_mtl._loss.MaskedMultiTaskLoss",
    "sklearn_mtl._weighting.UncertaintyLoss",
    "sklearn_mtl._weighting.DWALoss",
    "sklearn_mtl._weighting.GradNormLoss",
    "sklearn_mtl._weighting.PCGradLoss",
    "sklearn_mtl._weighting.MGDALoss",
    "sklearn_mtl._weighting.FAMOLoss",
    # skorch's and torch's
    "skorch.history.History",
    "skorch.callbacks.logging.EpochTimer",
    "skorch.callbacks.logging.ProgressBar",
    "skorch.callbacks.scoring.PassthroughScoring",
    "skorch.setter.optimizer_setter",
    "functools.partial",
    "torch.device",
    "torch.optim.adam.Adam",
    "torch.optim.adamw.AdamW",
    "torch.optim.sgd.SGD",
)


def skops_trusted_types() -> list[str]:
    """The types to trust when loading a skops file of a fitted estimator.

    The one argument that :func:`skops.io.load` (``trusted=``) and
    ``mlflow.sklearn.log_model`` (``skops_trusted_types=``) need for a
    :class:`MultiTaskNetEstimator`: this package's classes that a fit
    stores, and the few of skorch and torch. Types of your own parameters
    (a custom ``trunk`` class, ``callbacks``, an optimizer outside Adam,
    AdamW and SGD, a TorchJD aggregator) are not in it: add what
    :func:`skops.io.get_untrusted_types` reports for them.

    Returns
    -------
    types : list of str
        Fully qualified type names, as skops writes them.

    Notes
    -----
    The skorch net inside the estimator stores its torch module, criterion
    and optimizer as data: their tensors as one `safetensors
    <https://huggingface.co/docs/safetensors>`_ document (bytes that
    loading reads with ``safetensors``, never with pickle), the rest as
    plain values and JSON, and builds them again when loaded. With this
    package's own network (any architecture, ensemble or numerical
    embedding), any weighting but a TorchJD aggregator, and a
    ``torch.optim`` optimizer, a skops file therefore holds no pickle:
    skops checks every type it names against this list.

    Where the net could not be built again exactly from data, it keeps
    skorch's own ``__getstate__``, one pickle of the module, criterion and
    optimizer, which skops hands back to skorch unchecked: with a custom
    ``trunk``, a TorchJD aggregator as ``weighting``, an ``optimizer``
    outside ``torch.optim``, hooks registered on the module or the
    criterion, or a net pickled in the middle of a fit (from a callback).
    Such a file is as safe to load as a pickle: load only files you trust,
    or use :func:`sklearn_mtl.save` and :func:`sklearn_mtl.load`, which
    store data only.

    Examples
    --------
    >>> import sklearn_mtl
    >>> "sklearn_mtl._estimator.MultiTaskNetEstimator" in (
    ...     sklearn_mtl.skops_trusted_types()
    ... )
    True
    """
    return list(_TRUSTED_TYPES)


class _Predictor(torch.nn.Module):
    """The fitted network and each task's decoding, as one module to export.

    Per task, in task order: a classification task's probabilities (float64
    softmax of its logits) and class indices (int64 argmax); a regression
    task's value in its units (float64 ``z * scale + mean``). The decoding
    runs in float64, as ``predict`` and ``predict_proba`` do, so that the
    export matches them to rounding.
    """

    def __init__(self, network, classifies, means, scales):
        super().__init__()
        self.network = network
        self.classifies = tuple(classifies)
        self.register_buffer("means", torch.tensor(means, dtype=torch.float64))
        self.register_buffer("scales", torch.tensor(scales, dtype=torch.float64))

    def forward(self, X):
        results = []
        for j, (out, classifies) in enumerate(zip(self.network(X), self.classifies)):
            if classifies:
                results.append(out.double().softmax(dim=1))
                results.append(out.argmax(dim=1))
            else:
                results.append(out[:, 0].double() * self.scales[j] + self.means[j])
        return tuple(results)


def onnx_output_names(estimator: MultiTaskNetEstimator) -> list[str]:
    """The names of the outputs of :func:`to_onnx`'s graph, in order.

    Parameters
    ----------
    estimator : MultiTaskNetEstimator
        A fitted estimator.

    Returns
    -------
    names : list of str
        Per task, in task order: ``<task>_proba`` and ``<task>_label`` for a
        classification task, ``<task>_value`` for a regression task.
    """
    _check_fitted_estimator(estimator)
    names = []
    for name, classes in zip(estimator.task_names_, estimator.classes_):
        names += [f"{name}_value"] if classes is None else [
            f"{name}_proba",
            f"{name}_label",
        ]  # fmt: skip
    return names


def _check_fitted_estimator(estimator):
    if not isinstance(estimator, MultiTaskNetEstimator):
        raise TypeError(
            "estimator must be a fitted MultiTaskNetEstimator, got "
            f"{type(estimator).__name__}. For a Pipeline, export its last step "
            "and convert the preprocessing steps separately (e.g. with skl2onnx)."
        )
    if not estimator.__sklearn_is_fitted__():
        raise ValueError(
            "estimator must be a fitted MultiTaskNetEstimator, but it is not "
            "fitted. Call fit first."
        )


def to_onnx(
    estimator: MultiTaskNetEstimator,
    path: str | os.PathLike[str],
    *,
    opset_version: int | None = None,
) -> list[str]:
    """Export a fitted estimator's whole predictor as an ONNX file.

    The graph holds the fitted network (in evaluation mode: no dropout, an
    ensemble's members averaged) and each task's decoding, built by
    ``torch.onnx.export`` (its ``torch.export``-based exporter, which needs
    ``onnxscript``: ``pip install "sklearn-mtl[onnx]"``). Its input ``X`` is
    a float32 array of shape ``(n_samples, n_features_in_)``, any number of rows.
    Its outputs, per task in task order (:func:`onnx_output_names`):

    - ``<task>_proba``, float64 (n_samples, n_classes): ``predict_proba``'s
      array for a classification task;
    - ``<task>_label``, int64 (n_samples,): the index of the predicted class
      in ``estimator.classes_[j]`` (ONNX graphs exported from torch hold
      no string labels: ``classes_[j][label]`` gives ``predict``'s labels);
    - ``<task>_value``, float64 (n_samples,): ``predict``'s value of a
      regression task, in the target's units (``target_means_`` and
      ``target_scales_`` are in the graph).

    Under onnxruntime the outputs match ``predict`` and ``predict_proba``
    to 1e-5 (``X`` given as float32, as the estimator converts it). The
    preprocessing of a Pipeline is not included.

    Parameters
    ----------
    estimator : MultiTaskNetEstimator
        A fitted estimator, with hard sharing or any architecture, an
        ensemble (``n_ensemble``) or a numerical embedding. A custom
        ``trunk`` exports when ``torch.export`` can trace it.
    path : str or path-like
        The file to write, weights included (no external data file).
    opset_version : int or None, default=None
        The ONNX opset; None is the exporter's default.

    Returns
    -------
    output_names : list of str
        The names of the graph's outputs, in order.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from sklearn_mtl import MultiTaskNetEstimator, to_onnx
    >>> X = np.random.RandomState(0).normal(size=(50, 3))
    >>> y = np.column_stack([X[:, 0] > 0, X[:, 1]])
    >>> est = MultiTaskNetEstimator(max_epochs=2, random_state=0).fit(X, y)
    >>> with tempfile.TemporaryDirectory() as tmp:  # doctest: +SKIP
    ...     to_onnx(est, os.path.join(tmp, "model.onnx"))
    ['task_0_proba', 'task_0_label', 'task_1_value']
    """
    names = onnx_output_names(estimator)
    try:
        import onnxscript  # noqa: F401 - torch.onnx's exporter needs it
    except ImportError:
        raise ImportError(
            "to_onnx requires onnx and onnxscript, the packages torch.onnx's "
            "exporter builds the graph with. Install them with `pip install "
            '"sklearn-mtl[onnx]"`.'
        ) from None
    means = [estimator.target_means_.get(name, 0.0) for name in estimator.task_names_]
    scales = [estimator.target_scales_.get(name, 1.0) for name in estimator.task_names_]
    # A copy on the CPU: the fitted net stays where and as it is.
    network = copy.deepcopy(estimator.net_.module_).cpu().eval()
    predictor = _Predictor(
        network, [c is not None for c in estimator.classes_], means, scales
    ).eval()
    example = torch.zeros(2, estimator.n_features_in_)
    with warnings.catch_warnings():
        # The exporter's own deprecation notices (torch internals) say nothing
        # about this graph.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            predictor,
            (example,),
            os.fspath(path),
            input_names=["X"],
            output_names=names,
            dynamic_shapes=({0: torch.export.Dim("n_samples")},),
            opset_version=opset_version,
            external_data=False,
            dynamo=True,
            verbose=False,
        )
    _check_dynamic_batch(path)
    return names


def _check_dynamic_batch(path):
    """Raise if the exported graph's input lost its free number of rows."""
    import onnx

    model = onnx.load(os.fspath(path), load_external_data=False)
    rows = model.graph.input[0].type.tensor_type.shape.dim[0]
    if not rows.dim_param:
        os.remove(path)
        raise ValueError(
            "to_onnx could not export this estimator for any number of rows: "
            "torch.export fixed the batch size at the example's "
            f"{rows.dim_value} (a layer of the network reads it as a Python "
            "int). Report the estimator's parameters as a bug; meanwhile, "
            "serve it with skops or MLflow instead."
        )
