"""
=========================================
Tuning task weights with cross-validation
=========================================

A multi-task network minimizes the weighted sum of its tasks' losses. Each
task's ``weight`` says how much that task pulls on the shared trunk: raising
one task's weight usually helps that task, up to a point, and may cost the
others. The weights are hyperparameters like any other, reachable by name as
``<task>__weight``, so :class:`~sklearn.model_selection.GridSearchCV` can tune
them.

Here we learn the species, sex and body mass of the Palmer penguins, tune the
weight of the sex task, and plot each task's cross-validated score against
that weight. :func:`~sklearn_mtl.make_task_scorer` scores each task with its
own metric, on the penguins that have that label.
"""

# %%
# Data and model
# --------------
# Bill and flipper measurements and the island are the features; the
# numeric ones are imputed and scaled, the island is one-hot encoded.
import matplotlib.pyplot as plt
from palmerpenguins import load_penguins
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_mtl import MultiTaskNetEstimator, Task, make_task_scorer

penguins = load_penguins()
numeric = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm"]
X = penguins[numeric + ["island"]]
Y = penguins[["species", "sex", "body_mass_g"]]

preprocess = ColumnTransformer(
    [
        ("numeric", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
        ("island", OneHotEncoder(), ["island"]),
    ]
)
net = MultiTaskNetEstimator(
    tasks=[
        ("species", Task("classification")),
        ("sex", Task("classification")),
        ("body_mass_g", Task("regression")),
    ],
    trunk_sizes=(32,),
    max_epochs=40,
    batch_size=32,
    lr=3e-3,
    random_state=0,
)
model = make_pipeline(preprocess, net)

# %%
# One scorer per task
# -------------------
# Passing a dict of scorers to ``scoring`` makes the search record every
# task's score for every weight. ``refit`` names the score that picks the
# weight the final model is refitted with: here, the ROC-AUC of the sex task.
scoring = {
    "species accuracy": make_task_scorer("species", "accuracy"),
    "sex ROC-AUC": make_task_scorer("sex", "roc_auc"),
    "body mass R²": make_task_scorer("body_mass_g", "r2"),
}
weights = [0.1, 0.3, 1.0, 3.0, 10.0]
search = GridSearchCV(
    model,
    {"multitasknetestimator__sex__weight": weights},
    scoring=scoring,
    refit="sex ROC-AUC",
    cv=KFold(3, shuffle=True, random_state=0),
)
search.fit(X, Y)
print("best weight of the sex task:", search.best_params_)

# %%
# Score against weight
# --------------------
# Each panel shows one task's mean cross-validated score, with one standard
# deviation across folds, as the sex task's weight grows.
fig, axes = plt.subplots(1, 3, figsize=(11, 3.5), sharex=True)
for ax, name in zip(axes, scoring, strict=True):
    mean = search.cv_results_[f"mean_test_{name}"]
    std = search.cv_results_[f"std_test_{name}"]
    ax.errorbar(weights, mean, yerr=std, marker="o", capsize=3)
    ax.set_xscale("log")
    ax.set_xlabel("weight of the sex task")
    ax.set_title(name)
axes[1].axvline(search.best_params_["multitasknetestimator__sex__weight"], ls=":")
fig.tight_layout()
plt.show()

# %%
# How to read it: a weight matters when the task's own curve rises with it
# while the other tasks' curves stay flat (a free gain), or when they fall (a
# trade-off to settle by what the tasks are worth to you). On this small,
# easy data set the curves are nearly flat: the shared trunk has capacity
# for all three tasks, and the weights barely matter.
#
# The same search can tune several weights at once, e.g.
# ``{"multitasknetestimator__sex__weight": [...],
# "multitasknetestimator__body_mass_g__weight": [...]}``; with more than two
# weights, :class:`~sklearn.model_selection.RandomizedSearchCV` with
# ``scipy.stats.loguniform`` distributions covers the space more cheaply.
for name in scoring:
    score = search.cv_results_[f"mean_test_{name}"][search.best_index_]
    print(f"{name} at the best weight: {score:.3f}")
