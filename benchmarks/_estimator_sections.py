"""The sections of ``bench_speed.py`` that time (d), ``MultiTaskNetEstimator``, alone.

- ``step_profile``: where one training step goes, phase by phase, in a hand
  loop over the estimator's own module and loss, next to whole fits of (d)
  and (c);
- ``scaling_series``: fit time and peak memory at growing sizes, one fresh
  process per size;
- ``predict_throughput`` and ``single_row_latency``: ``predict`` against a
  raw forward pass of the same torch module;
- ``grid_search_speedup``: ``GridSearchCV`` at ``n_jobs=1`` and ``n_jobs=2``.

Each prints its Markdown section and returns what the targets table reads.
They use the estimator's public API, plus its fitted torch module
(``est.net_.module_``) and loss (``est.net_.criterion_``).
"""

import multiprocessing
import os
import resource
import statistics
import time

import numpy as np
import torch
from _speed import (
    BATCH_SIZE,
    LR,
    N_FEATURES,
    N_TASKS,
    fit_estimator,
    fit_sklearn_mlp,
    make_data,
    make_estimator,
    markdown_table,
    pinned_threads,
    reference_codes,
    timed,
)
from joblib import Parallel, delayed
from sklearn.model_selection import GridSearchCV

PREDICT_BATCH_SIZE = 8192  # rows per forward pass of the raw-forward baseline
# predict calls are short (their times: docs/benchmarks_speed.md), so more
# repetitions than --repeats are cheap.
N_PREDICT_REPEATS = 11
PHASES = [
    "gather the batch (index_select)",
    "forward: trunk and heads",
    "masked multi-task loss",
    "backward",
    "Adam step (fused)",
]


# -- where a training step goes --------------------------------------------------


def encode_targets(y):
    """``y`` in the layout the estimator's loss takes: codes, then label weights.

    A float32 array of shape (n, 2 * n_tasks): columns ``[0, n_tasks)`` hold
    the codes (class index as a float, the standardized regression value; 0
    where the label is missing), columns ``[n_tasks, 2 * n_tasks)`` each
    label's weight (1 for a labelled value, 0 for a missing one).
    """
    codes = reference_codes(y)
    labelled = ~np.isnan(codes)
    encoded = np.hstack([np.where(labelled, codes, 0.0), labelled])
    assert encoded.shape[1] == 2 * N_TASKS
    return encoded.astype(np.float32)


def _profiled_loop(X, y, epochs):
    """A hand loop over a fitted (d)'s module, loss and a fused Adam.

    Returns a function that runs ``epochs`` epochs and returns, per phase of
    :data:`PHASES`, the mean microseconds per step.
    """
    targets = torch.from_numpy(encode_targets(y))
    X_t = torch.from_numpy(X)
    net = make_estimator(1).fit(X, y).net_
    module, criterion = net.module_, net.criterion_
    optimizer = torch.optim.Adam(module.parameters(), lr=LR, fused=True)
    n_samples = len(X)
    n_steps = epochs * -(-n_samples // BATCH_SIZE)
    generator = torch.Generator().manual_seed(0)

    def hand_loop():
        totals = np.zeros(len(PHASES))
        module.train()
        for _ in range(epochs):
            order = torch.randperm(n_samples, generator=generator)
            for start in range(0, n_samples, BATCH_SIZE):
                t0 = time.perf_counter()
                rows = order[start : start + BATCH_SIZE]
                X_batch = X_t.index_select(0, rows)
                y_batch = targets.index_select(0, rows)
                t1 = time.perf_counter()
                outputs = module(X_batch)
                t2 = time.perf_counter()
                loss = criterion(outputs, y_batch)
                t3 = time.perf_counter()
                optimizer.zero_grad()
                loss.backward()
                t4 = time.perf_counter()
                optimizer.step()
                t5 = time.perf_counter()
                totals += [t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4]
        return totals / n_steps * 1e6

    return hand_loop, n_steps


def step_profile(n_samples, epochs, repeats):
    """Where one training step of (d) spends its time, phase by phase.

    The phases run in a hand-written loop over the library's own module,
    masked loss and fused Adam (taken from a fitted estimator), timed with
    ``perf_counter`` around each call (the CPU runs every operation before
    returning). The same rounds time a whole fit of (d) and of (c) per step;
    (d)'s step minus the loop's is what skorch's loop and the estimator add.
    """
    print("## Where a training step of (d) goes\n")
    X, y = make_data(n_samples)
    hand_loop, n_steps = _profiled_loop(X, y, epochs)
    hand_loop()  # warm-up
    samples, fit_d, fit_c = [], [], []
    for _ in range(repeats):
        samples.append(hand_loop())
        fit_d.append(timed(fit_estimator, X, y, epochs) / n_steps * 1e6)
        fit_c.append(timed(fit_sklearn_mlp, X, y, epochs) / n_steps * 1e6)
    phase_us = np.median(samples, axis=0)
    loop_us = float(np.median(np.sum(samples, axis=1)))
    d_us, c_us = statistics.median(fit_d), statistics.median(fit_c)
    rows = [[phase, f"{us:.0f}"] for phase, us in zip(PHASES, phase_us, strict=True)]
    rows += [
        ["**one step of the hand loop over (d)'s parts**", f"**{loop_us:.0f}**"],
        ["one step of (d)'s fit", f"{d_us:.0f}"],
        [
            "(d)'s fit minus the hand loop: skorch's loop, set-up, bookkeeping",
            f"{d_us - loop_us:.0f}",
        ],
        ["one step of (c)'s fit", f"{c_us:.0f}"],
    ]
    print(markdown_table(["Phase", "µs per step (median)"], rows))
    print(
        f"\nn = {n_samples:,}, {epochs} epoch{'s' * (epochs != 1)} ({n_steps} "
        f"steps of {BATCH_SIZE} "
        f"rows); medians of {repeats} interleaved rounds. A fit's time per step "
        "includes its share of the fit's fixed costs (validation, encoding, "
        "building the network).\n"
    )


# -- scaling ---------------------------------------------------------------------


def _current_rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _reset_peak_rss():
    """Lower the peak-RSS mark to the current RSS (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _scaling_child(n_samples, epochs):
    """Run in a fresh process: fit (d) on n rows; return time and memory (MiB)."""
    X, y = make_data(n_samples)
    with pinned_threads():
        fit_estimator(X[:512], y[:512], 1)  # one-time lazy initialization of torch
        # Imports, data and warm-up left a peak above the current RSS; reset
        # it so that the peak read after fit is the fit's own.
        _reset_peak_rss()
        baseline = _current_rss_mib()
        fit_time = timed(fit_estimator, X, y, epochs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return fit_time, baseline, peak - baseline


def scaling_series(sizes, epochs):
    """Fit time and peak-RSS growth of (d), one spawned process per size."""
    print("## Scaling of (d): fit time and peak memory\n")
    context = multiprocessing.get_context("spawn")
    rows = []
    for n in sizes:
        with context.Pool(1) as pool:
            fit_time, baseline, growth = pool.apply(_scaling_child, (n, epochs))
        data_mib = n * (N_FEATURES * 4 + N_TASKS * 8) / 2**20
        rows.append(
            [
                f"{n:,}",
                f"{fit_time:.2f}",
                f"{n * epochs / fit_time:,.0f}",
                f"{data_mib:.1f}",
                f"{baseline:.0f}",
                f"{growth:.1f}",
                f"{growth * 2**20 / n:.0f}",
            ]
        )
    header = ["n", "Fit (s)", "Rows·epochs/s", "X + y (MiB)", "RSS before fit (MiB)"]
    header += ["Peak RSS growth in fit (MiB)", "Growth per row (bytes)"]
    print(markdown_table(header, rows))
    print(
        "\nEach size runs in a fresh spawned process with the same thread limits. "
        "After imports, data creation (X float32, y float64) and a warm-up fit on "
        "512 rows (which absorbs torch's one-time lazy initialization, as in the "
        "comparison above), the process's peak-RSS mark is reset to its current "
        "RSS (`/proc/self/clear_refs`); "
        "growth = peak RSS after `fit` (`ru_maxrss`) minus the RSS before it, "
        "i.e. the most extra resident memory `fit` held at any moment (input "
        "validation, target encoding, tensors, network, optimizer state, "
        "allocator caches), X and y excluded. One measurement per size.\n"
    )


# -- prediction ------------------------------------------------------------------


def _medians_of_interleaved_calls(calls, n_rounds):
    """{name: median seconds} of ``calls``, after one warm-up call each."""
    for call in calls.values():
        call()
    times = {name: [] for name in calls}
    for _ in range(n_rounds):
        for name, call in calls.items():
            times[name].append(timed(call))
    return {name: statistics.median(t) for name, t in times.items()}


def predict_throughput(n_samples, repeats):
    """predict / predict_proba of (d) vs a raw batched forward of its module."""
    print(f"## Predict throughput of (d) on {n_samples:,} rows\n")
    X, y = make_data(n_samples)
    est = fit_estimator(X, y, 1)  # the weights do not matter for speed
    module = est.net_.module_.eval()
    X_t = torch.from_numpy(X)

    def raw_forward():
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(X_t), PREDICT_BATCH_SIZE):
                outputs.append(module(X_t[start : start + PREDICT_BATCH_SIZE]))
        return [torch.cat(task_outputs) for task_outputs in zip(*outputs)]

    raw_name = "Raw forward, torch.inference_mode()"
    calls = {
        raw_name: raw_forward,
        "est.predict(X)": lambda: est.predict(X),
        "est.predict_proba(X)": lambda: est.predict_proba(X),
    }
    n_rounds = max(repeats, N_PREDICT_REPEATS)
    medians = _medians_of_interleaved_calls(calls, n_rounds)
    raw = medians[raw_name]
    rows = [
        [name, f"{t * 1000:.1f}", f"{n_samples / t:,.0f}", f"{raw / t:.2f}×"]
        for name, t in medians.items()
    ]
    header = ["Call", "Median (ms)", "Rows/s", "Throughput relative to raw forward"]
    print(markdown_table(header, rows))
    print(
        f"\nThe raw forward runs the fitted module on batches of "
        f"{PREDICT_BATCH_SIZE} rows and keeps the logits; `predict` adds input "
        "validation, label decoding and stacking, `predict_proba` a float64 "
        f"softmax. Medians of {n_rounds} interleaved calls.\n"
    )
    return raw / medians["est.predict(X)"], est, X


def single_row_latency(est, X, n_calls):
    """Median latency of est.predict on one row, next to the raw module call."""
    print("## Single-row predict latency of (d)\n")
    module = est.net_.module_
    row, row_t = X[:1], torch.from_numpy(X[:1])

    def raw_forward():
        with torch.inference_mode():
            module(row_t)

    latencies = {}
    for name, call in [
        ("est.predict(X[:1])", lambda: est.predict(row)),
        ("Raw module forward of 1 row", raw_forward),
    ]:
        for _ in range(20):  # warm-up
            call()
        latencies[name] = [timed(call) * 1000 for _ in range(n_calls)]
    rows = [
        [name, f"{statistics.median(t):.3f}", f"{np.percentile(t, 90):.3f}"]
        for name, t in latencies.items()
    ]
    print(markdown_table(["Call", "Median (ms)", "p90 (ms)"], rows))
    print(f"\n{n_calls} calls each, after 20 warm-up calls.\n")
    return statistics.median(latencies["est.predict(X[:1])"])


# -- parallel grid search --------------------------------------------------------


def _worker_threads():
    """Thread settings seen inside a joblib worker."""
    return torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")


def _timed_search(X, y, epochs, n_jobs):
    """Wall time of a 4-candidate search over (d), and the sum of its fit times."""
    grid = {"lr": [1e-3, 3e-3], "weight_decay": [0.0, 1e-4]}
    search = GridSearchCV(
        make_estimator(epochs),
        grid,
        cv=3,
        n_jobs=n_jobs,
        refit=False,
        error_score="raise",
    )
    wall = timed(search.fit, X, y)
    fit_times = search.cv_results_["mean_fit_time"] * search.n_splits_
    return wall, fit_times.sum()


def grid_search_speedup(n_samples, epochs, repeats):
    """GridSearchCV wall time over (d) at n_jobs=1 and n_jobs=2."""
    print("## GridSearchCV over (d): n_jobs=1 vs n_jobs=2\n")
    X, y = make_data(n_samples)
    cold = _timed_search(X, y, epochs, 2)  # starts the loky workers (torch imports)
    runs = {1: [], 2: []}
    for _ in range(repeats):
        for n_jobs in runs:
            runs[n_jobs].append(_timed_search(X, y, epochs, n_jobs))
    workers = sorted(
        set(Parallel(n_jobs=2)(delayed(_worker_threads)() for _ in range(4)))
    )
    medians = {
        n_jobs: [statistics.median(values) for values in zip(*results, strict=True)]
        for n_jobs, results in runs.items()
    }
    wall_1 = medians[1][0]
    rows = [
        [setting, f"{wall:.2f}", f"{wall_1 / wall:.2f}×", f"{fits:.2f}"]
        for setting, (wall, fits) in [
            ("n_jobs=1", medians[1]),
            ("n_jobs=2 (warm workers)", medians[2]),
            ("n_jobs=2, first call (starts workers)", cold),
        ]
    ]
    header = ["Setting", "Wall time (s)", "Speed-up over n_jobs=1"]
    print(markdown_table([*header, "Sum of the 12 fit times (s)"], rows))
    print(
        f"\n4 candidates × 3-fold CV = 12 fits on n={n_samples:,}, {epochs} epochs, "
        "refit=False. Parent process: torch.set_num_threads(1) and "
        "threadpool_limits(1). The workers are joblib's default loky processes, "
        "not pinned by this script; observed in them "
        f"(torch.get_num_threads(), OMP_NUM_THREADS): {workers}. The sum of fit "
        "times (from `cv_results_`) grows at n_jobs=2 when the two workers "
        "slow each other down or compete with other processes. Medians of "
        f"{repeats} interleaved runs after the first n_jobs=2 call.\n"
    )
    return wall_1 / medians[2][0]
