"""
============================================
Quickstart: three penguin targets, one model
============================================

The Palmer penguins data (shipped by the ``palmerpenguins`` package) describe
344 penguins. From bill and flipper measurements and the island, we learn three
targets at once:

- ``species``: 3 classes;
- ``sex``: 2 classes, unknown for 11 penguins;
- ``body_mass_g``: a number, unknown for 2 penguins.

One :class:`~sklearn_mtl.MultiTaskNetEstimator` learns all three through a
shared trunk. Missing labels need no special handling: a penguin of unknown
sex still teaches the network its species and mass.
"""

# %%
# Load the data
# -------------
# Features and targets come from one table. Rows whose features are missing
# are imputed inside the pipeline; rows whose *labels* are missing stay in.
import matplotlib.pyplot as plt
from palmerpenguins import load_penguins
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_mtl import MultiTaskNetEstimator, Task, score_tasks

penguins = load_penguins()
numeric = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm"]
X = penguins[numeric + ["island"]]
Y = penguins[["species", "sex", "body_mass_g"]]
print(Y.isna().sum().to_string())

X_train, X_test, Y_train, Y_test = train_test_split(
    X, Y, test_size=0.25, random_state=0
)

# %%
# Build the model
# ---------------
# Each task is named; its kind, loss weight and head size are its own
# parameters. The network sees scaled numbers and one-hot islands.
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
        ("body_mass_g", Task("regression", head_sizes=(16,))),
    ],
    trunk_sizes=(64, 32),
    max_epochs=60,
    batch_size=32,
    lr=3e-3,
    random_state=0,
)
model = make_pipeline(preprocess, net).fit(X_train, Y_train)

# %%
# Score each task
# ---------------
# Accuracy for the classification tasks, R² for body mass, each on the test
# penguins that have that label.
scores = score_tasks(model, X_test, Y_test)
for task, score in scores.items():
    print(f"{task:>12}: {score:.3f}")

fig, ax = plt.subplots(figsize=(5, 2.5), constrained_layout=True)
ax.barh(list(scores), list(scores.values()), color=["C0", "C1", "C2"])
ax.set_xlim(0, 1)
ax.set_xlabel("test score (accuracy, or R² for body mass)")
plt.show()

# %%
# Predictions come back in each task's own labels and units.
print(model.predict(X_test.head(3)))

# %%
# Tune a task's weight
# --------------------
# Task parameters are reachable by name, ``<step>__<task>__<param>``, so
# :class:`~sklearn.model_selection.GridSearchCV` can tune how much the
# sex task counts in the shared objective.
search = GridSearchCV(
    model,
    {"multitasknetestimator__sex__weight": [0.25, 1.0, 4.0]},
    cv=3,
)
search.fit(X_train, Y_train)
print("best:", search.best_params_, f"mean CV score {search.best_score_:.3f}")
print(f"test score of the tuned model: {search.score(X_test, Y_test):.3f}")
