"""The skorch net of a multi-task fit, and its callbacks.

skorch runs the loop (epochs, optimizer steps, callbacks, history).
:class:`MultiTaskNet` plugs into its extension points: it records each
task's loss and effective weight per epoch in the history
(``train_loss_<task>``, ``valid_loss_<task>``, ``weight_<task>``) and keeps
the last epoch's weights and gradient cosines as arrays; it stops with a
clear error when a task's loss stops being finite, computes per-task
gradients of the trunk for the weightings that combine gradients (PCGrad,
MGDA, GradNorm) and for the gradient-conflict diagnostic, freezes a
transferred trunk, rolls an interrupted epoch back, trains the tasks one
after another (:meth:`MultiTaskNet.fit_sequentially`), and measures the
tasks' affinities every few steps (:mod:`sklearn_mtl._affinity`).
"""

import json
import math

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping, PrintLog
from skorch.dataset import unpack_data
from skorch.history import History
from skorch.utils import get_map_location, to_device, to_tensor

from ._affinity import lookahead_affinity, mean_affinity
from ._loss import task_means
from ._net_state import (
    ATTRIBUTES_KEY,
    LAYOUT_KEY,
    TENSORS_KEY,
    extra_attributes,
    flag_string,
    history_json,
    is_dropout,
    json_tuples,
    net_parameters,
    pack,
    pack_callbacks,
    plain_json,
    plain_value,
    rebuildable,
    same_groups,
    same_virtual_params,
    unpack,
    unpack_callbacks,
    validated_params,
    virtual_params,
)
from ._weighting import gradient_cosines


class EpochLog(PrintLog):
    """skorch's per-epoch table, formatted only when it is printed.

    :class:`skorch.callbacks.PrintLog` formats the epoch's row even when the
    net is silent, a measurable share of a small fit (see the speed
    benchmark page).
    """

    def on_epoch_end(self, net, **kwargs):
        if net.verbose:
            super().on_epoch_end(net, **kwargs)


class MultiTaskNet(NeuralNet):
    """A skorch ``NeuralNet`` whose criterion is a multi-task loss.

    Its history gains, each epoch, the mean loss of every task over its
    labelled rows: ``train_loss_<task>`` and, when a validation split is
    used, ``valid_loss_<task>`` (NaN when the split holds no label of the
    task); and each task's effective loss weight, ``weight_<task>``. The
    totals ``train_loss`` and ``valid_loss`` are the weighted objective, as
    in skorch.

    The training step is skorch's (one backward pass of the combined loss)
    unless the criterion combines per-task gradients or
    ``record_gradient_conflict`` is set: then each task's gradient of the
    trainable trunk parameters is computed (one backward pass per task),
    handed to the criterion's ``combine_gradients``, and the other
    parameters get the gradient of its ``head_objective``.

    Parameters
    ----------
    *args, **kwargs
        As for :class:`skorch.NeuralNet`; the criterion must be a
        :class:`~sklearn_mtl._loss.MaskedMultiTaskLoss`.
    task_names : sequence of str
        Names of the tasks, in the order of the module's outputs.
    record_gradient_conflict : bool, default=False
        Record, per epoch, the mean cosine similarity between each pair of
        tasks' trunk gradients (``grad_cosine``, a matrix in task order).
    freeze_trunk : bool, default=False
        Keep the module's ``trunk`` fixed: its parameters are not trained
        (``requires_grad`` off, left out of the optimizer) and it runs in
        evaluation mode (no dropout, no batch-norm statistics updates).
    record_task_affinity : int or None, default=None
        Every that many training steps, before the step, measure the tasks'
        lookahead affinities on the step's batch
        (:func:`~sklearn_mtl._affinity.lookahead_affinity`, with the
        optimizer's current learning rate) and add them to running sums,
        kept across warm starts; :meth:`task_affinity` is their mean.
    """

    # Set at each training start; defaults for nets that never trained.
    _per_task = False
    _active_task = None
    # The affinity measurements: sums and counts per pair, the step counter.
    _affinity_sum = None
    _affinity_count = None
    _affinity_step = 0

    def __init__(
        self,
        *args,
        task_names=(),
        record_gradient_conflict=False,
        freeze_trunk=False,
        record_task_affinity=None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.task_names = task_names
        self.record_gradient_conflict = record_gradient_conflict
        self.freeze_trunk = freeze_trunk
        self.record_task_affinity = record_task_affinity

    # -- pickling: data, not pickled torch objects ------------------------------

    def __getstate__(self):
        # skorch pickles the module, the criterion and the optimizer (and
        # every attribute whose name starts like theirs, their arguments
        # included) into one blob, which a skops file then holds unchecked.
        # Where they can be rebuilt exactly from data (_data_state), the
        # state holds their tensors as safetensors bytes and the rest as
        # plain values instead. skops also writes every number of a history
        # as a JSON node of its own, some 100 bytes a value (a megabyte for
        # 100 epochs of three tasks, more than the weights); as one string it
        # takes what skorch's own history files take. Pickle, joblib and
        # deepcopy go the same way.
        state = self._data_state()
        if state is None:
            state = super().__getstate__()
        text = history_json(state.get("history_"))
        if text is not None:
            state["history_"] = text
        return state

    def __setstate__(self, state):
        if isinstance(state.get("history_"), str):
            state = {**state, "history_": History(json.loads(state["history_"]))}
        if TENSORS_KEY in state:
            self._restore_data_state(state)
        else:  # skorch's layout: a fallback, or a pickle of an earlier version
            super().__setstate__(state)

    def _data_state(self):
        """The pickled state, torch objects as data, or None where it can't be.

        The module, criterion and optimizer become their tensors (one
        safetensors document), the criterion's other attributes (plain
        values), and a JSON document: the optimizer's hyperparameters and
        non-tensor state, which parameters it updates, by name, and each
        module's training mode and each parameter's ``requires_grad``.
        ``__setstate__`` builds them again from the net's own arguments
        and loads all that. skorch's ``_params_to_validate`` and
        ``virtual_params_`` are left out when they are what it rebuilds
        from the rest. None (skorch's pickle, then) unless the net holds
        exactly what this rebuilds (:func:`rebuildable`): this package's
        network without a custom ``trunk``, one of its criteria holding
        plain values and tensors only (not a TorchJD aggregator), a
        ``torch.optim`` optimizer, no hooks, no generator.
        """
        if not rebuildable(self):
            return None
        from ._persistence import _split_optimizer_state

        module, criterion, optimizer = self.module_, self.criterion_, self.optimizer_
        tensors = {}
        for prefix, component in (("module", module), ("criterion", criterion)):
            for key, tensor in component.state_dict().items():
                tensors[f"{prefix}.{key}"] = tensor.detach().cpu().contiguous()
        attributes, on_device = {}, []
        for key, value in extra_attributes(criterion).items():
            if torch.is_tensor(value):
                tensors[f"attribute.{key}"] = value.detach().cpu().contiguous()
                if value.device.type != "cpu":
                    on_device.append(key)
            elif plain_value(value):
                attributes[key] = value
            else:
                return None
        names = {id(param): name for name, param in net_parameters(self)}
        groups = [
            [names.get(id(param)) for param in group["params"]]
            for group in optimizer.param_groups
        ]
        if any(name is None for group in groups for name in group):
            return None
        try:
            optimizer_tensors, optimizer_state = _split_optimizer_state(optimizer)
            defaults = {
                key: plain_json(value) for key, value in optimizer.defaults.items()
            }
        except ValueError:  # a value that is not plain data
            return None
        if not (
            same_groups(optimizer_state["param_groups"], optimizer.param_groups)
            and same_groups([defaults], [optimizer.defaults])
        ):
            return None  # JSON would not give them back as they are
        tensors.update(optimizer_tensors)
        import safetensors.torch

        try:
            blob = safetensors.torch.save(tensors)
        except (RuntimeError, ValueError):  # tensors sharing memory, for one
            return None
        layout = {
            "module_training": flag_string(m.training for m in module.modules()),
            "criterion_training": flag_string(m.training for m in criterion.modules()),
            # a trained network's dropouts hold generator=None of their own
            "generator_cleared": flag_string(
                "generator" in vars(m) for m in module.modules() if is_dropout(m)
            ),
            "requires_grad": flag_string(
                param.requires_grad for _, param in net_parameters(self)
            ),
            "optimizer_params": groups,
            "optimizer_state": optimizer_state,
            "optimizer_defaults": defaults,
            "attributes_on_device": on_device,
        }
        state = self.__dict__.copy()
        for key in ("module_", "criterion_", "optimizer_"):
            del state[key]
        if self._params_to_validate == validated_params(state):
            del state["_params_to_validate"]
        if same_virtual_params(self.virtual_params_, virtual_params(self._optimizers)):
            del state["virtual_params_"]
        # Plain values as one JSON document too: skops writes each value of
        # its own as an indented node, a few hundred bytes apiece.
        state["callbacks_"], layout["callbacks"] = pack_callbacks(state)
        layout["net"] = pack(state, exclude=("history_",))
        layout["order"] = list(self.__dict__)
        layout["criterion"] = pack(attributes)
        state[TENSORS_KEY] = blob
        state[LAYOUT_KEY] = json.dumps(layout, separators=(",", ":"))
        if attributes:
            state[ATTRIBUTES_KEY] = attributes
        return state

    def _restore_data_state(self, state):
        """Build the net again from :meth:`_data_state`'s state."""
        import safetensors.torch

        from ._persistence import _load_optimizer_state

        state = dict(state)
        tensors = safetensors.torch.load(state.pop(TENSORS_KEY))
        layout = json.loads(state.pop(LAYOUT_KEY))
        attributes = state.pop(ATTRIBUTES_KEY, {})
        state.update(unpack(layout["net"]))
        state["callbacks_"] = unpack_callbacks(state["callbacks_"], layout["callbacks"])
        attributes.update(unpack(layout["criterion"]))
        # As skorch does: a net fitted on a GPU loads on a machine without one
        # (with a DeviceWarning), its tensors on the CPU.
        map_location = get_map_location(state["device"])
        state["device"] = self._check_device(state["device"], map_location)
        if "_params_to_validate" not in state:
            state["_params_to_validate"] = validated_params(state)
        if "virtual_params_" not in state:
            state["virtual_params_"] = virtual_params(state["_optimizers"])
        # The attributes in their order (set next: the torch objects)
        state.update(dict.fromkeys(("module_", "criterion_", "optimizer_")))
        order = [key for key in layout["order"] if key in state]
        self.__dict__.update({key: state[key] for key in order})
        self.__dict__.update(state)
        parts = {"module": {}, "criterion": {}, "attribute": {}, "optimizer": {}}
        for name, tensor in tensors.items():
            prefix, _, key = name.partition(".")
            parts[prefix][name if prefix == "optimizer" else key] = tensor
        # On the meta device the network allocates and draws nothing: its
        # tensors are those loaded, and torch's global generator is left as
        # it was.
        with torch.device("meta"):
            self.initialize_module()
        self.module_.load_state_dict(parts["module"], strict=True, assign=True)
        self.initialize_criterion()
        self.criterion_.load_state_dict(parts["criterion"], strict=True, assign=True)
        for key, value in attributes.items():
            setattr(self.criterion_, key, value)
        on_device = set(layout["attributes_on_device"])
        for key, tensor in parts["attribute"].items():
            device = map_location if key in on_device else "cpu"
            object.__setattr__(self.criterion_, key, tensor.to(device))
        for flag, m in zip(layout["module_training"], self.module_.modules()):
            m.training = flag == "1"
        for flag, m in zip(layout["criterion_training"], self.criterion_.modules()):
            m.training = flag == "1"
        dropouts = [m for m in self.module_.modules() if is_dropout(m)]
        for flag, m in zip(layout["generator_cleared"], dropouts):
            if flag == "1":
                m.generator = None
        self.module_ = to_device(self.module_, self.device)
        self.criterion_ = to_device(self.criterion_, self.device)
        named = dict(net_parameters(self))
        for flag, param in zip(layout["requires_grad"], named.values()):
            param.requires_grad_(flag == "1")
        _, kwargs = self.get_params_for_optimizer("optimizer", [])
        self.optimizer_ = self.optimizer(
            [
                {"params": [named[name] for name in names]}
                for names in layout["optimizer_params"]
            ],
            **kwargs,
        )
        _load_optimizer_state(
            self.optimizer_, layout["optimizer_state"], parts["optimizer"]
        )
        self.optimizer_.defaults = {
            key: json_tuples(value)
            for key, value in layout["optimizer_defaults"].items()
        }

    # -- set-up ----------------------------------------------------------------

    @property
    def _default_callbacks(self):
        return [
            (name, EpochLog() if name == "print_log" else callback)
            for name, callback in super()._default_callbacks
        ]

    def initialize_module(self):
        super().initialize_module()
        if self.freeze_trunk:
            self.module_.trunk.requires_grad_(False)
        return self

    def get_all_learnable_params(self):
        # Frozen parameters (a frozen trunk, the idle heads of a sequential
        # stage) stay out of the optimizer, weight decay included.
        for name, param in super().get_all_learnable_params():
            if param.requires_grad:
                yield name, param

    def _set_training(self, training=True):
        # skorch sets the mode before every batch, walking every submodule:
        # a measurable share of a small network's step (see the speed
        # benchmark page). Everything in this package that changes a mode
        # does so from the top and restores it, so the top-level flags tell
        # the mode of the whole; a frozen trunk is the exception and always
        # takes the full walk.
        modules = (self.module_, self.criterion_)
        if not self.freeze_trunk and all(m.training == training for m in modules):
            return
        super()._set_training(training)
        if training and self.freeze_trunk and self.module_.trunk.training:
            self.module_.trunk.eval()

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        super().on_train_begin(net, X=X, y=y, **kwargs)
        self._per_task = bool(
            self.criterion_.per_task_gradients or self.record_gradient_conflict
        )
        if self._per_task:
            self._split_parameters()
        if self.record_task_affinity:
            self._start_affinity()

    def on_train_end(self, net, X=None, y=None, **kwargs):
        super().on_train_end(net, X=X, y=y, **kwargs)
        self._per_task = False
        self._shared = self._others = self._last_layer = None  # don't pickle them
        # The epoch's cosine sums are in the history and gradient_cosine_
        # already; as tensors outside the module they would also stop skops
        # from saving the net.
        self._cosine_sum = self._cosine_count = None

    def _split_parameters(self):
        """The trainable trunk parameters, the others, and the trunk's last layer."""
        # An architecture (MMoE, PLE, ...) keeps the parameters that several
        # tasks reach in ``shared``; its gates count as the tasks' own.
        trunk = getattr(self.module_.trunk, "shared", self.module_.trunk)
        shared = [p for p in trunk.parameters() if p.requires_grad]
        if not shared:
            raise ValueError(
                "The training computes each task's gradient of the shared trunk "
                "(for the weighting or record_gradient_conflict=True), but the "
                "trunk has no trainable parameters. Use weighting='fixed', "
                "'uncertainty', 'dwa' or 'famo', or a trunk that is trained."
            )
        ids = {id(p) for p in shared}
        self._shared = shared
        self._others = [
            p for _, p in self.get_all_learnable_params() if id(p) not in ids
        ]
        last = next(
            [p for p in m.parameters(recurse=False) if p.requires_grad]
            for m in reversed(list(trunk.modules()))
            if any(p.requires_grad for p in m.parameters(recurse=False))
        )
        last_ids = {id(p) for p in last}
        columns, offset = [], 0
        for p in shared:
            if id(p) in last_ids:
                columns.append(torch.arange(offset, offset + p.numel()))
            offset += p.numel()
        self._last_layer = torch.cat(columns).to(shared[0].device)

    def _start_affinity(self):
        """The shared parameters of the lookahead, and empty sums if none yet."""
        self._affinity_shared = [
            f"trunk.{name}"
            for name, p in self.module_.trunk.named_parameters()
            if p.requires_grad
        ]
        if not self._affinity_shared:
            raise ValueError(
                "record_task_affinity takes lookahead steps of the shared trunk, "
                "but the trunk has no trainable parameters. Use a trained trunk "
                "or record_task_affinity=None."
            )
        n = len(self.task_names)
        if self._affinity_count is None or self._affinity_count.shape != (n, n):
            self._affinity_sum = np.zeros((n, n))
            self._affinity_count = np.zeros((n, n), dtype=np.int64)
            self._affinity_step = 0

    def _record_affinity(self, batch):
        Xi, yi = unpack_data(batch)
        affinity, defined = lookahead_affinity(
            self.module_,
            self._affinity_shared,
            to_tensor(Xi, device=self.device),
            to_tensor(yi, device=self.device),
            self.criterion_,
            self.optimizer_.param_groups[0]["lr"],
            batched=not self.module_.custom_trunk,
        )
        self._affinity_sum += affinity.numpy()
        self._affinity_count += defined.numpy()

    def task_affinity(self):
        """The mean recorded affinity matrix (NaN: never measured), or None."""
        if self._affinity_count is None:
            return None
        return mean_affinity(self._affinity_sum, self._affinity_count)

    # -- training steps --------------------------------------------------------

    def train_step(self, batch, **fit_params):
        if self.record_task_affinity:
            # Before the step: its parameters are those the batch meets.
            if self._affinity_step % self.record_task_affinity == 0:
                self._record_affinity(batch)
            self._affinity_step += 1
        step = super().train_step(batch, **fit_params)
        if self._per_task:
            self.criterion_.after_step()
        if self.criterion_.loss_feedback:
            self._feed_back_losses(batch, step["y_pred"], **fit_params)
        return step

    def _feed_back_losses(self, batch, y_pred, **fit_params):
        """Hand the criterion the batch's task losses before and after the step.

        One more forward pass on the same batch, without a backward pass
        (FAMO's Algorithm 1); the epoch's recorded losses are not touched.
        """
        Xi, yi = unpack_data(batch)
        with torch.no_grad():
            sums, counts = self.criterion_.task_sums(y_pred, yi)
            before = task_means(sums, counts)
            y_after = self.infer(Xi, **fit_params)
            after = task_means(*self.criterion_.task_sums(y_after, yi))
        self.criterion_.update_from_losses(before, after, counts > 0)

    def train_step_single(self, batch, **fit_params):
        if not self._per_task:  # the fast path: one backward pass
            return super().train_step_single(batch, **fit_params)
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        sums, counts = self.criterion_.task_sums(y_pred, yi)
        self._record_task_sums(sums, counts, training=True)
        means = task_means(sums, counts)
        loss = self.criterion_.combine_means(means)
        shared = self._shared
        grads = torch.stack([self._flat_grad(m, shared) for m in means])
        present = counts > 0
        if self.record_gradient_conflict:
            cosines = gradient_cosines(grads, present).detach()
            defined = ~torch.isnan(cosines)
            self._cosine_sum += torch.where(defined, cosines, 0.0).double().cpu()
            self._cosine_count += defined.cpu()
        shared_grad = self.criterion_.combine_gradients(
            grads, means, present, self._last_layer
        )
        offset = 0
        for p in shared:
            p.grad = shared_grad[offset : offset + p.numel()].view_as(p).clone()
            offset += p.numel()
        if self._others:
            other_grads = torch.autograd.grad(
                self.criterion_.head_objective(means), self._others, allow_unused=True
            )
            for p, g in zip(self._others, other_grads):
                if g is not None:
                    p.grad = g
        return {"loss": loss.detach(), "y_pred": y_pred}

    @staticmethod
    def _flat_grad(output, params):
        """The gradient of ``output`` with respect to ``params``, as one vector."""
        grads = torch.autograd.grad(
            output, params, retain_graph=True, allow_unused=True
        )
        return torch.cat(
            [
                (g if g is not None else torch.zeros_like(p)).reshape(-1)
                for g, p in zip(grads, params)
            ]
        )

    def get_loss(self, y_pred, y_true, X=None, training=False):
        sums, counts = self.criterion_.task_sums(y_pred, y_true)
        self._record_task_sums(sums, counts, training)
        return self.criterion_.combine(sums, counts)

    def _record_task_sums(self, sums, counts, training):
        totals = getattr(self, "_task_totals", {})
        prev_sums, prev_counts = totals.get(training, (0.0, 0))
        totals[training] = (prev_sums + sums.detach(), prev_counts + counts)
        self._task_totals = totals

    # -- epochs ----------------------------------------------------------------

    def on_epoch_begin(self, net, **kwargs):
        super().on_epoch_begin(net, **kwargs)
        self._task_totals = {}
        self.criterion_.begin_epoch()
        if self.record_gradient_conflict:
            n = len(self.task_names)
            self._cosine_sum = torch.zeros((n, n), dtype=torch.float64)
            self._cosine_count = torch.zeros((n, n), dtype=torch.int64)

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        # skorch ends training quietly on KeyboardInterrupt, wherever it
        # struck. Roll the module back to the end of the last finished epoch,
        # so that the interrupted model is one that was actually trained.
        self._interrupted = self._stopped_early = False
        self._finished_epoch_state = self._module_state() if self.history else None
        try:
            return super().fit_loop(X, y, epochs, **fit_params)
        except KeyboardInterrupt:
            if self._stopped_early:
                raise  # skorch's way to end training: not an interruption
            self._interrupted = True
            if self._finished_epoch_state is not None:
                self.module_.load_state_dict(self._finished_epoch_state)
            if self.history and "train_loss" not in self.history[-1]:
                del self.history[-1]  # the unfinished epoch
            raise
        finally:
            self._finished_epoch_state = None  # don't pickle a copy of the weights

    def _module_state(self):
        return {
            key: value.detach().clone()
            for key, value in self.module_.state_dict().items()
        }

    def on_epoch_end(self, net, **kwargs):
        super().on_epoch_end(net, **kwargs)
        diverged = []
        train_means = None
        for training, (sums, counts) in self._task_totals.items():
            means = (sums / counts).tolist()  # 0 / 0 is NaN: no label this epoch
            prefix = "train" if training else "valid"
            for name, mean, count in zip(self.task_names, means, counts.tolist()):
                self.history.record(f"{prefix}_loss_{name}", mean)
                if count and not math.isfinite(mean):
                    diverged.append(name)
            if training:
                train_means = means
        weights = self.criterion_.epoch_weights().detach().cpu().double().numpy()
        self.task_weights_ = weights
        for name, weight in zip(self.task_names, weights.tolist()):
            self.history.record(f"weight_{name}", weight)
        if self._active_task is not None:
            self.history.record("active_task", self._active_task)
        if self.record_gradient_conflict:
            mean = self._cosine_sum / self._cosine_count.clamp(min=1)
            mean[self._cosine_count == 0] = math.nan
            mean.fill_diagonal_(1.0)
            self.gradient_cosine_ = mean.numpy()
            # One matrix per epoch: keys built from two task names would be
            # ambiguous when names contain "_" ("a_b" & "c" against "a" & "b_c").
            self.history.record("grad_cosine", mean.tolist())
        if train_means is not None:
            self.criterion_.end_epoch(train_means)
        # The totals live on the training device; a fitted net must not keep
        # them (skorch maps only its own modules to the CPU when unpickling).
        self._task_totals = {}
        self._finished_epoch_state = self._module_state()
        if diverged:
            raise ValueError(
                f"Training diverged in epoch {len(self.history)}: the loss of "
                f"task(s) {sorted(set(diverged))} is not finite. Lower the learning "
                f"rate (lr={self.lr}) or standardize X (e.g. with StandardScaler)."
            )

    # -- schedules -------------------------------------------------------------

    def fit_sequentially(self, dataset, epochs):
        """Train the tasks one after another, each for ``epochs`` epochs.

        Stage ``k`` trains the trunk and task ``k``'s head (and its group's
        tower) on task ``k``'s loss alone, with a fresh optimizer, starting
        from the trunk that stage ``k - 1`` left; the other heads are frozen.
        The history records the stage's task as ``active_task``. Stops after
        an interrupted stage.
        """
        module = self.module_
        weights = self.criterion_.weights.clone()
        trainable = [(p, p.requires_grad) for p in module.parameters()]
        try:
            for k, name in enumerate(self.task_names):
                for head in module.heads:
                    head.requires_grad_(False)
                module.towers.requires_grad_(False)
                module.heads[k].requires_grad_(True)
                if module.head_towers[k] is not None:
                    module.towers[module.head_towers[k]].requires_grad_(True)
                mask = torch.zeros_like(weights)
                mask[k] = 1.0
                self.criterion_.weights = weights * mask
                self._active_task = name
                self.initialize_optimizer()
                self.partial_fit(dataset, epochs=epochs)
                if self._interrupted:
                    break
        finally:
            self.criterion_.weights = weights
            self._active_task = None
            for p, requires_grad in trainable:
                p.requires_grad_(requires_grad)
            self.initialize_optimizer()
        return self


class StopEarly(EarlyStopping):
    """skorch's ``EarlyStopping``, telling :class:`MultiTaskNet` that it stopped.

    skorch ends training by raising ``KeyboardInterrupt``; the flag lets the
    net tell that apart from a user's interruption.
    """

    def on_epoch_end(self, net, **kwargs):
        try:
            super().on_epoch_end(net, **kwargs)
        except KeyboardInterrupt:
            net._stopped_early = True
            raise

    def on_train_end(self, net, **kwargs):
        # Interrupted before any epoch finished: no best epoch to restore
        # (skorch's own callback would index the empty history).
        if net.history:
            super().on_train_end(net, **kwargs)


def _cosine(t):
    return 0.5 * (1.0 + math.cos(math.pi * t))


def _coslog4(t):
    # RealMLP's schedule: four cosine cycles, equally long on log2(1 + 15 t),
    # each from 0 up to the full rate and back to 0.
    return 0.5 * (1.0 - math.cos(2.0 * math.pi * math.log2(1.0 + 15.0 * t)))


#: The learning-rate multipliers of ``lr_schedule``, by name, as functions of
#: the share of the fit's steps already taken (0 at the first step).
LR_SCHEDULES = {"cosine": _cosine, "coslog4": _coslog4}


class LRSchedule(Callback):
    """Scale the optimizer's learning rates before every training step.

    The rate of step ``s`` of a fit of ``max_epochs`` epochs is the
    parameter group's base rate times ``schedule(s / n_steps)``, with
    ``n_steps`` the fit's steps if it ran all its epochs; a fit that stops
    early ends part-way through the schedule. The base rates come back at
    the end of training, so a warm start schedules from them again.

    Parameters
    ----------
    schedule : {"cosine", "coslog4"}
        A key of :data:`LR_SCHEDULES`.
    max_epochs : int
        The epochs the schedule spans.
    """

    def __init__(self, schedule, max_epochs):
        self.schedule = schedule
        self.max_epochs = max_epochs

    def on_train_begin(self, net, **kwargs):
        self._function = LR_SCHEDULES[self.schedule]
        self._base = [group["lr"] for group in net.optimizer_.param_groups]
        self._epoch = -1
        self._batches = 1

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        self._epoch += 1
        self._batch = 0
        if dataset_train is not None:
            self._batches = max(math.ceil(len(dataset_train) / net.batch_size), 1)

    def on_batch_begin(self, net, training=False, **kwargs):
        if not training:
            return
        t = (self._epoch + self._batch / self._batches) / self.max_epochs
        factor = self._function(min(t, 1.0))
        for group, base in zip(net.optimizer_.param_groups, self._base):
            group["lr"] = base * factor
        self._batch += 1

    def on_train_end(self, net, **kwargs):
        for group, base in zip(net.optimizer_.param_groups, self._base):
            group["lr"] = base
        # The fitted net keeps the schedule's name only: a private function
        # would be one more type for skops to trust.
        self._function = None
