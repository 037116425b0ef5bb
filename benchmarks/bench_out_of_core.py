"""Out-of-core training on a Dask cluster: a Dask array larger than a worker's memory.

A process-based ``distributed.LocalCluster`` with one single-threaded worker
limited to ``--memory-limit`` (1 GB by default) on the loopback interface
trains a ``MultiTaskNetEstimator`` on a Dask array ``X`` of ``--rows`` ×
``--features`` float32 (5,000,000 × 100, 2 GB, by default) and its targets.
Both are lazy: every block of ``--chunk-rows`` rows is generated from its own
seed by ``da.map_blocks``, from a fixed nonlinear signal (a random
tanh-network teacher) with three tasks: a binary and a 3-class
classification task and a regression task, each missing 10 % of its labels.
Neither array is ever materialized, on the client nor on the worker.

The training runs on the worker: the client submits one function that walks
the blocks (in a new random order each epoch), computes each block there
from the lazy graph, and calls ``partial_fit`` on it; the fitted estimator
comes back pickled. ``dask_ml.wrappers.Incremental`` would do the block walk
itself, but takes a single target column. Measured per run (one per seed):

- the worker's peak memory (its process RSS, sampled every 20 ms inside the
  worker, and every 0.25 s from the client with ``client.run``, which also
  reads the worker's status, to see whether it ever paused), against its limit;
- whether the worker was restarted (its process id before and after; the
  scheduler is told to allow no retries, so a killed worker fails the run);
- the wall time, and the rows per second of generating and training;
- per-task scores (accuracy, R²) on a held-out generated block.

The reference is an in-memory ``fit`` (early stopping on, up to
``--memory-epochs`` epochs) on the first ``--memory-rows`` rows of the same
data (200,000 by default), over the same seeds; the target is that the
out-of-core mean reaches the in-memory mean less one standard deviation over
seeds, for every task.

Torch and the BLAS use one thread, on the worker (its nanny sets
``OMP_NUM_THREADS=1``, the estimator ``num_threads=1``) and on the client.

Run from the repository root::

    python benchmarks/bench_out_of_core.py            # full size: 5M × 100, 3 seeds
    python benchmarks/bench_out_of_core.py --quick    # smoke test: tiny array
    python benchmarks/bench_out_of_core.py --rows 20000000 --epochs 2

The output is Markdown; the latest full run is in ``docs/scale_out.rst``.
"""

import argparse
import os
import platform
import resource
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import dask
import dask.array as da
import distributed
import numpy as np
import psutil
import sklearn
import skorch
import torch
from _speed import cpu_model, format_load, markdown_table, pinned_threads

from sklearn_mtl import MultiTaskNetEstimator, Task

REPO_ROOT = Path(__file__).resolve().parent.parent
TASKS = [
    ("binary", Task("classification")),
    ("three_class", Task("classification")),
    ("regression", Task("regression")),
]
# Float labels with NaN for the missing ones, so that X and Y are both plain
# float32 Dask arrays; the classes are given on the first partial_fit call
# since a block need not hold every class.
CLASSES = {"binary": [0.0, 1.0], "three_class": [0.0, 1.0, 2.0]}
METRICS = {"binary": "accuracy", "three_class": "accuracy", "regression": "R²"}
MISSING_RATE = 0.1
HIDDEN = 32  # the teacher network's width
SIGNAL_SEED = 12345  # the teacher: the same signal for every size and seed
DATA_SEED = 2026  # block i is drawn from (DATA_SEED, i)
TEST_BLOCK = 10**9  # the held-out block's index: no training block has it
CALL_TIMEOUT = 120  # seconds, for the cluster's and the client's calls

FULL_RUN = {
    "rows": 5_000_000,
    "features": 100,
    "chunk_rows": 50_000,
    "memory_limit": "1GB",
    "epochs": 1,
    "seeds": 3,
    "memory_rows": 200_000,
    "memory_epochs": 30,
    "test_rows": 100_000,
}
QUICK_RUN = {
    "rows": 20_000,
    "features": 20,
    "chunk_rows": 5_000,
    "memory_limit": "1GB",
    "epochs": 1,
    "seeds": 2,
    "memory_rows": 5_000,
    "memory_epochs": 2,
    "test_rows": 5_000,
}


# -- data ----------------------------------------------------------------------


def teacher(n_features):
    """The fixed signal's weights, drawn from SIGNAL_SEED."""
    rng = np.random.default_rng([SIGNAL_SEED, n_features])
    scale = 1.5 / np.sqrt(n_features)
    return {
        "hidden": (rng.standard_normal((n_features, HIDDEN)) * scale).astype(
            np.float32
        ),
        "binary": rng.standard_normal(HIDDEN) * 3 / np.sqrt(HIDDEN),
        "three_class": rng.standard_normal((HIDDEN, 3)) * 3 / np.sqrt(HIDDEN),
        "regression": rng.standard_normal(HIDDEN) / np.sqrt(HIDDEN),
    }


def make_block(index, n_rows, n_features):
    """Block ``index`` of the data: features and noisy labels of the three tasks.

    Each block has its own random stream, so any block can be generated
    anywhere, in any order, without the others.

    Returns
    -------
    X : ndarray of shape (n_rows, n_features), float32
    Y : ndarray of shape (n_rows, 3), float32
        Binary label (0/1), 3-class label (0..2), regression value; NaN marks
        a missing label.
    """
    weights = teacher(n_features)
    rng = np.random.default_rng([DATA_SEED, index])
    X = rng.standard_normal((n_rows, n_features), dtype=np.float32)
    hidden = np.tanh(X @ weights["hidden"]).astype(np.float64)
    Y = np.empty((n_rows, 3), dtype=np.float32)
    logit = hidden @ weights["binary"]
    Y[:, 0] = rng.random(n_rows) < 1 / (1 + np.exp(-logit))
    scores = hidden @ weights["three_class"] + rng.gumbel(size=(n_rows, 3))
    Y[:, 1] = np.argmax(scores, axis=1)
    Y[:, 2] = (
        hidden @ weights["regression"]
        + 0.5 * np.sin(2 * X[:, 0]) * X[:, 1]
        + 0.3 * rng.standard_normal(n_rows)
    )
    Y[rng.random((n_rows, 3)) < MISSING_RATE] = np.nan
    return X, Y


def _block_X(block_info=None, n_features=None):
    location = block_info[None]
    index, n_rows = location["chunk-location"][0], location["chunk-shape"][0]
    return make_block(index, n_rows, n_features)[0]


def _block_Y(block_info=None, n_features=None):
    location = block_info[None]
    index, n_rows = location["chunk-location"][0], location["chunk-shape"][0]
    return make_block(index, n_rows, n_features)[1]


def lazy_data(n_rows, n_features, chunk_rows):
    """Dask arrays ``X`` and ``Y``, generated block by block when computed.

    ``Y``'s block i comes from the same stream as ``X``'s block i, so a block
    is generated twice, once for each; that costs time, not memory, and keeps
    the two arrays independent graphs that read like those of a real data set.
    """
    chunks = da.core.normalize_chunks((chunk_rows,), (n_rows,))[0]
    X = da.map_blocks(
        _block_X,
        n_features=n_features,
        chunks=(chunks, (n_features,)),
        dtype=np.float32,
        meta=np.empty((0, n_features), dtype=np.float32),
    )
    Y = da.map_blocks(
        _block_Y,
        n_features=n_features,
        chunks=(chunks, (3,)),
        dtype=np.float32,
        meta=np.empty((0, 3), dtype=np.float32),
    )
    return X, Y


def in_memory_rows(n_rows, n_features, chunk_rows):
    """The first ``n_rows`` rows of the lazy data, generated here."""
    blocks = []
    for index, start in enumerate(range(0, n_rows, chunk_rows)):
        blocks.append(make_block(index, min(chunk_rows, n_rows - start), n_features))
    X, Y = zip(*blocks)
    return np.concatenate(X), np.concatenate(Y)


def make_estimator(seed, max_epochs=1):
    return MultiTaskNetEstimator(
        tasks=TASKS,
        trunk_sizes=(128, 64),
        batch_size=512,
        lr=1e-3,
        max_epochs=max_epochs,
        random_state=seed,
    )


# -- on the worker ---------------------------------------------------------------


class Lazy:
    """A Dask collection handed to a task as its lazy graph.

    A guard: computing the array before the task starts would bring all of
    it into the worker's memory. With distributed 2026.8 a Dask array passed
    bare to ``client.submit`` (or in a list) also reaches the task lazy; an
    object of a class of its own says so in the code, whatever a version of
    distributed does with the collections among a task's arguments.
    """

    def __init__(self, array):
        self.array = array


class PeakRSS:
    """The peak RSS of this process, sampled in a thread while the block runs."""

    def __init__(self, interval=0.02):
        self.interval, self.peak = interval, 0
        self._process, self._stop = psutil.Process(), threading.Event()

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self):
        self.start = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def train_on_worker(estimator, X, Y, classes, epochs, seed):
    """Run on the worker: ``epochs`` passes of ``partial_fit``, block by block.

    Each block is computed on this worker from the lazy graph with dask's
    synchronous scheduler, trained on, and dropped before the next one: one
    block is in memory at a time.

    Returns
    -------
    estimator : MultiTaskNetEstimator
        Fitted; pickled back to the client.
    stats : dict
        Peak and starting RSS in bytes, seconds spent generating and
        training, the rows trained on and the worker's process id.
    """
    X, Y = X.array, Y.array
    rng = np.random.default_rng(seed)
    generate = train = 0.0
    rows = 0
    with PeakRSS() as rss:
        for _ in range(epochs):
            # A new order every pass; the first block also fixes the
            # regression task's scaling, and with i.i.d. blocks any one is
            # representative.
            for index in rng.permutation(X.numblocks[0]):
                start = time.perf_counter()
                X_block, Y_block = dask.compute(
                    X.blocks[index], Y.blocks[index], scheduler="synchronous"
                )
                middle = time.perf_counter()
                estimator.partial_fit(X_block, Y_block, classes=classes)
                generate += middle - start
                train += time.perf_counter() - middle
                rows += len(X_block)
                del X_block, Y_block
    stats = {
        "rss_start": rss.start,
        "rss_peak": rss.peak,
        "generate_s": generate,
        "train_s": train,
        "rows": rows,
        "pid": os.getpid(),
    }
    return estimator, stats


def worker_state(dask_worker):
    """Run on the worker by ``client.run``: its RSS and status."""
    return psutil.Process().memory_info().rss, dask_worker.status.name


class WorkerWatch:
    """Samples the worker's RSS and status from the client, in a thread."""

    def __init__(self, client, interval=0.25):
        self.client, self.interval = client, interval
        self.peak, self.statuses, self.samples = 0, set(), 0
        self._stop = threading.Event()

    def _sample(self):
        while not self._stop.is_set():
            try:
                states = self.client.run(worker_state)
            except Exception:  # a worker gone between two samples
                self.statuses.add("unreachable")
            else:
                for rss, status in states.values():
                    self.peak = max(self.peak, rss)
                    self.statuses.add(status)
                self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=CALL_TIMEOUT)


def worker_pids(client):
    return sorted(client.run(os.getpid).values())


# -- runs ------------------------------------------------------------------------


def out_of_core_run(client, X, Y, epochs, seed, X_test, Y_test):
    """One out-of-core fit on the cluster's worker, measured."""
    pids = worker_pids(client)
    start = time.perf_counter()
    with WorkerWatch(client) as watch:
        future = client.submit(
            train_on_worker,
            make_estimator(seed),
            Lazy(X),
            Lazy(Y),
            CLASSES,
            epochs,
            seed,
            pure=False,
        )
        try:
            estimator, stats = future.result()
            error = None
        except Exception as exc:  # e.g. KilledWorker: it went over its limit
            estimator, stats, error = None, None, f"{type(exc).__name__}: {exc}"
    wall = time.perf_counter() - start
    restarted = error is not None or worker_pids(client) != pids
    if stats is not None:
        restarted |= [stats["pid"]] != pids
    scores = None
    if estimator is not None:
        with pinned_threads():
            scores = estimator.score_tasks(X_test, Y_test)
    return {
        "seed": seed,
        "wall_s": wall,
        "stats": stats,
        "watch_peak": watch.peak,
        "watch_samples": watch.samples,
        "paused": "paused" in watch.statuses,
        "statuses": sorted(watch.statuses),
        "restarted": restarted,
        "error": error,
        "scores": scores,
    }


def in_memory_run(X, Y, max_epochs, seed, X_test, Y_test):
    with pinned_threads():
        start = time.perf_counter()
        estimator = make_estimator(seed, max_epochs=max_epochs).fit(X, Y)
        wall = time.perf_counter() - start
        scores = estimator.score_tasks(X_test, Y_test)
    return {"seed": seed, "wall_s": wall, "epochs": estimator.n_iter_, "scores": scores}


def child_processes():
    # multiprocessing's resource tracker lives as long as this process, by
    # design; it is not the cluster's to stop.
    children = set()
    for process in psutil.Process().children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(process.cmdline()):
                children.add(process)
        except psutil.Error:  # gone, or a zombie
            pass
    return children


def stop_leftovers(processes):
    """Wait for the cluster's ``processes`` to end; kill and count those that don't."""
    _, alive = psutil.wait_procs(list(processes), timeout=CALL_TIMEOUT)
    for process in alive:
        process.kill()
    return len(alive)


def start_cluster(memory_limit):
    # One single-threaded worker process: its memory limit is the whole
    # budget; loopback only, and a free port for the dashboard (None would
    # still take 8787).
    cluster = distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        memory_limit=memory_limit,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    )
    client = distributed.Client(cluster, timeout=CALL_TIMEOUT)
    client.wait_for_workers(1, timeout=CALL_TIMEOUT)
    return cluster, client


# -- reporting -------------------------------------------------------------------


def mb(n_bytes):
    return f"{n_bytes / 1e6:,.0f}"


def mean_std(values):
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def code_revision():
    """The repository's commit, flagged when sklearn_mtl/ has uncommitted changes."""
    git = ["git", "-C", str(REPO_ROOT)]
    try:
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        changes = subprocess.run(
            [*git, "status", "--porcelain", "--", "sklearn_mtl", "benchmarks"],
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:  # no git
        return "unknown"
    return (commit or "unknown") + (" + uncommitted changes" if changes else "")


def print_header(args, X, limit_bytes):
    print("# sklearn_mtl out-of-core benchmark (Dask)\n")
    print(f"Command: `{shlex.join(['python', *sys.argv])}`\n")
    print(f"- Commit: {code_revision()}")
    memory = psutil.virtual_memory().total
    print(
        f"- CPU: {cpu_model()}; {os.cpu_count()} logical cores "
        f"({len(os.sched_getaffinity(0))} usable); {memory / 2**30:.0f} GiB memory"
    )
    print(
        f"- Python {platform.python_version()}, torch {torch.__version__}, "
        f"scikit-learn {sklearn.__version__}, skorch {skorch.__version__}, "
        f"dask {dask.__version__}, distributed {distributed.__version__}"
    )
    print(
        f"- Cluster: LocalCluster, 1 worker process × 1 thread, memory_limit="
        f"{args.memory_limit} ({mb(limit_bytes)} MB), loopback"
    )
    ratio = X.nbytes / limit_bytes
    print(
        f"- Data: X {X.shape[0]:,} × {X.shape[1]} float32 = {mb(X.nbytes)} MB "
        f"({ratio:.1f}× the worker's limit), {X.numblocks[0]} blocks of "
        f"{args.chunk_rows:,} rows, generated lazily per block; tasks binary, "
        f"3-class, regression, {MISSING_RATE:.0%} labels missing each"
    )
    print(
        "- Network: trunk (128, 64), batch 512, Adam lr 1e-3; out-of-core: "
        f"{args.epochs} pass(es) of partial_fit; in memory: fit on the first "
        f"{args.memory_rows:,} rows, early stopping, ≤ {args.memory_epochs} epochs"
    )
    print(f"- Test set: a held-out generated block of {args.test_rows:,} rows")
    print(f"- Seeds: {args.seeds}; load average (1, 5, 15 min): {format_load()}")
    if args.quick:
        print("- --quick: tiny sizes, the numbers are not meaningful")
    print()


def print_runs(runs, limit_bytes):
    print("## Out-of-core runs on the worker\n")
    header = [
        "seed",
        "rows trained",
        "wall s",
        "generate s",
        "partial_fit s",
        "rows/s",
        "worker RSS start MB",
        "worker peak RSS MB (in worker / client.run)",
        "peak / limit",
        "paused",
        "restarted",
    ]
    rows = []
    for run in runs:
        stats = run["stats"]
        if stats is None:
            rows.append([run["seed"], "—", f"{run['wall_s']:.1f}", *["—"] * 5])
            rows[-1] += ["yes" if run["paused"] else "no", "yes"]
            continue
        peak = max(stats["rss_peak"], run["watch_peak"])
        rows.append(
            [
                run["seed"],
                f"{stats['rows']:,}",
                f"{run['wall_s']:.1f}",
                f"{stats['generate_s']:.1f}",
                f"{stats['train_s']:.1f}",
                f"{stats['rows'] / run['wall_s']:,.0f}",
                mb(stats["rss_start"]),
                f"{mb(stats['rss_peak'])} / {mb(run['watch_peak'])}",
                f"{peak / limit_bytes:.0%}",
                "yes" if run["paused"] else "no",
                "yes" if run["restarted"] else "no",
            ]
        )
    print(markdown_table(header, rows))
    for run in runs:
        if run["error"]:
            print(f"\nSeed {run['seed']} failed: {run['error']}")
    samples = ", ".join(str(run["watch_samples"]) for run in runs)
    print(f"\nclient.run samples per run: {samples}.\n")


def print_quality(runs, memory_runs, n_memory):
    print("## Test-set quality: out-of-core against in memory\n")
    good = [run for run in runs if run["scores"] is not None]
    header = [
        "task",
        "metric",
        f"out-of-core, all rows (n={len(good)})",
        f"in memory, {n_memory:,} rows (n={len(memory_runs)})",
        "out-of-core ≥ in-memory mean − std",
    ]
    rows, met = [], {}
    for name, _ in TASKS:
        ooc = mean_std([run["scores"][name] for run in good]) if good else None
        mem = mean_std([run["scores"][name] for run in memory_runs])
        met[name] = ooc is not None and ooc[0] >= mem[0] - mem[1]
        rows.append(
            [
                name,
                METRICS[name],
                f"{ooc[0]:.4f} ± {ooc[1]:.4f}" if ooc else "—",
                f"{mem[0]:.4f} ± {mem[1]:.4f}",
                "yes" if met[name] else "**no**",
            ]
        )
    print(markdown_table(header, rows))
    times = ", ".join(
        f"{run['wall_s']:.1f} s ({run['epochs']} epochs)" for run in memory_runs
    )
    print(f"\nIn-memory fits: {times}. Scores: mean ± std over seeds.\n")
    return met


def print_targets(runs, met, limit_bytes, X):
    print("## Targets\n")
    finished = all(run["stats"] is not None for run in runs)
    peaks = [
        max(run["stats"]["rss_peak"], run["watch_peak"]) for run in runs if run["stats"]
    ]
    peak = max(peaks) if peaks else float("nan")
    checks = [
        (
            "array larger than the worker's limit",
            f"{mb(X.nbytes)} MB vs {mb(limit_bytes)} MB",
            X.nbytes > limit_bytes,
        ),
        (
            "worker peak RSS below its limit",
            f"{mb(peak)} MB ({peak / limit_bytes:.0%})" if peaks else "—",
            finished and peak < limit_bytes,
        ),
        (
            "worker never paused nor restarted",
            ", ".join(
                f"seed {r['seed']}: "
                + ("paused" if r["paused"] else "not paused")
                + (", restarted" if r["restarted"] else "")
                for r in runs
            ),
            finished and not any(r["paused"] or r["restarted"] for r in runs),
        ),
    ]
    for name, _ in TASKS:
        checks.append((f"quality, {name}", "see above", met[name]))
    rows = [[what, value, "yes" if ok else "**no**"] for what, value, ok in checks]
    print(markdown_table(["Target", "Measured", "Met"], rows))
    return all(ok for *_, ok in checks)


# -- command line ----------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    options = [
        ("--rows", int, "rows of the Dask array"),
        ("--features", int, "its columns (float32)"),
        ("--chunk-rows", int, "rows per block"),
        ("--memory-limit", str, "the worker's memory limit, as Dask reads it"),
        ("--epochs", int, "passes of partial_fit over the array"),
        ("--seeds", int, "seeds (runs) of each kind of fit"),
        ("--memory-rows", int, "rows of the in-memory reference fit"),
        ("--memory-epochs", int, "at most this many epochs for the in-memory fit"),
        ("--test-rows", int, "rows of the held-out test block"),
    ]
    for flag, kind, text in options:
        parser.add_argument(
            flag,
            type=kind,
            default=None,
            help=f"{text} (default: {FULL_RUN[flag[2:].replace('-', '_')]}, or "
            f"{QUICK_RUN[flag[2:].replace('-', '_')]} with --quick)",
        )
    args = parser.parse_args(argv)
    defaults = QUICK_RUN if args.quick else FULL_RUN
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv=None):
    args = parse_args(argv)
    limit_bytes = dask.utils.parse_bytes(args.memory_limit)
    X, Y = lazy_data(args.rows, args.features, args.chunk_rows)
    if X.nbytes <= limit_bytes and not args.quick:
        sys.exit(
            f"X is {mb(X.nbytes)} MB, not larger than the worker's limit of "
            f"{mb(limit_bytes)} MB: raise --rows or --features"
        )
    X_test, Y_test = make_block(TEST_BLOCK, args.test_rows, args.features)
    print_header(args, X, limit_bytes)
    seeds = range(args.seeds)
    # No retries: a worker killed for its memory fails the run, instead of
    # being replaced and the run started again unnoticed.
    before = child_processes()
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster, client = start_cluster(args.memory_limit)
        started = child_processes() - before
        try:
            runs = [
                out_of_core_run(client, X, Y, args.epochs, seed, X_test, Y_test)
                for seed in seeds
            ]
        finally:
            client.close(timeout=CALL_TIMEOUT)
            cluster.close(timeout=CALL_TIMEOUT)
            left = stop_leftovers(started)
    X_memory, Y_memory = in_memory_rows(
        args.memory_rows, args.features, args.chunk_rows
    )
    memory_runs = [
        in_memory_run(X_memory, Y_memory, args.memory_epochs, seed, X_test, Y_test)
        for seed in seeds
    ]
    print_runs(runs, limit_bytes)
    met = print_quality(runs, memory_runs, args.memory_rows)
    all_met = print_targets(runs, met, limit_bytes, X)
    # ru_maxrss is in KiB on Linux
    client_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        f"\nClient process peak RSS: {mb(client_peak)} MB (it holds the "
        f"in-memory subsample and the test block, never X). All targets met: "
        f"{'yes' if all_met else 'no'}."
    )
    print(f"\nCluster processes still running after closing it: {left}.")
    print(f"\nLoad average (1, 5, 15 min) at the end: {format_load()}")


if __name__ == "__main__":
    main()
