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

    python benchmarks/bench_speed.py            # full run, several minutes
    python benchmarks/bench_speed.py --quick    # smoke test, under a minute
    python benchmarks/bench_speed.py --repeats 5
    python benchmarks/bench_speed.py --sections duel   # (d) against (c) only

The output is Markdown.
"""

import argparse
import multiprocessing
import os
import platform
import resource
import shlex
import statistics
import sys
import time
import warnings

import numpy as np
import sklearn
import skorch
import torch
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPRegressor
from skorch import NeuralNet
from threadpoolctl import threadpool_limits
from torch import nn
from torch.nn import functional as F

from sklearn_mtl import MultiTaskNetEstimator, Task

N_THREADS = 1
N_FEATURES = 50
N_CLASSES = (2, 5)  # the two classification tasks; the third task regresses
MISSING_RATE = 0.1
TRUNK_SIZES = (256, 256)
LR = 1e-3
BATCH_SIZE = 256
PREDICT_BATCH_SIZE = 8192  # rows per forward pass of the raw-forward baseline
SMALL_FIT_ROUNDS = 5  # rounds of the fit comparison at n <= 10,000, per repeat
# Rounds of the (d)-against-(c) duel, per size: the two are within a few per
# cent of each other, so their ratio needs many more rounds than the others.
DUEL_ROUNDS = {2_000: 60, 100_000: 12}
N_BOOTSTRAP = 5_000
SECTIONS = ["fits", "duel", "products", "profile", "scaling", "predict", "grid"]
N_PREDICT_REPEATS = 11  # calls of a fraction of a second: more repetitions are cheap

CONTENDERS = {
    "a": "(a) reference PyTorch loop",
    "b": "(b) skorch NeuralNet, default DataLoader",
    "c": "(c) sklearn MLPRegressor (regressor stand-in)",
    "d": "(d) MultiTaskNetEstimator",
}


# -- data ----------------------------------------------------------------------


def make_data(n_samples, seed=0):
    """Synthetic features and a 3-task target with 10% missing labels per task.

    Everything is drawn in float32 without large temporaries, so that the
    scaling series measures the fit's memory, not the data generator's.

    Returns
    -------
    X : ndarray of shape (n_samples, 50), float32
    y : ndarray of shape (n_samples, 3), float64
        Columns: binary label (0/1), 5-class label (0..4), regression value;
        NaN marks a missing label.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, N_FEATURES), dtype=np.float32)
    weights = rng.standard_normal((N_FEATURES, 7), dtype=np.float32) / np.sqrt(
        N_FEATURES
    )
    z = X @ weights
    y = np.empty((n_samples, 3))
    y[:, 0] = z[:, 0] > 0
    y[:, 1] = np.argmax(z[:, 1:6], axis=1)
    y[:, 2] = 10.0 + 3.0 * z[:, 6] + rng.standard_normal(n_samples, dtype=np.float32)
    y[rng.random((n_samples, 3)) < MISSING_RATE] = np.nan
    return X, y


def encode_targets(y):
    """float32 training codes: class indices as is, regression standardized."""
    codes = y.astype(np.float32)
    reg = codes[:, 2]
    codes[:, 2] = (reg - np.nanmean(reg)) / np.nanstd(reg)
    return codes


# -- the hand-written network and loss shared by (a) and (b) -------------------


class ReferenceNetwork(nn.Module):
    """The 50 → 256 → 256 trunk (ReLU) feeding three linear heads."""

    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Linear(N_FEATURES, TRUNK_SIZES[0]),
            nn.ReLU(),
            nn.Linear(TRUNK_SIZES[0], TRUNK_SIZES[1]),
            nn.ReLU(),
        )
        self.heads = nn.ModuleList(
            nn.Linear(TRUNK_SIZES[1], n_out) for n_out in (*N_CLASSES, 1)
        )

    def forward(self, X):
        shared = self.trunk(X)
        return tuple(head(shared) for head in self.heads)


class ReferenceLoss(nn.Module):
    """Sum over tasks of each task's mean loss over the batch's labelled rows.

    Cross-entropy for the two classification heads, MSE for the regression
    head; a NaN target is a missing label.
    """

    def forward(self, outputs, targets):
        labelled = ~torch.isnan(targets)
        total = 0.0
        for j, output in enumerate(outputs):
            rows = labelled[:, j]
            target = targets[rows, j]
            if j < len(N_CLASSES):
                loss = F.cross_entropy(output[rows], target.long(), reduction="sum")
            else:
                loss = F.mse_loss(output[rows, 0], target, reduction="sum")
            total = total + loss / rows.sum().clamp(min=1)
        return total


# -- contenders: each fits on raw (X, y), data preparation included ------------


def fit_reference(X, y, epochs, seed=0):
    """(a) Hand-written loop: slice pre-built tensors, fresh permutation per epoch."""
    torch.manual_seed(seed)
    X_t = torch.from_numpy(X)
    y_t = torch.from_numpy(encode_targets(y))
    module = ReferenceNetwork()
    criterion = ReferenceLoss()
    optimizer = torch.optim.Adam(module.parameters(), lr=LR)
    generator = torch.Generator().manual_seed(seed)
    module.train()
    for _ in range(epochs):
        order = torch.randperm(len(X_t), generator=generator)
        for start in range(0, len(X_t), BATCH_SIZE):
            rows = order[start : start + BATCH_SIZE]
            optimizer.zero_grad()
            loss = criterion(module(X_t[rows]), y_t[rows])
            loss.backward()
            optimizer.step()
    return module


def fit_skorch(X, y, epochs, seed=0):
    """(b) Plain skorch NeuralNet with its default Dataset and DataLoader."""
    torch.manual_seed(seed)
    net = NeuralNet(
        module=ReferenceNetwork,
        criterion=ReferenceLoss,
        optimizer=torch.optim.Adam,
        lr=LR,
        batch_size=BATCH_SIZE,
        max_epochs=epochs,
        train_split=None,
        iterator_train__shuffle=True,
        verbose=0,
    )
    return net.fit(X, encode_targets(y))


def fit_sklearn_mlp(X, y, epochs, seed=0):
    """(c) MLPRegressor on the 3 codes; missing labels filled with the column mean."""
    codes = encode_targets(y)
    codes = np.where(np.isnan(codes), np.nanmean(codes, axis=0), codes)
    mlp = MLPRegressor(
        hidden_layer_sizes=TRUNK_SIZES,
        solver="adam",
        batch_size=BATCH_SIZE,
        max_iter=epochs,
        learning_rate_init=LR,
        tol=0,
        n_iter_no_change=10**9,
        early_stopping=False,
        shuffle=True,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is the point
        return mlp.fit(X, codes)


def make_estimator(epochs, seed=0):
    """(d) The estimator under test, configured like the other contenders."""
    return MultiTaskNetEstimator(
        tasks=[
            ("binary", Task("classification")),
            ("multi", Task("classification")),
            ("reg", Task("regression")),
        ],
        trunk_sizes=TRUNK_SIZES,
        max_epochs=epochs,
        batch_size=BATCH_SIZE,
        lr=LR,
        random_state=seed,
    )


def fit_estimator(X, y, epochs, seed=0):
    """(d) MultiTaskNetEstimator.fit."""
    return make_estimator(epochs, seed).fit(X, y)


FITTERS = {
    "a": fit_reference,
    "b": fit_skorch,
    "c": fit_sklearn_mlp,
    "d": fit_estimator,
}


# -- helpers -------------------------------------------------------------------


def timed(func, *args):
    """Wall-clock seconds of one call."""
    start = time.perf_counter()
    func(*args)
    return time.perf_counter() - start


def timed_wall_and_cpu(func, *args):
    """Wall-clock and process CPU seconds of one call.

    With one thread, CPU time is close to wall time on an idle machine and
    insensitive to other processes competing for the cores.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    func(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def pinned_threads():
    """Context in which torch and every BLAS/OpenMP pool use N_THREADS threads."""
    torch.set_num_threads(N_THREADS)
    return threadpool_limits(N_THREADS)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def format_load():
    return ", ".join(f"{load:.2f}" for load in os.getloadavg())


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


# -- sections ------------------------------------------------------------------


def round_ratios(times, top, bottom):
    """Per round, ``times[top][i] / times[bottom][i]``."""
    return [t / b for t, b in zip(times[top], times[bottom], strict=True)]


def paired_ratio(times, top, bottom):
    """Median over repetitions of ``times[top][i] / times[bottom][i]``.

    Both fits of a pair ran in the same round, seconds apart, so a change in
    the machine's speed between rounds (other tenants, frequency scaling)
    cancels out of each ratio; the ratio of two medians keeps it.
    """
    return statistics.median(round_ratios(times, top, bottom))


def median_ci(values, level=0.95, seed=0):
    """Percentile-bootstrap confidence interval of the median of ``values``."""
    values = np.asarray(values)
    resamples = np.random.default_rng(seed).choice(
        values, size=(N_BOOTSTRAP, len(values))
    )
    medians = np.median(resamples, axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(medians, tail)), float(np.quantile(medians, 1 - tail))


def warm_up(fitters):
    """Fit each of ``fitters`` once on 512 rows, untimed.

    First-call costs (torch's lazy initialization, imports) then stay out of
    the timings.
    """
    X, y = make_data(512, seed=1)
    for fit in fitters.values():
        fit(X, y, 1)


def duel(sizes, epochs, rounds):
    """(d) against (c) alone, in many rounds: their paired ratio and its spread.

    Returns, per size, the median of the per-round ratios (d)/(c) and a 95 %
    bootstrap confidence interval of that median. The interval covers the
    noise between rounds of this run only; the same code measured on another
    day (another load on the machine) can land outside it.
    """
    print("## (d) against (c): many rounds of the two alone\n")
    warm_up({key: FITTERS[key] for key in "cd"})
    rows, results = [], {}
    for n in sizes:
        X, y = make_data(n)
        n_rounds = rounds[n]
        walls = {"c": [], "d": []}
        for round_ in range(n_rounds):
            for key in ("d", "c") if round_ % 2 else ("c", "d"):
                walls[key].append(timed(FITTERS[key], X, y, epochs))
        ratios = round_ratios(walls, "d", "c")
        ratio, ci = statistics.median(ratios), median_ci(ratios)
        results[n] = ratio, ci
        q1, _, q3 = statistics.quantiles(ratios, n=4)
        rows.append(
            [
                f"{n:,}",
                str(n_rounds),
                f"{statistics.median(walls['c']):.2f}",
                f"{statistics.median(walls['d']):.2f}",
                f"**{ratio:.3f}×**",
                f"{q1:.3f} – {q3:.3f}",
                f"{ci[0]:.3f} – {ci[1]:.3f}",
            ]
        )
    print(
        markdown_table(
            [
                "n",
                "Rounds",
                "(c) median wall (s)",
                "(d) median wall (s)",
                "(d) / (c), median of paired ratios",
                "Interquartile range",
                "95 % CI of the median (bootstrap)",
            ],
            rows,
        )
    )
    print(
        "\nEach round fits both, in alternating order. A ratio below 1 means "
        "(d) is faster. The confidence interval covers the noise between the "
        "rounds of this run, not the drift between runs.\n"
    )
    return results


def compare_contenders(sizes, epochs, repeats):
    """Fit times of (a)-(d), interleaved, with medians and paired ratios.

    Returns, per size, the median of the per-round wall-time ratios of every
    pair of contenders: ``ratios[n][(x, y)]`` is the median of x's time over
    y's.
    """
    print("## Fit time: contenders side by side\n")
    warm_up(FITTERS)

    keys = list(FITTERS)
    results = {}
    for n in sizes:
        X, y = make_data(n)
        walls = {key: [] for key in keys}
        cpus = {key: [] for key in keys}
        # A small fit takes a fraction of a second, where the machine's
        # hiccups weigh most: more rounds, at little cost.
        rounds = repeats * (SMALL_FIT_ROUNDS if n <= 10_000 else 1)
        for round_ in range(rounds):
            # Each round starts with the next contender, so that none always
            # runs right after the same neighbour.
            for key in keys[round_ % len(keys) :] + keys[: round_ % len(keys)]:
                wall, cpu = timed_wall_and_cpu(FITTERS[key], X, y, epochs)
                walls[key].append(wall)
                cpus[key].append(cpu)
        results[n] = {
            (top, bottom): paired_ratio(walls, top, bottom)
            for top in keys
            for bottom in keys
            if top != bottom
        }
        rows = [
            [
                CONTENDERS[key],
                f"{statistics.median(walls[key]):.2f}",
                f"{min(walls[key]):.2f} – {max(walls[key]):.2f}",
                "1.00×" if key == "a" else f"{results[n][key, 'a']:.2f}×",
                f"{statistics.median(cpus[key]):.2f}",
                "1.00×" if key == "a" else f"{paired_ratio(cpus, key, 'a'):.2f}×",
            ]
            for key in keys
        ]
        print(f"### n = {n:,} ({rounds} rounds)\n")
        print(
            markdown_table(
                [
                    "Contender",
                    "Median wall (s)",
                    "Min – max wall (s)",
                    "Wall ratio to (a)",
                    "Median CPU (s)",
                    "CPU ratio to (a)",
                ],
                rows,
            )
        )
        print(
            f"\n(d) against the others, wall: (b) / (d) = {results[n]['b', 'd']:.2f}× "
            f"(plain skorch is that much slower); (d) / (c) = "
            f"{results[n]['d', 'c']:.2f}× (CPU: {paired_ratio(cpus, 'd', 'c'):.2f}×).\n"
        )
    print(
        "Ratios are paired: the median over rounds of the two contenders' "
        "ratio within a round. (a) and (b) share the benchmark's own module "
        "and masked loss; (d) uses the library's. (c) is a regressor "
        "stand-in: the missing labels are filled with column means and all "
        "three columns are fitted by squared error. Every fit includes its own "
        "data preparation; an untimed warm-up fit of each contender precedes "
        "the timings. CPU = process CPU time: when it is well below wall time, "
        "other processes took the core.\n"
    )
    return results


def _step_matmul_shapes(n_outputs):
    """(m, k, n) of every matrix product in one training step of the network.

    ``n_outputs`` lists the output layers' widths: (2, 5, 1) for the three
    heads of (a) and (b); (8,) for (d), which computes its linear heads as
    one layer; (3,) for the single output layer of (c).
    Per layer (n_in -> n_out): forward (B, n_in) @ (n_in, n_out); backward
    (n_out, B) @ (B, n_in) for the weights and, except for the first layer,
    (B, n_out) @ (n_out, n_in) for the layer's input.
    """
    widths = [N_FEATURES, *TRUNK_SIZES]
    layers = list(zip(widths[:-1], widths[1:], strict=True))
    layers += [(TRUNK_SIZES[-1], n_out) for n_out in n_outputs]
    shapes = []
    for i, (n_in, n_out) in enumerate(layers):
        shapes += [(BATCH_SIZE, n_in, n_out), (n_out, BATCH_SIZE, n_in)]
        if i > 0:
            shapes.append((BATCH_SIZE, n_out, n_in))
    return shapes


def matmul_costs(repeats):
    """The matrix products of one training step: torch vs NumPy, same shapes."""
    print("## Matrix products of one training step: torch vs NumPy\n")
    rng = np.random.default_rng(0)

    def time_products(shapes, library):
        operands = [
            (
                rng.standard_normal((m, k), dtype=np.float32),
                rng.standard_normal((k, n), dtype=np.float32),
            )
            for m, k, n in shapes
        ]
        if library == "torch":
            operands = [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in operands]
            product = torch.mm
        else:
            product = np.matmul
        n_calls = 200

        def run():
            for a, b in operands:
                product(a, b)

        run()  # warm-up
        samples = [timed(lambda: [run() for _ in range(n_calls)]) for _ in range(7)]
        return statistics.median(samples) / n_calls * 1e6

    rows = []
    for label, n_outputs in [
        ("three heads (2, 5, 1): (a), (b)", (*N_CLASSES, 1)),
        ("the heads as one 8-wide layer: (d)", (sum(N_CLASSES) + 1,)),
        ("one 3-wide output layer: (c)", (3,)),
    ]:
        shapes = _step_matmul_shapes(n_outputs)
        torch_us = time_products(shapes, "torch")
        numpy_us = time_products(shapes, "numpy")
        rows.append(
            [
                label,
                str(len(shapes)),
                f"{torch_us:.0f}",
                f"{numpy_us:.0f}",
                f"{torch_us / numpy_us:.2f}×",
            ]
        )
    print(
        markdown_table(
            [
                "Network",
                "Products per step",
                "torch.mm (µs / step)",
                "NumPy matmul (µs / step)",
                "torch / NumPy",
            ],
            rows,
        )
    )
    print(
        f"\nfloat32, batch {BATCH_SIZE}, one thread; medians of 7 runs of 200 "
        "steps' products. The products are most of a step's arithmetic; what "
        "a contender's step costs beyond them is the rest of its training "
        "loop (elementwise operations, loss, optimizer, autograd and Python "
        "bookkeeping).\n"
    )


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
    codes = torch.from_numpy(encode_targets(y))
    X_t = torch.from_numpy(X)
    net = make_estimator(1).fit(X, y).net_
    module, criterion = net.module_, net.criterion_
    optimizer = torch.optim.Adam(module.parameters(), lr=LR, fused=True)
    phases = [
        "gather the batch (index_select)",
        "forward: trunk and heads",
        "masked multi-task loss",
        "backward",
        "Adam step (fused)",
    ]
    n_steps = epochs * -(-n_samples // BATCH_SIZE)
    generator = torch.Generator().manual_seed(0)

    def hand_loop():
        totals = np.zeros(len(phases))
        module.train()
        for _ in range(epochs):
            order = torch.randperm(n_samples, generator=generator)
            for start in range(0, n_samples, BATCH_SIZE):
                t0 = time.perf_counter()
                rows = order[start : start + BATCH_SIZE]
                X_batch, y_batch = (
                    X_t.index_select(0, rows),
                    codes.index_select(0, rows),
                )
                t1 = time.perf_counter()
                outputs = module(X_batch)
                t2 = time.perf_counter()
                loss = criterion.combine(*criterion.task_sums(outputs, y_batch))
                t3 = time.perf_counter()
                optimizer.zero_grad()
                loss.backward()
                t4 = time.perf_counter()
                optimizer.step()
                t5 = time.perf_counter()
                totals += [t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4]
        return totals / n_steps * 1e6

    hand_loop()  # warm-up
    samples, fit_d, fit_c = [], [], []
    for _ in range(repeats):
        samples.append(hand_loop())
        fit_d.append(timed(fit_estimator, X, y, epochs) / n_steps * 1e6)
        fit_c.append(timed(fit_sklearn_mlp, X, y, epochs) / n_steps * 1e6)
    phase_us = np.median(samples, axis=0)
    loop_us = float(np.median(np.sum(samples, axis=1)))
    d_us, c_us = statistics.median(fit_d), statistics.median(fit_c)
    rows = [[phase, f"{us:.0f}"] for phase, us in zip(phases, phase_us, strict=True)]
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


def scaling_series(sizes, epochs):
    """Fit time and peak-RSS growth of (d), one spawned process per size."""
    print("## Scaling of (d): fit time and peak memory\n")
    context = multiprocessing.get_context("spawn")
    rows = []
    for n in sizes:
        with context.Pool(1) as pool:
            fit_time, baseline, growth = pool.apply(_scaling_child, (n, epochs))
        data_mib = n * (N_FEATURES * 4 + 3 * 8) / 2**20
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
    print(
        markdown_table(
            [
                "n",
                "Fit (s)",
                "Rows·epochs/s",
                "X + y (MiB)",
                "RSS before fit (MiB)",
                "Peak RSS growth in fit (MiB)",
                "Growth per row (bytes)",
            ],
            rows,
        )
    )
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

    calls = {
        "Raw forward, torch.inference_mode()": raw_forward,
        "est.predict(X)": lambda: est.predict(X),
        "est.predict_proba(X)": lambda: est.predict_proba(X),
    }
    for call in calls.values():  # warm-up
        call()
    times = {name: [] for name in calls}
    for _ in range(max(repeats, N_PREDICT_REPEATS)):
        for name, call in calls.items():
            times[name].append(timed(call))
    medians = {name: statistics.median(t) for name, t in times.items()}
    raw = medians["Raw forward, torch.inference_mode()"]
    rows = [
        [
            name,
            f"{median * 1000:.1f}",
            f"{n_samples / median:,.0f}",
            f"{raw / median:.2f}×",
        ]
        for name, median in medians.items()
    ]
    print(
        markdown_table(
            ["Call", "Median (ms)", "Rows/s", "Throughput relative to raw forward"],
            rows,
        )
    )
    print(
        f"\nThe raw forward runs the fitted module on batches of "
        f"{PREDICT_BATCH_SIZE} rows and keeps the logits; `predict` adds input "
        "validation, label decoding and stacking, `predict_proba` a float64 "
        f"softmax. Medians of {max(repeats, N_PREDICT_REPEATS)} interleaved calls.\n"
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


def _worker_threads():
    """Thread settings seen inside a joblib worker."""
    return torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")


def grid_search_speedup(n_samples, epochs, repeats):
    """GridSearchCV wall time over (d) at n_jobs=1 and n_jobs=2."""
    print("## GridSearchCV over (d): n_jobs=1 vs n_jobs=2\n")
    X, y = make_data(n_samples)
    grid = {"lr": [1e-3, 3e-3], "weight_decay": [0.0, 1e-4]}

    def search(n_jobs):
        """Wall time of the search, and the sum of its fits' own durations."""
        grid_search = GridSearchCV(
            make_estimator(epochs),
            grid,
            cv=3,
            n_jobs=n_jobs,
            refit=False,
            error_score="raise",
        )
        wall = timed(grid_search.fit, X, y)
        fit_times = grid_search.cv_results_["mean_fit_time"] * grid_search.n_splits_
        return wall, fit_times.sum()

    cold = search(2)  # starts the loky workers, which import torch
    runs = {1: [], 2: []}
    for _ in range(repeats):
        for n_jobs in runs:
            runs[n_jobs].append(search(n_jobs))
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
    print(
        markdown_table(
            [
                "Setting",
                "Wall time (s)",
                "Speed-up over n_jobs=1",
                "Sum of the 12 fit times (s)",
            ],
            rows,
        )
    )
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
        for n, limit in ((2_000, 1.3), (100_000, 1.10)):
            if n in sizes:
                ratio = fit_ratios[n]["d", "a"]
                checks.append(
                    [
                        f"fit (d)/(a), n={n:,}",
                        f"{ratio:.2f}×",
                        f"≤ {limit}×",
                        ratio <= limit,
                    ]
                )
        for n in sizes:
            speedup = fit_ratios[n]["b", "d"]
            checks.append(
                [
                    f"fit (b)/(d), n={n:,}",
                    f"{speedup:.2f}×",
                    "≥ 1.6×",
                    speedup >= 1.6,
                ]
            )
    if duel_ratios is not None:
        for n in sizes:
            ratio, (low, high) = duel_ratios[n]
            checks.append(
                [
                    f"fit (d)/(c), n={n:,} (duel)",
                    f"{ratio:.3f}× (95 % CI {low:.3f} – {high:.3f})",
                    "≤ 1.0×",
                    ratio <= 1.0,
                ]
            )
    if predict_ratio is not None:
        checks += [
            [
                "predict throughput / raw forward",
                f"{predict_ratio:.2f}×",
                "≥ 0.9×",
                predict_ratio >= 0.9,
            ],
            [
                "single-row predict",
                f"{latency_ms:.3f} ms",
                "≤ 1 ms",
                latency_ms <= 1,
            ],
        ]
    if grid_speedup is not None:
        checks.append(
            [
                "GridSearchCV n_jobs=2 speed-up",
                f"{grid_speedup:.2f}×",
                "≥ 1.6×",
                grid_speedup >= 1.6,
            ]
        )
    print("## Targets\n")
    print(
        markdown_table(
            ["Metric", "Measured", "Target", "Met"],
            [row[:3] + ["yes" if row[3] else "**no**"] for row in checks],
        )
    )
    print(
        "\nFit targets are judged on the paired wall-time ratios: (d)/(c) on "
        "the duel's, the others on the fit tables'. On a busy machine (see the "
        "load averages), the CPU-time ratios are the steadier comparison."
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes and few epochs: a smoke test (< 1 minute)",
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
        "e.g. --sections duel re-checks (d) against (c) in a few minutes",
    )
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 5)
    if args.quick:
        epochs, sizes = 2, [2_000]
        duel_rounds = {2_000: 4}
        scaling_sizes = [10_000]
        n_profile, profile_epochs = 2_000, 1
        n_predict, n_latency_calls, n_grid, grid_epochs = 10_000, 50, 1_000, 2
    else:
        epochs, sizes = 10, [2_000, 100_000]
        duel_rounds = DUEL_ROUNDS
        scaling_sizes = [10_000, 100_000, 1_000_000]
        n_profile, profile_epochs = 100_000, 1
        n_predict, n_latency_calls, n_grid, grid_epochs = 100_000, 200, 5_000, 5

    sections = set(args.sections)
    measured = {}
    with pinned_threads():
        print_header(args, repeats, epochs)
        if "fits" in sections:
            measured["fit_ratios"] = compare_contenders(sizes, epochs, repeats)
        if "duel" in sections:
            measured["duel_ratios"] = duel(sizes, epochs, duel_rounds)
        if "products" in sections:
            matmul_costs(repeats)
        if "profile" in sections:
            step_profile(n_profile, profile_epochs, repeats)
        if "scaling" in sections:
            scaling_series(scaling_sizes, epochs)
        if "predict" in sections:
            measured["predict_ratio"], est, X = predict_throughput(n_predict, repeats)
            measured["latency_ms"] = single_row_latency(est, X, n_latency_calls)
        if "grid" in sections:
            measured["grid_speedup"] = grid_search_speedup(n_grid, grid_epochs, repeats)
        print_targets(sizes, **measured)
    print(f"\nLoad average (1, 5, 15 min) at the end: {format_load()}")


if __name__ == "__main__":
    main()
