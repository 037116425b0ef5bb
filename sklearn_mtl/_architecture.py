"""The ``architecture`` parameter: MMoE, PLE, CrossStitch and TaskAttention.

Each class is a small estimator-like specification, as :class:`~sklearn_mtl.Task`
is: it holds parameters and learns nothing, so ``architecture__<param>``
routes through ``get_params``/``set_params``, :func:`~sklearn.base.clone`,
Pipelines and searches. At fit, :meth:`Architecture._module_params`
validates it and turns it into the plain values of the torch module
(:mod:`sklearn_mtl._experts`) that the :class:`~sklearn_mtl._spec.ModuleSpec`
carries.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real

from sklearn.base import BaseEstimator

from ._compat import Interval
from ._task import check_layer_sizes


class Architecture(BaseEstimator):
    """Base of the architectures: what they share in validation and resolution."""

    #: The key of the torch module in :data:`sklearn_mtl._experts.MODULES`.
    _module_name: str = ""

    def _module_params(self, trunk_sizes, trunk):
        """Validate; return the module's name and its plain arguments.

        Parameters
        ----------
        trunk_sizes : tuple of int
            The estimator's ``trunk_sizes``, the default shape of an expert.
        trunk : type or None
            The estimator's custom ``trunk``, which an architecture refuses.
        """
        self._validate_params()
        name = type(self).__name__
        if trunk is not None:
            raise ValueError(
                f"architecture={self!r} builds its own experts (or columns) as "
                f"MLPs of expert_sizes, so it cannot use the custom "
                f"trunk={trunk.__name__}. Use trunk=None with an architecture, or "
                "architecture=None with a custom trunk."
            )
        params = {
            key: value
            for key, value in self.get_params(deep=False).items()
            if key != "expert_sizes"
        }
        sizes = self.expert_sizes
        if sizes is None:
            sizes = trunk_sizes
            what = f"expert_sizes=None takes trunk_sizes={tuple(trunk_sizes)!r}"
        else:
            sizes = check_layer_sizes(sizes, f"architecture__expert_sizes of {name}")
            what = "expert_sizes=()"
        if not sizes:
            raise ValueError(
                f"{name}'s experts (or columns) need at least one layer, but {what}. "
                "Set architecture__expert_sizes (e.g. (64,)) or a non-empty "
                "trunk_sizes."
            )
        params["expert_sizes"] = tuple(sizes)
        return self._module_name, self._check(params)

    def _check(self, params):
        return params


class MMoE(Architecture):
    """Multi-gate Mixture-of-Experts (Ma et al., KDD 2018).

    Replaces the shared trunk with ``n_experts`` expert networks that every
    task reads, and gives each task its own gate: a softmax over the experts,
    computed from ``X`` per row, that mixes the experts' outputs into the
    task's representation, on which its head sits. Tasks that need the
    same features put their weight on the same experts; loosely related
    tasks can use different ones, so that one task's training disturbs the
    other's representation less than under hard sharing. With a single
    task (or ``n_experts=1``) it is the one-gate mixture of experts.

    The fitted estimator's ``gate_weights_`` (and ``gate_weights(X)``)
    show how each task uses each expert.

    Parameters
    ----------
    n_experts : int, default=4
        Number of experts.
    expert_sizes : tuple of int or None, default=None
        Hidden layer sizes of each expert (an MLP); None takes the
        estimator's ``trunk_sizes``.
    gate_sizes : tuple of int, default=()
        Hidden layer sizes of each gate before its softmax layer; ``()``
        is the paper's linear gate.

    See Also
    --------
    PLE : Adds experts of each task's own.
    MultiTaskNetEstimator : Its ``architecture`` parameter.

    Examples
    --------
    >>> from sklearn_mtl import MMoE, MultiTaskNetEstimator
    >>> est = MultiTaskNetEstimator(architecture=MMoE(n_experts=8))
    >>> est.set_params(architecture__n_experts=2).architecture
    MMoE(n_experts=2)
    """

    _module_name = "mmoe"
    _parameter_constraints: dict = {
        "n_experts": [Interval(Integral, 1, None, closed="left")],
        "expert_sizes": ["array-like", None],
        "gate_sizes": ["array-like"],
    }

    def __init__(
        self,
        n_experts: int = 4,
        expert_sizes: Sequence[int] | None = None,
        gate_sizes: Sequence[int] = (),
    ) -> None:
        self.n_experts = n_experts
        self.expert_sizes = expert_sizes
        self.gate_sizes = gate_sizes

    def _check(self, params):
        params["n_experts"] = int(params["n_experts"])
        params["gate_sizes"] = check_layer_sizes(
            params["gate_sizes"], "architecture__gate_sizes of MMoE"
        )
        return params


class PLE(Architecture):
    """Progressive Layered Extraction (Tang et al., RecSys 2020).

    Each task has ``n_task_experts`` experts of its own, and all tasks
    share ``n_shared_experts`` experts; each task's gate (a softmax from its
    input, per row) mixes its own experts and the shared ones. Keeping
    task-specific experts apart from shared ones is what protects tasks
    from each other's gradients (the paper's "seesaw phenomenon").
    ``n_levels=1`` is Customized Gate Control (CGC); with more levels, a
    shared gate mixes all experts into the next level's shared input, and
    each task's mixture is its input at the next level.

    Parameters
    ----------
    n_levels : int, default=1
        Number of extraction levels; 1 is CGC.
    n_shared_experts : int, default=1
        Shared experts per level; 0 gives independent per-task networks.
    n_task_experts : int, default=1
        Experts of each task per level; 0 is MMoE with ``n_shared_experts``
        experts (and linear gates).
    expert_sizes : tuple of int or None, default=None
        Hidden layer sizes of each expert (an MLP) at every level; None
        takes the estimator's ``trunk_sizes``.

    See Also
    --------
    MMoE : Shared experts only.
    MultiTaskNetEstimator : Its ``architecture`` parameter.

    Examples
    --------
    >>> from sklearn_mtl import PLE
    >>> PLE(n_levels=2, n_shared_experts=2)
    PLE(n_levels=2, n_shared_experts=2)
    """

    _module_name = "ple"
    _parameter_constraints: dict = {
        "n_levels": [Interval(Integral, 1, None, closed="left")],
        "n_shared_experts": [Interval(Integral, 0, None, closed="left")],
        "n_task_experts": [Interval(Integral, 0, None, closed="left")],
        "expert_sizes": ["array-like", None],
    }

    def __init__(
        self,
        n_levels: int = 1,
        n_shared_experts: int = 1,
        n_task_experts: int = 1,
        expert_sizes: Sequence[int] | None = None,
    ) -> None:
        self.n_levels = n_levels
        self.n_shared_experts = n_shared_experts
        self.n_task_experts = n_task_experts
        self.expert_sizes = expert_sizes

    def _check(self, params):
        for key in ("n_levels", "n_shared_experts", "n_task_experts"):
            params[key] = int(params[key])
        if not params["n_shared_experts"] and not params["n_task_experts"]:
            raise ValueError(
                "PLE needs experts: n_shared_experts=0 and n_task_experts=0 leave "
                "the gates nothing to mix. Set architecture__n_shared_experts or "
                "architecture__n_task_experts to at least 1."
            )
        return params


class CrossStitch(Architecture):
    """Cross-stitch networks (Misra et al., CVPR 2016).

    Each task has its own column (an MLP of ``expert_sizes``); after every
    hidden layer, a learned matrix ``alpha`` of shape (n_tasks, n_tasks)
    mixes the columns: task ``i``'s next layer reads
    ``sum_j alpha[i, j] * h_j``. The matrices start at ``init_self`` on
    the diagonal (the rest of each row shared equally among the other
    tasks) and are learned with the columns; the fitted estimator's
    ``cross_stitch_weights_`` shows them. A matrix near the identity means
    separate networks; near uniform rows, hard sharing.

    Parameters
    ----------
    expert_sizes : tuple of int or None, default=None
        Hidden layer sizes of each task's column; None takes the
        estimator's ``trunk_sizes``.
    init_self : float, default=0.9
        The starting weight of a task's own column, in [0, 1]; 1 starts
        from separate networks.

    See Also
    --------
    TaskAttention : Mixes the columns per row, by attention.

    Examples
    --------
    >>> from sklearn_mtl import CrossStitch
    >>> CrossStitch(init_self=1.0)
    CrossStitch(init_self=1.0)
    """

    _module_name = "cross_stitch"
    _parameter_constraints: dict = {
        "expert_sizes": ["array-like", None],
        "init_self": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(
        self, expert_sizes: Sequence[int] | None = None, init_self: float = 0.9
    ) -> None:
        self.expert_sizes = expert_sizes
        self.init_self = init_self

    def _check(self, params):
        params["init_self"] = float(params["init_self"])
        return params


class TaskAttention(Architecture):
    """Attention between tasks (after AITM, Xi et al., KDD 2021, and MTAN).

    Each task has its own column (an MLP of ``expert_sizes``) giving it a
    representation ``t_i``; then each task attends over all tasks'
    representations with one head of scaled dot-product attention whose
    projections all tasks share, and adds what it reads to its own:
    ``t_i + sum_j a_ij v(t_j)``, with ``a_i = softmax_j(q(t_i) . k(t_j) /
    sqrt(width))``. The attention weights ``a`` (per row, each row summing
    to one) say how much each task takes from each other task; the fitted
    estimator's ``attention_weights_`` (and ``attention_weights(X)``) show
    them.

    Parameters
    ----------
    expert_sizes : tuple of int or None, default=None
        Hidden layer sizes of each task's column; None takes the
        estimator's ``trunk_sizes``.

    See Also
    --------
    CrossStitch : Mixes the columns with learned constants.

    Examples
    --------
    >>> from sklearn_mtl import TaskAttention
    >>> TaskAttention(expert_sizes=(32,))
    TaskAttention(expert_sizes=(32,))
    """

    _module_name = "task_attention"
    _parameter_constraints: dict = {"expert_sizes": ["array-like", None]}

    def __init__(self, expert_sizes: Sequence[int] | None = None) -> None:
        self.expert_sizes = expert_sizes


#: The architecture classes by name: what a saved model file may name.
ARCHITECTURES = {cls.__name__: cls for cls in (MMoE, PLE, CrossStitch, TaskAttention)}
