"""Starting a network from another fitted estimator's trunk (``init_trunk_from``).

The source is read, never modified: its trunk's weights are copied into the
new network once it is built, after checking that the two trunks take the
same features and have the same architecture.
"""

import numpy as np


def _describe(net):
    """The trunk's architecture as the parameters that define it."""
    params = net.get_params()
    trunk = params.get("module__trunk")
    if trunk is None:
        return (
            f"trunk_sizes={params['module__trunk_sizes']!r}, "
            f"activation={params['module__activation']!r}"
        )
    kwargs = params["module__trunk_params"] or {}
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"trunk={trunk.__name__}({args})"


def source_net(source):
    """The fitted skorch net of ``init_trunk_from``, or a clear error."""
    net = getattr(source, "net_", None)
    if net is not None and hasattr(getattr(net, "module_", None), "trunk"):
        return net
    if hasattr(source, "get_params") and hasattr(source, "tasks"):
        raise ValueError(
            "init_trunk_from must be a fitted MultiTaskNetEstimator, but "
            f"{type(source).__name__} is not fitted. Fit it first. Note that "
            "clone() keeps the fit of init_trunk_from when the estimator that "
            "holds it is cloned (GridSearchCV, cross_validate), but drops it "
            "when fitted estimators are themselves values of a parameter grid."
        )
    raise TypeError(
        "init_trunk_from must be a fitted MultiTaskNetEstimator or None, got "
        f"{type(source).__name__}."
    )


def copy_trunk(source, net, n_features, feature_names):
    """Copy ``source``'s fitted trunk weights into ``net``'s freshly built trunk.

    Parameters
    ----------
    source : MultiTaskNetEstimator
        The fitted estimator given as ``init_trunk_from``.
    net : MultiTaskNet
        The initialized net about to be trained.
    n_features : int
        The number of features of the new fit.
    feature_names : ndarray or None
        The feature names of the new fit, if any.
    """
    source_trunk = source_net(source).module_.trunk
    if source.n_features_in_ != n_features:
        raise ValueError(
            f"init_trunk_from was fitted on {source.n_features_in_} features, but X "
            f"has {n_features}; a transferred trunk needs the same features, in "
            "the same order."
        )
    source_names = getattr(source, "feature_names_in_", None)
    if (
        source_names is not None
        and feature_names is not None
        and not np.array_equal(source_names, feature_names)
    ):
        raise ValueError(
            "init_trunk_from was fitted on features named "
            f"{list(source_names)}, but X's features are {list(feature_names)}; a "
            "transferred trunk needs the same features, in the same order."
        )
    trunk = net.module_.trunk
    source_state = source_trunk.state_dict()
    shapes = {key: tuple(v.shape) for key, v in trunk.state_dict().items()}
    source_shapes = {key: tuple(v.shape) for key, v in source_state.items()}
    params, source_params = net.get_params(), source.net_.get_params()
    mismatch = type(source_trunk) is not type(trunk) or shapes != source_shapes
    if params["module__trunk"] is None:  # an MLP: the activation matters too
        mismatch |= params["module__activation"] != source_params["module__activation"]
    if mismatch:
        raise ValueError(
            "init_trunk_from's trunk does not match this estimator's: it has "
            f"{_describe(source.net_)}, this estimator {_describe(net)}. Give this "
            "estimator the same trunk_sizes and activation (or trunk and "
            "trunk__ parameters) as init_trunk_from."
        )
    trunk.load_state_dict(source_state)
