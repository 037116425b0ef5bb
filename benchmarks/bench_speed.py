"""Speed benchmark of ``MultiTaskNetEstimator`` against its natural baselines.

Every contender trains the same network (50 inputs, a 256-256 ReLU trunk, three
heads; Adam, lr 1e-3, batch 256, 10 epochs) on the same synthetic data: 50
features and three tasks (binary classification, 5-class classification,
regression), each missing 10% of its labels at random.

Contenders, timed side by side in rounds (each round fits every contender
once, starting with the next one each time); ratios between contenders are
medians over rounds of the ratio within a round:

(a) reference: a hand-written PyTorch loop slicing pre-built tensors;
(b) a plain skorch ``NeuralNet`` with skorch's default Dataset + DataLoader;
(c) scikit-learn's ``MLPRegressor`` on a 3-column numeric target (a stand-in:
    it cannot mask missing labels nor use classification losses);
(d) ``MultiTaskNetEstimator``.

Then (d) and (c) alone, in many more rounds: their paired ratio, with a
bootstrap confidence interval of its median. Then, for (d) alone: where a
training step spends its time (phase by phase, next to a step of (c)), fit
time and peak memory at growing sizes (one fresh process per size), predict
throughput against a raw forward pass of the same torch module, single-row
predict latency, and ``GridSearchCV`` wall time at
``n_jobs=1`` vs ``n_jobs=2``.

All timings run with one thread (``torch.set_num_threads(1)`` and
``threadpoolctl.threadpool_limits(1)``) so contenders compete on equal terms.

Run from the repository root::

    python benchmarks/bench_speed.py            # full run
    python benchmarks/bench_speed.py --quick    # smoke test: tiny sizes
    python benchmarks/bench_speed.py --repeats 5
    python benchmarks/bench_speed.py --sections duel   # (d) against (c) only

The output is Markdown; the latest full run, with its run times, is in
``docs/benchmarks_speed.md``. The contenders, data and timing statistics are
in ``_speed.py``; the sections that compare contenders in
``_contender_sections.py``, those on (d) alone in ``_estimator_sections.py``.
"""

import argparse
import os
import platform
import shlex
import sys

import numpy as np
import sklearn
import skorch
import torch
from _contender_sections import (
    SMALL_FIT_ROUNDS,
    compare_contenders,
    duel,
    matmul_costs,
)
from _estimator_sections import (
    grid_search_speedup,
    predict_throughput,
    scaling_series,
    single_row_latency,
    step_profile,
)
from _speed import (
    BATCH_SIZE,
    LR,
    MISSING_RATE,
    N_CLASSES,
    N_FEATURES,
    N_THREADS,
    TRUNK_SIZES,
    cpu_model,
    format_load,
    markdown_table,
    pinned_threads,
)

# Rounds of the (d)-against-(c) duel, per size: the two are close (see
# docs/benchmarks_speed.md), so their ratio needs many more rounds than the
# others.
DUEL_ROUNDS = {2_000: 60, 100_000: 12}
SECTIONS = ["fits", "duel", "products", "profile", "scaling", "predict", "grid"]
# The sizes and epoch counts of each section, in a full and a --quick run.
FULL_RUN = {
    "epochs": 10,
    "sizes": [2_000, 100_000],
    "duel_rounds": DUEL_ROUNDS,
    "scaling_sizes": [10_000, 100_000, 1_000_000],
    "n_profile": 100_000,
    "profile_epochs": 1,
    "n_predict": 100_000,
    "n_latency_calls": 200,
    "n_grid": 5_000,
    "grid_epochs": 5,
}
QUICK_RUN = {
    "epochs": 2,
    "sizes": [2_000],
    "duel_rounds": {2_000: 4},
    "scaling_sizes": [10_000],
    "n_profile": 2_000,
    "profile_epochs": 1,
    "n_predict": 10_000,
    "n_latency_calls": 50,
    "n_grid": 1_000,
    "grid_epochs": 2,
}


def print_header(args, repeats, epochs):
    print("# sklearn_mtl speed benchmark\n")
    print(f"Command: `{shlex.join(['python', *sys.argv])}`\n")
    print(
        f"- CPU: {cpu_model()}; {os.cpu_count()} logical cores "
        f"({len(os.sched_getaffinity(0))} usable)"
    )
    print(
        f"- Python {platform.python_version()}, torch {torch.__version__}, "
        f"scikit-learn {sklearn.__version__}, skorch {skorch.__version__}, "
        f"numpy {np.__version__}"
    )
    print(
        f"- Threads for all timings: torch.set_num_threads({N_THREADS}) and "
        f"threadpoolctl.threadpool_limits({N_THREADS}) "
        f"(torch.get_num_threads() = {torch.get_num_threads()})"
    )
    print(
        f"- Network: {N_FEATURES} inputs, trunk {TRUNK_SIZES} ReLU, heads of "
        f"{N_CLASSES[0]}, {N_CLASSES[1]} and 1 outputs; Adam lr={LR}, "
        f"batch {BATCH_SIZE}, {epochs} epochs"
    )
    print(
        f"- Data: synthetic, {N_FEATURES} float32 features; tasks binary, 5-class, "
        f"regression; {MISSING_RATE:.0%} of labels missing per task"
    )
    print(f"- Load average (1, 5, 15 min) at start: {format_load()}")
    note = " (--quick: tiny sizes, numbers are not meaningful)" if args.quick else ""
    print(
        f"- Repetitions: {repeats} ({SMALL_FIT_ROUNDS * repeats} rounds for fits "
        f"of n ≤ 10,000), interleaved round-robin; medians and paired ratios "
        f"reported{note}"
    )
    print()


# -- targets ---------------------------------------------------------------------


def _fit_checks(sizes, fit_ratios):
    checks = []
    for n, limit in ((2_000, 1.3), (100_000, 1.10)):
        if n in sizes:
            ratio = fit_ratios[n]["d", "a"]
            measured, target = f"{ratio:.2f}×", f"≤ {limit}×"
            checks.append((f"fit (d)/(a), n={n:,}", measured, target, ratio <= limit))
    for n in sizes:
        speedup = fit_ratios[n]["b", "d"]
        checks.append(
            (f"fit (b)/(d), n={n:,}", f"{speedup:.2f}×", "≥ 1.6×", speedup >= 1.6)
        )
    return checks


def _duel_checks(sizes, duel_ratios):
    checks = []
    for n in sizes:
        ratio, (low, high) = duel_ratios[n]
        measured = f"{ratio:.3f}× (95 % CI {low:.3f} – {high:.3f})"
        checks.append((f"fit (d)/(c), n={n:,} (duel)", measured, "≤ 1.0×", ratio <= 1))
    return checks


def print_targets(
    sizes,
    fit_ratios=None,
    duel_ratios=None,
    predict_ratio=None,
    latency_ms=None,
    grid_speedup=None,
):
    """The project's speed targets that this run measured, and whether it met them.

    A measure left as None (its section did not run) has no row.
    """
    checks = []
    if fit_ratios is not None:
        checks += _fit_checks(sizes, fit_ratios)
    if duel_ratios is not None:
        checks += _duel_checks(sizes, duel_ratios)
    if predict_ratio is not None:
        checks += [
            (
                "predict throughput / raw forward",
                f"{predict_ratio:.2f}×",
                "≥ 0.9×",
                predict_ratio >= 0.9,
            ),
            ("single-row predict", f"{latency_ms:.3f} ms", "≤ 1 ms", latency_ms <= 1),
        ]
    if grid_speedup is not None:
        measured = f"{grid_speedup:.2f}×"
        checks.append(
            ("GridSearchCV n_jobs=2 speed-up", measured, "≥ 1.6×", grid_speedup >= 1.6)
        )
    print("## Targets\n")
    rows = [[*check[:3], "yes" if check[3] else "**no**"] for check in checks]
    print(markdown_table(["Metric", "Measured", "Target", "Met"], rows))
    print(
        "\nFit targets are judged on the paired wall-time ratios: (d)/(c) on "
        "the duel's, the others on the fit tables'. On a busy machine (see the "
        "load averages), the CPU-time ratios are the steadier comparison."
    )


# -- command line ----------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes and few epochs: a smoke test",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="interleaved repetitions per timing (default: 5, or 1 with --quick)",
    )
    parser.add_argument(
        "--sections",
        nargs="+",
        choices=SECTIONS,
        default=SECTIONS,
        metavar="SECTION",
        help=f"the sections to run, of {', '.join(SECTIONS)} (default: all); "
        "e.g. --sections duel re-checks (d) against (c) alone",
    )
    return parser.parse_args(argv)


def run_sections(sections, run, repeats):
    """Run the ``sections`` asked for; return what the targets table reads."""
    epochs, sizes, measured = run["epochs"], run["sizes"], {}
    if "fits" in sections:
        measured["fit_ratios"] = compare_contenders(sizes, epochs, repeats)
    if "duel" in sections:
        measured["duel_ratios"] = duel(sizes, epochs, run["duel_rounds"])
    if "products" in sections:
        matmul_costs(repeats)
    if "profile" in sections:
        step_profile(run["n_profile"], run["profile_epochs"], repeats)
    if "scaling" in sections:
        scaling_series(run["scaling_sizes"], epochs)
    if "predict" in sections:
        measured["predict_ratio"], est, X = predict_throughput(
            run["n_predict"], repeats
        )
        measured["latency_ms"] = single_row_latency(est, X, run["n_latency_calls"])
    if "grid" in sections:
        measured["grid_speedup"] = grid_search_speedup(
            run["n_grid"], run["grid_epochs"], repeats
        )
    return measured


def main(argv=None):
    args = parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 5)
    run = QUICK_RUN if args.quick else FULL_RUN
    with pinned_threads():
        print_header(args, repeats, run["epochs"])
        measured = run_sections(set(args.sections), run, repeats)
        print_targets(run["sizes"], **measured)
    print(f"\nLoad average (1, 5, 15 min) at the end: {format_load()}")


if __name__ == "__main__":
    main()
