"""
===========================================================
Mixture of experts: when tasks are only loosely related
===========================================================

Hard parameter sharing sends every task through one trunk. When the tasks
need different features, they compete for it. The Multi-gate
Mixture-of-Experts (MMoE, Ma et al., KDD 2018) replaces the trunk with
several experts and gives each task a gate that mixes them, so that
loosely related tasks can use different experts.

This example reproduces, in small, the paper's synthetic experiment: two
regression tasks whose weight vectors have a controlled cosine (their
*correlation*), plus sinusoidal terms. The paper finds that MMoE's
advantage over a shared bottom grows as the correlation falls. We compare
hard sharing, :class:`~sklearn_mtl.MMoE` and single-task networks, then
look at what the gates learned. The full experiment (more seeds and rows,
the one-gate mixture and CGC) is ``benchmarks/bench_architectures.py``.
"""

# %%
# Two tasks with a controlled correlation
# ---------------------------------------
# ``w_2 = p u_1 + sqrt(1 - p^2) u_2`` with ``w_1 = u_1`` and ``u_1 ⟂ u_2``:
# the cosine of the two weight vectors is ``p``. Each target is
# ``w . x`` plus ten sines of it, plus a little noise.
import matplotlib.pyplot as plt
import numpy as np

from sklearn_mtl import MMoE, MultiTaskNetEstimator, Task


def make_tasks(correlation, n_samples, n_features=20, seed=0):
    rng = np.random.RandomState(seed)
    u, _ = np.linalg.qr(rng.normal(size=(n_features, 2)))
    w1 = u[:, 0]
    w2 = correlation * u[:, 0] + np.sqrt(1 - correlation**2) * u[:, 1]
    alpha, beta = rng.normal(size=10), rng.normal(size=10)
    X = rng.normal(size=(n_samples, n_features)).astype(np.float32)
    Y = np.column_stack(
        [
            X @ w + np.sin(np.outer(X @ w, alpha) + beta).sum(1)
            + rng.normal(scale=0.1, size=n_samples)
            for w in (w1, w2)
        ]
    )  # fmt: skip
    return X[:1000], Y[:1000], X[1000:], Y[1000:]


# %%
# Three models
# ------------
# Hard sharing has a (64,) trunk; MMoE has 4 experts of (16,), about the
# same number of weights; the single-task baseline is one (64,) network per
# task. Every task has a small head of its own.
common = dict(max_epochs=25, batch_size=128, lr=5e-3, random_state=0)


def tasks(names=("y1", "y2")):
    return [(name, Task("regression", head_sizes=(8,))) for name in names]


def test_mse(correlation, seed):
    X, Y, X_test, Y_test = make_tasks(correlation, 2000, seed=seed)
    hard = MultiTaskNetEstimator(tasks(), trunk_sizes=(64,), **common).fit(X, Y)
    mmoe = MultiTaskNetEstimator(
        tasks(), architecture=MMoE(n_experts=4), trunk_sizes=(16,), **common
    ).fit(X, Y)
    single = [
        MultiTaskNetEstimator(tasks([f"y{k + 1}"]), trunk_sizes=(64,), **common)
        .fit(X, Y[:, k])
        .predict(X_test)
        for k in range(2)
    ]
    mse = {
        "hard sharing": ((hard.predict(X_test) - Y_test) ** 2).mean(),
        "MMoE": ((mmoe.predict(X_test) - Y_test) ** 2).mean(),
        "single-task": ((np.column_stack(single) - Y_test) ** 2).mean(),
    }
    return mse, mmoe


correlations = [1.0, 0.5, 0.0]
results, models = {}, {}
for p in correlations:
    runs = [test_mse(p, seed) for seed in (0, 1)]
    results[p] = {name: [mse[name] for mse, _ in runs] for name in runs[0][0]}
    models[p] = runs[0][1]
    print(p, {name: round(float(np.mean(v)), 3) for name, v in results[p].items()})

# %%
# Test loss against task correlation
# ----------------------------------
# Mean over two seeds, with their range.
fig, ax = plt.subplots(figsize=(5, 3.5))
for name in results[1.0]:
    means = [np.mean(results[p][name]) for p in correlations]
    spread = [np.ptp(results[p][name]) / 2 for p in correlations]
    ax.errorbar(correlations, means, yerr=spread, marker="o", capsize=3, label=name)
ax.set_xlabel("correlation of the tasks' weight vectors")
ax.set_ylabel("test MSE (mean of the two tasks)")
ax.invert_xaxis()
ax.legend()
fig.tight_layout()

# %%
# What the gates learned
# ----------------------
# ``gate_weights_`` holds each task's mean gate weight on each expert over
# the training rows (rows sum to one); ``gate_weights(X)`` computes it for
# any rows. When the tasks are alike, their gates look alike; as they drift
# apart, so do their gates. A column holding nearly all of every task's
# weight would be *expert collapse*: the tasks sharing one expert, as under
# hard sharing.
fig, axes = plt.subplots(1, len(correlations), figsize=(9, 2.5), sharey=True)
for ax, p in zip(axes, correlations):
    image = ax.imshow(models[p].gate_weights_, vmin=0, vmax=1, cmap="viridis")
    ax.set_title(f"correlation {p}")
    ax.set_xlabel("expert")
    ax.set_yticks([0, 1], ["y1", "y2"])
fig.colorbar(image, ax=axes, label="mean gate weight")
plt.show()

# %%
# How to read this
# ----------------
# The paper's finding is that MMoE's advantage over a shared bottom grows as
# the correlation falls. This small run does not show that: when we ran it,
# MMoE had the lowest test loss at every correlation, with its lead over
# hard sharing *shrinking* as the tasks drifted apart (about 0.18 at
# correlation 1, 0.06 at 0). Its edge here comes more from the experts and
# gates as an architecture (at this learning rate and size) than from task
# relations, and at 1,000 rows and two seeds much of it is seed-to-seed
# noise. The full benchmark (``benchmarks/bench_architectures.py``) needs
# twenty times the rows, the same sines for every seed, more epochs and ten
# seeds to see the paper's effect: there MMoE's lead over hard sharing is
# larger for correlations of 0.5 and 0 than for 1, while hard sharing
# itself never suffers negative transfer (see the benchmark page
# "Architectures"). So compare on your own data, with
# :func:`~sklearn_mtl.transfer_report` to see whether hard sharing hurts a
# task, and a
# :class:`~sklearn.model_selection.GridSearchCV` over
# ``architecture=[None, MMoE(...)]`` to choose.
