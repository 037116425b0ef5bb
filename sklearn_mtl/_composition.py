"""Finding the multi-task estimator inside a Pipeline or a fitted search.

The functions that accept "a MultiTaskNetEstimator, or a Pipeline ending in
one" (task scorers, the displays, :func:`~sklearn_mtl.transfer_report`) all
unwrap it here, nested pipelines included.
"""


def _is_multitask(estimator, fitted):
    has_api = hasattr(estimator, "tasks") and hasattr(estimator, "score_tasks")
    return has_api and (not fitted or hasattr(estimator, "task_names_"))


def final_multitask(estimator, *, fitted, caller):
    """The multi-task estimator at the end of ``estimator``.

    Parameters
    ----------
    estimator : object
        A MultiTaskNetEstimator, a Pipeline ending in one (pipelines may nest)
        or, when ``fitted``, a fitted search whose best estimator is either.
    fitted : bool
        Whether the multi-task estimator must be fitted (a search is then
        looked into through its ``best_estimator_``).
    caller : str
        What needs it, for the error message (e.g. ``"transfer_report"``).

    Returns
    -------
    final : MultiTaskNetEstimator
    prefix : str
        The prefix of ``final``'s parameters in ``estimator``'s
        ``set_params``, e.g. ``"pipeline__multitasknetestimator__"``; only
        meaningful when no search was looked into.
    preprocessing : list of Pipeline
        The steps before ``final``, outermost first: ``X`` reaches ``final``
        through each one's ``transform`` in turn.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_mtl import MultiTaskNetEstimator
    >>> from sklearn_mtl._composition import final_multitask
    >>> pipe = make_pipeline(StandardScaler(), MultiTaskNetEstimator())
    >>> final, prefix, before = final_multitask(pipe, fitted=False, caller="this")
    >>> prefix
    'multitasknetestimator__'
    """
    prefix, preprocessing = "", []
    while not _is_multitask(estimator, fitted):
        if hasattr(estimator, "steps"):  # a Pipeline: its last step
            name, last = estimator.steps[-1]
            if len(estimator.steps) > 1:
                preprocessing.append(estimator[:-1])
            prefix += f"{name}__"
            estimator = last
        elif fitted and hasattr(estimator, "best_estimator_"):
            estimator = estimator.best_estimator_
        else:
            needs = (
                "a fitted MultiTaskNetEstimator"
                if fitted
                else "a MultiTaskNetEstimator"
            )
            container = "a fitted Pipeline or search" if fitted else "a Pipeline"
            raise TypeError(
                f"{caller} needs {needs}, or {container} whose final estimator is "
                f"one; got {type(estimator).__name__}."
                + (" Fit the estimator first." if fitted else "")
            )
    return estimator, prefix, preprocessing


def transform_through(preprocessing, X):
    """``X`` as the final estimator sees it, after the steps before it."""
    for steps in preprocessing:
        X = steps.transform(X)
    return X
