"""What tasks share: group towers, trunk penalty, schedules, transfer, custom trunks."""

import copy
import pickle

import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback
from torch import nn

from sklearn_mtl import MultiTaskNetEstimator, Task


def make_estimator(**params):
    params = {"trunk_sizes": (16,), "max_epochs": 3, "random_state": 0, **params}
    return MultiTaskNetEstimator(
        tasks=[
            ("income", Task("classification")),
            ("married", Task("classification", weight=0.5)),
            ("age", Task("regression", head_sizes=(4,))),
        ],
        **params,
    )


def states_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class Encoder(nn.Module):
    """A custom trunk: no out_features, so its width is found by a forward pass."""

    def __init__(self, n_features, width=8):
        super().__init__()
        self.layer = nn.Linear(n_features, width)

    def forward(self, X):
        return torch.tanh(self.layer(X))


class FixedWidthEncoder(nn.Module):
    """A custom trunk declaring its output width."""

    def __init__(self, in_features, out_features=5):
        super().__init__()
        self.out_features = out_features
        self.layer = nn.Linear(in_features, out_features)

    def forward(self, X):
        return self.layer(X)


class BadTrunk(nn.Module):
    def forward(self, X):
        return X.sum()


# -- partial sharing by group -------------------------------------------------


def test_tasks_of_a_group_share_a_tower(census):
    X, Y = census
    est = make_estimator(group_sizes=(6, 5), max_epochs=15, lr=1e-2)
    est.set_params(income__group="social", married__group="social")
    est.fit(X, Y)
    module = est.net_.module_
    assert len(module.towers) == 1  # one tower for the one group
    tower = module.towers[0]
    assert [m.out_features for m in tower if isinstance(m, nn.Linear)] == [6, 5]
    assert module.heads[0][0].in_features == 5  # on the tower
    assert module.heads[2][0].in_features == 16  # age: on the trunk
    # the tower is trained by both of its tasks
    grads = {}
    for j in (0, 1):
        module.zero_grad()
        out = module(torch.tensor(np.asarray(X), dtype=torch.float32))[j]
        out.sum().backward()
        grads[j] = tower[0].weight.grad.clone()
    assert grads[0].abs().sum() > 0 and grads[1].abs().sum() > 0
    assert est.score(X, Y) > 0.6


def test_group_parameters_are_searchable(census):
    X, Y = census
    search = GridSearchCV(
        make_estimator(max_epochs=2),
        {
            "married__group": [None, "g"],
            "income__group": ["g"],
            "group_sizes": [(), (4,)],
        },
        cv=2,
        error_score="raise",
    ).fit(X, Y)
    assert len(search.cv_results_["params"]) == 4
    with pytest.raises(ValueError, match="group must be a non-empty str without '.'"):
        make_estimator().set_params(age__group="a.b").fit(X, Y)


# -- trunk_alpha ----------------------------------------------------------------------


def test_trunk_alpha_shrinks_the_trunk_but_not_the_heads(census):
    X, Y = census
    params = {"max_epochs": 30, "lr": 1e-2}
    plain = make_estimator(**params).fit(X, Y)
    shrunk = make_estimator(trunk_alpha=0.5, **params).fit(X, Y)

    def norm(module, part):
        return sum(p.norm() ** 2 for p in getattr(module, part).parameters()).sqrt()

    a, b = plain.net_.module_, shrunk.net_.module_
    assert norm(b, "trunk") < 0.5 * norm(a, "trunk")
    assert norm(b, "heads") > 0.8 * norm(a, "heads")
    groups = shrunk.net_.optimizer_.param_groups
    trunk_ids = {id(p) for p in b.trunk.parameters()}
    for group in groups:
        is_trunk = all(id(p) in trunk_ids for p in group["params"])
        assert group["weight_decay"] == (0.5 if is_trunk else 0.0)


# -- sequential schedule ------------------------------------------------------


class HeadsAtStageEnds(Callback):
    """The heads' weights when training begins and after each stage."""

    def initialize(self):
        self.states = []
        return self

    def on_train_begin(self, net, **kwargs):
        if not self.states:
            self.states.append(copy.deepcopy(net.module_.heads.state_dict()))

    def on_train_end(self, net, **kwargs):
        self.states.append(copy.deepcopy(net.module_.heads.state_dict()))


def _head(state, j):
    return {k: v for k, v in state.items() if k.startswith(f"{j}.")}


def test_sequential_schedule_trains_the_tasks_in_order(census):
    X, Y = census
    est = make_estimator(
        schedule="sequential", max_epochs=2, callbacks=[("heads", HeadsAtStageEnds())]
    ).fit(X, Y)
    history = est.net_.history
    assert est.n_iter_ == 6
    assert history[:, "active_task"] == ["income"] * 2 + ["married"] * 2 + ["age"] * 2
    assert history[:, "weight_married"] == [0.0, 0.0, 0.5, 0.5, 0.0, 0.0]
    states = dict(est.net_.callbacks_)["heads"].states  # start, after each stage
    for stage in range(3):
        for j in range(3):
            before, after = _head(states[stage], j), _head(states[stage + 1], j)
            # only the stage's own head moves
            assert states_equal(before, after) == (j != stage), (stage, j)
    # every head is trainable again afterwards, and the model predicts
    assert all(p.requires_grad for p in est.net_.module_.parameters())
    assert est.predict(X).shape == (len(X), 3)


def test_sequential_schedule_continues_from_the_previous_trunk(census):
    X, Y = census
    # No dropout: the two models draw their initial weights, then dropout
    # masks, from one stream, and the second has one more head to draw.
    one = make_estimator(max_epochs=2, dropout=0.0)
    one.set_params(tasks=[("income", Task())])
    first_stage = one.fit(X, Y[["income"]]).net_.module_.trunk.state_dict()
    est = make_estimator(schedule="sequential", max_epochs=2, dropout=0.0)
    est.set_params(tasks=[("income", Task()), ("age", Task("regression"))])

    class TrunkAtStageTwo(Callback):
        def on_train_begin(self, net, **kwargs):
            if net.history:
                self.trunk = copy.deepcopy(net.module_.trunk.state_dict())

    est.set_params(callbacks=[("trunk", TrunkAtStageTwo())]).fit(
        X, Y[["income", "age"]]
    )
    assert states_equal(dict(est.net_.callbacks_)["trunk"].trunk, first_stage)


def test_sequential_schedule_needs_fixed_weighting(census):
    X, Y = census
    with pytest.raises(ValueError, match="schedule='sequential' trains one task at a"):
        make_estimator(schedule="sequential", weighting="dwa").fit(X, Y)


# -- transfer -----------------------------------------------------------------


@pytest.fixture
def source(census):
    X, Y = census
    return make_estimator(max_epochs=5).fit(X, Y)


def test_frozen_transferred_trunk_is_unchanged(census, source):
    X, Y = census
    source_state = copy.deepcopy(source.net_.module_.state_dict())
    new = MultiTaskNetEstimator(
        tasks=[("married", Task("classification"))],
        trunk_sizes=(16,),
        max_epochs=10,
        lr=1e-2,
        init_trunk_from=source,
        freeze_trunk=True,
        dropout=0.2,
        random_state=1,
    ).fit(X, Y[["married"]])
    trunk = new.net_.module_.trunk
    assert states_equal(trunk.state_dict(), source.net_.module_.trunk.state_dict())
    assert not any(p.requires_grad for p in trunk.parameters())
    in_optimizer = {
        id(p) for g in new.net_.optimizer_.param_groups for p in g["params"]
    }
    assert not in_optimizer & {id(p) for p in trunk.parameters()}
    assert states_equal(source.net_.module_.state_dict(), source_state)  # untouched
    assert new.score(X, Y[["married"]]) > 0.6


def test_fine_tuned_trunk_starts_from_the_source(census, source):
    X, Y = census

    class TrunkAtStart(Callback):
        def on_train_begin(self, net, **kwargs):
            self.trunk = copy.deepcopy(net.module_.trunk.state_dict())

    new = MultiTaskNetEstimator(
        tasks=[("age", Task("regression"))],
        trunk_sizes=(16,),
        max_epochs=2,
        init_trunk_from=source,
        callbacks=[("start", TrunkAtStart())],
        random_state=1,
    ).fit(X, Y[["age"]])
    start = dict(new.net_.callbacks_)["start"].trunk
    source_trunk = source.net_.module_.trunk.state_dict()
    assert states_equal(start, source_trunk)
    assert not states_equal(new.net_.module_.trunk.state_dict(), source_trunk)


def test_transfer_survives_clone_grid_search_and_pickle(census, source):
    X, Y = census
    est = MultiTaskNetEstimator(
        tasks=[("married", Task("classification"))],
        trunk_sizes=(16,),
        max_epochs=2,
        init_trunk_from=source,
        random_state=0,
    )
    assert clone(est).init_trunk_from is source  # the fit is kept
    search = GridSearchCV(
        est, {"freeze_trunk": [True, False]}, cv=2, error_score="raise"
    )
    search.fit(X, Y[["married"]])
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    pipe = make_pipeline(StandardScaler(with_mean=False, with_std=False), est)
    cross_validate(pipe, X, Y[["married"]], cv=2, error_score="raise")
    restored = pickle.loads(pickle.dumps(search))
    assert_array_equal(restored.predict(X), search.predict(X))


def test_transfer_errors(census, source):
    X, Y = census
    one = [("married", Task("classification"))]

    def fit(**params):
        params = {"trunk_sizes": (16,), "max_epochs": 1, **params}
        return MultiTaskNetEstimator(tasks=one, **params).fit(X, Y[["married"]])

    with pytest.raises(
        ValueError,
        match="init_trunk_from's trunk does not match this "
        "estimator's: it has trunk_sizes=\\(16,\\), activation='relu', "
        "this estimator trunk_sizes=\\(8,\\)",
    ):
        fit(init_trunk_from=source, trunk_sizes=(8,))
    with pytest.raises(ValueError, match="does not match"):
        fit(init_trunk_from=source, activation="tanh")
    with pytest.raises(
        ValueError, match="init_trunk_from was fitted on 6 features, but X has 5"
    ):
        MultiTaskNetEstimator(tasks=one, trunk_sizes=(16,), init_trunk_from=source).fit(
            X.iloc[:, :5], Y[["married"]]
        )
    with pytest.raises(
        ValueError, match="init_trunk_from was fitted on features named"
    ):
        fit(init_trunk_from=source, max_epochs=1).fit(
            X.rename(columns={"x0": "z"}), Y[["married"]]
        )
    with pytest.raises(
        ValueError,
        match="init_trunk_from must be a fitted "
        "MultiTaskNetEstimator, but MultiTaskNetEstimator is not fitted",
    ):
        fit(init_trunk_from=clone(source))
    with pytest.raises(
        ValueError, match="freeze_trunk=True keeps the trunk as it starts"
    ):
        fit(freeze_trunk=True)
    with pytest.raises(
        ValueError, match="freeze_trunk=True leaves no shared parameters"
    ):
        fit(init_trunk_from=source, freeze_trunk=True, weighting="pcgrad")


# -- custom trunk -------------------------------------------------------------


def test_custom_trunk_with_routed_parameters(census):
    X, Y = census
    est = make_estimator(trunk=Encoder, trunk_params={"width": 8})
    assert est.get_params()["trunk__width"] == 8
    est.set_params(trunk__width=6)
    assert est.trunk_params == {"width": 6}
    est.fit(X, Y)
    module = est.net_.module_
    assert isinstance(module.trunk, Encoder)
    assert module.trunk.layer.in_features == 6  # n_features filled in
    assert module.heads[0][0].in_features == 6  # width found by a forward pass
    restored = pickle.loads(pickle.dumps(est))
    assert_array_equal(restored.predict(X), est.predict(X))
    cloned = clone(est)
    assert cloned.trunk is Encoder and cloned.trunk_params == {"width": 6}


def test_custom_trunk_out_features_and_grid_search(census):
    X, Y = census
    est = make_estimator(trunk=FixedWidthEncoder, trunk_params={"in_features": 6})
    search = GridSearchCV(
        est, {"trunk__out_features": [3, 5]}, cv=2, error_score="raise"
    ).fit(X, Y)
    assert search.best_estimator_.net_.module_.heads[0][0].in_features in (3, 5)
    assert search.best_estimator_.trunk_params["in_features"] == 6


def test_transfer_of_a_custom_trunk(census):
    X, Y = census
    source = make_estimator(trunk=Encoder, trunk_params={"width": 5}).fit(X, Y)
    new = MultiTaskNetEstimator(
        tasks=[("age", Task("regression"))],
        trunk=Encoder,
        trunk_params={"width": 5},
        init_trunk_from=source,
        freeze_trunk=True,
        max_epochs=2,
        random_state=0,
    ).fit(X, Y[["age"]])
    assert states_equal(
        new.net_.module_.trunk.state_dict(), source.net_.module_.trunk.state_dict()
    )
    with pytest.raises(ValueError, match="it has trunk=Encoder\\(width=5\\)"):
        new.set_params(trunk_params={"width": 4}).fit(X, Y[["age"]])


def test_custom_trunk_errors(census):
    X, Y = census
    with pytest.raises(
        ValueError, match="trunk_params=\\{'width': 3\\} are arguments of"
    ):
        make_estimator(trunk_params={"width": 3}).fit(X, Y)
    with pytest.raises(TypeError, match="trunk must be a torch.nn.Module class"):
        make_estimator(trunk=dict).fit(X, Y)
    with pytest.raises(ValueError, match="trunk=BadTrunk must return a 2-D tensor"):
        make_estimator(trunk=BadTrunk).fit(X, Y)
    with pytest.raises(
        ValueError,
        match="Could not find the output width of "
        "trunk=Encoder: running it on a \\(2, 6\\) float32 batch failed",
    ):
        make_estimator(trunk=Encoder, trunk_params={"n_features": 3}).fit(X, Y)
    with pytest.raises(ValueError, match="Task names \\['trunk'\\] clash"):
        MultiTaskNetEstimator(tasks=[("trunk", Task())]).fit(X, Y[["age"]])


def test_fused_linear_heads_compute_what_separate_heads_compute():
    # Without groups or hidden head layers, the heads run as one layer: a
    # speed-up that must not change the function.
    from sklearn_mtl._module import MultiTaskNetwork

    heads = [((), 2), ((), 5), ((), 1)]
    separate = MultiTaskNetwork(6, (8,), heads, fuse_heads=False)
    fused = MultiTaskNetwork(6, (8,), heads)
    fused.trunk.load_state_dict(separate.trunk.state_dict())
    with torch.no_grad():
        fused.heads.linear.weight.copy_(
            torch.cat([head[-1].weight for head in separate.heads])
        )
        fused.heads.linear.bias.copy_(
            torch.cat([head[-1].bias for head in separate.heads])
        )
    X = torch.randn(4, 6)
    for a, b in zip(separate(X), fused(X), strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b)


def test_warm_start_after_a_schedule_change_names_the_schedule(census):
    X, Y = census
    est = MultiTaskNetEstimator(
        tasks=[("income", Task("classification")), ("age", Task("regression"))],
        trunk_sizes=(8,),
        max_epochs=1,
        random_state=0,
        warm_start=True,
    ).fit(X, Y[["income", "age"]])
    est.set_params(schedule="sequential")
    with pytest.raises(ValueError, match="schedule changed"):
        est.fit(X, Y[["income", "age"]])
