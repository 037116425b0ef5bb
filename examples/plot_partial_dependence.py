"""
=====================================
Partial dependence of two tasks
=====================================

scikit-learn's displays and inspection tools expect a single-output
classifier or regressor. :meth:`MultiTaskNetEstimator.task_estimator` (or
:class:`~sklearn_mtl.TaskView` for a pipeline) gives one task of a fitted
multi-task model as exactly that, so
:class:`~sklearn.inspection.PartialDependenceDisplay` can show how each
task's prediction moves with a feature, side by side, from one model.
"""

# %%
# One model for a penguin's sex and body mass
# --------------------------------------------
import matplotlib.pyplot as plt
from palmerpenguins import load_penguins
from sklearn.inspection import PartialDependenceDisplay
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_mtl import MultiTaskNetEstimator, Task, TaskView

penguins = load_penguins().dropna(subset=["bill_length_mm"])
X = penguins[["bill_length_mm", "bill_depth_mm", "flipper_length_mm"]]
Y = penguins[["sex", "body_mass_g"]]  # sex: 9 missing labels, left out of its loss

model = make_pipeline(
    StandardScaler(),
    MultiTaskNetEstimator(
        tasks=[("sex", Task("classification")), ("body_mass_g", Task("regression"))],
        trunk_sizes=(32,),
        max_epochs=100,
        random_state=0,
    ),
).fit(X, Y)

# %%
# Each task through its own view
# ------------------------------
# ``TaskView(model, task)`` takes the raw features: they go through the
# pipeline's scaler first. For the binary task the curve is the
# probability of the positive class (``"male"``).
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), constrained_layout=True)
for ax, task in zip(axes, ["sex", "body_mass_g"]):
    PartialDependenceDisplay.from_estimator(
        TaskView(model, task), X, ["flipper_length_mm"], ax=ax, grid_resolution=20
    )
    ax.set_title(task)
plt.show()
