"""
=====================================
Learning from partially labelled rows
=====================================

Real target tables have gaps: a lab measured one property of a molecule but
not another; a survey respondent skipped a question. A single-output model
per target uses each row where its own label is known, but loses what the
targets share. A plain multi-output model needs complete rows, so rows with
any gap are dropped, and every target loses them.

:class:`~sklearn_mtl.MultiTaskNetEstimator` needs neither: a missing label
(NaN, None or ``pandas.NA``) only leaves that (row, task) pair out of that
task's loss. Every row still trains the shared trunk through the labels it
has.

We hide most of the penguins' sex labels and compare two ways to train on
what is left: keeping every row, or dropping the rows whose sex is unknown.
"""

# %%
# Hide sex labels
# ---------------
# We keep a fraction of the training penguins' sex labels and set the rest
# to None. Species and body mass stay fully labelled.
import matplotlib.pyplot as plt
import numpy as np
from palmerpenguins import load_penguins
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_mtl import MultiTaskNetEstimator, Task, make_task_scorer

penguins = load_penguins()
numeric = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm"]
X = penguins[numeric + ["island"]]
Y = penguins[["species", "sex", "body_mass_g"]]
X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.3, random_state=0)


def hide_sex_labels(Y, fraction_kept, seed=0):
    """A copy of ``Y`` keeping only ``fraction_kept`` of its sex labels."""
    Y = Y.copy()
    hidden = np.random.default_rng(seed).uniform(size=len(Y)) > fraction_kept
    Y.loc[hidden, "sex"] = None
    return Y


print(hide_sex_labels(Y_train, 0.25).isna().sum().to_string())

# %%
# The model
# ---------
# Nothing in the model is specific to missing labels.


def make_model():
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
        max_epochs=60,
        batch_size=32,
        lr=3e-3,
        random_state=0,
    )
    return make_pipeline(preprocess, net)


# %%
# Keep the rows, or drop them
# ---------------------------
# For each fraction of sex labels kept, we fit one model on all training
# rows and one on the rows whose sex is known. Task scorers evaluate each
# task on the test penguins that have its label: the sex task by ROC-AUC,
# body mass by R².
sex_auc = make_task_scorer("sex", "roc_auc")
mass_r2 = make_task_scorer("body_mass_g", "r2")
fractions = [0.1, 0.25, 0.5, 1.0]
scores = {"keep rows": [], "drop rows": []}
for fraction in fractions:
    Y_partial = hide_sex_labels(Y_train, fraction)
    complete = Y_partial.notna().all(axis=1)
    for strategy, rows in [("keep rows", slice(None)), ("drop rows", complete)]:
        model = make_model().fit(X_train[rows], Y_partial[rows])
        scores[strategy].append(
            (sex_auc(model, X_test, Y_test), mass_r2(model, X_test, Y_test))
        )

# %%
# With few sex labels, dropping rows starves every task: body mass, whose
# labels were all there, is learned from a fraction of the penguins, and its
# R² falls. Keeping the rows, body mass is learned from all of them whatever
# the fraction. The sex task scores about the same either way: what limits
# it is the number of its own labels.
fig, (ax_sex, ax_mass) = plt.subplots(1, 2, figsize=(9, 3.5), sharex=True)
for strategy, values in scores.items():
    sex, mass = np.array(values).T
    ax_sex.plot(fractions, sex, marker="o", label=strategy)
    ax_mass.plot(fractions, mass, marker="o", label=strategy)
ax_sex.set(title="sex: test ROC-AUC", xlabel="fraction of sex labels kept")
ax_mass.set(title="body mass: test R²", xlabel="fraction of sex labels kept")
ax_sex.legend()
fig.tight_layout()
plt.show()

# %%
# Scoring with missing labels
# ---------------------------
# Scores skip missing labels too: ``score_tasks`` and the task scorers
# evaluate each task on the rows that have its label, so a test set with
# gaps needs no cleaning either.
Y_test_partial = hide_sex_labels(Y_test, 0.5, seed=1)
model = make_model().fit(X_train, hide_sex_labels(Y_train, 0.5))
print(
    f"sex ROC-AUC on the labelled half of the test set: "
    f"{sex_auc(model, X_test, Y_test_partial):.3f}"
)
print(model[-1].score_tasks(model[:-1].transform(X_test), Y_test_partial))
