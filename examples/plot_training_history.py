"""
============================
Reading the training history
============================

Training records every epoch's losses in the fitted skorch net's
``net_.history``: the weighted objective ``train_loss`` and, per task,
``train_loss_<task>``. With ``early_stopping=True``, part of the training
rows is held out and the same losses are recorded on it as ``valid_loss``
and ``valid_loss_<task>``. Per-task curves show what a single loss hides:
which task is still learning, which one has started to overfit, and when
early stopping stopped.
"""

# %%
# Fit with early stopping
# -----------------------
# A 15 % validation split, and training stops once the validation loss has
# not improved for 15 epochs; the weights of the best epoch are restored.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from palmerpenguins import load_penguins
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_mtl import MultiTaskNetEstimator, Task, TrainingHistoryDisplay

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
    trunk_sizes=(128, 64),
    max_epochs=300,
    batch_size=32,
    lr=3e-3,
    early_stopping=True,
    validation_fraction=0.15,
    n_iter_no_change=15,
    random_state=0,
)
model = make_pipeline(preprocess, net).fit(X, Y)
print(f"stopped after {net.n_iter_} of {net.max_epochs} epochs")

# %%
# The history as a table
# ----------------------
# ``net_.history`` is a list with one dict per epoch; skorch indexes it by
# epoch and key, e.g. ``history[:, "valid_loss"]``. A DataFrame makes it
# easy to look at.
history = net.net_.history
columns = ["epoch", "train_loss", "valid_loss"] + [
    f"{prefix}_loss_{task}" for prefix in ("train", "valid") for task in net.task_names_
]
table = pd.DataFrame([{key: epoch[key] for key in columns} for epoch in history])
print(table.set_index("epoch").tail(3).T.round(3))
best_epoch = int(np.argmin(history[:, "valid_loss"])) + 1
print(f"best validation loss at epoch {best_epoch}; its weights were restored")

# %%
# Per-task curves
# ---------------
# :class:`~sklearn_mtl.TrainingHistoryDisplay` plots each task's training
# loss (solid) and validation loss (dashed) in one colour. The losses are
# cross-entropy for the classes and squared error on the standardized body
# mass, each before the task's weight is applied: comparable across epochs,
# roughly comparable across tasks.
display = TrainingHistoryDisplay.from_estimator(model, log_scale=True)
display.ax_.axvline(best_epoch, color="grey", linestyle=":", label="best epoch")
display.ax_.legend(ncols=2, fontsize="small", loc="upper right")
plt.show()

# %%
# A validation curve that turns up while its training curve keeps going
# down is a task that overfits. When one task does so long before the
# others, lower its weight or give it a smaller head, or add ``dropout`` or
# ``weight_decay``; a task whose curves both stay high may need a larger
# weight or head. The display takes ``tasks=[...]`` to plot a few tasks, and
# ``ax=`` to draw into an existing figure:
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
for ax, task in zip(axes, ["species", "sex"], strict=True):
    TrainingHistoryDisplay.from_estimator(model, tasks=[task], ax=ax)
    ax.set_title(task)
fig.tight_layout()
plt.show()
