"""TorchJD's aggregators as a weighting: ``weighting=torchjd.aggregation.UPGrad()``.

The one module that knows TorchJD (``pip install "sklearn-mtl[jd]"``); it
imports the library only when an aggregator is used, checked or saved.
:class:`AggregatorLoss` is a gradient criterion: the training step already
computes one gradient of the trunk per task
(:meth:`~sklearn_mtl._training.MultiTaskNet.train_step_single`), so the
aggregator is applied to that matrix directly, without TorchJD's
``mtl_backward``. The rows are the gradients of ``Task.weight * L_i`` of the
tasks with labels in the batch: the rows of the others are left out before
aggregation, because several aggregators misbehave on a zero row (MGDA's
minimum-norm point is then zero). The heads get their tasks' ordinary
gradients.

Model files store an aggregator as its class name in
``torchjd.aggregation`` and its plain arguments (:func:`encode_aggregator`),
never as pickled code.
"""

import copy
import inspect

import torch

from ._weighting import CRITERIA, GradientLoss

INSTALL = 'pip install "sklearn-mtl[jd]"'


def import_aggregation(what):
    """``torchjd.aggregation``, or an ImportError saying what to install."""
    try:
        import torchjd.aggregation
    except ImportError:
        raise ImportError(
            f"{what} needs TorchJD, which is not installed. Install it with "
            f"`{INSTALL}` (torchjd 0.18)."
        ) from None
    return torchjd.aggregation


def check_aggregator(weighting):
    """Raise a TypeError unless ``weighting`` is a TorchJD aggregator instance."""
    cls = weighting if isinstance(weighting, type) else type(weighting)
    if not cls.__module__.startswith("torchjd."):
        raise TypeError(
            f"weighting must be one of {sorted(CRITERIA)} or a TorchJD aggregator "
            f"instance such as torchjd.aggregation.UPGrad(), got {weighting!r}."
        )
    aggregation = import_aggregation("weighting=<a TorchJD aggregator>")
    if isinstance(weighting, type) or not isinstance(weighting, aggregation.Aggregator):
        raise TypeError(
            f"weighting={weighting!r} is not a torchjd.aggregation.Aggregator "
            "instance. Pass an aggregator object, for example UPGrad() rather "
            "than UPGrad or UPGradWeighting(); for FAMO use weighting='famo'."
        )


class AggregatorLoss(GradientLoss):
    """A TorchJD aggregator combining the trunk gradients of the tasks' losses.

    The trunk's update is ``aggregator(G)``, where the rows of ``G`` are the
    gradients of ``Task.weight * L_i`` of the tasks that have labels in the
    batch (and a nonzero weight); the heads and group towers get their
    tasks' ordinary gradients. When the aggregator is a weighted combination
    of the rows (:class:`torchjd.aggregation.WeightedAggregator`, most of
    them), the recorded weight of a task is its mean coefficient over the
    epoch's batches times its ``Task.weight``; otherwise (GradDrop, ConFIG)
    it is NaN.

    Parameters
    ----------
    losses, weights : tuple
        As for :class:`~sklearn_mtl._loss.MaskedMultiTaskLoss`.
    aggregator : torchjd.aggregation.Aggregator
        Copied, so that the estimator's instance stays as it was and a
        stateful aggregator starts afresh at each fit.
    """

    def __init__(self, losses, weights, aggregator, **kwargs):
        super().__init__(losses, weights, **kwargs)
        self.aggregator = copy.deepcopy(aggregator)
        self.begin_epoch()

    def begin_epoch(self):
        self._coefficient_sum = torch.zeros(len(self.losses), dtype=torch.float64)
        self._n_steps = 0

    def combine_gradients(self, grads, means, present, last_layer):
        active = (present & (self.weights > 0)).nonzero().flatten()
        coefficients = torch.zeros(len(grads), dtype=torch.float64)
        if not len(active):
            self._n_steps += 1
            return torch.zeros_like(grads[0])
        matrix = (self.weights[:, None] * grads)[active]
        captured = []
        weighting = getattr(self.aggregator, "weighting", None)
        # The weights are an intermediate result of the aggregator; a hook
        # records them without computing them twice.
        hook = (
            weighting.register_forward_hook(lambda m, i, out: captured.append(out))
            if isinstance(weighting, torch.nn.Module)
            else None
        )
        try:
            with torch.no_grad():
                update = self.aggregator(matrix)
        finally:
            if hook is not None:
                hook.remove()
        if captured and captured[-1].shape == (len(active),):
            coefficients[active.cpu()] = captured[-1].detach().double().cpu()
        else:
            coefficients[:] = torch.nan
        self._coefficient_sum += coefficients
        self._n_steps += 1
        return update.reshape(-1).to(grads)

    def epoch_weights(self):
        mean = self._coefficient_sum / max(self._n_steps, 1)
        return mean.float().to(self.weights.device) * self.weights


# -- model files ------------------------------------------------------------------


def encode_aggregator(aggregator):
    """An aggregator as plain data (class name and arguments), or a ValueError.

    Only a class of ``torchjd.aggregation`` whose arguments are numbers,
    strings or None is stored; the stored form must rebuild an aggregator
    with the same ``repr`` (TorchJD's reprs name their arguments), so that
    an argument that is not plain data (a preference vector, a custom
    projector) is refused rather than lost.
    """
    aggregation = import_aggregation("Saving weighting=<a TorchJD aggregator>")
    cls = type(aggregator)
    refusal = (
        f"Cannot save weighting={aggregator!r}: save() stores a TorchJD "
        "aggregator as its class name in torchjd.aggregation and its plain "
        "arguments (numbers, strings, None)"
    )
    if getattr(aggregation, cls.__name__, None) is not cls:
        raise ValueError(
            f"{refusal}, and {cls.__name__} is not a class of torchjd.aggregation. "
            "Use pickle or joblib if you trust whoever loads the file."
        )
    params = {}
    for name in inspect.signature(cls).parameters:
        value = getattr(aggregator, name, None)
        if value is None or isinstance(value, (bool, int, float, str)):
            params[name] = value
    try:
        same = repr(cls(**params)) == repr(aggregator)
    except Exception:  # noqa: BLE001 - any failure to rebuild means: not storable
        same = False
    if not same:
        raise ValueError(
            f"{refusal}, and this one has other arguments. Use its default "
            "arguments or plain ones, or pickle/joblib if you trust whoever "
            "loads the file."
        )
    return {"torchjd_aggregator": cls.__name__, "params": params}


def decode_aggregator(value):
    """The aggregator stored by :func:`encode_aggregator`, or a ValueError."""
    aggregation = import_aggregation("Loading a model with a TorchJD aggregator")
    name, params = value.get("torchjd_aggregator"), value.get("params")
    cls = getattr(aggregation, name, None) if isinstance(name, str) else None
    if not (
        isinstance(cls, type)
        and issubclass(cls, aggregation.Aggregator)
        and not name.startswith("_")
        and isinstance(params, dict)
        and all(
            v is None or isinstance(v, (bool, int, float, str)) for v in params.values()
        )
    ):
        raise ValueError(
            "The model file is invalid: weighting must name an aggregator of "
            f"torchjd.aggregation with plain arguments, got {value!r}."
        )
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"The model file is invalid: weighting {name}({params}): {exc}."
        ) from None
