"""
===============================================
Classification and regression in one pipeline
===============================================

One model can predict class labels and numbers together. This example puts
:class:`~sklearn_mtl.MultiTaskNetEstimator` at the end of a
:class:`~sklearn.pipeline.Pipeline` whose
:class:`~sklearn.compose.ColumnTransformer` turns a raw table (numbers with
gaps, categories) into the numeric, scaled features the network needs. It
learns two classification tasks and two regression tasks, lets the estimator
infer which is which, and evaluates each task with its own metric in
:func:`~sklearn.model_selection.cross_validate`.
"""

# %%
# A raw table
# -----------
# Two bill measurements, the island and the year are the features; the
# species, the sex, the flipper length and the body mass are the targets.
import pandas as pd
from palmerpenguins import load_penguins
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, cross_validate, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_mtl import MultiTaskNetEstimator, make_task_scorer

penguins = load_penguins()
X = penguins[["bill_length_mm", "bill_depth_mm", "island", "year"]]
Y = penguins[["species", "sex", "flipper_length_mm", "body_mass_g"]]
print(Y.dtypes.to_string())

# %%
# The pipeline
# ------------
# The network needs numeric features without gaps, on comparable scales: the
# ``ColumnTransformer`` imputes and scales the measurements and one-hot
# encodes the island and the year. The targets need no preparation: strings
# and numbers, with gaps, go to the estimator as they are. Left at
# ``tasks=None``, the estimator makes one task per column of ``Y``, named
# after it, and infers each task's kind from its labels (strings are
# classes, floats are regression targets).
preprocess = ColumnTransformer(
    [
        (
            "measurements",
            make_pipeline(SimpleImputer(), StandardScaler()),
            ["bill_length_mm", "bill_depth_mm"],
        ),
        ("categories", OneHotEncoder(handle_unknown="ignore"), ["island", "year"]),
    ]
)
model = Pipeline(
    [
        ("preprocess", preprocess),
        (
            "net",
            MultiTaskNetEstimator(
                trunk_sizes=(64, 32),
                max_epochs=60,
                batch_size=32,
                lr=3e-3,
                random_state=0,
            ),
        ),
    ]
)
X_train, X_test, Y_train, Y_test = train_test_split(X, Y, random_state=0)
model.fit(X_train, Y_train)
for name, task in model["net"].tasks_:
    print(f"{name:>17}: {task.kind}")

# %%
# Predictions
# -----------
# ``predict`` returns one column per task, in each task's own labels and
# units. Since the columns mix strings and floats, the array has dtype
# ``object``; a DataFrame with the targets' names restores a dtype per
# column.
y_pred = model.predict(X_test)
print(y_pred.dtype)
predictions = pd.DataFrame(y_pred, columns=model["net"].task_names_, index=X_test.index)
predictions = predictions.infer_objects()
print(predictions.head())

# %%
# ``predict_proba`` returns a list with one array per classification task,
# in task order; each array's columns follow that task's ``classes_``.
species_proba, sex_proba = model.predict_proba(X_test)
print(model["net"].classes_[0], species_proba[:2].round(3))

# %%
# Cross-validated scores per task
# -------------------------------
# :func:`~sklearn_mtl.make_task_scorer` scores one task with any
# scikit-learn metric on the rows that have its label, so each task gets a
# metric that suits it. Regression errors are in the target's own units
# (millimetres and grams); scikit-learn negates errors so that greater is
# better.
scoring = {
    "species_accuracy": make_task_scorer("species", "accuracy"),
    "sex_roc_auc": make_task_scorer("sex", "roc_auc"),
    "flipper_mae": make_task_scorer("flipper_length_mm", "neg_mean_absolute_error"),
    "mass_mae": make_task_scorer("body_mass_g", "neg_mean_absolute_error"),
}
result = cross_validate(
    model, X, Y, scoring=scoring, cv=KFold(3, shuffle=True, random_state=0)
)
for name in scoring:
    scores = result[f"test_{name}"]
    print(f"{name:>17}: {scores.mean():8.3f} ± {scores.std():.3f}")
