"""Task affinity (TAG): does it find planted task clusters, does grouping pay,
and what does recording cost?

Three tables (Markdown):

1. Planted clusters, 10 seeds: six regression tasks in two clusters (each
   cluster's tasks are noisy multiples of one latent factor of ``X``; the
   two factors are orthogonal and compete for a 4-unit trunk), 400 training
   and 400 test rows. Per seed: one fit of all tasks on the trunk with
   ``record_task_affinity=5`` ("together"), the groups of
   ``suggest_task_groups(n_groups=2)`` (recovered: exactly the two planted
   clusters), a refit with a tower per group ("grouped"), and one net per
   task ("alone"), each for 20 epochs. Test R² averaged over the tasks: mean
   ± standard deviation over the seeds, and the grouped model's gain over
   each other model paired by seed.
2. Cost of recording every 10 steps with 12 tasks on the CPU, one thread:
   synthetic data (4,096 rows, 50 features, binary and regression tasks
   alternating, 10 % of the labels missing), a (128, 64) trunk, batches of
   128 for 8 epochs (256 steps, 26 measurements). Fit time with recording
   over fit time without, the two alternating in each round: median and
   range over the rounds.
3. Real data (``--real``; skipped when the shared data sets are absent):
   Yeast's 14 labels (official split) and Tox21's 12 assays (a random
   80/20 split, needs rdkit): hard sharing with recording, TAG grouping
   (2 and 3 groups) and single-task nets; mean ROC-AUC over the tasks on the
   test rows, one seed.

``--quick`` shrinks everything (smoke test).

Run: ``python benchmarks/bench_task_affinity.py [--quick] [--real]``.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _data  # noqa: E402

from sklearn_mtl import (  # noqa: E402
    MultiTaskNetEstimator,
    Task,
    group_tasks,
    suggest_task_groups,
)

# -- planted clusters --------------------------------------------------------------


def planted_clusters(seed, n=800, per_cluster=3, n_features=8, noise=0.3):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, n_features))
    wa, wb = rng.normal(size=n_features), rng.normal(size=n_features)
    wb -= wb @ wa / (wa @ wa) * wa
    columns = []
    for w in (wa, wb):
        latent = np.tanh(X @ w / np.linalg.norm(w))
        for _ in range(per_cluster):
            columns.append(rng.uniform(0.5, 1.5) * latent + noise * rng.normal(size=n))
    return X, np.column_stack(columns)


PLANTED_NET = {
    "trunk_sizes": (4,),
    # 20 epochs: the first measurements, taken while the heads are still
    # random, weigh less in the average (10 epochs recovered 7 of 10 seeds)
    "max_epochs": 20,
    "lr": 1e-2,
    "batch_size": 32,
}


def mean_r2(est, X, Y):
    return float(np.mean(list(est.score_tasks(X, Y).values())))


def planted(quick):
    seeds = range(3 if quick else 10)
    rows = {"grouped": [], "together": [], "alone": []}
    recovered = 0
    truth = [0, 0, 0, 1, 1, 1]
    for seed in seeds:
        X, Y = planted_clusters(seed)
        train, test = slice(0, 400), slice(400, None)
        tasks = [(f"t{j}", Task("regression")) for j in range(Y.shape[1])]
        net = {**PLANTED_NET, "random_state": seed}
        together = MultiTaskNetEstimator(
            tasks=tasks, record_task_affinity=5, **net
        ).fit(X[train], Y[train])
        groups = suggest_task_groups(together, n_groups=2)
        recovered += list(groups.values()) == truth
        grouped = MultiTaskNetEstimator(tasks=group_tasks(tasks, groups), **net)
        grouped.fit(X[train], Y[train])
        alone = []
        for j, task in enumerate(tasks):
            single = MultiTaskNetEstimator(tasks=[task], **net)
            single.fit(X[train], Y[train, [j]])
            alone.append(mean_r2(single, X[test], Y[test, [j]]))
        rows["together"].append(mean_r2(together, X[test], Y[test]))
        rows["grouped"].append(mean_r2(grouped, X[test], Y[test]))
        rows["alone"].append(float(np.mean(alone)))
        print(
            f"  seed {seed}: groups {list(groups.values())}, R² grouped "
            f"{rows['grouped'][-1]:.3f}, together {rows['together'][-1]:.3f}, "
            f"alone {rows['alone'][-1]:.3f}",
            flush=True,
        )
    print(f"\nClusters recovered in {recovered} of {len(seeds)} seeds.\n")
    print(
        "| model | test R² (mean over tasks), mean ± std over seeds "
        "| grouped minus this model, paired by seed: mean ± std "
        "| seeds won by grouped |"
    )
    print("|---|---|---|---|")
    grouped = np.array(rows["grouped"])
    for name, values in rows.items():
        values = np.array(values)
        gain = grouped - values
        paired = "" if name == "grouped" else f"{gain.mean():+.3f} ± {gain.std():.3f}"
        won = "" if name == "grouped" else f"{int((gain > 0).sum())} of {len(gain)}"
        print(
            f"| {name} | {values.mean():.3f} ± {values.std():.3f} | {paired} | {won} |"
        )
    print()


# -- cost --------------------------------------------------------------------------


def synthetic(n_rows, n_tasks, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, 50)).astype(np.float32)
    Y = np.empty((n_rows, n_tasks))
    tasks = []
    for j in range(n_tasks):
        signal = X @ rng.normal(size=50) / 7 + 0.5 * rng.normal(size=n_rows)
        if j % 2 == 0:
            Y[:, j] = signal > 0
            tasks.append((f"t{j}", Task("classification")))
        else:
            Y[:, j] = signal
            tasks.append((f"t{j}", Task("regression")))
        Y[rng.random(n_rows) < 0.1, j] = np.nan
    return X, Y, tasks


def cost(quick):
    n_rows, epochs, rounds = (1024, 2, 2) if quick else (4096, 8, 5)
    X, Y, tasks = synthetic(n_rows, 12)
    net = {
        "tasks": tasks,
        "trunk_sizes": (128, 64),
        "batch_size": 128,
        "max_epochs": epochs,
        "random_state": 0,
    }
    MultiTaskNetEstimator(**net).fit(X[:256], Y[:256])  # warm up
    times = {None: [], 10: []}
    for r in range(rounds):
        for k in (None, 10) if r % 2 == 0 else (10, None):
            start = time.perf_counter()
            MultiTaskNetEstimator(record_task_affinity=k, **net).fit(X, Y)
            times[k].append(time.perf_counter() - start)
    ratios = [a / b for a, b in zip(times[10], times[None])]
    steps = epochs * -(-n_rows // 128)
    print(
        f"Cost of record_task_affinity=10, 12 tasks, {steps} steps, {rounds} rounds:\n"
    )
    print("| | fit time (s), median [min, max] | ratio to no recording |")
    print("|---|---|---|")
    for k, label in ((None, "no recording"), (10, "record_task_affinity=10")):
        t = times[k]
        ratio = (
            "1"
            if k is None
            else f"{statistics.median(ratios):.2f}× [{min(ratios):.2f}, "
            f"{max(ratios):.2f}]"
        )
        print(
            f"| {label} | {statistics.median(t):.2f} [{min(t):.2f}, {max(t):.2f}] "
            f"| {ratio} |"
        )
    print()


# -- real data -----------------------------------------------------------------


def mean_auc(est, X, Y):
    probas = est.predict_proba(X)
    scores = []
    for j, name in enumerate(Y.columns):
        mask = Y[name].notna().to_numpy()
        y = Y[name].to_numpy()[mask]
        if len(np.unique(y)) == 2:
            scores.append(roc_auc_score(y, probas[j][mask, 1]))
    return float(np.mean(scores))


def real(quick):
    sets = []
    for name, loader, split in (
        ("Yeast", _data.load_yeast, "official"),
        ("Tox21", _data.load_tox21, "random"),
    ):
        try:
            data = loader()
        except (_data.DataNotFound, ImportError) as exc:
            print(f"({name} skipped: {exc})")
            continue
        sets.append((name, data, split))
    if not sets:
        return
    print("| data | model | groups | test mean ROC-AUC | fit time (s) |")
    print("|---|---|---|---|---|")
    for name, data, split in sets:
        X = data.X.to_numpy(dtype=np.float32)
        Y = data.Y
        if split == "official":
            train, test = ~data.test_mask, data.test_mask
        else:
            rng = np.random.RandomState(0)
            test = rng.rand(len(X)) < 0.2
            train = ~test
        if quick:
            train = train & (np.cumsum(train) <= 600)
        net = {
            "trunk_sizes": (128, 64),
            "early_stopping": True,
            "max_epochs": 5 if quick else 100,
            "random_state": 0,
        }
        tasks = [(str(c), Task("classification")) for c in Y.columns]
        Y_train, Y_test = Y[train], Y[test]
        start = time.perf_counter()
        together = MultiTaskNetEstimator(
            tasks=tasks, record_task_affinity=10, **net
        ).fit(X[train], Y_train)
        elapsed = time.perf_counter() - start
        print(
            f"| {name} | hard sharing (recording) | 1 | "
            f"{mean_auc(together, X[test], Y_test):.4f} | {elapsed:.0f} |",
            flush=True,
        )
        for n_groups in (2, 3):
            groups = suggest_task_groups(together, n_groups=n_groups)
            start = time.perf_counter()
            grouped = MultiTaskNetEstimator(tasks=group_tasks(tasks, groups), **net)
            grouped.fit(X[train], Y_train)
            elapsed = time.perf_counter() - start
            sizes = np.bincount(list(groups.values()))
            print(
                f"| {name} | TAG grouping, n_groups={n_groups} | "
                f"{'+'.join(map(str, sizes))} | "
                f"{mean_auc(grouped, X[test], Y_test):.4f} | {elapsed:.0f} |",
                flush=True,
            )
        start = time.perf_counter()
        singles = []
        for task in tasks:
            single = MultiTaskNetEstimator(tasks=[task], **net)
            single.fit(X[train], Y_train[[task[0]]])
            singles.append(mean_auc(single, X[test], Y_test[[task[0]]]))
        elapsed = time.perf_counter() - start
        print(
            f"| {name} | single-task nets | {len(tasks)} | "
            f"{np.mean(singles):.4f} | {elapsed:.0f} |",
            flush=True,
        )
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--real", action="store_true", help="also Yeast and Tox21")
    parser.add_argument(
        "--only", choices=["planted", "cost", "real"], help="run one table"
    )
    args = parser.parse_args()
    if args.only in (None, "planted"):
        planted(args.quick)
    if args.only in (None, "cost"):
        cost(args.quick)
    if args.only == "real" or (args.only is None and args.real):
        real(args.quick)


if __name__ == "__main__":
    main()
