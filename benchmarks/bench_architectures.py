"""Architectures that learn task relations: the MMoE paper's experiment, and speed.

Three tables (Markdown):

1. Quality: the synthetic experiment of Ma et al. (KDD 2018, §4). Two
   regression tasks on ``d = 100`` standard normal features,
   ``y_k = w_k . x + sum_{i=1..10} sin(alpha_i w_k . x + beta_i) + noise``
   (noise sd 0.1), with unit weight vectors whose cosine is the
   *correlation* ``p`` (``w_1 = u_1``, ``w_2 = p u_1 + sqrt(1 - p^2) u_2``,
   ``u_1 ⟂ u_2``); ``alpha_i, beta_i`` are drawn once per data set from a
   standard normal (the paper leaves them as given constants). Hard
   sharing (a (128,) trunk), one-gate MoE (MMoE's experts with both tasks
   in one group, hence one gate), MMoE (8 experts of (16,): about the
   trunk's parameter count) and single-task networks ((128,) each), all
   with (8,) task heads, Adam at ``lr=1e-3``, batches of 128, a fixed
   number of epochs; CGC (PLE, one level, 1 task and 6 shared experts of
   (16,)) as an extra row. Test MSE (mean of the two tasks, in the
   targets' units) on held-out rows, mean ± standard deviation over seeds
   (each seed draws new data and initial weights; with ``--sine-seed`` the
   sines are the same for every seed). The run where MMoE's gain shows
   (see the architectures benchmark page): ``--correlations 1.0 0.5 0.0
   --seeds 10 --epochs 60 --train-rows 20000 --sine-seed 0``.
2. Speed: fit time of each architecture against the same network trained
   by a hand-written PyTorch loop (the same torch module from
   ``sklearn_mtl._experts``, ``nn.Linear`` heads, ``torch.optim.Adam``,
   mean squared error, shuffled batches), and against hard sharing. 4,096
   rows, 100 features, two regression tasks, batches of 128, 8 epochs
   (256 steps), one thread; the contenders run in a shuffled order in
   each round; median ratio over the rounds and its range.
3. DeepCTR-Torch's ``MMOE`` and ``PLE`` (when the wheel can be imported,
   see ``--deepctr``) at the same sizes, epochs and batch size: fit time
   relative to sklearn_mtl's.

``--quick`` shrinks everything (smoke test).
"""

import argparse
import contextlib
import io
import os
import random
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sklearn_mtl import PLE, CrossStitch, MMoE, MultiTaskNetEstimator, Task
from sklearn_mtl import TaskAttention as Attention
from sklearn_mtl._experts import make_architecture


def make_synthetic(
    correlation, n_samples, n_features=100, n_sines=10, seed=0, sine_seed=None
):
    """The MMoE paper's two regression tasks with weight cosine ``correlation``.

    The paper's sines have given constants ``alpha_i, beta_i``; here they
    are drawn from a standard normal, with the data set (``sine_seed=None``:
    a new shape of function each seed) or once from ``sine_seed`` (the same
    function for every seed, which then differ only in the weight vectors'
    directions, the rows, the noise and the initial weights).
    """
    rng = np.random.RandomState(seed)
    u, _ = np.linalg.qr(rng.normal(size=(n_features, 2)))
    w1 = u[:, 0]
    w2 = correlation * u[:, 0] + np.sqrt(1 - correlation**2) * u[:, 1]
    # Drawn either way, so that the rows below are the same with or without
    # ``sine_seed``.
    alpha, beta = rng.normal(size=n_sines), rng.normal(size=n_sines)
    if sine_seed is not None:
        sines = np.random.RandomState(sine_seed)
        alpha, beta = sines.normal(size=n_sines), sines.normal(size=n_sines)
    X = rng.normal(size=(n_samples, n_features)).astype(np.float32)
    Y = []
    for w in (w1, w2):
        z = X @ w
        y = z + np.sin(np.outer(z, alpha) + beta).sum(1)
        Y.append(y + rng.normal(scale=0.1, size=n_samples))
    return X, np.column_stack(Y)


def quality_models(epochs, lr):
    """(label, factory of a list of (estimator, task columns)) of table 1."""
    # The paper's setting: a fixed number of epochs, no dropout (not the
    # estimator's defaults, which stop early from 1,000 rows).
    common = dict(
        max_epochs=epochs, batch_size=128, lr=lr, num_threads=1,
        early_stopping=False, dropout=0.0,
    )  # fmt: skip
    heads = dict(kind="regression", head_sizes=(8,))

    def tasks(group=None):
        return [(n, Task(group=group, **heads)) for n in ("y1", "y2")]

    def hard(seed):
        est = MultiTaskNetEstimator(
            tasks(), trunk_sizes=(128,), random_state=seed, **common
        )
        return [(est, [0, 1])]

    def arch(architecture, group=None):
        def make(seed):
            est = MultiTaskNetEstimator(
                tasks(group), architecture=architecture, trunk_sizes=(16,),
                random_state=seed, **common,
            )  # fmt: skip
            return [(est, [0, 1])]

        return make

    def single(seed):
        return [
            (
                MultiTaskNetEstimator(
                    [(n, Task(**heads))],
                    trunk_sizes=(128,),
                    random_state=seed,
                    **common,
                ),
                [j],
            )
            for j, n in enumerate(("y1", "y2"))
        ]

    return [
        ("hard sharing (128,)", hard),
        ("one-gate MoE, 8 × (16,)", arch(MMoE(n_experts=8), group="all")),
        ("MMoE, 8 × (16,)", arch(MMoE(n_experts=8))),
        ("CGC (PLE), 1 + 6 × (16,)", arch(PLE(n_shared_experts=6))),
        ("single-task (128,) each", single),
    ]


def run_quality(correlations, seeds, n_train, n_test, epochs, lr=1e-3, sine_seed=None):
    models = quality_models(epochs, lr)
    results = {(label, p): [] for label, _ in models for p in correlations}
    gates = {}
    for p in correlations:
        for seed in seeds:
            X, Y = make_synthetic(p, n_train + n_test, seed=seed, sine_seed=sine_seed)
            Xtr, Ytr, Xte, Yte = X[:n_train], Y[:n_train], X[n_train:], Y[n_train:]
            for label, make in models:
                errors = []
                for est, cols in make(seed):
                    est.fit(Xtr, Ytr[:, cols] if len(cols) > 1 else Ytr[:, cols[0]])
                    pred = est.predict(Xte).reshape(len(Xte), -1)
                    errors += list(((pred - Yte[:, cols]) ** 2).mean(0))
                    if label.startswith("MMoE") and seed == seeds[0]:
                        gates[p] = est.gate_weights_
                results[label, p].append(float(np.mean(errors)))
                print(
                    f"p={p} seed={seed} {label}: {results[label, p][-1]:.4f}",
                    file=sys.stderr,
                    flush=True,
                )
    print("## The MMoE paper's synthetic experiment: test MSE (mean of 2 tasks)\n")
    print(
        f"{n_train} training and {n_test} test rows, {epochs} epochs at lr={lr} "
        "(no early stopping, no dropout), "
        + (
            "sines drawn per data set, "
            if sine_seed is None
            else f"the same sines for every seed (drawn from seed {sine_seed}), "
        )
        + f"{len(seeds)} seeds; mean ± sd over seeds.\n"
    )
    print("| model | " + " | ".join(f"p = {p}" for p in correlations) + " |")
    print("|---|" + "---:|" * len(correlations))
    for label, _ in models:
        cells = [
            f"{np.mean(results[label, p]):.3f} ± {np.std(results[label, p]):.3f}"
            for p in correlations
        ]
        print(f"| {label} | " + " | ".join(cells) + " |")
    hard, mmoe = models[0][0], models[2][0]
    print("\nMMoE's gain over hard sharing (hard − MMoE, mean ± sd over seeds):\n")
    for p in correlations:
        gain = np.array(results[hard, p]) - np.array(results[mmoe, p])
        spread = max(np.std(results[hard, p]), np.std(results[mmoe, p]))
        verdict = "beyond" if gain.mean() > spread else "within"
        print(
            f"- p = {p}: {gain.mean():+.3f} ± {gain.std():.3f} "
            f"({verdict} the larger seed spread, {spread:.3f})"
        )
    print("\nMMoE's mean gate weights (tasks × experts), first seed:\n")
    for p, g in gates.items():
        print(
            f"- p = {p}: " + " / ".join(" ".join(f"{v:.2f}" for v in row) for row in g)
        )
    print()
    return results


# -- speed: the estimator against a hand-written loop -----------------------------

SPEED_ARCHITECTURES = [
    ("hard sharing (64,)", None),
    ("MMoE 4 × (64,)", MMoE(n_experts=4, expert_sizes=(64,))),
    (
        "CGC 1 + 1 × (64,)",
        PLE(n_shared_experts=1, n_task_experts=1, expert_sizes=(64,)),
    ),
    ("PLE 2 levels, 1 + 1 × (64,)", PLE(n_levels=2, expert_sizes=(64,))),
    ("cross-stitch (64, 64)", CrossStitch(expert_sizes=(64, 64))),
    ("task attention (64,)", Attention(expert_sizes=(64,))),
]


class HandNet(nn.Module):
    """The architecture's trunk and one linear head per task, written plainly."""

    def __init__(self, architecture, n_features, n_tasks):
        super().__init__()
        if architecture is None:
            self.trunk = nn.Sequential(nn.Linear(n_features, 64), nn.ReLU())
            width, self.per_task = 64, False
        else:
            name, params = architecture._module_params((64,), None)
            self.trunk = make_architecture(
                name, n_features, n_tasks, "relu", 0.0, params
            )
            width, self.per_task = self.trunk.out_features, True
        self.heads = nn.ModuleList([nn.Linear(width, 1) for _ in range(n_tasks)])

    def forward(self, X):
        h = self.trunk(X)
        if self.per_task:
            return [head(h[k]) for k, head in enumerate(self.heads)]
        return [head(h) for head in self.heads]


def hand_fit(architecture, X, Y, epochs, batch_size, seed):
    torch.manual_seed(seed)
    net = HandNet(architecture, X.shape[1], Y.shape[1])
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    X, Y = torch.as_tensor(X), torch.as_tensor(Y, dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=generator)
        for start in range(0, len(X), batch_size):
            rows = order[start : start + batch_size]
            outputs = net(X[rows])
            loss = sum(
                ((out[:, 0] - Y[rows, k]) ** 2).mean() for k, out in enumerate(outputs)
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return net


def estimator_fit(architecture, X, Y, epochs, batch_size, seed):
    # The hand loops' training: every row, no dropout, no validation pass.
    est = MultiTaskNetEstimator(
        [(f"t{k}", Task("regression")) for k in range(Y.shape[1])],
        architecture=architecture, trunk_sizes=(64,), max_epochs=epochs,
        batch_size=batch_size, random_state=seed, num_threads=1,
        early_stopping=False, dropout=0.0,
    )  # fmt: skip
    return est.fit(X, Y)


def timed(fit):
    """Wall and process CPU seconds of ``fit()``.

    CPU time is what the fit itself used: on a machine shared with other
    jobs it is the steadier of the two.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    fit()
    return time.perf_counter() - wall, time.process_time() - cpu


def ratios(a, b, which):
    """Per-round ratios of two contenders' times (0: wall, 1: CPU)."""
    return [x[which] / y[which] for x, y in zip(a, b)]


def median(times, which=0):
    return statistics.median(t[which] for t in times)


def ratio_cell(ratios):
    return f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})"


def run_speed(n_rounds, n_rows, epochs, deepctr_path):
    torch.set_num_threads(1)
    X, Y = make_synthetic(0.5, n_rows, seed=0)
    batch = 128
    contenders = {}
    for label, arch in SPEED_ARCHITECTURES:
        contenders[label, "est"] = lambda a=arch: estimator_fit(
            a, X, Y, epochs, batch, 0
        )
        contenders[label, "hand"] = lambda a=arch: hand_fit(a, X, Y, epochs, batch, 0)
    deepctr = load_deepctr(deepctr_path)
    if deepctr is not None:
        contenders["MMoE 4 × (64,)", "deepctr"] = lambda: deepctr_fit(
            deepctr, "MMOE", X, Y, epochs, batch
        )
        contenders["CGC 1 + 1 × (64,)", "deepctr"] = lambda: deepctr_fit(
            deepctr, "PLE", X, Y, epochs, batch
        )
    for fit in contenders.values():  # warm up: imports, first allocations
        fit()
    times = {key: [] for key in contenders}
    rng = random.Random(0)
    for _ in range(n_rounds):
        order = list(contenders)
        rng.shuffle(order)
        for key in order:
            times[key].append(timed(contenders[key]))
    steps = epochs * -(-n_rows // batch)
    print("## Fit time: each architecture against a hand-written loop\n")
    print(
        f"{n_rows} rows, 100 features, 2 regression tasks, batches of {batch}, "
        f"{epochs} epochs ({steps} steps), one thread, {n_rounds} rounds; "
        "median (range) over rounds of the paired ratios; load average at the "
        f"start {os.getloadavg()[0]:.1f}.\n"
    )
    print(
        "| architecture | sklearn_mtl fit (s) | hand-written loop (s) | "
        "sklearn_mtl / hand, wall | ... CPU | sklearn_mtl / hard sharing, CPU |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    hard = times[SPEED_ARCHITECTURES[0][0], "est"]
    for label, _ in SPEED_ARCHITECTURES:
        est, hand = times[label, "est"], times[label, "hand"]
        print(
            f"| {label} | {median(est):.3f} | {median(hand):.3f} "
            f"| {ratio_cell(ratios(est, hand, 0))} "
            f"| {ratio_cell(ratios(est, hand, 1))} "
            f"| {ratio_cell(ratios(est, hard, 1))} |"
        )
    print()
    if deepctr is None:
        return times
    print("## Against DeepCTR-Torch (same sizes, epochs and batch size)\n")
    print(
        "| model | sklearn_mtl fit (s) | DeepCTR-Torch fit (s) | "
        "DeepCTR / sklearn_mtl, wall | ... CPU |"
    )
    print("|---|---:|---:|---:|---:|")
    for label, name in [("MMoE 4 × (64,)", "MMOE"), ("CGC 1 + 1 × (64,)", "PLE")]:
        est, other = times[label, "est"], times[label, "deepctr"]
        print(
            f"| {name} ({label}) | {median(est):.3f} | {median(other):.3f} | "
            f"{ratio_cell(ratios(other, est, 0))} | "
            f"{ratio_cell(ratios(other, est, 1))} |"
        )
    print()
    return times


# -- DeepCTR-Torch ------------------------------------------------------------------


def load_deepctr(path):
    """deepctr_torch from ``path`` (an unpacked wheel), or None with a line why."""
    if path is not None:
        sys.path.insert(0, str(path))
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # its version check
            import deepctr_torch.models as models
        from deepctr_torch.inputs import DenseFeat
    except ImportError as exc:
        print(
            f"(DeepCTR-Torch is not importable ({exc}): its rows are left out. "
            "`pip download deepctr-torch --no-deps`, unzip the wheel and pass "
            "--deepctr <folder>.)\n"
        )
        return None
    return models, DenseFeat


def deepctr_fit(deepctr, name, X, Y, epochs, batch_size):
    models, DenseFeat = deepctr
    columns = [DenseFeat("x", X.shape[1])]
    sizes = dict(
        expert_dnn_hidden_units=(64,), gate_dnn_hidden_units=(),
        tower_dnn_hidden_units=(), task_types=("regression", "regression"),
        task_names=("t0", "t1"), l2_reg_embedding=0.0, seed=0,
    )  # fmt: skip
    if name == "MMOE":
        model = models.MMOE(columns, num_experts=4, **sizes)
    else:
        model = models.PLE(
            columns, shared_expert_num=1, specific_expert_num=1, num_levels=1, **sizes
        )
    model.compile("adam", loss=["mse", "mse"])
    # It prints its device and a line per fit whatever verbose says.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        model.fit({"x": X}, Y, batch_size=batch_size, epochs=epochs, verbose=0)
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--sections", default="quality,speed")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20, help="of table 1")
    parser.add_argument("--lr", type=float, default=1e-3, help="of table 1")
    parser.add_argument(
        "--train-rows", type=int, default=2000, help="of table 1 (test rows: 2,000)"
    )
    parser.add_argument(
        "--correlations", type=float, nargs="+", default=[1.0, 0.9, 0.5, 0.0]
    )
    parser.add_argument(
        "--sine-seed", type=int, default=None,
        help="of table 1: draw the sines once, from this seed, for every data "
        "set (default: a new draw with each)",
    )  # fmt: skip
    parser.add_argument(
        "--deepctr", type=Path, default=None,
        help="folder holding an unpacked deepctr-torch wheel (never installed)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    sections = set(args.sections.split(","))
    torch.set_num_threads(1)
    if "quality" in sections:
        if args.quick:
            run_quality([1.0, 0.0], [0], n_train=256, n_test=128, epochs=2)
        else:
            run_quality(
                args.correlations, list(range(args.seeds)),
                n_train=args.train_rows, n_test=2000, epochs=args.epochs,
                lr=args.lr, sine_seed=args.sine_seed,
            )  # fmt: skip
    if "speed" in sections:
        if args.quick:
            run_speed(1, n_rows=256, epochs=1, deepctr_path=args.deepctr)
        else:
            run_speed(args.rounds, n_rows=4096, epochs=8, deepctr_path=args.deepctr)


if __name__ == "__main__":
    main()
