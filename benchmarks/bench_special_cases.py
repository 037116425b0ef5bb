"""Do the estimator's speed special cases pay? Each one switched off, side by side.

The estimator keeps a few code paths whose only reason is speed. This script
fits the speed benchmark's network (see ``_speed.py``) with the library as it
is and with each special case switched off in turn, in rounds that rotate
the order, and prints each variant's time relative to the library as it is
(the median over rounds of the per-round ratio, and its range):

- formatting the epoch log only when it is printed (``EpochLog``);
- Adam's fused implementation (``_net.FUSED_OPTIMIZERS``);
- the heads fused into one linear layer (``LinearHeads``, ``fuse_heads``);
- the losses of the tasks of one kind computed together
  (``_loss._grouped_loss``), on data of many tasks of one kind (12 binary
  tasks, as Tox21's assays; 139 regression tasks, as School's schools), the
  variant computing each task's loss on its own as before.

A ratio above 1 means switching the special case off makes fits slower. It
reaches into private names on purpose: these are what it measures. (A
fourth case, skipping skorch's per-batch train/eval switch when the mode was
unchanged, measured within the noise and was removed; see the speed page.)

Run from the repository root::

    python benchmarks/bench_special_cases.py            # n = 2,000 and 20,000
    python benchmarks/bench_special_cases.py --quick    # smoke test
"""

import argparse
import contextlib
import dataclasses
import statistics
import time

import numpy as np
import torch
from _speed import make_data, make_estimator, markdown_table, pinned_threads
from skorch.callbacks import PrintLog

from sklearn_mtl import MultiTaskNetEstimator, Task, _estimator, _loss, _net, _training
from sklearn_mtl._layout import unpack


@contextlib.contextmanager
def _patched(owner, name, value):
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


def _unfused_heads(net_spec):
    def net_spec_without_fused_heads(self, *args, **kwargs):
        spec = net_spec(self, *args, **kwargs)
        module = dataclasses.replace(spec.module, fuse_heads=False)
        return dataclasses.replace(spec, module=module)

    return net_spec_without_fused_heads


VARIANTS = {
    "as it is": contextlib.nullcontext,
    "epoch log formatted when silent": lambda: _patched(
        _training.EpochLog, "on_epoch_end", PrintLog.on_epoch_end
    ),
    "Adam not fused": lambda: _patched(_net, "FUSED_OPTIMIZERS", ()),
    "heads not fused": lambda: _patched(
        _estimator.MultiTaskNetEstimator,
        "_net_spec",
        _unfused_heads(_estimator.MultiTaskNetEstimator._net_spec),
    ),
}


def _task_sums_task_by_task(self, outputs, targets):
    """``MaskedMultiTaskLoss.task_sums`` as it was: a loss per task, stacked."""
    codes, weights = unpack(targets, len(self.losses))
    n_members = outputs[0].shape[0] // max(len(codes), 1)
    if n_members > 1:
        codes, weights = codes.repeat(n_members, 1), weights.repeat(n_members, 1)
    smoothing = self.label_smoothing if self.training else 0.0
    row_losses = torch.stack(
        [
            _loss._elementwise_loss(name, output, codes[:, j], smoothing)
            for j, (name, output) in enumerate(zip(self.losses, outputs))
        ],
        dim=1,
    )
    return (row_losses * weights).sum(dim=0), weights.sum(dim=0)


MANY_TASKS_VARIANTS = {
    "as it is": contextlib.nullcontext,
    "losses task by task": lambda: _patched(
        _loss.MaskedMultiTaskLoss, "task_sums", _task_sums_task_by_task
    ),
}


def make_many_tasks(n_samples, n_tasks, kind, seed=0):
    """50 features, ``n_tasks`` tasks of one kind with half their labels missing."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, 50), dtype=np.float32)
    Y = X[:, :5] @ rng.standard_normal((5, n_tasks))
    Y += rng.standard_normal((n_samples, n_tasks))
    if kind == "classification":
        Y = (Y > 0).astype(float)
    Y[rng.random(Y.shape) < 0.5] = np.nan
    return X, Y, [(f"t{k}", Task(kind)) for k in range(n_tasks)]


def time_many_tasks(n_samples, n_tasks, kind, epochs, rounds):
    """Per variant of ``MANY_TASKS_VARIANTS``, its fit times over rounds."""
    X, Y, tasks = make_many_tasks(n_samples, n_tasks, kind)
    names = list(MANY_TASKS_VARIANTS)
    times = {name: [] for name in names}
    for r in range(rounds + 1):  # round 0 warms up
        for name in names[r % len(names) :] + names[: r % len(names)]:
            with MANY_TASKS_VARIANTS[name]():
                est = MultiTaskNetEstimator(
                    tasks, max_epochs=epochs, early_stopping=False, random_state=0
                )
                start = time.perf_counter()
                est.fit(X, Y)
                if r:
                    times[name].append(time.perf_counter() - start)
    return times


def time_variants(n_samples, epochs, rounds):
    """Per variant, the fit times of ``rounds`` rotating rounds."""
    X, y = make_data(n_samples)
    names = list(VARIANTS)
    times = {name: [] for name in names}
    for name in names:  # warm-up
        with VARIANTS[name]():
            make_estimator(1).fit(X, y)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            with VARIANTS[name]():
                est = make_estimator(epochs)
                start = time.perf_counter()
                est.fit(X, y)
                times[name].append(time.perf_counter() - start)
    return times


def print_table(n_samples, epochs, rounds, times, title=None):
    base = times["as it is"]
    rows = []
    for name, values in times.items():
        ratios = [t / b for t, b in zip(values, base, strict=True)]
        rows.append(
            [
                name,
                f"{statistics.median(values):.3f}",
                f"{statistics.median(ratios):.3f}",
                f"{min(ratios):.3f}–{max(ratios):.3f}",
            ]
        )
    title = title or f"n = {n_samples:,}"
    print(f"## {title}, {epochs} epochs, {rounds} rounds\n")
    header = ["variant", "median fit (s)", "median ratio to 'as it is'", "range"]
    print(markdown_table(header, rows) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke test")
    args = parser.parse_args(argv)
    plan = [(500, 2, 2)] if args.quick else [(2_000, 10, 20), (20_000, 10, 6)]
    print("# sklearn_mtl: do the speed special cases pay?\n")
    with pinned_threads():
        for n_samples, epochs, rounds in plan:
            print_table(
                n_samples, epochs, rounds, time_variants(n_samples, epochs, rounds)
            )
        n_samples = 500 if args.quick else 4_000
        epochs, rounds = (2, 1) if args.quick else (5, 7)
        for n_tasks, kind in [(12, "classification"), (139, "regression")]:
            times = time_many_tasks(n_samples, n_tasks, kind, epochs, rounds)
            title = f"n = {n_samples:,}, {n_tasks} {kind} tasks (the defaults)"
            print_table(n_samples, epochs, rounds, times, title)


if __name__ == "__main__":
    main()
