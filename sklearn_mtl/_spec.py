"""What a network and its training need, as frozen values: :class:`NetSpec`.

The estimator turns its parameters, its resolved tasks and their codecs into
one :class:`NetSpec` (``MultiTaskNetEstimator._net_spec``); everything below
the estimator (:mod:`sklearn_mtl._net`, :mod:`sklearn_mtl._module`) reads the
spec and nothing else. The checks that parameter constraints cannot express
(combinations of parameters) run when a spec is made, before any training,
so a rejected fit changes nothing.

A new parameter adds a field here, a constraint and docstring entry on the
estimator, and code in the one module that uses it. A warm start continues
training only when the :class:`ModuleSpec` and :class:`LossSpec` of the new
fit equal the fitted ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

import torch

from ._experts import has_shared_parameters
from ._module import ACTIVATIONS

#: The weightings that need no per-task gradients.
LOSS_METHODS = ("fixed", "uncertainty", "dwa", "famo")


@dataclass(frozen=True)
class ModuleSpec:
    """The architecture: the arguments of the network module.

    Every field is an argument of :class:`~sklearn_mtl._module.MultiTaskNetwork`.

    Parameters
    ----------
    n_features : int
        Width of the input.
    heads : tuple of (tuple of int, int)
        Per task, its head's hidden layer sizes and number of outputs.
    trunk_sizes : tuple of int
        Hidden layers of the shared MLP trunk.
    activation : str or type of torch.nn.Module
    dropout : float
    trunk : type of torch.nn.Module or None
        A custom trunk class instead of the MLP.
    trunk_params : dict
        Its keyword arguments.
    num_embedding : str or None
        The numerical embedding before the MLP trunk, or None.
    num_embedding_params : dict
        Its options, defaults filled in.
    embedding_bins : tuple of tuple of float or None
        The piecewise-linear embedding's bin edges (from the first fit's X),
        per embedded feature.
    embedding_columns : tuple of int or None
        The features the embedding embeds (from the first fit's X).
    head_groups : tuple of (str or None) or None
        Per task, its group (towers), or None without groups.
    group_sizes : tuple of int
    fuse_heads : bool
        Whether heads without hidden layers may be fused into one layer.
    n_ensemble : int
        Members of the parameter-efficient ensemble (1: a single network).
    head_proba : tuple of bool or None
        Per task, whether it classifies (members average probabilities).
    architecture : str or None
        A key of :data:`sklearn_mtl._experts.MODULES` (MMoE, PLE,
        cross-stitch, task attention), or None for hard sharing.
    architecture_params : dict
        Its module's arguments, resolved (expert sizes as tuples).
    """

    n_features: int
    heads: tuple
    trunk_sizes: tuple = ()
    activation: Any = "relu"
    dropout: float = 0.0
    trunk: Any = None
    trunk_params: dict = field(default_factory=dict)
    num_embedding: str | None = None
    num_embedding_params: dict = field(default_factory=dict)
    embedding_bins: tuple | None = None
    embedding_columns: tuple | None = None
    head_groups: tuple | None = None
    group_sizes: tuple = ()
    fuse_heads: bool = True
    n_ensemble: int = 1
    head_proba: tuple | None = None
    architecture: str | None = None
    architecture_params: dict = field(default_factory=dict)

    def kwargs(self):
        """The keyword arguments of the torch module."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def trunk_kwargs(self):
        """The arguments that shape the trunk alone (what transfer compares)."""
        keys = ("n_features", "trunk", "trunk_params")
        if self.architecture is not None:
            # Experts, gates and columns are transferred whole: the source
            # needs as many task units.
            keys += ("architecture", "architecture_params", "activation")
            return {"units": self.n_units(), **{k: getattr(self, k) for k in keys}}
        if self.trunk is None:
            keys += ("trunk_sizes", "activation")
        if self.num_embedding is not None:
            keys += (
                "num_embedding",
                "num_embedding_params",
                "embedding_bins",
                "embedding_columns",
                "n_ensemble",  # the ensemble's adapters follow the embedding
            )
        return {key: getattr(self, key) for key in keys}

    def n_units(self):
        """The architecture's units: the ungrouped tasks and the groups."""
        groups = self.head_groups or (None,) * len(self.heads)
        return len({(i, None) if g is None else g for i, g in enumerate(groups)})

    def describe_trunk(self):
        """The trunk's architecture in the words of the estimator's parameters."""
        if self.architecture is not None:
            args = ", ".join(f"{k}={v!r}" for k, v in self.architecture_params.items())
            return (
                f"architecture {self.architecture}({args}) over {self.n_units()} "
                f"task units, activation={self.activation!r}"
            )
        if self.trunk is None:
            embedding = ""
            if self.num_embedding is not None:
                options = self.num_embedding_params.items()
                embedding = (
                    f", num_embedding={self.num_embedding!r}"
                    f"({', '.join(f'{k}={v!r}' for k, v in options)})"
                )
            return (
                f"trunk_sizes={self.trunk_sizes!r}, activation={self.activation!r}"
                + embedding
            )
        args = ", ".join(f"{k}={v!r}" for k, v in self.trunk_params.items())
        return f"trunk={self.trunk.__name__}({args})"


@dataclass(frozen=True)
class LossSpec:
    """The criterion: how the tasks' losses make one training signal.

    Parameters
    ----------
    weighting : str or torchjd.aggregation.Aggregator
        A key of :data:`sklearn_mtl._weighting.CRITERIA`, or a TorchJD
        aggregator (:class:`sklearn_mtl._torchjd.AggregatorLoss`).
    losses : tuple of str
        Per task, its loss.
    options : dict
        The weighting's own arguments (``alpha``, ``temperature``).
    label_smoothing : float
        Of the classification tasks' cross-entropy.
    """

    weighting: str
    losses: tuple
    options: dict = field(default_factory=dict)
    label_smoothing: float = 0.0


@dataclass(frozen=True)
class NetSpec:
    """Everything one fit needs besides the data.

    Parameters
    ----------
    task_names : tuple of str
    task_weights : tuple of float
        Per task, ``Task.weight``.
    module : ModuleSpec
    loss : LossSpec
    optimizer : type of torch.optim.Optimizer
    lr, weight_decay, trunk_alpha : float
    lr_schedule : {"constant", "cosine", "coslog4"}
    max_epochs, batch_size : int
    schedule : {"joint", "sequential"}
    validation_fraction : float or None
        The held-out share for early stopping; None: no early stopping, or
        (with ``validation_given``) none held out.
    validation_given : bool
        Whether the fit validates on a given set (``X_val``) and stops early
        on it, holding out nothing.
    n_iter_no_change : int
    tol : float
    freeze_trunk : bool
    record_gradient_conflict : bool
    record_task_affinity : int or None
        Measure the tasks' lookahead affinities every that many steps.
    device : torch.device
    num_threads : int or None
    verbose : int
    callbacks : tuple
        The user's skorch callbacks (copied at each fit).
    trunk_source : TrunkSource or None
        The fitted trunk to start from (``init_trunk_from``).
    """

    task_names: tuple
    task_weights: tuple
    module: ModuleSpec
    loss: LossSpec
    optimizer: type = torch.optim.Adam
    lr: float = 1e-3
    lr_schedule: str = "constant"
    weight_decay: float = 0.0
    trunk_alpha: float = 0.0
    max_epochs: int = 100
    batch_size: int = 128
    schedule: str = "joint"
    validation_fraction: float | None = None
    validation_given: bool = False
    n_iter_no_change: int = 10
    tol: float = 1e-4
    freeze_trunk: bool = False
    record_gradient_conflict: bool = False
    record_task_affinity: int | None = None
    device: torch.device = torch.device("cpu")
    num_threads: int | None = 1
    verbose: int = 0
    callbacks: tuple = ()
    trunk_source: Any = field(default=None, compare=False)

    def __post_init__(self):
        _check_spec(self)

    @property
    def early_stopping(self):
        """Whether training stops on a validation loss (held out or given)."""
        return self.validation_given or self.validation_fraction is not None

    @property
    def per_task_gradients(self):
        """Whether a training step needs each task's gradient of the trunk."""
        from ._weighting import GRADIENT_METHODS

        weighting = self.loss.weighting
        return (
            not isinstance(weighting, str)
            or weighting in GRADIENT_METHODS
            or self.record_gradient_conflict
        )


def spec_state(spec):
    """A fitted :class:`NetSpec` as plain values: nested dicts of its fields.

    What the estimator keeps after a fit (without ``trunk_source``, another
    estimator's weights): builtins, torch classes and the user's own values,
    none of this module's classes, so that a skops file of the estimator
    needs no trust in them. :func:`spec_from_state` makes the spec again.
    """
    state = {f.name: getattr(spec, f.name) for f in fields(spec)}
    del state["trunk_source"]
    state["module"] = spec.module.kwargs()
    state["loss"] = {f.name: getattr(spec.loss, f.name) for f in fields(spec.loss)}
    return state


def spec_from_state(state):
    """The :class:`NetSpec` of a :func:`spec_state`, not checked again.

    Its fit checked it; checking again would fail where only the machine
    changed (a spec of ``device="cuda"`` read on a CPU-only machine, which
    :func:`sklearn_mtl.load` maps to the CPU).
    """
    spec = object.__new__(NetSpec)
    values = {
        **state,
        "module": ModuleSpec(**state["module"]),
        "loss": LossSpec(**state["loss"]),
        "trunk_source": None,
    }
    for name, value in values.items():
        object.__setattr__(spec, name, value)  # a frozen dataclass
    return spec


class Seeds(NamedTuple):
    """The seeds of one fit, drawn from ``random_state``.

    ``torch`` seeds weight initialization and dropout, ``shuffle`` the
    batch order (and PCGrad's projection order), ``split`` the hold-out set.
    """

    torch: int
    shuffle: int
    split: int


def _check_spec(spec):
    """The checks of parameter combinations that constraints can't express."""
    module = spec.module
    if spec.device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(spec.device)!r}, but no CUDA device is available; use "
            "device='cpu'."
        )
    if not issubclass(spec.optimizer, torch.optim.Optimizer):
        raise TypeError(
            "optimizer must be a torch.optim.Optimizer class such as "
            f"torch.optim.Adam, got {spec.optimizer!r}."
        )
    if isinstance(module.activation, type) and not issubclass(
        module.activation, torch.nn.Module
    ):
        raise TypeError(
            f"activation must be one of {sorted(ACTIVATIONS)} or a torch.nn.Module "
            f"class, got {module.activation!r}."
        )
    if module.trunk is None and module.trunk_params:
        raise ValueError(
            f"trunk_params={module.trunk_params!r} are arguments of a custom trunk "
            "class, but trunk=None (the MLP of trunk_sizes). Set trunk=<a "
            "torch.nn.Module class> or remove them."
        )
    if module.trunk is not None and not (
        isinstance(module.trunk, type) and issubclass(module.trunk, torch.nn.Module)
    ):
        raise TypeError(
            f"trunk must be a torch.nn.Module class or None, got {module.trunk!r}."
        )
    if module.num_embedding is None and module.num_embedding_params:
        raise ValueError(
            f"num_embedding_params={module.num_embedding_params!r} are options of a "
            "numerical embedding, but num_embedding=None. Set "
            "num_embedding='periodic' or 'piecewise_linear', or remove them (in "
            "GridSearchCV, give the kinds with their options as a list of grids)."
        )
    if module.num_embedding is not None and module.trunk is not None:
        raise ValueError(
            f"num_embedding={module.num_embedding!r} embeds the features before "
            f"the MLP trunk, but trunk={module.trunk.__name__} is a custom trunk, "
            "which receives X itself. Set num_embedding=None and embed inside your "
            "trunk class (e.g. with rtdl_num_embeddings.PeriodicEmbeddings), or "
            "use trunk=None."
        )
    weighting = spec.loss.weighting
    if spec.schedule == "sequential" and weighting != "fixed":
        raise ValueError(
            f"schedule='sequential' trains one task at a time, so there is "
            f"nothing to weigh; weighting={weighting!r} needs "
            "schedule='joint'. Use weighting='fixed' with the sequential schedule."
        )
    if module.architecture is not None and module.num_embedding is not None:
        raise ValueError(
            f"num_embedding={module.num_embedding!r} embeds the features before "
            "the MLP trunk, but an architecture builds its own experts from the "
            "raw features. Use num_embedding=None with an architecture, or "
            "architecture=None with the embedding."
        )
    if module.architecture is None:
        no_trunk = (
            module.trunk is None and not module.trunk_sizes and not module.num_embedding
        )
        cause = "trunk_sizes=()"
    else:
        no_trunk = not has_shared_parameters(
            module.architecture, module.architecture_params
        )
        cause = "an architecture without shared experts (n_shared_experts=0)"
    if spec.per_task_gradients and (spec.freeze_trunk or no_trunk):
        what = (
            "record_gradient_conflict=True"
            if isinstance(weighting, str) and weighting in LOSS_METHODS
            else f"weighting={weighting!r}"
        )
        raise ValueError(
            f"{what} works on the gradients of the shared trunk, but "
            f"{'freeze_trunk=True' if spec.freeze_trunk else cause} "
            "leaves no shared parameters to train. Use a trained trunk, or "
            "weighting='fixed', 'uncertainty', 'dwa' or 'famo'."
        )
    if spec.record_task_affinity is not None and (spec.freeze_trunk or no_trunk):
        raise ValueError(
            f"record_task_affinity={spec.record_task_affinity} takes lookahead "
            "steps of the shared trunk, but "
            f"{'freeze_trunk=True' if spec.freeze_trunk else 'trunk_sizes=()'} "
            "leaves no shared parameters to train. Use a trained trunk, or "
            "record_task_affinity=None."
        )
