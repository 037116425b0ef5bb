"""The :class:`MultiTaskNetEstimator`: one network, several targets, sklearn's API."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from numbers import Integral, Real
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import ArrayLike
from scipy.sparse import issparse
from sklearn.metrics import r2_score
from sklearn.utils import ClassifierTags, check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ._architecture import PLE, Architecture, MMoE, TaskAttention
from ._codecs import ClassCodec, ScaleCodec
from ._compat import (
    HasMethods,
    Interval,
    StrOptions,
    _BaseComposition,
    _fit_context,
    get_output_config,
    set_output_config,
)
from ._embeddings import embedded_columns, quantile_bins, resolve_embedding_params
from ._module import ACTIVATIONS
from ._net import (
    check_resumable,
    check_same_tasks,
    check_stored_shapes,
    fit_generator,
    forward,
    initialize_net,
    make_net,
    resume_net,
    train,
)
from ._net_state import pack, pack_object, unpack, unpack_object
from ._relations import attention_weights, cross_stitch_weights, gate_weights
from ._spec import (
    LossSpec,
    ModuleSpec,
    NetSpec,
    Seeds,
    spec_from_state,
    spec_state,
)
from ._targets import (
    check_n_rows,
    check_sample_weight,
    encode_targets,
    encode_validation,
    initial_codecs,
    labelled_values,
    match_columns,
    read_targets,
    read_validation_targets,
    split_columns,
    stack_predictions,
)
from ._task import Task, check_layer_sizes
from ._task_view import TaskView
from ._torchjd import check_aggregator
from ._transfer import TrunkSource, check_trunk_source
from ._weighting import CRITERIA


def _schedule_is_joint(estimator):
    """Whether ``partial_fit`` applies (the sequential schedule has stages)."""
    return estimator.schedule != "sequential"


def _has_classification_task(estimator):
    """Whether ``predict_proba`` applies (before fit: unless all tasks regress)."""
    tasks = getattr(estimator, "tasks_", estimator.tasks)
    try:
        return tasks is None or any(task.kind != "regression" for _, task in tasks)
    except (TypeError, ValueError, AttributeError):
        return True  # malformed tasks: let fit report it


def _has_gates(estimator):
    """Whether ``gate_weights`` applies: an MMoE or PLE architecture."""
    return isinstance(estimator.architecture, (MMoE, PLE))


def _has_attention(estimator):
    """Whether ``attention_weights`` applies: a TaskAttention architecture."""
    return isinstance(estimator.architecture, TaskAttention)


# The fitted attributes that show what an architecture learned.
_RELATION_ATTRIBUTES = ("gate_weights_", "attention_weights_", "cross_stitch_weights_")


# Dict parameters whose entries are parameters too: prefix -> parameter.
_ROUTED_DICTS = {"trunk": "trunk_params", "num_embedding": "num_embedding_params"}

#: The smallest number of training rows for which ``early_stopping="auto"``
#: holds out a validation set (see the quality benchmark's page).
AUTO_EARLY_STOPPING_MIN_SAMPLES = 1000


# The key of the estimator's pickled state holding its plain values as JSON.
_PACKED = "__plain__"


class MultiTaskNetEstimator(_BaseComposition):
    """Neural network learning several targets at once through a shared trunk.

    Hard parameter sharing: every row of ``X`` passes through a shared trunk
    of fully connected layers, then through one small head per task. Tasks may
    mix classification and regression, and any label may be missing. Training
    minimizes the weighted sum of the tasks' losses, each averaged over the
    rows of the mini-batch that have a label for it; ``weighting`` offers
    adaptive alternatives. Tasks may share extra layers by group, be trained
    one after another, and start from another fitted estimator's trunk.
    Training is run by `skorch <https://skorch.readthedocs.io>`_; the fitted
    skorch net is ``net_``.

    Parameters
    ----------
    tasks : list of (str, Task) tuples, default=None
        The named tasks, in the order of the columns of ``y`` (or matched by
        name to a DataFrame ``y``'s columns). Task parameters are reachable
        as ``<name>__<param>``, e.g. ``set_params(age__weight=2.0)``. Names
        must be unique, must not contain ``__`` and must not be a parameter
        name of this estimator. None means one ``Task()`` (kind inferred)
        per column of ``y``, named after a DataFrame's columns or
        ``task_0``, ``task_1``, ... for arrays.

    trunk_sizes : tuple of int, default=(128, 64)
        Hidden layer sizes of the shared trunk. ``()`` connects the heads
        directly to ``X``. Unused with a custom ``trunk``.

    trunk : type of torch.nn.Module or None, default=None
        A custom shared trunk (e.g. a pretrained encoder or an embedding
        network) instead of the MLP of ``trunk_sizes``. The class is
        instantiated with ``trunk_params`` as keyword arguments, plus
        ``n_features`` (the number of columns of ``X``) when its
        ``__init__`` takes an argument of that name that is not given. It
        receives ``X`` as a float32 tensor of shape
        (n_samples, n_features) and must return a tensor of shape
        (n_samples, width). The width is read from the module's int
        attribute ``out_features`` when it has one, else from its output on
        two all-zero rows. ``activation`` and ``dropout`` apply to the
        towers and heads only. For pickling, the class must be importable.

    trunk_params : dict or None, default=None
        Keyword arguments of the custom ``trunk`` class. Like skorch's
        ``module__<arg>``, each entry is also a parameter ``trunk__<arg>``
        of ``get_params`` and ``set_params``, so that ``GridSearchCV`` can
        tune it (``{"trunk__embed_dim": [8, 16]}``); setting one makes a new
        dict.

    architecture : MMoE, PLE, CrossStitch, TaskAttention or None, default=None
        How the tasks share the layers below their heads. None is hard
        sharing: one trunk of ``trunk_sizes`` for all tasks. The others let
        the network learn how much each task shares: :class:`MMoE` (shared
        experts, one gate per task), :class:`PLE` (shared and per-task
        experts; ``n_levels=1`` is CGC), :class:`CrossStitch` (one column
        per task, mixed by learned matrices) and :class:`TaskAttention`
        (one column per task, then attention between tasks). Their
        parameters are reachable as ``architecture__<param>`` (e.g.
        ``architecture__n_experts``); each expert or column is an MLP of
        their ``expert_sizes``, by default ``trunk_sizes``. With an
        architecture, the "trunk" of the other parameters (``trunk_alpha``,
        ``freeze_trunk``, ``init_trunk_from``) is the whole architecture
        (experts, gates, columns), a custom ``trunk`` is refused,
        ``group_sizes`` is unused and the tasks of a ``Task(group=...)``
        share one gate (MMoE), one set of task experts and gate (PLE), one
        column (cross-stitch, attention). The weightings that combine
        per-task gradients and ``record_gradient_conflict`` work on the
        parameters that several tasks reach: the experts for MMoE, the
        shared experts and shared gates for PLE (so PLE with
        ``n_shared_experts=0`` cannot use them), everything for
        cross-stitch and attention. See the fitted attributes
        ``gate_weights_``, ``attention_weights_`` and
        ``cross_stitch_weights_``.

    activation : {"relu", "tanh", "logistic", "identity", "gelu"} or \
            type of torch.nn.Module, default="relu"
        Nonlinearity after every hidden layer, trunk, towers and heads alike.

    dropout : float, default=0.1
        Dropout probability after every hidden layer, in [0, 1). (The
        default was 0.0 before; see the quality benchmark's page, "Choosing
        the defaults".) The masks are drawn 16 bits per unit, so the
        probability applied is ``dropout`` rounded to a multiple of
        ``2**-16``: cheaper than :class:`torch.nn.Dropout`'s masks on CPU.

    n_ensemble : int, default=1
        Members of a parameter-efficient ensemble trained in one fit
        (TabM-mini, Gorishniy et al., ICLR 2025). Each member multiplies the
        input features by its own learned vector (started at random signs)
        and has its own output layer; the trunk, group towers and hidden
        head layers are shared, so the network grows by ``n_ensemble``
        vectors and output layers only. Every member is trained on its own
        loss; predictions average the members' probabilities (classification)
        or values (regression). A step costs about as much as a batch of
        ``n_ensemble * batch_size`` rows through the shared layers: see the
        quality benchmark's page for measured costs. With hidden head
        layers, groups or ``schedule="sequential"`` the output layers are
        shared too, and members differ by their input vectors only.

    num_embedding : {"periodic", "piecewise_linear"} or None, default=None
        Embed each numeric feature as a vector before the MLP trunk
        (Gorishniy et al., NeurIPS 2022; needs ``pip install
        "sklearn-mtl[embeddings]"``). Each numeric column of ``X`` (one with
        more than two distinct values in the training ``X``) becomes
        ``d_embedding`` values; the trunk's first layer reads them,
        flattened, followed by the other columns (one-hot and indicator
        columns, constants) as they are: ``n_numeric * d_embedding +
        n_other`` inputs (with ``trunk_sizes=()``, the heads do).
        ``"periodic"``: ``ReLU(Linear([cos(2 pi c x), sin(2 pi c x)]))``
        with trained frequencies ``c`` per feature ("PLR").
        ``"piecewise_linear"``: the encoding of ``x`` on quantile bins of
        the training ``X`` (its rows weighted by ``sample_weight``; 1 for
        the bins below ``x``, the fraction of ``x``'s own bin, 0 above),
        then a linear layer per feature. The numeric columns and the bins
        are found at the first fit (the first ``partial_fit`` block) and
        kept by ``warm_start`` and later ``partial_fit`` calls. The
        embedding is part of the trunk: ``init_trunk_from`` transfers it
        (with its columns and bins), ``freeze_trunk`` freezes it, and the
        gradient weightings treat it as shared. Not with a custom ``trunk``
        nor a sparse ``X``. None: ``X`` goes to the trunk as it is. See
        "Numerical feature embeddings" in the "Multi-task methods" page.

    num_embedding_params : dict or None, default=None
        Options of the embedding, each also a parameter
        ``num_embedding__<option>`` of ``get_params``/``set_params`` (so
        ``GridSearchCV`` can tune ``{"num_embedding__d_embedding": [8,
        16]}``). ``"periodic"``: ``d_embedding`` (24), ``n_frequencies``
        (48), ``frequency_init_scale`` (0.01; the paper's sigma, the one to
        tune: larger for features whose effect changes quickly),
        ``activation`` (True; False drops the ReLU, "PL"), ``lite`` (False;
        True shares the linear layer between features).
        ``"piecewise_linear"``: ``d_embedding`` (16), ``n_bins`` (48, at
        most; a feature with fewer distinct values gets fewer bins),
        ``activation`` (False), ``version`` (``"B"``, which starts as a
        linear embedding, or ``"A"``). Both: ``embed_binary`` (False; True
        embeds every column, so the trunk reads ``n_features *
        d_embedding`` inputs). The other defaults are those of
        rtdl-num-embeddings.

    group_sizes : tuple of int, default=(32,)
        Hidden layer sizes of the tower that the tasks of each
        ``Task(group=...)`` share between the trunk and their heads (one
        tower per group). Unused when no task has a group.

    weighting : {"fixed", "uncertainty", "dwa", "gradnorm", "pcgrad", \
            "mgda", "famo"} or torchjd.aggregation.Aggregator, default="fixed"
        How the tasks' losses are combined into one training signal.
        ``L_i`` is task ``i``'s mean loss and ``w_i`` its ``Task.weight``:

        - ``"fixed"``: minimize ``sum_i w_i L_i``.
        - ``"uncertainty"`` (Kendall et al., 2018): learned log-variances
          ``s_i``; minimize ``sum_i w_i (c_i exp(-s_i) L_i + s_i / 2)``,
          ``c_i = 1/2`` for regression, ``1`` for classification. Noisy
          tasks get small weights.
        - ``"dwa"`` (Dynamic Weight Average, Liu et al., 2019): weights
          ``w_i * n_tasks * softmax(r / dwa_temperature)_i`` with ``r_i``
          the ratio of the task's last two epoch losses; uniform for the
          first two epochs.
        - ``"gradnorm"`` (Chen et al., 2018): learned scales ``s_i``
          (summing to ``n_tasks``) that balance the gradient norms of
          ``s_i L_i`` on the trunk's last layer, favouring slowly training
          tasks by ``gradnorm_alpha``; effective weight ``w_i s_i``.
        - ``"pcgrad"`` (Yu et al., 2020): the trunk's gradients of the
          ``w_i L_i`` are projected to remove their mutual conflicts, then
          summed.
        - ``"mgda"`` (Sener & Koltun, 2018): the trunk follows the
          minimum-norm convex combination of the gradients of the
          ``w_i L_i``, a direction that decreases every task's loss.
        - ``"famo"`` (Liu et al., 2023): learned weights ``z_i`` that make
          all log losses fall at the same rate; the trunk and heads follow
          a convex combination of the gradients of the ``log L_i``,
          weighted by ``w_i z_i``. One extra forward pass per step.
        - A TorchJD aggregator instance, such as
          ``torchjd.aggregation.UPGrad()`` (``pip install
          "sklearn-mtl[jd]"``): it combines the trunk's gradients of the
          ``w_i L_i`` of the tasks labelled in the batch.

        With ``"pcgrad"``, ``"mgda"`` and aggregators the heads (and
        towers) get their tasks' ordinary gradients. ``"gradnorm"``,
        ``"pcgrad"``, ``"mgda"`` and aggregators take one backward pass per
        task, so a training step costs about ``n_tasks`` times more;
        ``"famo"`` one more forward pass; the others cost the same as
        ``"fixed"``. The effective weights are recorded per epoch in
        ``net_.history`` (``weight_<task>``) and in ``task_weights_``.

    gradnorm_alpha : float, default=1.5
        GradNorm's asymmetry: how strongly tasks whose loss decreases
        slowly get larger gradients (0: equal gradient norms).

    dwa_temperature : float, default=2.0
        Temperature of Dynamic Weight Average: larger values flatten the
        weights towards uniform.

    schedule : {"joint", "sequential"}, default="joint"
        ``"joint"`` trains all tasks together. ``"sequential"`` trains them
        one after another in task order, each for ``max_epochs`` epochs on
        its own loss, with a fresh optimizer, starting from the trunk that
        the previous task left; the other heads are not trained meanwhile.
        Use it to shape the trunk on an auxiliary task with many labels
        before the main task (put the main task last); the earlier heads
        are not updated as the trunk moves on. Requires
        ``weighting="fixed"``; the history records ``active_task``.

    max_epochs : int, default=100
        Number of passes over the training data (an upper bound when
        ``early_stopping=True``).

    batch_size : int, default=128
        Rows per mini-batch.

    lr : float, default=1e-3
        Learning rate of the optimizer.

    lr_schedule : {"constant", "cosine", "coslog4"}, default="constant"
        How the learning rate moves during a fit, step by step, as a
        multiple of ``lr`` over the steps of ``max_epochs`` epochs:

        - ``"constant"``: ``lr`` throughout.
        - ``"cosine"``: from ``lr`` down to 0 along a half cosine
          (Loshchilov and Hutter, 2017).
        - ``"coslog4"``: RealMLP's schedule (Holzmüller et al., 2024): four
          cosine cycles from 0 up to ``lr`` and back, each twice as long as
          the one before.

        A fit that stops early ends part-way through the schedule (keeping
        its best epoch); each warm start and each stage of
        ``schedule="sequential"`` runs the schedule anew, and
        :meth:`partial_fit` trains at the constant ``lr``.

    label_smoothing : float, default=0.1
        For classification tasks, the share of each label's probability
        spread evenly over all classes in the cross-entropy (Szegedy et
        al., 2016), in [0, 1), as RealMLP does. It discourages
        overconfident logits: on separable data the predicted probability
        of the class stays near ``1 - label_smoothing * (1 - 1 / n_classes)``,
        so set it to 0 where calibrated probabilities near 0 or 1 matter
        more than ranking. The training and validation losses
        (``train_loss``, ``valid_loss``) are the smoothed ones. Regression
        tasks are unaffected. (The default was 0.0 before; see the quality
        benchmark's page, "Choosing the defaults".)

    optimizer : type of torch.optim.Optimizer, default=torch.optim.Adam
        The optimizer class; it receives ``lr`` and ``weight_decay``. Adam
        and AdamW run their fused implementation (``fused=True``).

    weight_decay : float, default=0.0
        The optimizer's weight decay (an L2 penalty for Adam and SGD).

    trunk_alpha : float, default=0.0
        Extra L2 penalty on the shared trunk's parameters only: the trunk's
        optimizer parameter group gets the weight decay
        ``weight_decay + trunk_alpha``, the towers and heads
        ``weight_decay``. (For Adam and SGD, weight decay ``a`` adds
        ``a/2 * ||theta||^2`` to the objective.) Shrinks the shared
        representation without constraining the task-specific layers.

    init_trunk_from : MultiTaskNetEstimator or None, default=None
        A fitted estimator whose trunk weights start this one's trunk
        (transfer to a new set of tasks). It must have been fitted on the
        same features and have the same trunk architecture (``trunk_sizes``
        and ``activation``, or ``trunk`` and its parameters); the towers and
        heads start afresh. It is read, never modified, and
        :func:`~sklearn.base.clone` keeps it fitted (so ``GridSearchCV``
        and ``cross_validate`` work); fitted estimators given as values of
        a parameter grid are cloned unfitted by scikit-learn, though.
        Ignored when ``warm_start`` continues a fitted network.

    freeze_trunk : bool, default=False
        Keep the trunk fixed: its parameters get no gradient and are left
        out of the optimizer, and it runs in evaluation mode (no dropout).
        Requires ``init_trunk_from`` or a custom ``trunk`` (a frozen random
        MLP would be of no use).

    early_stopping : "auto" or bool, default="auto"
        Whether to stop training when the validation loss has not improved
        by at least ``tol`` for ``n_iter_no_change`` epochs; the weights of
        the best epoch are restored at the end. The validation set is
        ``fit``'s ``X_val, y_val`` when given, else a random
        ``validation_fraction`` of the training rows, held out. ``"auto"``
        (like scikit-learn's ``HistGradientBoosting*``) stops early when a
        validation set is given or when ``X`` has at least
        ``AUTO_EARLY_STOPPING_MIN_SAMPLES`` (1,000) rows: on smaller data a
        held-out tenth costs more than the overfitting it prevents (see the
        quality benchmark's page, "Choosing the defaults"). The fitted
        attribute ``early_stopping_`` says which applied. (The default was
        ``False`` before; set it for the earlier behaviour.)

    validation_fraction : float, default=0.1
        Share of the training rows held out when early stopping applies and
        no ``X_val`` is given.

    n_iter_no_change : int, default=10
        Epochs without improvement before early stopping.

    tol : float, default=1e-4
        Minimum decrease of the validation loss that counts as improvement.

    warm_start : bool, default=False
        When fitted already, continue training the fitted network for
        ``max_epochs`` more epochs on the new data, with the current ``lr``
        and task weights, instead of starting afresh. The tasks, their label
        encoding and the network's architecture must be unchanged. After an
        interrupted fit, this resumes training.

    callbacks : list of skorch callbacks or (name, callback) tuples, \
            default=None
        Extra skorch callbacks, copied at each fit and passed to the net.

    device : str or torch.device, default="cpu"
        Where to train and predict, e.g. ``"cuda"``. The data are moved to
        the device once per fit.

    num_threads : int or None, default=1
        Number of CPU threads torch uses inside ``fit``, ``predict`` and
        ``score`` (set with :func:`torch.set_num_threads` and restored
        afterwards). One thread is as fast as several for the small networks
        typical of tabular data, avoids oversubscribing the cores when a
        search runs fits in parallel (``GridSearchCV(n_jobs=...)``), and
        makes results independent of the machine's core count. Raise it for
        one large network on a many-core machine (values above the machine's
        core count use all cores); None keeps torch's current setting.

    random_state : int, RandomState instance or None, default=None
        Seeds weight initialization, dropout, batch shuffling and the
        validation split. With an int, two fits give identical models on
        the CPU. The global random states of torch and numpy are left as
        they were.

    verbose : int, default=0
        0 is silent; 1 prints one line per epoch with the total and
        per-task losses; 2 also shows a progress bar over each epoch's
        mini-batches (on stderr, via tqdm), for long fits.

    record_gradient_conflict : bool, default=False
        Record, per epoch, the mean cosine similarity between the gradients
        of each pair of tasks on the trunk's parameters, over the batches
        that label both: ``net_.history[:, "grad_cosine"]`` holds one
        (n_tasks, n_tasks) matrix (nested lists, NaN for a pair never
        labelled together) per epoch, in task order, and
        ``gradient_cosine_`` the last epoch's. Negative
        values mean the tasks pull the shared layers in opposite
        directions. Costs one backward pass per task.

    record_task_affinity : int or None, default=None
        Every ``record_task_affinity`` training steps, measure how a step of
        the shared trunk on each task's loss alone would change every
        task's loss on the same batch (Task Affinity Grouping, TAG; see
        ``task_affinity_``), and average over training. The lookahead step
        is plain gradient descent with the optimizer's current learning
        rate; it moves the trunk only (the parameters every task passes
        through; group towers and heads keep their values) and runs in
        evaluation mode on copies of the parameters, so the fitted model is
        the same as without recording. A warm start (and each
        ``partial_fit``) adds to the measurements of the fits it continues.
        Requires a trained trunk. Costs, per measurement, one forward and one
        batched backward pass and one forward pass batched over the tasks.
        None records nothing. :func:`suggest_task_groups` turns the matrix
        into groups.

    Attributes
    ----------
    tasks_ : list of (str, Task) tuples
        The tasks as fitted: copies with ``kind`` and ``loss`` resolved.

    task_names_ : list of str
        Names of the tasks, in the order of ``predict``'s columns.

    classes_ : list of ndarray or None
        Per task, the class labels of a classification task, None for a
        regression task.

    target_means_ : dict of str to float
        Per regression task (by name), the mean of its labelled training
        values; with ``target_scales_``, how the network's standardized
        output ``z`` maps back to the task's units: ``z * scale + mean``
        (what ``predict`` returns). Empty without regression tasks. For
        serving runtimes that run the network alone (see :func:`to_onnx`).

    target_scales_ : dict of str to float
        Per regression task, the standard deviation of its labelled training
        values (1 for a constant target).

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit. Defined only when ``X`` has
        feature names that are all strings.

    net_ : skorch.NeuralNet
        The fitted skorch net. ``net_.history`` holds, per epoch,
        ``train_loss`` (the weighted objective), ``train_loss_<task>``
        (each task's mean loss over its labelled rows) and, with early
        stopping, the same for ``valid_``. Regression losses are on the
        standardized target.

    n_iter_ : int
        Number of epochs run (over all stages with
        ``schedule="sequential"``).

    early_stopping_ : bool
        Whether the last fit stopped early on a validation loss (with
        ``early_stopping="auto"``, whether the rule turned it on).

    task_weights_ : ndarray of shape (n_tasks,)
        The effective weight of each task's loss in the last epoch, in task
        order: ``Task.weight`` times the adaptive weight of ``weighting``
        (see there; for ``"mgda"``, the mean min-norm coefficient). The
        weights of every epoch are in ``net_.history`` as
        ``weight_<task>``.

    gradient_cosine_ : ndarray of shape (n_tasks, n_tasks)
        With ``record_gradient_conflict=True`` only: the mean cosine
        similarity of each pair of tasks' trunk gradients in the last epoch
        (1 on the diagonal; NaN for a pair never labelled together).

    task_affinity_ : ndarray of shape (n_tasks, n_tasks)
        With ``record_task_affinity`` only: ``[i, j]`` is the mean, over the
        recorded steps, of ``1 - L_j(after) / L_j(before)``, the relative
        decrease of task ``j``'s loss on the batch after a lookahead step of
        the trunk on task ``i``'s loss (each task's own weighted mean loss,
        with ``sample_weight`` and class weights but without
        ``Task.weight``), in task order. Positive: task ``i``'s gradient
        helps task ``j``; negative: it hurts. A step counts for a pair only
        when its batch holds a row labelled for both tasks; NaN for a pair
        never measured (never labelled together). The diagonal is each
        task's effect on itself. Small numbers: a step with a small learning
        rate changes the loss little; compare entries with each other.

    gate_weights_ : ndarray of shape (n_tasks, n_experts)
        With an :class:`MMoE` or :class:`PLE` architecture only: each
        task's mean gate weight on each expert over the training rows (of
        the last fit call); rows sum to one. For PLE, the last level's
        gates, with the experts numbered as in :meth:`gate_weights`. A
        column holding most of every row's weight means expert collapse:
        the tasks share one expert, as under hard sharing.

    attention_weights_ : ndarray of shape (n_tasks, n_tasks)
        With a :class:`TaskAttention` architecture only: the mean attention
        weight of each task (row) on each task (column) over the training
        rows; rows sum to one.

    cross_stitch_weights_ : ndarray of shape (n_layers, n_tasks, n_tasks)
        With a :class:`CrossStitch` architecture only: the learned mixing
        matrix after each hidden layer; row ``i`` weighs the columns that
        task ``i``'s next layer reads.

    See Also
    --------
    Task : The specification of one task.
    sklearn.neural_network.MLPClassifier : Single-task network.
    sklearn.multioutput.MultiOutputRegressor : One independent model per target.

    Notes
    -----
    Regression targets are standardized inside the estimator, so that task
    losses are on comparable scales and ``Task.weight`` means what it says;
    predictions come back in the original units. ``X`` is not scaled: put a
    :class:`~sklearn.preprocessing.StandardScaler` in front of the estimator.

    The multi-task methods (weightings, schedules, partial sharing,
    transfer, custom trunks) and :func:`transfer_report` are described with
    their references and costs in the documentation page "Multi-task
    methods" (``docs/methods.rst``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl import MultiTaskNetEstimator, Task
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 4))
    >>> y = np.column_stack([X[:, 0] > 0, X[:, 1] + X[:, 2]])  # 0./1. and reals
    >>> y[::10, 1] = np.nan  # every tenth row lacks the second label
    >>> est = MultiTaskNetEstimator(
    ...     tasks=[("sign", Task("classification")), ("sum", Task("regression"))],
    ...     max_epochs=20, random_state=0,
    ... ).fit(X, y)
    >>> est.predict(X[:3]).shape
    (3, 2)
    >>> est.classes_
    [array([0., 1.]), None]
    >>> sorted(est.score_tasks(X, y))
    ['sign', 'sum']
    """

    _parameter_constraints: dict = {
        "tasks": [list, None],
        "trunk_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "trunk": [type, None],
        "trunk_params": [dict, None],
        "architecture": [Architecture, None],
        "activation": [StrOptions(set(ACTIVATIONS)), type],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "num_embedding": [StrOptions({"periodic", "piecewise_linear"}), None],
        "num_embedding_params": [dict, None],
        "n_ensemble": [Interval(Integral, 1, None, closed="left")],
        "group_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        # callable: a TorchJD aggregator, checked in _net_spec
        "weighting": [StrOptions(set(CRITERIA)), callable],
        "gradnorm_alpha": [Interval(Real, 0, None, closed="left")],
        "dwa_temperature": [Interval(Real, 0, None, closed="neither")],
        "schedule": [StrOptions({"joint", "sequential"})],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"constant", "cosine", "coslog4"})],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
        "optimizer": [type],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "trunk_alpha": [Interval(Real, 0, None, closed="left")],
        "init_trunk_from": [HasMethods(["fit", "predict"]), None],
        "freeze_trunk": ["boolean"],
        "early_stopping": ["boolean", StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "warm_start": ["boolean"],
        "callbacks": [list, None],
        "device": [str, torch.device],
        "num_threads": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "record_gradient_conflict": ["boolean"],
        "record_task_affinity": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        tasks: list[tuple[str, Task]] | None = None,
        *,
        trunk_sizes: Sequence[int] = (128, 64),
        trunk: type[torch.nn.Module] | None = None,
        trunk_params: dict[str, Any] | None = None,
        architecture: Architecture | None = None,
        activation: str | type[torch.nn.Module] = "relu",
        dropout: float = 0.1,
        n_ensemble: int = 1,
        num_embedding: Literal["periodic", "piecewise_linear"] | None = None,
        num_embedding_params: dict[str, Any] | None = None,
        group_sizes: Sequence[int] = (32,),
        weighting: Literal[
            "fixed", "uncertainty", "dwa", "gradnorm", "pcgrad", "mgda", "famo"
        ]
        | Callable[[torch.Tensor], torch.Tensor] = "fixed",
        gradnorm_alpha: float = 1.5,
        dwa_temperature: float = 2.0,
        schedule: Literal["joint", "sequential"] = "joint",
        max_epochs: int = 100,
        batch_size: int = 128,
        lr: float = 1e-3,
        lr_schedule: Literal["constant", "cosine", "coslog4"] = "constant",
        label_smoothing: float = 0.1,
        optimizer: type[torch.optim.Optimizer] = torch.optim.Adam,
        weight_decay: float = 0.0,
        trunk_alpha: float = 0.0,
        init_trunk_from: MultiTaskNetEstimator | None = None,
        freeze_trunk: bool = False,
        early_stopping: bool | Literal["auto"] = "auto",
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        tol: float = 1e-4,
        warm_start: bool = False,
        callbacks: list[Any] | None = None,
        device: str | torch.device = "cpu",
        num_threads: int | None = 1,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
        record_gradient_conflict: bool = False,
        record_task_affinity: int | None = None,
    ) -> None:
        self.tasks = tasks
        self.trunk_sizes = trunk_sizes
        self.trunk = trunk
        self.trunk_params = trunk_params
        self.architecture = architecture
        self.activation = activation
        self.dropout = dropout
        self.num_embedding = num_embedding
        self.num_embedding_params = num_embedding_params
        self.n_ensemble = n_ensemble
        self.group_sizes = group_sizes
        self.weighting = weighting
        self.gradnorm_alpha = gradnorm_alpha
        self.dwa_temperature = dwa_temperature
        self.schedule = schedule
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.label_smoothing = label_smoothing
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.trunk_alpha = trunk_alpha
        self.init_trunk_from = init_trunk_from
        self.freeze_trunk = freeze_trunk
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.warm_start = warm_start
        self.callbacks = callbacks
        self.device = device
        self.num_threads = num_threads
        self.random_state = random_state
        self.verbose = verbose
        self.record_gradient_conflict = record_gradient_conflict
        self.record_task_affinity = record_task_affinity

    # -- parameters: tasks are routed like Pipeline steps ---------------------

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Get parameters of this estimator and, with ``deep``, of its tasks.

        Parameters
        ----------
        deep : bool, default=True
            If True, also return each task as ``<name>`` and its parameters
            as ``<name>__<param>``, each entry of ``trunk_params`` as
            ``trunk__<arg>`` and of ``num_embedding_params`` as
            ``num_embedding__<option>``.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        params = self._get_params("tasks", deep=deep)
        for prefix, entries in _ROUTED_DICTS.items():
            entries = getattr(self, entries)
            if deep and isinstance(entries, dict):
                params.update({f"{prefix}__{k}": v for k, v in entries.items()})
        return params

    def set_params(self, **params: Any) -> MultiTaskNetEstimator:
        """Set parameters of this estimator or of its tasks.

        Valid keys are the constructor's parameters, task names (to replace
        a task), ``<task>__<param>`` (e.g. ``married__weight=2.0``),
        ``architecture__<param>`` (e.g. ``architecture__n_experts=8``) and
        ``trunk__<arg>`` (sets the entry ``arg`` of ``trunk_params``, the
        arguments of a custom ``trunk``, new or not) and
        ``num_embedding__<option>`` (an entry of ``num_embedding_params``).

        Parameters
        ----------
        **params : dict
            Parameters to set.

        Returns
        -------
        self : MultiTaskNetEstimator
            This estimator.
        """
        nested = [key for key in params if key.startswith("architecture__")]
        if nested and params.get("architecture", self.architecture) is None:
            raise ValueError(
                f"{nested[0]} sets a parameter of the architecture, but "
                "architecture=None (hard sharing) has none. Set an architecture "
                "too, e.g. set_params(architecture=MMoE(), "
                f"{nested[0]}=...)."
            )
        for prefix, name in _ROUTED_DICTS.items():
            entries = {
                key.removeprefix(f"{prefix}__"): params.pop(key)
                for key in [key for key in params if key.startswith(f"{prefix}__")]
            }
            if name in params:
                setattr(self, name, params.pop(name))
            if entries:
                current = getattr(self, name)
                current = current if isinstance(current, dict) else {}
                setattr(self, name, {**current, **entries})
        self._set_params("tasks", **params)
        return self

    def __getstate__(self):
        # skops writes every plain value as an indented JSON node of its own,
        # a few hundred bytes apiece: the estimator's plain attributes and
        # those of the fitted spec go as one JSON document instead, exactly
        # as they are (MultiTaskNet does the same with its own).
        state = dict(super().__getstate__())
        order = list(state)
        spec = state.get("_spec_state_")
        packed = {}
        if type(spec) is dict:
            spec = dict(spec)
            spec_order = {"": list(spec)}
            for key in ("module", "loss"):
                if type(spec.get(key)) is dict:
                    spec[key] = dict(spec[key])
                    spec_order[key] = list(spec[key])
                    packed[key] = pack(spec[key])
            packed[""] = pack(spec)
            state["_spec_state_"] = spec
            packed = {"spec": packed, "spec_order": spec_order}
        tasks = state.get("tasks_")
        if type(tasks) is list:
            entries, packed["tasks_"] = [], {}
            for index, entry in enumerate(tasks):
                parts = pack_object(entry[1]) if type(entry) is tuple else None
                if parts is None or len(entry) != 2:
                    entries.append(entry)
                    continue
                entries.append((entry[0], parts[0], parts[1]))
                packed["tasks_"][str(index)] = parts[2:]
            state["tasks_"] = entries
        packed["estimator"] = pack(state, exclude=("_spec_state_", "tasks_"))
        packed["order"] = order
        state[_PACKED] = json.dumps(packed, separators=(",", ":"))
        return state

    def __setstate__(self, state):
        if _PACKED in state:  # else a pickle of an earlier version
            state = dict(state)
            packed = json.loads(state.pop(_PACKED))
            state.update(unpack(packed["estimator"]))
            if packed.get("tasks_"):
                tasks = list(state["tasks_"])
                for index, (plain, order) in packed["tasks_"].items():
                    name, cls, rest = tasks[int(index)]
                    tasks[int(index)] = (name, unpack_object(cls, rest, plain, order))
                state["tasks_"] = tasks
            if "spec" in packed:
                spec = {**state["_spec_state_"], **unpack(packed["spec"][""])}
                for key, order in packed["spec_order"].items():
                    if key:
                        values = {**spec[key], **unpack(packed["spec"][key])}
                        spec[key] = {name: values[name] for name in order}
                order = packed["spec_order"][""]
                state["_spec_state_"] = {name: spec[name] for name in order}
            state = {key: state[key] for key in packed["order"] if key in state}
        super().__setstate__(state)

    def __sklearn_clone__(self):
        """Return an unfitted copy that shares a fitted ``init_trunk_from``.

        scikit-learn's :func:`~sklearn.base.clone` would clone
        ``init_trunk_from`` too, dropping its fit; it is only read, so the
        clone shares the fitted source instead.

        Returns
        -------
        clone : MultiTaskNetEstimator
            The unfitted copy.
        """
        cloned = super().__sklearn_clone__()
        if getattr(self.init_trunk_from, "net_", None) is not None:
            cloned.init_trunk_from = self.init_trunk_from
        return cloned

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = True
        tags.input_tags.allow_nan = False
        # A sparse X is refused by the embeddings (see num_embedding).
        tags.input_tags.sparse = self.num_embedding is None
        # Not a classifier (a task may regress), but it has predict_proba for
        # its classification tasks, which take any number of classes.
        tags.classifier_tags = ClassifierTags(multi_class=True)
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "net_")

    # -- fitting --------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        *,
        X_val: ArrayLike | None = None,
        y_val: ArrayLike | None = None,
        sample_weight_val: ArrayLike | None = None,
    ) -> MultiTaskNetEstimator:
        """Fit the network to all tasks at once.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric features, without missing values.
        y : array-like of shape (n_samples, n_tasks) or (n_samples,), or \
                DataFrame
            One column per task. A DataFrame's columns are matched to the
            task names; an array's columns are taken in task order. NaN, None
            and pandas.NA mark missing labels, which are left out of their
            task's loss. A 1-D ``y`` is a single task.
        sample_weight : array-like of shape (n_samples,) or \
                (n_samples, n_tasks), or DataFrame, default=None
            Non-negative weights of the labels: one per row (for all its
            labels), or one per row and task (columns in task order, or
            matched by name for a DataFrame). They multiply the tasks'
            ``class_weight``, and each task's loss becomes the weighted mean
            ``sum(w * loss) / sum(w)`` over its labelled rows (validation
            losses too), so scaling all weights by a constant changes
            nothing. A label of weight 0 is treated exactly like a missing
            label, also for the class labels and the scaling of regression
            targets.
        X_val : {array-like, sparse matrix} of shape (n_samples_val, \
                n_features), default=None
            A validation set for early stopping, instead of a random
            ``validation_fraction`` of ``X``: training uses every row of
            ``X``, and stops when the loss on ``(X_val, y_val)`` stops
            improving (the best epoch's weights are kept). Requires
            ``y_val`` and ``early_stopping`` True or ``"auto"`` (which then
            always stops early). In a :class:`~sklearn.pipeline.Pipeline`,
            ``X_val`` does not pass through the earlier steps unless the
            pipeline is told to transform it: enable metadata routing and use
            ``Pipeline(..., transform_input=["X_val"])`` with
            ``set_fit_request(X_val=True, y_val=True)`` on this estimator (see
            the user guide).
        y_val : array-like of shape (n_samples_val, n_tasks) or \
                (n_samples_val,), or DataFrame, default=None
            The labels of ``X_val``, matched to the tasks like ``y``; missing
            labels are allowed. Classification labels must be classes of
            ``y``.
        sample_weight_val : array-like, default=None
            Weights of the validation labels, shaped like ``sample_weight``.

        Returns
        -------
        self : MultiTaskNetEstimator
            The fitted estimator.
        """
        warm = self.warm_start and self.__sklearn_is_fitted__()
        validation = (X_val, y_val, sample_weight_val)
        try:
            return self._fit(X, y, sample_weight, warm, validation=validation)
        except BaseException:
            if not warm:  # a failed warm start keeps the model it continued
                self._forget_fit()  # a failed fit leaves no half-fitted model
            raise

    @available_if(_schedule_is_joint)
    def partial_fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        classes: Any = None,
    ) -> MultiTaskNetEstimator:
        """Train for one epoch on ``(X, y)``, continuing the fitted network.

        For data that arrive in blocks or do not fit in memory (e.g. with
        ``dask_ml.wrappers.Incremental``), as scikit-learn's MLPs do. The
        first call builds the network; each call, the first included, runs
        one epoch over its block, without early stopping. Available only with
        ``schedule="joint"``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples, n_tasks) or (n_samples,), or \
                DataFrame
            As for :meth:`fit`; missing labels are allowed.
        sample_weight : array-like, default=None
            As for :meth:`fit`.
        classes : list, dict or array-like, default=None
            The class labels of the classification tasks, read on the first
            call and ignored after: a list aligned with the tasks (None for
            a regression task), a dict from task name to its labels, or, for
            a 1-D ``y``, the labels themselves. A classification task
            without them takes the classes of the first block, so give them
            whenever a block may lack a class: later labels outside a task's
            classes are an error. A regression task's scaling is fixed by
            the first call's labels.

        Returns
        -------
        self : MultiTaskNetEstimator
            The estimator, trained one more epoch.
        """
        first = not self.__sklearn_is_fitted__()
        if first:
            self._validate_params()
        try:
            return self._fit(
                X, y, sample_weight, warm=not first, classes=classes, partial=True
            )
        except BaseException:
            if first:
                self._forget_fit()
            raise

    def _fit(
        self, X, y, sample_weight, warm, classes=None, partial=False, validation=None
    ):
        # Every check runs before the fitted state is touched; a warm start
        # trains a copy of the fitted net (resume_net).
        X = self._validate_X(X, reset=not warm)
        tasks, columns, y_1d = read_targets(
            y, self.tasks, self.get_params(deep=False), X.shape[0]
        )
        names = [name for name, _ in tasks]
        if warm:
            check_same_tasks(self.task_names_, names)
            codecs = self._codecs_
        elif partial:
            tasks, codecs = initial_codecs(tasks, classes, y_1d)
        else:
            codecs = None
        weights = check_sample_weight(sample_weight, X.shape[0], names)
        tasks, codecs, packed = encode_targets(tasks, columns, weights, codecs)
        valid = self._validation_set(validation, tasks, codecs)
        embedded = self._embedded_features(X, warm, weights)
        spec = self._net_spec(
            tasks, codecs, X.shape[1], warm=warm, n_samples=X.shape[0],
            validation_given=valid is not None, embedded=embedded,
        )  # fmt: skip
        if partial:  # one epoch, all rows: the caller holds the data
            spec = replace(
                spec, max_epochs=1, validation_fraction=None, lr_schedule="constant"
            )
        seeds = self._draw_seeds()
        if warm:
            check_resumable(self._spec_, spec)
            net = resume_net(self.net_, spec, seeds)
        else:
            net = make_net(spec, seeds)
        interrupted = train(
            net, spec, X, packed, seeds.torch,
            initialize=not warm, trunk_source=spec.trunk_source, valid=valid,
        )  # fmt: skip
        if interrupted:
            warnings.warn(
                f"Training was interrupted (KeyboardInterrupt); the model keeps the "
                f"weights of epoch {len(net.history)}, the last one that finished. "
                "Fit again with warm_start=True to continue training.",
                UserWarning,
                stacklevel=3,
            )
        self._store_fit(net, spec, tasks, codecs, y_1d)
        self._store_relations(X)
        return self

    def _validation_set(self, validation, tasks, codecs):
        """``X_val`` and its packed targets, or None without a validation set."""
        X_val, y_val, sample_weight_val = validation or (None, None, None)
        if X_val is None and y_val is None:
            if sample_weight_val is not None:
                raise ValueError(
                    "sample_weight_val weighs the labels of a validation set, but "
                    "X_val and y_val are None. Pass X_val and y_val too, or drop "
                    "sample_weight_val."
                )
            return None
        if X_val is None or y_val is None:
            given, absent = ("X_val", "y_val") if y_val is None else ("y_val", "X_val")
            raise ValueError(
                f"{given} was given without {absent}: a validation set needs both "
                "(X_val, y_val). Pass both, or neither."
            )
        if self.early_stopping is False:
            raise ValueError(
                "X_val and y_val are used for early stopping only, but "
                "early_stopping=False. Set early_stopping=True (or 'auto'), or "
                "drop X_val and y_val."
            )
        try:
            X_val = self._validate_X(X_val, reset=False)
        except ValueError as exc:
            raise ValueError(f"X_val does not match X: {exc}") from None
        columns = read_validation_targets(y_val, tasks, X_val.shape[0])
        names = [name for name, _ in tasks]
        weights = check_sample_weight(sample_weight_val, X_val.shape[0], names)
        return X_val, encode_validation(tasks, codecs, columns, weights)

    def _early_stopping_on(self, n_samples, validation_given):
        """Whether this fit stops early: ``early_stopping``, with "auto" resolved."""
        if self.early_stopping == "auto":
            return validation_given or n_samples >= AUTO_EARLY_STOPPING_MIN_SAMPLES
        return bool(self.early_stopping)

    def _embedded_features(self, X, warm, weights):
        """(columns, bins) of the embedding: kept, transferred or read from ``X``.

        Read from the rows of positive weight, weighted by it (per-label
        weights: a row's largest), as a repeated row would count.
        """
        if self.num_embedding is None:
            return None, None
        if issparse(X):
            raise ValueError(
                f"num_embedding={self.num_embedding!r} turns numeric columns of X into "
                "d_embedding values, which for a sparse X (here "
                f"{X.shape[1]} columns) makes the trunk's input far too wide. Set "
                "num_embedding=None, or reduce X (e.g. TruncatedSVD) or densify it "
                "(X.toarray())."
            )
        fitted = getattr(self, "_spec_", None) if warm else None
        if fitted is None and self.init_trunk_from is not None:
            fitted = getattr(self.init_trunk_from, "_spec_", None)
        if fitted is not None and fitted.module.num_embedding == self.num_embedding:
            # a mismatch of the other options is refused later
            return fitted.module.embedding_columns, fitted.module.embedding_bins
        params = resolve_embedding_params(
            self.num_embedding, dict(self.num_embedding_params or {})
        )
        rows = None if weights is None else weights.max(axis=1)
        if rows is not None and not (rows > 0).any():
            rows = None  # no label counts: the targets' checks say so
        columns = embedded_columns(X, params["embed_binary"], rows)
        if self.num_embedding != "piecewise_linear" or not columns:
            return columns, None
        return columns, quantile_bins(X[:, columns], params["n_bins"], rows)

    def _store_relations(self, X):
        """Set the mean gate or attention weights on the training rows ``X``."""
        # X is validated already (and may have lost its feature names).
        params = self._spec_.module.architecture_params
        if _has_gates(self):
            self.gate_weights_ = gate_weights(
                self.net_, X, self.num_threads, True, -1, params
            )
        elif _has_attention(self):
            self.attention_weights_ = attention_weights(
                self.net_, X, self.num_threads, True
            )

    def _net_spec(
        self, tasks, codecs, n_features, warm=False, n_samples=0,
        validation_given=False, embedded=(None, None),
    ):  # fmt: skip
        """The :class:`NetSpec` of a fit: parameters, tasks and codecs, checked."""
        early_stopping = self._early_stopping_on(n_samples, validation_given)
        groups = tuple(task.group for _, task in tasks)
        embedding = self.num_embedding
        embedding_params = dict(self.num_embedding_params or {})
        trunk_sizes = check_layer_sizes(self.trunk_sizes, "trunk_sizes")
        architecture, architecture_params = (
            (None, {})
            if self.architecture is None
            else self.architecture._module_params(trunk_sizes, self.trunk)
        )
        module = ModuleSpec(
            n_features=int(n_features),
            heads=tuple(
                (task.head_sizes, codec.n_outputs)
                for (_, task), codec in zip(tasks, codecs)
            ),
            trunk_sizes=trunk_sizes,
            activation=self.activation,
            dropout=float(self.dropout),
            trunk=self.trunk,
            trunk_params=dict(self.trunk_params or {}),
            num_embedding=embedding,
            num_embedding_params=(
                embedding_params
                if embedding is None
                else resolve_embedding_params(embedding, embedding_params)
            ),
            embedding_columns=embedded[0],
            embedding_bins=embedded[1],
            head_groups=groups if any(g is not None for g in groups) else None,
            group_sizes=check_layer_sizes(self.group_sizes, "group_sizes"),
            # The sequential schedule freezes heads one by one: keep them apart.
            fuse_heads=self.schedule != "sequential",
            architecture=architecture,
            architecture_params=architecture_params,
            n_ensemble=int(self.n_ensemble),
            head_proba=tuple(isinstance(codec, ClassCodec) for codec in codecs),
        )
        if not isinstance(self.weighting, str):
            check_aggregator(self.weighting)
        options = {
            "gradnorm": {"alpha": float(self.gradnorm_alpha)},
            "dwa": {"temperature": float(self.dwa_temperature)},
        }.get(self.weighting, {})
        return NetSpec(
            task_names=tuple(name for name, _ in tasks),
            task_weights=tuple(float(task.weight) for _, task in tasks),
            module=module,
            loss=LossSpec(
                self.weighting,
                tuple(t.loss for _, t in tasks),
                options,
                float(self.label_smoothing),
            ),
            optimizer=self.optimizer,
            lr=float(self.lr),
            lr_schedule=self.lr_schedule,
            weight_decay=float(self.weight_decay),
            trunk_alpha=float(self.trunk_alpha),
            max_epochs=int(self.max_epochs),
            batch_size=int(self.batch_size),
            schedule=self.schedule,
            validation_fraction=(
                float(self.validation_fraction) if early_stopping else None
            ),
            validation_given=validation_given,
            n_iter_no_change=int(self.n_iter_no_change),
            tol=float(self.tol),
            freeze_trunk=bool(self.freeze_trunk),
            record_gradient_conflict=bool(self.record_gradient_conflict),
            record_task_affinity=(
                None
                if self.record_task_affinity is None
                else int(self.record_task_affinity)
            ),
            device=self._device(),
            num_threads=self.num_threads,
            verbose=int(self.verbose),
            callbacks=tuple(self.callbacks or ()),
            trunk_source=None if warm else self._trunk_source(module),
        )

    def _device(self):
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(
                f"device={self.device!r} is not a device torch knows ({exc}). Use "
                "'cpu', 'cuda' or 'cuda:<index>'."
            ) from None
        if device.type not in ("cpu", "cuda", "mps", "xpu"):
            raise ValueError(
                f"device={self.device!r} cannot train or predict: it holds no data "
                "(or is not an accelerator torch runs networks on). Use 'cpu', "
                "'cuda' or 'cuda:<index>'."
            )
        return device

    def _trunk_source(self, module):
        """What ``init_trunk_from`` offers, checked against ``module`` and ``X``."""
        source = self.init_trunk_from
        if source is None:
            if self.freeze_trunk and self.trunk is None:
                raise ValueError(
                    "freeze_trunk=True keeps the trunk as it starts, but without "
                    "init_trunk_from (or a custom, pretrained trunk) it starts "
                    "random. Set init_trunk_from=<a fitted estimator> or "
                    "freeze_trunk=False."
                )
            return None
        if not isinstance(source, MultiTaskNetEstimator):
            raise TypeError(
                "init_trunk_from must be a fitted MultiTaskNetEstimator or None, "
                f"got {type(source).__name__}."
            )
        if not source.__sklearn_is_fitted__():
            raise ValueError(
                "init_trunk_from must be a fitted MultiTaskNetEstimator, but "
                f"{type(source).__name__} is not fitted. Fit it first. Note that "
                "clone() keeps the fit of init_trunk_from when the estimator that "
                "holds it is cloned (GridSearchCV, cross_validate), but drops it "
                "when fitted estimators are themselves values of a parameter grid."
            )
        trunk_source = TrunkSource(
            source._spec_.module,
            source.net_.module_.trunk.state_dict(),
            getattr(source, "feature_names_in_", None),
        )
        check_trunk_source(
            trunk_source, module, getattr(self, "feature_names_in_", None)
        )
        return trunk_source

    def _draw_seeds(self):
        if self.random_state is None:
            # Fresh entropy: check_random_state(None) would draw from (and
            # advance) NumPy's global random state.
            rng = np.random.RandomState(np.random.SeedSequence().generate_state(4))
        else:
            rng = check_random_state(self.random_state)
        return Seeds(*rng.randint(np.iinfo(np.int32).max, size=3).tolist())

    def _store_fit(self, net, spec, tasks, codecs, y_1d):
        """Set the fitted attributes from a trained net (shared by fit and load)."""
        self.net_ = net
        self.tasks_ = tasks
        self.task_names_ = list(spec.task_names)
        self.classes_ = [getattr(codec, "classes", None) for codec in codecs]
        self.n_iter_ = len(net.history)
        self.early_stopping_ = spec.early_stopping
        weights = getattr(net, "task_weights_", None)
        self.task_weights_ = np.array(
            spec.task_weights if weights is None else weights, dtype=np.float64
        )
        cosine = getattr(net, "gradient_cosine_", None)
        if spec.record_gradient_conflict and cosine is not None:
            self.gradient_cosine_ = np.array(cosine, dtype=np.float64)
        elif hasattr(self, "gradient_cosine_"):
            del self.gradient_cosine_  # from an earlier fit
        affinity = net.task_affinity() if spec.record_task_affinity else None
        if affinity is not None:
            self.task_affinity_ = affinity
        elif hasattr(self, "task_affinity_"):
            del self.task_affinity_
        for attr in _RELATION_ATTRIBUTES:  # from an earlier fit
            if hasattr(self, attr):
                delattr(self, attr)
        if spec.module.architecture == "cross_stitch":
            self.cross_stitch_weights_ = cross_stitch_weights(net)
        # Plain values rather than the spec object (see spec_state); without
        # trunk_source: don't keep another estimator's weights.
        self._spec_state_ = spec_state(spec)
        # The codecs are kept as plain values (classes_ above, the regression
        # targets' means and scales here), not as the private codec objects:
        # fewer of this package's types in a pickle or skops file, and the
        # values a serving runtime needs are public.
        regression = [
            (name, codec)
            for name, codec in zip(self.task_names_, codecs)
            if not isinstance(codec, ClassCodec)
        ]
        self.target_means_ = {name: float(codec.mean) for name, codec in regression}
        self.target_scales_ = {name: float(codec.scale) for name, codec in regression}
        self._y_1d_ = y_1d

    @property
    def _spec_(self):
        """The fitted :class:`NetSpec`, made again from its plain values."""
        try:
            state = self._spec_state_
        except AttributeError:
            raise AttributeError("_spec_ is set by fit") from None
        return spec_from_state(state)

    @property
    def _codecs_(self):
        """Per task, its codec, rebuilt from ``classes_`` and the target scales."""
        try:
            classes, means, scales = (
                self.classes_,
                self.target_means_,
                self.target_scales_,
            )
        except AttributeError:
            raise AttributeError("_codecs_ is set by fit") from None
        return [
            ScaleCodec(means[name], scales[name]) if cls is None else ClassCodec(cls)
            for name, cls in zip(self.task_names_, classes)
        ]

    def _restore(
        self, tasks, codecs, n_features, y_1d, seeds, shapes, load_state,
        embedded=(None, None),
    ):  # fmt: skip
        """Rebuild a fitted estimator from stored values (:func:`sklearn_mtl.load`).

        The same recipe as :meth:`fit` without training: the spec of the
        fitted tasks and codecs, checked against the ``shapes`` of the stored
        weights before anything is allocated, a net built and initialized
        from it, and ``load_state(net)`` to fill in the weights and history.
        """
        spec = self._net_spec(tasks, codecs, n_features, warm=True, embedded=embedded)
        check_stored_shapes(spec, shapes)
        net = initialize_net(
            make_net(spec, seeds), spec, fit_generator(seeds.torch, spec.device)
        )
        load_state(net)
        self.n_features_in_ = n_features
        self._store_fit(net, spec, tasks, codecs, y_1d)
        return self

    def _forget_fit(self):
        for attr in [
            a for a in vars(self) if a.endswith("_") and not a.startswith("__")
        ]:
            delattr(self, attr)

    def _validate_X(self, X, reset):
        try:
            X = validate_data(
                self, X, reset=reset, dtype=np.float32, accept_sparse="csr"
            )
        except ValueError as exc:
            if "could not convert" not in str(exc):
                raise
            raise ValueError(
                f"X must be numeric, but it holds non-numeric values ({exc}). "
                "Encode categorical features first, e.g. with a OneHotEncoder in "
                "a ColumnTransformer."
            ) from None
        # A float32 input comes back uncopied, and may be read-only (pandas'
        # copy-on-write, joblib's memory maps); torch only wraps writable
        # memory, so this is where X gets its one copy. A sparse X stays
        # sparse; its batches are densified one at a time.
        if issparse(X) or X.flags.writeable:
            return X
        return X.copy()

    # -- prediction -----------------------------------------------------------

    def set_output(
        self, *, predict: Literal["default", "pandas"] | None = None
    ) -> MultiTaskNetEstimator:
        """Choose the container of ``predict`` and ``predict_proba``.

        Parameters
        ----------
        predict : {"default", "pandas"} or None, default=None
            ``"pandas"``: ``predict`` returns a DataFrame with one column per
            task (named after it, each with its own dtype, indexed like
            ``X`` when ``X`` is a DataFrame) and ``predict_proba`` DataFrames
            whose columns are the classes. ``"default"``: NumPy arrays.
            None leaves the setting unchanged. The choice survives
            :func:`~sklearn.base.clone`, as scikit-learn's ``set_output``.

        Returns
        -------
        self : MultiTaskNetEstimator
            This estimator.
        """
        if predict is None:
            return self
        if predict not in ("default", "pandas"):
            raise ValueError(
                f"predict must be 'default', 'pandas' or None, got {predict!r}."
            )
        set_output_config(self, {"predict": predict})
        return self

    def _pandas_output(self, X):
        """The pandas module and ``X``'s index when pandas output is on, else None."""
        if get_output_config(self).get("predict", "default") != "pandas":
            return None
        import pandas as pd

        return pd, getattr(X, "index", None)

    def _outputs(self, X, decoders):
        """Per task, its network outputs on ``X`` through ``decoders``."""
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return forward(self.net_, X, self.num_threads, decoders)

    def _predict_columns(self, X):
        """Per-task predictions in each task's own label space and dtype."""
        check_is_fitted(self)
        return self._outputs(X, [codec.decode for codec in self._codecs_])

    def predict(self, X: ArrayLike) -> Any:
        """Predict every task: class labels or values in the task's own units.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples to predict.

        Returns
        -------
        y_pred : ndarray of shape (n_samples, n_tasks)
            One column per task, in task order. Class labels keep their dtype
            when all tasks share one; otherwise the array is of dtype object.
            Of shape (n_samples,) when the estimator was fitted on a 1-D ``y``.
            A DataFrame (or Series) after ``set_output(predict="pandas")``.
        """
        columns = self._predict_columns(X)
        pandas = self._pandas_output(X)
        if pandas is not None:
            pd, index = pandas
            frame = pd.DataFrame(dict(zip(self.task_names_, columns)), index=index)
            return frame.iloc[:, 0] if self._y_1d_ else frame
        return columns[0] if self._y_1d_ else stack_predictions(columns)

    @available_if(_has_classification_task)
    def predict_proba(self, X: ArrayLike) -> Any:
        """Class probabilities of every classification task.

        Available only when at least one task is a classification task.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples to predict.

        Returns
        -------
        proba : list of ndarray of shape (n_samples, n_classes)
            One array per classification task, in task order; its columns
            follow that task's ``classes_``. When the estimator was fitted on
            a 1-D ``y`` (a single task), the array itself, as for a
            single-output classifier.
        """
        check_is_fitted(self)
        outputs = self._outputs(X, [codec.proba for codec in self._codecs_])
        probas = [proba for proba in outputs if proba is not None]
        pandas = self._pandas_output(X)
        if pandas is not None:
            pd, index = pandas
            classes = [c for c in self.classes_ if c is not None]
            probas = [
                pd.DataFrame(proba, columns=cls, index=index)
                for proba, cls in zip(probas, classes)
            ]
        return probas[0] if self._y_1d_ else probas

    @available_if(_has_gates)
    def gate_weights(
        self, X: ArrayLike, *, average: bool = True, level: int = -1
    ) -> np.ndarray:
        """Each task's gate weights over the experts on ``X`` (MMoE and PLE).

        Available only with an :class:`MMoE` or :class:`PLE` architecture.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The rows to run the gates on.
        average : bool, default=True
            Return the mean over the rows; False returns each row's.
        level : int, default=-1
            For PLE, the level whose gates to return (0 the first, -1 the
            last); ignored for MMoE.

        Returns
        -------
        weights : ndarray of shape (n_tasks, n_experts), or \
                (n_samples, n_tasks, n_experts) when ``average=False``
            Each task's (row's) weights sum to one over the experts. For
            PLE, the experts are numbered over all tasks: the
            ``n_task_experts`` of the first task (or group), of the second,
            ..., then the ``n_shared_experts``; a task's gate gives zero
            weight to the other tasks' experts. Tasks of one group share a
            gate, hence their rows are equal.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        params = self._spec_.module.architecture_params
        n_levels = params.get("n_levels")  # PLE's; MMoE has one level
        if n_levels is not None and not -n_levels <= level < n_levels:
            raise ValueError(
                f"level={level!r} is not a level of this PLE, which has {n_levels}; "
                "use 0 to n_levels - 1, or -1 for the last."
            )
        return gate_weights(self.net_, X, self.num_threads, average, level, params)

    @available_if(_has_attention)
    def attention_weights(self, X: ArrayLike, *, average: bool = True) -> np.ndarray:
        """Each task's attention weights on every task on ``X`` (TaskAttention).

        Available only with a :class:`TaskAttention` architecture.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The rows to run the attention on.
        average : bool, default=True
            Return the mean over the rows; False returns each row's.

        Returns
        -------
        weights : ndarray of shape (n_tasks, n_tasks), or \
                (n_samples, n_tasks, n_tasks) when ``average=False``
            Row ``i``: how much task ``i`` reads from each task; each row
            sums to one. The weight on a group is shared equally among its
            tasks.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return attention_weights(self.net_, X, self.num_threads, average)

    def task_estimator(self, task: str) -> TaskView:
        """One task of this fitted model as a fitted classifier or regressor.

        For scikit-learn's displays and inspection tools, which expect a
        single-output estimator: ``PartialDependenceDisplay``,
        ``RocCurveDisplay``, ``CalibrationDisplay``,
        ``permutation_importance``. The view reads this estimator at each
        call; in a Pipeline, use ``TaskView(pipeline, task)`` instead, so
        that ``X`` goes through the preprocessing.

        Parameters
        ----------
        task : str
            The task's name, as in ``task_names_``.

        Returns
        -------
        view : TaskView
            A classifier (with ``classes_`` and ``predict_proba``) for a
            classification task, a regressor for a regression task.
        """
        check_is_fitted(self)
        view = TaskView(self, task)
        view._task()  # an unknown task name fails here, not at first use
        return view

    def score_tasks(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> dict[str, float]:
        """Score each task on its labelled rows.

        Classification tasks are scored by accuracy, regression tasks by R².

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test samples.
        y : array-like of shape (n_samples, n_tasks) or DataFrame
            True labels, one column per task (matched by name for a
            DataFrame); missing labels are skipped.
        sample_weight : array-like of shape (n_samples,) or \
                (n_samples, n_tasks), or DataFrame, default=None
            Weights of the rows, or of each row's labels, as for
            :meth:`fit`; the scores are weighted accordingly.

        Returns
        -------
        scores : dict of str to float
            Task name to score; NaN for a task without labels (of positive
            weight) in ``y``.
        """
        check_is_fitted(self)
        columns, column_names, _ = split_columns(y)
        columns = match_columns(columns, column_names, self.tasks_)
        predictions = self._predict_columns(X)
        check_n_rows(len(predictions[0]), columns)
        weights = check_sample_weight(sample_weight, len(columns[0]), self.task_names_)
        scores = {}
        for j, ((name, task), column, pred) in enumerate(
            zip(self.tasks_, columns, predictions)
        ):
            values, missing, _ = labelled_values(column)
            w = None if weights is None else weights[~missing, j]
            if not len(values) or (w is not None and not w.sum()):
                scores[name] = np.nan
            elif task.kind == "classification":
                # Accuracy as a plain comparison: scikit-learn's accuracy_score
                # refuses classes that are fractional floats.
                scores[name] = float(np.average(pred[~missing] == values, weights=w))
            else:
                scores[name] = float(
                    r2_score(values.astype(np.float64), pred[~missing], sample_weight=w)
                )
        return scores

    def score(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> float:
        """Mean over tasks of accuracy (classification) and R² (regression).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test samples.
        y : array-like of shape (n_samples, n_tasks) or DataFrame
            True labels, one column per task; missing labels are skipped.
        sample_weight : array-like of shape (n_samples,) or \
                (n_samples, n_tasks), or DataFrame, default=None
            Weights of the rows or labels, as for :meth:`score_tasks`.

        Returns
        -------
        score : float
            The mean of :meth:`score_tasks` over the tasks that have labels.
        """
        scores = self.score_tasks(X, y, sample_weight=sample_weight).values()
        scores = [s for s in scores if not np.isnan(s)]
        return float(np.mean(scores)) if scores else np.nan
