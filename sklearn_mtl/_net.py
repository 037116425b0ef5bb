"""Everything skorch: building, resuming, training and running the net.

These functions read a :class:`~sklearn_mtl._spec.NetSpec` and plain arrays,
never the estimator. :func:`make_net` builds a new
:class:`~sklearn_mtl._training.MultiTaskNet` for a spec, :func:`resume_net`
prepares a copy of a fitted one for more epochs (``warm_start``),
:func:`train` runs the epochs with the fit's own threads and seeds, and
:func:`forward` runs the trained network on new rows in batches.
"""

from __future__ import annotations

import copy
import os
import threading
from contextlib import contextmanager

import numpy as np
import torch
from skorch.callbacks import ProgressBar

from ._data import (
    GivenSplit,
    HoldoutSplit,
    SparseRows,
    TensorBatchIterator,
    TensorDataset,
    as_rows,
)
from ._module import (
    MultiTaskNetwork,
    reset_ensemble,
    reset_linear_layers,
    set_generator,
)
from ._torchjd import AggregatorLoss
from ._training import LRSchedule, MultiTaskNet, StopEarly
from ._transfer import copy_trunk
from ._weighting import CRITERIA

# Rows per forward pass at prediction time: large enough to amortize Python
# overhead, small enough to bound activation memory.
PREDICT_BATCH_SIZE = 8192
# ... and at most this many elements in a densified batch of a sparse X.
SPARSE_BATCH_ELEMENTS = 2**22

# Optimizers whose fused implementation PyTorch supports on CPU and CUDA; the
# speed benchmark page measures what it saves.
FUSED_OPTIMIZERS = (torch.optim.Adam, torch.optim.AdamW)


@contextmanager
def torch_threads(n_threads):
    """Run a block with ``n_threads`` torch CPU threads, then restore the setting.

    ``None`` leaves torch's setting alone. More threads than the machine has
    cores are capped at the core count: a number from a model file or a
    bigger machine must not start thousands of threads.
    """
    if n_threads is not None:
        n_threads = min(n_threads, os.cpu_count() or 1)
    previous = torch.get_num_threads()
    if n_threads is None or n_threads == previous:
        yield
        return
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# torch's global generator is shared by every thread; the one thing that
# still draws from it, building the network (a user's trunk initializes
# itself that way), holds this lock around its seeded fork.
_GLOBAL_RNG_LOCK = threading.Lock()


@contextmanager
def _seeded_global_rng(seed, device):
    """Seed torch's generators for ``device`` inside a fork, one fit at a time."""
    cuda = device.type == "cuda"
    index = device.index if device.index is not None else None
    if cuda and index is None:
        index = torch.cuda.current_device()
    with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=[index] if cuda else []):
        torch.default_generator.manual_seed(seed)
        if cuda:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        elif device.type != "cpu":
            torch.manual_seed(seed)
        yield


def fit_generator(seed, device):
    """The fit's own torch generator on ``device``, seeded with ``seed``."""
    return torch.Generator(device=device).manual_seed(seed)


# Log sinks: module-level functions rather than a lambda or a reference to the
# builtin print, so that a fitted net pickles anywhere (Ray, for one, replaces
# builtins.print in its workers).
def _print(*args, **kwargs):
    print(*args, **kwargs)


def _silent(*args, **kwargs):
    pass


def _callbacks(spec):
    """Copies of the user's callbacks, plus early stopping and a progress bar."""
    sink = _print if spec.verbose else _silent
    callbacks = copy.deepcopy(list(spec.callbacks))
    if spec.verbose >= 2:
        callbacks.append(("progress_bar", ProgressBar()))
    if spec.early_stopping:
        stop = StopEarly(
            monitor="valid_loss",
            patience=spec.n_iter_no_change,
            threshold=spec.tol,
            threshold_mode="abs",
            load_best=True,
            sink=sink,
        )
        callbacks.append(("early_stopping", stop))
    if spec.lr_schedule != "constant":
        callbacks.append(("lr_schedule", LRSchedule(spec.lr_schedule, spec.max_epochs)))
    return callbacks, sink


def _criterion_kwargs(spec, seed):
    """The criterion's arguments; ``seed`` seeds PCGrad's projection orders."""
    kwargs = {
        "losses": spec.loss.losses,
        "weights": spec.task_weights,
        "label_smoothing": spec.loss.label_smoothing,
    }
    kwargs.update(spec.loss.options)
    if not isinstance(spec.loss.weighting, str):
        kwargs["aggregator"] = spec.loss.weighting
    elif spec.loss.weighting == "pcgrad":
        kwargs["random_state"] = [int(seed), 1]  # independent of the shuffling
    return kwargs


def _holdout_split(spec, seeds):
    """The random hold-out split of ``spec``, or None (none, or a given set)."""
    if spec.validation_fraction is None or spec.validation_given:
        return None
    return HoldoutSplit(spec.validation_fraction, seeds.split, spec.task_names)


def make_net(spec, seeds):
    """A new, uninitialized net for ``spec``.

    Parameters
    ----------
    spec : NetSpec
    seeds : Seeds

    Returns
    -------
    net : MultiTaskNet
    """
    weighting = spec.loss.weighting
    criterion = CRITERIA[weighting] if isinstance(weighting, str) else AggregatorLoss
    # Parameter groups (skorch matches the parameters' names): the trunk
    # gets its extra L2 penalty, learned loss weights no weight decay.
    param_groups = [
        (name, {"weight_decay": 0.0}) for name in getattr(criterion, "learnable", ())
    ]
    if spec.trunk_alpha:
        param_groups.insert(
            0, ("trunk.*", {"weight_decay": spec.weight_decay + spec.trunk_alpha})
        )
    optimizer_params = {"optimizer__param_groups": param_groups} if param_groups else {}
    if spec.optimizer in FUSED_OPTIMIZERS:
        optimizer_params["optimizer__fused"] = True
    callbacks, sink = _callbacks(spec)
    return MultiTaskNet(
        module=MultiTaskNetwork,
        **{f"module__{key}": value for key, value in spec.module.kwargs().items()},
        criterion=criterion,
        **{
            f"criterion__{key}": value
            for key, value in _criterion_kwargs(spec, seeds.shuffle).items()
        },
        optimizer=spec.optimizer,
        optimizer__weight_decay=spec.weight_decay,
        **optimizer_params,
        lr=spec.lr,
        max_epochs=spec.max_epochs,
        batch_size=spec.batch_size,
        dataset=TensorDataset,
        iterator_train=TensorBatchIterator,
        iterator_train__shuffle=True,
        iterator_train__seed=seeds.shuffle,
        iterator_valid=TensorBatchIterator,
        train_split=_holdout_split(spec, seeds),
        callbacks=callbacks,
        callbacks__print_log__sink=sink,
        # constant under the fixed weighting: not worth a column of the log;
        # a matrix does not fit in one either
        callbacks__print_log__keys_ignored=[
            "grad_cosine",
            *(
                [f"weight_{name}" for name in spec.task_names]
                if spec.loss.weighting == "fixed" and spec.schedule == "joint"
                else []
            ),
        ],
        device=spec.device,
        verbose=spec.verbose,
        task_names=list(spec.task_names),
        record_gradient_conflict=spec.record_gradient_conflict,
        freeze_trunk=spec.freeze_trunk,
        record_task_affinity=spec.record_task_affinity,
    )


def check_same_tasks(fitted_names, names):
    """Raise unless a warm start has the fitted net's tasks, in its order."""
    if tuple(fitted_names) != tuple(names):
        _refuse_warm_start(["the tasks"])


def check_resumable(fitted, spec):
    """Raise unless a net fitted for spec ``fitted`` can train on for ``spec``."""
    old, new = fitted.module, spec.module
    changed = []
    if (
        fitted.task_names != spec.task_names
        or old.heads != new.heads
        or old.head_groups != new.head_groups
        or old.head_proba != new.head_proba
        or fitted.loss.losses != spec.loss.losses
    ):
        changed.append("the tasks")
    names = {"fuse_heads": "schedule", "architecture_params": "architecture"}
    changed += dict.fromkeys(
        names.get(key, key)
        for key, value in old.kwargs().items()
        if key not in ("heads", "head_groups", "head_proba")
        and getattr(new, key) != value
    )
    if fitted.loss.weighting != spec.loss.weighting:
        changed.append("weighting")
    if fitted.freeze_trunk != spec.freeze_trunk:
        changed.append("freeze_trunk")
    if changed:
        _refuse_warm_start(changed)


def _refuse_warm_start(changed):
    raise ValueError(
        "warm_start=True continues training the fitted network, but "
        f"{', '.join(changed)} changed since it was fitted. Set warm_start=False "
        "to fit a new network."
    )


def resume_net(net, spec, seeds):
    """A copy of the fitted ``net`` set up to train for ``spec``'s epochs.

    The fitted net itself is left as it is, so that a failed warm start
    keeps the model that was there. Call :func:`check_resumable` first.
    """
    net = copy.deepcopy(net)
    callbacks, sink = _callbacks(spec)
    net.set_params(lr=spec.lr, verbose=spec.verbose, callbacks=callbacks)
    net.initialize_callbacks()
    net.set_params(callbacks__print_log__sink=sink)
    # Plain attributes: skorch's set_params can't take iterator arguments
    # on an initialized net.
    net.iterator_train__seed = seeds.shuffle
    net.record_gradient_conflict = spec.record_gradient_conflict
    net.record_task_affinity = spec.record_task_affinity
    net.train_split = _holdout_split(spec, seeds)
    net.criterion_.weights = torch.as_tensor(
        spec.task_weights, dtype=torch.float32, device=net.device
    )
    net.criterion_.label_smoothing = spec.loss.label_smoothing
    for group in net.optimizer_.param_groups:
        group["lr"] = spec.lr
    return net


def initialize_net(net, spec, generator, trunk_source=None):
    """Initialize ``net``'s module, criterion and optimizer from ``generator``.

    The package's own layers are drawn from the fit's ``generator``; a
    user's trunk initializes itself from torch's global generator, seeded
    from the same generator inside a locked fork. A transferred trunk
    (``trunk_source``) then replaces the random trunk.
    """
    seed = int(torch.randint(2**31 - 1, (1,), generator=generator, device="cpu"))
    with _seeded_global_rng(seed, spec.device):
        net.initialize()
    module = net.module_
    reset_linear_layers(
        module, generator, module.trunk if module.custom_trunk else None
    )
    reset_ensemble(module, generator)
    if trunk_source is not None:
        copy_trunk(trunk_source, module)
    return net


def train(
    net, spec, X, packed, seed, *, initialize=False, trunk_source=None, valid=None
):
    """Train ``net`` on ``X`` and the packed targets.

    Parameters
    ----------
    net : MultiTaskNet
        New (:func:`make_net`, then ``initialize=True``) or resumed
        (:func:`resume_net`).
    spec : NetSpec
    X : ndarray of shape (n_samples, n_features), float32
    packed : ndarray of shape (n_samples, 2 * n_tasks), float32
        The targets in the layout of :mod:`sklearn_mtl._layout`.
    seed : int
        Seeds the fit's own generator: weight initialization, then dropout,
        in one stream. Nothing is drawn from torch's global generators
        (but by a user's trunk), so fits running at once in threads give
        what they give alone.
    initialize : bool, default=False
        Whether to initialize the net first (see :func:`initialize_net`).
    trunk_source : TrunkSource or None, default=None
        With ``initialize``, the trunk to start from.
    valid : tuple of (ndarray, ndarray) or None, default=None
        A given validation set, ``X_val`` and its packed targets, for
        ``spec.validation_given``: early stopping watches its loss, and the
        net does not keep it.

    Returns
    -------
    interrupted : bool
        Whether training ended by a KeyboardInterrupt after at least one
        finished epoch (the net then holds that epoch's weights).
    """
    dataset = TensorDataset(
        as_rows(X, spec.device), torch.as_tensor(packed, device=spec.device)
    )
    if valid is not None:
        net.train_split = GivenSplit(
            TensorDataset(
                as_rows(valid[0], spec.device),
                torch.as_tensor(valid[1], device=spec.device),
            )
        )
    generator = fit_generator(seed, spec.device)
    with torch_threads(spec.num_threads):
        if initialize:
            initialize_net(net, spec, generator, trunk_source)
        set_generator(net.module_, generator)
        try:
            if spec.schedule == "sequential":
                net.fit_sequentially(dataset, spec.max_epochs)
            else:
                net.partial_fit(dataset, epochs=spec.max_epochs)
        finally:
            set_generator(net.module_, None)  # a fitted net keeps no generator
            if valid is not None:  # nor the user's validation data
                net.train_split = None
    if net._interrupted and not net.history:
        raise KeyboardInterrupt  # interrupted before any epoch finished
    # The epoch's losses were finite, but its last steps may not have been.
    if not all(torch.isfinite(p).all() for p in net.module_.parameters()):
        raise ValueError(
            f"Training diverged in epoch {len(net.history)}: the network's weights "
            f"are no longer finite. Lower the learning rate (lr={spec.lr}) or "
            "standardize X (e.g. with StandardScaler)."
        )
    return net._interrupted


def check_stored_shapes(spec, shapes):
    """Raise unless ``spec``'s network has exactly the tensors of ``shapes``.

    The network is built on PyTorch's ``meta`` device, which allocates no
    memory: sizes read from an untrusted file (layer widths, the number of
    features or classes, an activation's own parameters) are checked against
    the tensors actually stored before anything of their size exists.

    Parameters
    ----------
    spec : NetSpec
    shapes : dict of str to tuple of int
        The stored ``state_dict`` shapes of the module.
    """
    try:
        with torch.device("meta"):
            module = MultiTaskNetwork(**spec.module.kwargs())
    except Exception as exc:  # noqa: BLE001 - any failure to build is invalid
        raise ValueError(
            f"The model file is invalid: its network cannot be built ({exc})."
        ) from None
    expected = {key: tuple(value.shape) for key, value in module.state_dict().items()}
    if expected != shapes:
        differ = sorted(set(expected).symmetric_difference(shapes)) or [
            key for key in expected if expected[key] != shapes[key]
        ]
        raise ValueError(
            "The model file is invalid: its weights do not fit the network it "
            f"describes (they differ at {differ[:3]})."
        )


def forward(net, X, num_threads, decoders):
    """The network's outputs on ``X``, each task's decoded batch by batch.

    Parameters
    ----------
    net : MultiTaskNet
    X : ndarray or sparse matrix of shape (n_samples, n_features), float32
    num_threads : int or None
    decoders : list of (callable or None)
        Per task, what turns a batch of its raw outputs (an
        ``(n_rows, n_outputs)`` array) into the result (labels, values,
        probabilities); None skips the task. Decoding each batch at once
        keeps memory at the size of the results, not of every logit.

    Returns
    -------
    results : list of (ndarray or None)
        Per task, its decoded outputs for all rows (None where skipped).
    """
    module, device = net.module_, net.device
    if module.training:  # eval() walks every submodule: skip it when possible
        module.eval()
    rows = as_rows(X, "cpu")
    step = PREDICT_BATCH_SIZE
    if isinstance(rows, SparseRows):  # each batch is densified: bound its size
        step = max(1, min(step, SPARSE_BATCH_ELEMENTS // max(X.shape[1], 1)))
    batches = [[] for _ in decoders]
    with torch.inference_mode(), torch_threads(num_threads):
        for start in range(0, len(rows), step):
            outputs = module(rows[start : start + step].to(device))
            for task, decode, out in zip(batches, decoders, outputs):
                if decode is not None:
                    task.append(decode(out.cpu().numpy()))
    return [
        np.concatenate(task) if decode is not None else None
        for task, decode in zip(batches, decoders)
    ]
