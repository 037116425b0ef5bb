"""Do the estimator's speed special cases pay? Each one switched off, side by side.

The estimator keeps a few code paths whose only reason is speed. This script
fits the speed benchmark's network (see ``_speed.py``) with the library as it
is and with each special case switched off in turn, in rounds that rotate
the order, and prints each variant's time relative to the library as it is
(the median over rounds of the per-round ratio, and its range):

- formatting the epoch log only when it is printed (``EpochLog``);
- Adam's fused implementation (``_net.FUSED_OPTIMIZERS``);
- the heads fused into one linear layer (``LinearHeads``, ``fuse_heads``).

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

from _speed import make_data, make_estimator, markdown_table, pinned_threads
from skorch.callbacks import PrintLog

from sklearn_mtl import _estimator, _net, _training


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


def print_table(n_samples, epochs, rounds, times):
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
    print(f"## n = {n_samples:,}, {epochs} epochs, {rounds} rounds\n")
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


if __name__ == "__main__":
    main()
