"""Starting a network from another fitted network's trunk (``init_trunk_from``).

The estimator hands over what it read from the source estimator as a
:class:`TrunkSource`; :func:`check_trunk_source` compares it with the new
network's architecture and features before anything is built, and
:func:`copy_trunk` puts the weights in once the new network exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class TrunkSource:
    """A fitted trunk to start from: its architecture, weights and features.

    Parameters
    ----------
    module : ModuleSpec
        The source network's architecture.
    state : dict of str to torch.Tensor
        Its trunk's ``state_dict``.
    feature_names : ndarray or None
        The features it was fitted on, when they had names.
    """

    module: object
    state: dict
    feature_names: object = None


def check_trunk_source(source, module, feature_names):
    """Raise unless ``source``'s trunk fits ``module``'s and ``X``'s features.

    Parameters
    ----------
    source : TrunkSource
    module : ModuleSpec
        The new network's architecture.
    feature_names : ndarray or None
        The feature names of the new fit's ``X``.
    """
    n_source, n_features = source.module.n_features, module.n_features
    if n_source != n_features:
        raise ValueError(
            f"init_trunk_from was fitted on {n_source} features, but X has "
            f"{n_features}; a transferred trunk needs the same features, in the "
            "same order."
        )
    names = source.feature_names
    if (
        names is not None
        and feature_names is not None
        and not np.array_equal(names, feature_names)
    ):
        raise ValueError(
            f"init_trunk_from was fitted on features named {list(names)}, but X's "
            f"features are {list(feature_names)}; a transferred trunk needs the "
            "same features, in the same order."
        )
    if source.module.trunk_kwargs() != module.trunk_kwargs():
        raise ValueError(
            "init_trunk_from's trunk does not match this estimator's: it has "
            f"{source.module.describe_trunk()}, this estimator "
            f"{module.describe_trunk()}. Give this estimator the same trunk_sizes "
            "and activation (or trunk and trunk__ parameters) as init_trunk_from."
        )


def copy_trunk(source, network):
    """Load ``source``'s trunk weights into ``network``'s freshly built trunk."""
    network.trunk.load_state_dict(source.state)
