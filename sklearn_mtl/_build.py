"""Assembling the skorch net from a :class:`MultiTaskNetEstimator`'s parameters.

:func:`build_net` makes a new :class:`~sklearn_mtl._training.MultiTaskNet`:
the network (:func:`module_params`), the criterion of the ``weighting``
(:func:`criterion_params`), the optimizer's parameter groups
(``trunk_alpha``, learned loss weights) and the training machinery.
:func:`continue_net` checks that a fitted net can go on training
(``warm_start``), and :func:`check_method_params` checks the combinations of
the multi-task parameters before anything is built.
"""

import torch

from ._network import ACTIVATIONS, MultiTaskNetwork
from ._task import check_layer_sizes
from ._training import HoldoutSplit, MultiTaskNet, TensorBatchIterator, TensorDataset
from ._transfer import source_net
from ._weighting import CRITERIA, GRADIENT_METHODS


def check_method_params(est):
    """Checks that parameter constraints can't express, before any training."""
    if torch.device(est.device).type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={est.device!r}, but no CUDA device is available; use device='cpu'."
        )
    if not issubclass(est.optimizer, torch.optim.Optimizer):
        raise TypeError(
            "optimizer must be a torch.optim.Optimizer class such as "
            f"torch.optim.Adam, got {est.optimizer!r}."
        )
    if isinstance(est.activation, type) and not issubclass(
        est.activation, torch.nn.Module
    ):
        raise TypeError(
            "activation must be one of "
            f"{sorted(ACTIVATIONS)} or a torch.nn.Module class, got "
            f"{est.activation!r}."
        )
    if est.trunk is None and est.trunk_params:
        raise ValueError(
            f"trunk_params={est.trunk_params!r} are arguments of a custom trunk "
            "class, but trunk=None (the MLP of trunk_sizes). Set trunk=<a "
            "torch.nn.Module class> or remove them."
        )
    if est.trunk is not None and not issubclass(est.trunk, torch.nn.Module):
        raise TypeError(
            f"trunk must be a torch.nn.Module class or None, got {est.trunk!r}."
        )
    if est.schedule == "sequential" and est.weighting != "fixed":
        raise ValueError(
            f"schedule='sequential' trains one task at a time, so there is "
            f"nothing to weigh; weighting={est.weighting!r} needs "
            "schedule='joint'. Use weighting='fixed' with the sequential schedule."
        )
    if est.freeze_trunk and est.init_trunk_from is None and est.trunk is None:
        raise ValueError(
            "freeze_trunk=True keeps the trunk as it starts, but without "
            "init_trunk_from (or a custom, pretrained trunk) it starts random. "
            "Set init_trunk_from=<a fitted estimator> or freeze_trunk=False."
        )
    if est.init_trunk_from is not None:
        source_net(est.init_trunk_from)  # fitted? the right type?
    needs_gradients = est.weighting in GRADIENT_METHODS or est.record_gradient_conflict
    no_trunk = est.trunk is None and not check_layer_sizes(
        est.trunk_sizes, "trunk_sizes"
    )
    if needs_gradients and (est.freeze_trunk or no_trunk):
        what = (
            f"weighting={est.weighting!r}"
            if est.weighting in GRADIENT_METHODS
            else "record_gradient_conflict=True"
        )
        raise ValueError(
            f"{what} works on the gradients of the shared trunk, but "
            f"{'freeze_trunk=True' if est.freeze_trunk else 'trunk_sizes=()'} "
            "leaves no shared parameters to train. Use a trained trunk, or "
            "weighting='fixed', 'uncertainty' or 'dwa'."
        )
    check_layer_sizes(est.group_sizes, "group_sizes")


def module_params(est, tasks, targets, n_features):
    """The keyword arguments of :class:`MultiTaskNetwork`."""
    groups = [task.group for _, task in tasks]
    return {
        "n_features": n_features,
        "trunk_sizes": check_layer_sizes(est.trunk_sizes, "trunk_sizes"),
        "heads": [
            (task.head_sizes, target.n_outputs)
            for (_, task), target in zip(tasks, targets)
        ],
        "activation": est.activation,
        "dropout": est.dropout,
        "trunk": est.trunk,
        "trunk_params": dict(est.trunk_params or {}),
        "head_groups": groups if any(g is not None for g in groups) else None,
        "group_sizes": check_layer_sizes(est.group_sizes, "group_sizes"),
        # The sequential schedule freezes heads one by one: keep them apart.
        "fuse_heads": est.schedule != "sequential",
    }


def criterion_params(est, tasks, seed=0):
    """The criterion class of ``weighting`` and its keyword arguments.

    ``seed`` seeds PCGrad's projection orders (a stream of its own).
    """
    params = {
        "losses": [task.loss for _, task in tasks],
        "weights": [task.weight for _, task in tasks],
    }
    if est.weighting == "gradnorm":
        params["alpha"] = est.gradnorm_alpha
    elif est.weighting == "dwa":
        params["temperature"] = est.dwa_temperature
    elif est.weighting == "pcgrad":
        params["random_state"] = [int(seed), 1]  # independent of the shuffling
    return CRITERIA[est.weighting], params


def continue_net(est, tasks, shuffle_seed, split_seed, callbacks, sink):
    """``est``'s fitted net, checked against ``tasks`` and set up for more epochs."""
    net = est.net_
    fitted_params = net.get_params()
    current = module_params(est, tasks, est._targets_, est.n_features_in_)
    changed = [
        key
        for key, value in current.items()
        if key != "heads" and fitted_params.get(f"module__{key}") != value
    ]
    changed = ["schedule" if key == "fuse_heads" else key for key in changed]
    criterion, _ = criterion_params(est, tasks)
    if type(net.criterion_) is not criterion:
        changed.append("weighting")
    if net.freeze_trunk != est.freeze_trunk:
        changed.append("freeze_trunk")

    def spec(tasks):
        return [(name, task.kind, task.loss, task.head_sizes) for name, task in tasks]

    fitted, now = spec(est.tasks_), spec(tasks)
    if fitted != now or changed:
        raise ValueError(
            "warm_start=True continues training the fitted network, but "
            f"{'the tasks' if fitted != now else ', '.join(changed)} changed "
            "since it was fitted. Set warm_start=False to fit a new network."
        )
    net.set_params(lr=est.lr, verbose=est.verbose, callbacks=callbacks)
    net.initialize_callbacks()
    net.set_params(callbacks__print_log__sink=sink)
    # Plain attributes: skorch's set_params can't take iterator arguments
    # on an initialized net.
    net.iterator_train__seed = shuffle_seed
    net.record_gradient_conflict = est.record_gradient_conflict
    if net.train_split is not None:
        net.train_split.seed = split_seed
    net.criterion_.weights = torch.as_tensor(
        [task.weight for _, task in tasks], dtype=torch.float32, device=net.device
    )
    for group in net.optimizer_.param_groups:
        group["lr"] = est.lr
    return net


# Optimizers whose fused implementation PyTorch supports on CPU and CUDA.
FUSED_OPTIMIZERS = (torch.optim.Adam, torch.optim.AdamW)


def build_net(
    est, tasks, targets, n_features, shuffle_seed, split_seed, callbacks, sink
):
    """A new net for the resolved ``tasks``, their label codecs and ``n_features``."""
    device = torch.device(est.device)
    train_split = None
    if est.early_stopping:
        train_split = HoldoutSplit(est.validation_fraction, split_seed)
    criterion, criterion_kwargs = criterion_params(est, tasks, shuffle_seed)
    # Parameter groups (skorch matches the parameters' names): the trunk
    # gets its extra L2 penalty, learned loss weights no weight decay.
    param_groups = [
        (name, {"weight_decay": 0.0}) for name in getattr(criterion, "learnable", ())
    ]
    if est.trunk_alpha:
        param_groups.insert(
            0, ("trunk.*", {"weight_decay": est.weight_decay + est.trunk_alpha})
        )
    optimizer_params = {"optimizer__param_groups": param_groups} if param_groups else {}
    if est.optimizer in FUSED_OPTIMIZERS:
        # The fused kernels compute the same update in one pass over all
        # parameters: about 12 % less fit time than the default (foreach).
        optimizer_params["optimizer__fused"] = True
    return MultiTaskNet(
        module=MultiTaskNetwork,
        **{
            f"module__{key}": value
            for key, value in module_params(est, tasks, targets, n_features).items()
        },
        criterion=criterion,
        **{f"criterion__{key}": value for key, value in criterion_kwargs.items()},
        optimizer=est.optimizer,
        optimizer__weight_decay=est.weight_decay,
        **optimizer_params,
        lr=est.lr,
        max_epochs=est.max_epochs,
        batch_size=est.batch_size,
        dataset=TensorDataset,
        iterator_train=TensorBatchIterator,
        iterator_train__shuffle=True,
        iterator_train__seed=shuffle_seed,
        iterator_valid=TensorBatchIterator,
        train_split=train_split,
        callbacks=callbacks,
        callbacks__print_log__sink=sink,
        # constant under the fixed weighting: not worth a column of the log
        callbacks__print_log__keys_ignored=(
            [f"weight_{name}" for name, _ in tasks]
            if est.weighting == "fixed" and est.schedule == "joint"
            else None
        ),
        device=device,
        verbose=est.verbose,
        task_names=[name for name, _ in tasks],
        record_gradient_conflict=est.record_gradient_conflict,
        freeze_trunk=est.freeze_trunk,
    )
