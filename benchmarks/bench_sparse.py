"""Sparse-input benchmark: ``MultiTaskNetEstimator`` on a wide CSR matrix.

The data: a seeded, float32 CSR matrix of 200,000 rows × 100,000 columns with
exactly 30 non-zeros per row (uniformly drawn distinct columns, standard
normal values), generated chunk by chunk so it is never dense, and three
tasks read off a sparse linear signal: a binary, a 3-class and a regression
target, each missing 10 % of its labels.

Every contender trains the same network (100,000 inputs, a (128, 64) ReLU
trunk, three heads of 2, 3 and 1 outputs, no dropout; Adam lr 1e-3 in its
fused implementation, batch 128, a fresh shuffle per epoch, one torch
thread):

(e) ``MultiTaskNetEstimator.fit`` (``early_stopping=False``, dropout and
    label smoothing off): each batch is a torch CSR tensor
    (``sklearn_mtl._data.SparseRows``) that the first layer multiplies
    sparsely (``sklearn_mtl._module.SparseInputLinear``: ``nn.Linear``'s
    weight, a gather of the batch's columns forward, a scatter backward);
(s) a hand-written PyTorch loop multiplying sparsely in the first layer: the
    batch stays sparse (its column indices, row offsets and values) and the
    first layer is ``F.embedding_bag(mode="sum", per_sample_weights=values)``
    over a (100,000, 128) weight, which is ``X_batch @ W`` without
    densifying. ``torch.sparse.mm`` and ``nn.Linear`` on sparse COO/CSR
    batches were slower than this in scratch timings
    (``docs/benchmarks_speed.md``). This is the loop (e) is held to;
(h) the same loop fed densified batches: the rows of a batch are gathered
    from the CSR matrix and densified (``toarray``), then go through
    ``nn.Linear`` (what the estimator did before its sparse first layer,
    and still does for the architectures, ensembles and embeddings).

Each measurement runs in a fresh process (``--worker``), which generates the
data, fits once and reports the wall and CPU time of each epoch (the
estimator's through a callback), the one-off set-up (fit time outside the
epochs: validation, encoding the targets, building the net) and the peak
resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) next to the
resident memory before the fit. Contenders run interleaved, round after
round, each round starting with the next one; ratios are medians of the
ratio within a round. The dense size of X (n_samples × n_features × 4 bytes,
80 GB) is printed for comparison: nothing here ever densifies X.

Run from the repository root::

    python benchmarks/bench_sparse.py              # full run (about 25 min)
    python benchmarks/bench_sparse.py --quick      # smoke test: tiny sizes
    python benchmarks/bench_sparse.py --repeats 5 --epochs 2

The output is Markdown; the latest full run is in ``docs/benchmarks_speed.md``
("Sparse inputs").
"""

import argparse
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy
import skorch
import torch
from scipy import sparse
from skorch.callbacks import Callback
from threadpoolctl import threadpool_limits
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/ helpers
from _speed import cpu_model, format_load  # noqa: E402

N_THREADS = 1
TRUNK_SIZES = (128, 64)
N_CLASSES = (2, 3)  # the two classification tasks; the third regresses
BATCH_SIZE = 128
LR = 1e-3
MISSING_RATE = 0.1
FULL_SIZE = {"n_samples": 200_000, "n_features": 100_000, "nnz_per_row": 30}
QUICK_SIZE = {"n_samples": 3_000, "n_features": 5_000, "nnz_per_row": 30}
TARGETS = {"time_ratio": 1.3, "peak_gb": 1.5}
CONTENDERS = {
    "e": "(e) MultiTaskNetEstimator (sparse first layer)",
    "s": "(s) hand-written loop, sparse first layer",
    "h": "(h) hand-written loop, densified batches",
}
GENERATION_CHUNK = 10_000  # rows generated at a time


# -- data ----------------------------------------------------------------------


def make_data(n_samples, n_features, nnz_per_row, seed=0):
    """A CSR matrix with ``nnz_per_row`` non-zeros per row, and three targets.

    Rows are generated ``GENERATION_CHUNK`` at a time, so memory stays at the
    sparse size plus one chunk's temporaries.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_samples, n_features), float32
        int32 indices, sorted within each row.
    y : ndarray of shape (n_samples, 3), float64
        Columns: binary label (0/1), 3-class label (0..2), regression value;
        NaN marks a missing label.
    """
    rng = np.random.default_rng(seed)
    # The signal: each task reads a dense random direction of the columns.
    directions = rng.standard_normal((n_features, 5), dtype=np.float32)
    directions /= np.sqrt(nnz_per_row)
    indices = np.empty(n_samples * nnz_per_row, dtype=np.int32)
    data = np.empty(n_samples * nnz_per_row, dtype=np.float32)
    z = np.empty((n_samples, 5), dtype=np.float32)
    for start in range(0, n_samples, GENERATION_CHUNK):
        stop = min(start + GENERATION_CHUNK, n_samples)
        cols = _distinct_columns(rng, stop - start, n_features, nnz_per_row)
        values = rng.standard_normal(cols.shape, dtype=np.float32)
        indices[start * nnz_per_row : stop * nnz_per_row] = cols.ravel()
        data[start * nnz_per_row : stop * nnz_per_row] = values.ravel()
        z[start:stop] = np.einsum("rk,rkt->rt", values, directions[cols])
    indptr = np.arange(0, n_samples * nnz_per_row + 1, nnz_per_row, dtype=np.int32)
    X = sparse.csr_matrix((data, indices, indptr), shape=(n_samples, n_features))
    y = np.empty((n_samples, 3))
    y[:, 0] = z[:, 0] > 0
    y[:, 1] = np.argmax(z[:, 1:4], axis=1)
    y[:, 2] = 10.0 + 3.0 * z[:, 4] + rng.standard_normal(n_samples, dtype=np.float32)
    y[rng.random((n_samples, 3)) < MISSING_RATE] = np.nan
    return X, y


def _distinct_columns(rng, n_rows, n_features, k):
    """Per row, ``k`` distinct column indices in increasing order."""
    cols = np.sort(rng.integers(0, n_features, (n_rows, k), dtype=np.int32), axis=1)
    # Redraw the few rows with a repeated column until none is left.
    while (repeated := (np.diff(cols, axis=1) == 0).any(axis=1)).any():
        redrawn = rng.integers(0, n_features, (repeated.sum(), k), dtype=np.int32)
        cols[repeated] = np.sort(redrawn, axis=1)
    return cols


def training_codes(y):
    """float32 codes of the hand loops: classes as is, the regression target
    standardized (as the estimator does), NaN for a missing label."""
    codes = y.astype(np.float32)
    codes[:, 2] = (codes[:, 2] - np.nanmean(codes[:, 2])) / np.nanstd(codes[:, 2])
    return torch.from_numpy(codes)


# -- the hand-written loops ------------------------------------------------------


class HandNetwork(nn.Module):
    """100,000 → 128 → 64 (ReLU) feeding three linear heads.

    With ``sparse_input``, the first layer's weight is stored as
    (n_features, 128) and applied by ``F.embedding_bag`` to a batch given as
    (column indices, row offsets, values): a sparse product, the same
    function as ``nn.Linear`` on the densified batch.
    """

    def __init__(self, n_features, sparse_input):
        super().__init__()
        first = nn.Linear(n_features, TRUNK_SIZES[0])  # its initialization
        self.sparse_input = sparse_input
        if sparse_input:
            self.first_weight = nn.Parameter(first.weight.detach().t().contiguous())
            self.first_bias = first.bias
        else:
            self.first = first
        self.rest = nn.Sequential(
            nn.ReLU(), nn.Linear(TRUNK_SIZES[0], TRUNK_SIZES[1]), nn.ReLU()
        )
        self.heads = nn.ModuleList(
            nn.Linear(TRUNK_SIZES[1], n_out) for n_out in (*N_CLASSES, 1)
        )

    def forward(self, X):
        if self.sparse_input:
            indices, offsets, values = X
            hidden = F.embedding_bag(
                indices, self.first_weight, offsets, mode="sum",
                per_sample_weights=values,
            ) + self.first_bias  # fmt: skip
        else:
            hidden = self.first(X)
        shared = self.rest(hidden)
        return [head(shared) for head in self.heads]


def masked_loss(outputs, targets):
    """Sum over tasks of each task's mean loss over its labelled rows."""
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


def dense_batch(X, rows):
    """The batch gathered from the CSR rows and densified."""
    return torch.from_numpy(X[rows].toarray())


def sparse_batch(X, rows):
    """The batch kept sparse: int64 column indices, row offsets and values."""
    block = X[rows]
    return (
        torch.from_numpy(block.indices.astype(np.int64)),
        torch.from_numpy(block.indptr[:-1].astype(np.int64)),
        torch.from_numpy(block.data),
    )


def fit_hand_loop(X, y, epochs, sparse_input, seed=0):
    """(h) or (s): Adam (fused), batch 128, a fresh permutation per epoch.

    Returns the set-up seconds and, per epoch, its wall and CPU seconds.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    torch.manual_seed(seed)
    codes = training_codes(y)
    module = HandNetwork(X.shape[1], sparse_input)
    optimizer = torch.optim.Adam(module.parameters(), lr=LR, fused=True)
    gather = sparse_batch if sparse_input else dense_batch
    rng = np.random.default_rng(seed)
    module.train()
    setup = time.perf_counter() - wall
    epochs_wall, epochs_cpu = [], []
    for _ in range(epochs):
        wall, cpu = time.perf_counter(), time.process_time()
        order = rng.permutation(X.shape[0])
        for start in range(0, X.shape[0], BATCH_SIZE):
            rows = order[start : start + BATCH_SIZE]
            optimizer.zero_grad()
            loss = masked_loss(module(gather(X, rows)), codes[rows])
            loss.backward()
            optimizer.step()
        epochs_wall.append(time.perf_counter() - wall)
        epochs_cpu.append(time.process_time() - cpu)
    return setup, epochs_wall, epochs_cpu


# -- the estimator ---------------------------------------------------------------


class EpochClock(Callback):
    """Wall and CPU seconds of each epoch, from its beginning to its end."""

    def initialize(self):
        self.walls, self.cpus = [], []
        return self

    def on_epoch_begin(self, net, **kwargs):
        self._start = time.perf_counter(), time.process_time()

    def on_epoch_end(self, net, **kwargs):
        self.walls.append(time.perf_counter() - self._start[0])
        self.cpus.append(time.process_time() - self._start[1])


def fit_estimator(X, y, epochs, seed=0):
    """(e): the estimator with the hand loops' network and optimizer.

    Returns the set-up seconds (fit time outside the epochs) and, per epoch,
    its wall and CPU seconds.
    """
    from sklearn_mtl import MultiTaskNetEstimator, Task

    estimator = MultiTaskNetEstimator(
        tasks=[
            ("binary", Task("classification")),
            ("multi", Task("classification")),
            ("reg", Task("regression")),
        ],
        trunk_sizes=TRUNK_SIZES,
        dropout=0.0,
        label_smoothing=0.0,
        max_epochs=epochs,
        batch_size=BATCH_SIZE,
        lr=LR,
        early_stopping=False,
        num_threads=N_THREADS,
        callbacks=[EpochClock()],
        random_state=seed,
    )
    start = time.perf_counter()
    estimator.fit(X, y)
    total = time.perf_counter() - start
    # The fit trains copies of the callbacks given: read the fitted one.
    (clock,) = [cb for _, cb in estimator.net_.callbacks_ if isinstance(cb, EpochClock)]
    return total - sum(clock.walls), clock.walls, clock.cpus


# -- one measurement, in its own process -------------------------------------------


def resident_bytes():
    """The process's current resident memory, from /proc (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_worker(contender, size, epochs):
    """Generate the data, fit ``contender`` once; print its measures as JSON."""
    torch.set_num_threads(N_THREADS)
    with threadpool_limits(N_THREADS):
        X, y = make_data(**size)
        generation_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        before = resident_bytes()
        if contender == "e":
            setup, walls, cpus = fit_estimator(X, y, epochs)
        else:
            setup, walls, cpus = fit_hand_loop(X, y, epochs, contender == "s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {
                "setup": setup,
                "epoch_wall": walls,
                "epoch_cpu": cpus,
                "rss_before_fit": before,
                "generation_peak": generation_peak,
                "peak": peak,
                "x_sparse_bytes": X.data.nbytes + X.indices.nbytes + X.indptr.nbytes,
            }
        )
    )


def measure(contender, size, epochs):
    """Run one measurement of ``contender`` in a fresh Python process."""
    command = [
        sys.executable, __file__, "--worker", contender, "--epochs", str(epochs),
        "--size", json.dumps(size),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{CONTENDERS[contender]} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# -- reporting -------------------------------------------------------------------


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def median_range(values, fmt="{:.1f}"):
    return (
        f"{fmt.format(statistics.median(values))} "
        f"({fmt.format(min(values))} – {fmt.format(max(values))})"
    )


def per_epoch(result, key):
    """Median seconds per epoch of one measurement."""
    return statistics.median(result[key])


def commit():
    """The commit of the code run: git's, or ``SKLEARN_MTL_COMMIT`` where the
    run is a copy of the tree outside git (so the tree can change meanwhile)."""
    if "SKLEARN_MTL_COMMIT" in os.environ:
        return os.environ["SKLEARN_MTL_COMMIT"]
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def print_header(args, size):
    n, d, k = size["n_samples"], size["n_features"], size["nnz_per_row"]
    print("# sklearn_mtl sparse-input benchmark\n")
    print(f"Command: `{shlex.join(['python', *sys.argv])}` (commit {commit()})\n")
    print(
        f"- CPU: {cpu_model()}; {os.cpu_count()} logical cores "
        f"({len(os.sched_getaffinity(0))} usable)"
    )
    print(
        f"- Python {platform.python_version()}, torch {torch.__version__}, "
        f"scipy {scipy.__version__}, skorch {skorch.__version__}, "
        f"numpy {np.__version__}"
    )
    print(f"- Threads: torch.set_num_threads({N_THREADS}) in every contender")
    print(
        f"- Data: CSR {n:,} × {d:,}, {k} non-zeros per row, float32; tasks "
        f"binary, 3-class, regression; {MISSING_RATE:.0%} of labels missing per task"
    )
    print(
        f"- Network: {d:,} inputs, trunk {TRUNK_SIZES} ReLU, heads of "
        f"{N_CLASSES[0]}, {N_CLASSES[1]} and 1 outputs; Adam (fused) lr={LR}, "
        f"batch {BATCH_SIZE}, {args.epochs} epoch(s) per fit"
    )
    print(f"- Load average (1, 5, 15 min) at start: {format_load()}")
    note = " (--quick: tiny sizes, numbers are not meaningful)" if args.quick else ""
    print(
        f"- Rounds: {args.repeats}, one fresh process per fit, contenders "
        f"interleaved; medians and (min – max) reported{note}"
    )
    print()


def print_results(results, size, epochs):
    """The time and memory table, the paired ratios and the targets."""
    n, d = size["n_samples"], size["n_features"]
    dense_gb = n * d * 4 / 1e9
    print("## Time per epoch and peak memory\n")
    rows = []
    for key, name in CONTENDERS.items():
        runs = results[key]
        rows.append(
            [
                name,
                median_range([per_epoch(r, "epoch_wall") for r in runs]),
                median_range([per_epoch(r, "epoch_cpu") for r in runs]),
                median_range([r["setup"] for r in runs], "{:.2f}"),
                median_range([r["rss_before_fit"] / 1e9 for r in runs], "{:.2f}"),
                median_range([r["peak"] / 1e9 for r in runs], "{:.2f}"),
            ]
        )
    header = [
        "Contender",
        "Wall s / epoch",
        "CPU s / epoch",
        "Set-up s",
        "RSS before fit (GB)",
        "Peak RSS (GB)",
    ]
    print(markdown_table(header, rows))
    sparse_mb = results["e"][0]["x_sparse_bytes"] / 1e6
    generation_gb = max(r["generation_peak"] for rs in results.values() for r in rs)
    print(
        f"\nX takes {sparse_mb:.0f} MB as CSR; dense it would take "
        f"{dense_gb:,.1f} GB (n_samples × n_features × 4 bytes). Peak RSS is the "
        "whole process's (Python, torch, the data, the fit); generating the data "
        f"peaked at {generation_gb / 1e9:.2f} GB at most. Set-up: the fit's time "
        "outside its epochs (for the loops: the targets' codes, the network and "
        "the optimizer; torch's first-call costs fall there too). Per fit, the "
        f"median of its {epochs} epoch(s)."
    )

    ratios = {
        pair: [
            per_epoch(top, "epoch_wall") / per_epoch(bottom, "epoch_wall")
            for top, bottom in zip(results[pair[0]], results[pair[1]], strict=True)
        ]
        for pair in (("e", "s"), ("s", "h"), ("e", "h"))
    }
    cpu_ratio = [
        per_epoch(top, "epoch_cpu") / per_epoch(bottom, "epoch_cpu")
        for top, bottom in zip(results["e"], results["s"], strict=True)
    ]
    print("\n## Paired ratios of wall time per epoch\n")
    names = {"e": "(e)", "h": "(h)", "s": "(s)"}
    rows = [
        [f"{names[a]} / {names[b]}", median_range(values, "{:.2f}×")]
        for (a, b), values in ratios.items()
    ]
    rows.append(["(e) / (s), CPU time", median_range(cpu_ratio, "{:.2f}×")])
    print(markdown_table(["Ratio", "Median (min – max) over rounds"], rows))

    time_ratio = statistics.median(ratios["e", "s"])
    peak_gb = max(r["peak"] for r in results["e"]) / 1e9
    sparse_faster = statistics.median(ratios["s", "h"]) < 1
    print("\n## Targets\n")
    checks = [
        (
            "time per epoch, (e) / (s) (both multiply sparsely)",
            f"{time_ratio:.2f}×",
            f"≤ {TARGETS['time_ratio']}×",
            time_ratio <= TARGETS["time_ratio"],
        ),
        (
            "peak memory of (e)'s fit (largest of the rounds)",
            f"{peak_gb:.2f} GB (dense X: {dense_gb:,.1f} GB)",
            f"< {TARGETS['peak_gb']} GB",
            peak_gb < TARGETS["peak_gb"],
        ),
    ]
    rows = [[*check[:3], "yes" if check[3] else "**no**"] for check in checks]
    print(markdown_table(["Metric", "Measured", "Target", "Met"], rows))
    faster = "(s), the sparse first layer" if sparse_faster else "(h), densified"
    print(
        f"\nThe faster way to feed the first layer here: {faster} "
        f"((s) / (h) = {statistics.median(ratios['s', 'h']):.2f}×)."
    )


# -- command line ------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument(
        "--repeats", type=int, default=None, help="rounds (default: 3, 1 with --quick)"
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epochs per fit (default: 1, 2 with --quick)",
    )
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=json.loads, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.epochs = args.epochs or (2 if args.quick else 1)
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        run_worker(args.worker, args.size, args.epochs)
        return
    size = QUICK_SIZE if args.quick else FULL_SIZE
    print_header(args, size)
    order = list(CONTENDERS)
    results = {key: [] for key in CONTENDERS}
    for round_ in range(args.repeats):
        for key in order[round_ % 3 :] + order[: round_ % 3]:
            results[key].append(measure(key, size, args.epochs))
    print_results(results, size, args.epochs)
    print(f"\nLoad average (1, 5, 15 min) at the end: {format_load()}")


if __name__ == "__main__":
    main()
