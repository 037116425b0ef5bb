"""What do the defaults and ``n_ensemble`` cost? Fit times side by side.

Two comparisons on the speed benchmark's synthetic data (``_speed.make_data``:
50 features, a binary, a 5-class and a regression task, 10 % of labels
missing), each at several sizes, in rounds that rotate the order of the
variants; each ratio is the median over rounds of the per-round ratio of
process CPU times (one thread, so other processes on the machine barely
move it), with its range:

- the new defaults against the old ones (``OLD_DEFAULTS`` below: 100 epochs,
  no early stopping), each as a user's first fit: ``MultiTaskNetEstimator()``
  with the tasks and a seed only. Early stopping changes the number of
  epochs, so the ratio is the whole fit's, and the epochs run are printed;
- ``n_ensemble=k`` against one member at a fixed number of epochs (no early
  stopping): the cost of ``k`` members per epoch;
- the package's dropout (``FitDropout``, masks from 16-bit draws) against
  ``torch.nn.Dropout`` (one ``bernoulli_`` float per element), forward and
  backward at the trunk's activation shapes: dropout is most of what the
  defaults add to a step on CPU.

Run from the repository root::

    python benchmarks/bench_defaults.py
    python benchmarks/bench_defaults.py --quick    # smoke test
"""

import argparse
import statistics
import time

import torch
from _speed import make_data, markdown_table, pinned_threads

from sklearn_mtl import MultiTaskNetEstimator, Task
from sklearn_mtl._module import FitDropout

TASKS = [
    ("binary", Task("classification")),
    ("multi", Task("classification")),
    ("reg", Task("regression")),
]
OLD_DEFAULTS = {"early_stopping": False, "dropout": 0.0, "label_smoothing": 0.0}
MEMBERS = (2, 4, 8)
FIXED_EPOCHS = 10


def _fit(X, y, params):
    est = MultiTaskNetEstimator(TASKS, random_state=0, **params)
    start = time.process_time()
    est.fit(X, y)
    return time.process_time() - start, est.n_iter_


def _rounds(variants, X, y, n_rounds):
    """Per variant, its CPU seconds and epochs in each round (order rotated)."""
    names = list(variants)
    times = {name: [] for name in names}
    epochs = {name: [] for name in names}
    for r in range(n_rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            seconds, n_iter = _fit(X, y, variants[name])
            times[name].append(seconds)
            epochs[name].append(n_iter)
    return times, epochs


def _ratio(times, top, bottom):
    ratios = [t / b for t, b in zip(times[top], times[bottom], strict=True)]
    return f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"


def _dropout_seconds(dropout, shape, n_calls):
    """CPU seconds of ``n_calls`` forward and backward passes through ``dropout``."""
    X = torch.randn(shape, requires_grad=True)
    grad = torch.ones(shape)
    start = time.process_time()
    for _ in range(n_calls):
        dropout(X).backward(grad)
    return time.process_time() - start


def _dropout_table(n_rounds, n_calls):
    rows = []
    for shape in [(128, 128), (128, 64), (1024, 128)]:
        variants = {"torch": torch.nn.Dropout(0.1), "package": FitDropout(0.1)}
        times = {name: [] for name in variants}
        for r in range(n_rounds):
            names = list(variants)[r % 2 :] + list(variants)[: r % 2]
            for name in names:
                times[name].append(_dropout_seconds(variants[name], shape, n_calls))
        per_call = {k: statistics.median(v) / n_calls * 1e6 for k, v in times.items()}
        rows.append(
            [
                f"{shape[0]} × {shape[1]}",
                f"{per_call['torch']:.0f}",
                f"{per_call['package']:.0f}",
                _ratio(times, "package", "torch"),
            ]
        )
    header = ["activations", "nn.Dropout (µs)", "FitDropout (µs)", "FitDropout / nn"]
    return markdown_table(header, rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    sizes = (600,) if args.quick else (600, 2000, 20000)
    n_rounds = 1 if args.quick else args.rounds
    epochs = 2 if args.quick else FIXED_EPOCHS
    with pinned_threads():
        _fit(*make_data(256, seed=1), {"max_epochs": 1})  # warm-up, untimed
        print("## New defaults against old ones (whole first fit)\n")
        rows = []
        for n in sizes:
            X, y = make_data(n)
            variants = {"old": {**OLD_DEFAULTS}, "new": {}}
            if args.quick:
                variants = {k: {**v, "max_epochs": 2} for k, v in variants.items()}
            times, n_iter = _rounds(variants, X, y, n_rounds)
            rows.append(
                [
                    f"{n:,}",
                    f"{statistics.median(times['old']):.1f}",
                    f"{statistics.median(times['new']):.1f}",
                    f"{statistics.median(n_iter['new']):.0f}",
                    _ratio(times, "new", "old"),
                ]
            )
        header = ["rows", "old (s)", "new (s)", "new: epochs", "new / old"]
        print(markdown_table(header, rows))
        print(f"\n## n_ensemble=k against one member ({epochs} epochs)\n")
        rows = []
        for n in sizes:
            X, y = make_data(n)
            fixed = {"max_epochs": epochs, "early_stopping": False}
            variants = {1: fixed, **{k: {**fixed, "n_ensemble": k} for k in MEMBERS}}
            times, _ = _rounds(variants, X, y, n_rounds)
            rows.append(
                [f"{n:,}", f"{statistics.median(times[1]):.1f}"]
                + [_ratio(times, k, 1) for k in MEMBERS]
            )
        header = ["rows", "1 member (s)"] + [f"{k} members / 1" for k in MEMBERS]
        print(markdown_table(header, rows))
        print("\n## Dropout masks: the package's against torch.nn.Dropout\n")
        print("p=0.1, forward and backward, training mode.\n")
        print(_dropout_table(max(n_rounds, 3), 20 if args.quick else 500))
        print(f"\n{n_rounds} round(s); CPU seconds of one thread; median (range).")


if __name__ == "__main__":
    main()
