"""Multi-task neural networks for scikit-learn.

One network with a shared trunk and one head per task learns several related
targets at once (classification and regression mixed, labels possibly
missing), behind scikit-learn's estimator API.
"""

from ._affinity_display import TaskAffinityDisplay
from ._architecture import PLE, CrossStitch, MMoE, TaskAttention
from ._display import TrainingHistoryDisplay
from ._estimator import MultiTaskNetEstimator
from ._evaluation import cross_val_predict, score_tasks
from ._grouping import group_tasks, suggest_task_groups
from ._grouping_report import task_grouping_report
from ._persistence import load, save
from ._scorer import make_task_scorer
from ._serving import onnx_output_names, skops_trusted_types, to_onnx
from ._task import Task
from ._task_view import TaskView
from ._transfer_report import transfer_report

__version__ = "0.1.0.dev0"

__all__ = [
    "PLE",
    "CrossStitch",
    "MMoE",
    "MultiTaskNetEstimator",
    "Task",
    "TaskAffinityDisplay",
    "TaskAttention",
    "TaskView",
    "TrainingHistoryDisplay",
    "__version__",
    "cross_val_predict",
    "group_tasks",
    "load",
    "make_task_scorer",
    "onnx_output_names",
    "save",
    "score_tasks",
    "skops_trusted_types",
    "suggest_task_groups",
    "task_grouping_report",
    "to_onnx",
    "transfer_report",
]
