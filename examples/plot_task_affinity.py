"""
=================================================
Which tasks should learn together: task affinity
=================================================

Putting every task on one shared trunk helps the tasks that need the same
features and can hurt those that pull the trunk in other directions. Task
Affinity Grouping (TAG; Fifty et al., NeurIPS 2021) measures this during one
ordinary fit: every few steps, it takes a lookahead step of the shared trunk
on one task's loss and records how much every task's loss on the same batch
goes down (positive affinity) or up (negative). This example plants two
clusters of tasks in generated data, lets ``record_task_affinity`` find
them, and checks with :func:`~sklearn_mtl.task_grouping_report` whether the
proposed groups pay.
"""

# %%
# Two planted clusters of tasks
# -----------------------------
# Six regression targets: tasks ``a0``-``a2`` are noisy multiples of one
# latent factor of ``X``, tasks ``b0``-``b2`` of another, orthogonal one. A
# narrow trunk (4 units) cannot hold both factors comfortably, so the two
# clusters compete for it. The columns are interleaved so that the order
# gives nothing away.
import matplotlib.pyplot as plt
import numpy as np

from sklearn_mtl import (
    MultiTaskNetEstimator,
    Task,
    TaskAffinityDisplay,
    suggest_task_groups,
    task_grouping_report,
)

rng = np.random.RandomState(0)
n, n_features = 400, 8
X = rng.normal(size=(n, n_features))
wa, wb = rng.normal(size=n_features), rng.normal(size=n_features)
wb -= wb @ wa / (wa @ wa) * wa  # orthogonal factors
factors = {
    "a": np.tanh(X @ wa / np.linalg.norm(wa)),
    "b": np.tanh(X @ wb / np.linalg.norm(wb)),
}
names = ["a0", "b0", "a1", "b1", "a2", "b2"]
Y = np.column_stack(
    [
        rng.uniform(0.5, 1.5) * factors[name[0]] + 0.3 * rng.normal(size=n)
        for name in names
    ]
)

# %%
# Record the affinities during one fit
# ------------------------------------
# ``record_task_affinity=5`` measures every fifth training step. Recording
# does not change the fitted model; it costs one more forward and backward
# pass per measurement.
est = MultiTaskNetEstimator(
    tasks=[(name, Task("regression")) for name in names],
    trunk_sizes=(4,),
    max_epochs=10,
    batch_size=32,
    lr=1e-2,
    record_task_affinity=5,
    random_state=0,
).fit(X, Y)
print(np.round(1e3 * est.task_affinity_, 2))

# %%
# Groups from the affinities
# --------------------------
# :func:`~sklearn_mtl.suggest_task_groups` searches every partition of the
# six tasks into at most two groups for the one that maximises each task's
# mean affinity from its group-mates. It returns a label per task, which
# ``Task(group=...)`` takes as it is.
groups = suggest_task_groups(est, n_groups=2)
print(groups)

# %%
# The heat map, rows taking the step and columns receiving its effect, with
# the tasks reordered by group and each group outlined: red within the
# groups (the tasks help each other), blue between them (they conflict).
display = TaskAffinityDisplay.from_estimator(est, groups=groups)
display.ax_.set_title("Task affinity (TAG)")
plt.show()

# %%
# Does the grouping pay?
# ----------------------
# In each of three folds, :func:`~sklearn_mtl.task_grouping_report` fits
# all tasks on one trunk (recording the affinities), proposes groups from
# the fold's training rows, refits with a tower per group, and fits each
# task alone; then it scores every task on the fold's test rows (R² here).
report = task_grouping_report(
    est.set_params(record_task_affinity=None), X, Y, cv=3, record_task_affinity=5
)
print(report.round(3).to_string())
print(report.attrs["summary"])
