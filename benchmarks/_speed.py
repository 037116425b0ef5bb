"""What the speed benchmark's sections share: data, contenders, timing statistics.

- the synthetic data set (50 features; a binary, a 5-class and a regression
  task, each missing 10 % of its labels) and its training codes;
- the four contenders, each fitting on raw ``(X, y)`` with its own data
  preparation: (a) the reference hand-written PyTorch loop (the benchmark's
  one implementation of the network and masked loss, which (b) reuses),
  (b) plain skorch, (c) scikit-learn's ``MLPRegressor``, (d)
  ``MultiTaskNetEstimator``;
- timing and statistics: wall and CPU time of a call, thread pinning, paired
  ratios over rounds and a bootstrap interval of their median;
- the Markdown table and the description of the machine.

Used by ``bench_speed.py`` and its sections (``_contender_sections.py``,
``_estimator_sections.py``).
"""

import os
import platform
import statistics
import time
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from skorch import NeuralNet
from threadpoolctl import threadpool_limits
from torch import nn
from torch.nn import functional as F

from sklearn_mtl import MultiTaskNetEstimator, Task

N_THREADS = 1
N_FEATURES = 50
N_CLASSES = (2, 5)  # the two classification tasks; the third task regresses
N_TASKS = len(N_CLASSES) + 1
MISSING_RATE = 0.1
TRUNK_SIZES = (256, 256)
LR = 1e-3
BATCH_SIZE = 256
N_BOOTSTRAP = 5_000

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
    y = np.empty((n_samples, N_TASKS))
    y[:, 0] = z[:, 0] > 0
    y[:, 1] = np.argmax(z[:, 1:6], axis=1)
    y[:, 2] = 10.0 + 3.0 * z[:, 6] + rng.standard_normal(n_samples, dtype=np.float32)
    y[rng.random((n_samples, N_TASKS)) < MISSING_RATE] = np.nan
    return X, y


def reference_codes(y):
    """float32 training codes of (a)-(c): class indices as is, regression
    standardized, NaN for a missing label."""
    codes = y.astype(np.float32)
    reg = codes[:, 2]
    codes[:, 2] = (reg - np.nanmean(reg)) / np.nanstd(reg)
    return codes


# -- (a) the reference hand-written loop, its network and masked loss ----------


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


def fit_reference(X, y, epochs, seed=0):
    """(a) Hand-written loop: slice pre-built tensors, fresh permutation per epoch."""
    torch.manual_seed(seed)
    X_t = torch.from_numpy(X)
    y_t = torch.from_numpy(reference_codes(y))
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


# -- (b), (c), (d) -------------------------------------------------------------


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
    return net.fit(X, reference_codes(y))


def fit_sklearn_mlp(X, y, epochs, seed=0):
    """(c) MLPRegressor on the 3 codes; missing labels filled with the column mean."""
    codes = reference_codes(y)
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


def warm_up(fitters):
    """Fit each of ``fitters`` once on 512 rows, untimed.

    First-call costs (torch's lazy initialization, imports) then stay out of
    the timings.
    """
    X, y = make_data(512, seed=1)
    for fit in fitters.values():
        fit(X, y, 1)


# -- timing and statistics -----------------------------------------------------


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


def pinned_threads():
    """Context in which torch and every BLAS/OpenMP pool use N_THREADS threads."""
    torch.set_num_threads(N_THREADS)
    return threadpool_limits(N_THREADS)


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


# -- reporting -----------------------------------------------------------------


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def cpu_model():
    """The CPU's model name, from /proc/cpuinfo where there is one."""
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
