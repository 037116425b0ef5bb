"""Task affinity (TAG): the lookahead measurement, groups from it, persistence."""

import pickle

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal

import sklearn_mtl
from sklearn_mtl import (
    MultiTaskNetEstimator,
    Task,
    group_tasks,
    suggest_task_groups,
)
from sklearn_mtl._affinity import lookahead_affinity
from sklearn_mtl._layout import pack
from sklearn_mtl._loss import MaskedMultiTaskLoss
from sklearn_mtl._module import MultiTaskNetwork


def planted_clusters(seed, n=400, per_cluster=3, n_features=8, noise=0.3):
    """Two clusters of regression tasks: each cluster's tasks share a latent
    factor; the two factors are orthogonal directions of X that compete for a
    narrow trunk."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, n_features))
    wa, wb = rng.normal(size=n_features), rng.normal(size=n_features)
    wb -= wb @ wa / (wa @ wa) * wa
    columns = []
    for w in (wa, wb):
        latent = np.tanh(X @ w / np.linalg.norm(w))
        for _ in range(per_cluster):
            scale = rng.uniform(0.5, 1.5)
            columns.append(scale * latent + noise * rng.normal(size=n))
    return X, np.column_stack(columns)


def affinity_estimator(**params):
    params = {
        "trunk_sizes": (4,),
        "max_epochs": 10,
        "lr": 1e-2,
        "batch_size": 32,
        "random_state": 0,
        "record_task_affinity": 5,
        **params,
    }
    return MultiTaskNetEstimator(**params)


# -- the measurement ----------------------------------------------------------


def twin_network():
    """A network whose three heads are copies: only the targets differ."""
    torch.manual_seed(0)
    module = MultiTaskNetwork(4, (8,), [((), 1)] * 3, fuse_heads=False)
    for head in module.heads[1:]:
        head.load_state_dict(module.heads[0].state_dict())
    rng = np.random.RandomState(0)
    X = rng.normal(size=(64, 4))
    y = 3 * (X @ rng.normal(size=4))
    ones = np.ones(len(X))
    targets = torch.as_tensor(pack([y, y, -y], [ones, ones, ones]))
    criterion = MaskedMultiTaskLoss(("squared_error",) * 3, (1.0, 1.0, 1.0))
    return module, torch.as_tensor(X, dtype=torch.float32), targets, criterion


@pytest.mark.parametrize("batched", [True, False])
def test_identical_twin_has_the_largest_affinity_and_inverted_twin_negative(batched):
    module, X, targets, criterion = twin_network()
    names = [n for n, _ in module.named_parameters() if n.startswith("trunk.")]
    before = {k: v.clone() for k, v in module.state_dict().items()}
    affinity, defined = lookahead_affinity(
        module, names, X, targets, criterion, lr=0.01, batched=batched
    )
    affinity = affinity.numpy()
    assert defined.all()
    # the twin's step is the task's own step: the same effect on it
    assert affinity[0, 1] == pytest.approx(affinity[0, 0], rel=1e-4)
    assert affinity[0, 1] > 0
    assert affinity[0, 1] == affinity[0].max()
    # the inverted target's step moves the shared output the other way
    assert affinity[0, 2] < 0 and affinity[2, 0] < 0
    # nothing was changed: no parameter, no gradient
    for key, value in module.state_dict().items():
        assert torch.equal(value, before[key])
    assert all(p.grad is None for p in module.parameters())


def test_batched_and_looped_lookaheads_agree():
    module, X, targets, criterion = twin_network()
    names = [n for n, _ in module.named_parameters() if n.startswith("trunk.")]
    batched, _ = lookahead_affinity(module, names, X, targets, criterion, 0.01)
    looped, _ = lookahead_affinity(
        module, names, X, targets, criterion, 0.01, batched=False
    )
    assert_allclose(batched, looped, rtol=1e-4, atol=1e-9)


def test_affinity_is_recorded_in_task_order_and_identical_tasks_help_most():
    X, Y = planted_clusters(0, n=300)
    Y = Y[:, [0, 0, 1, 3]]  # twins, a cluster-mate, a task of the other cluster
    est = affinity_estimator().fit(X, Y)
    affinity = est.task_affinity_
    assert affinity.shape == (4, 4) and np.isfinite(affinity).all()
    for i, twin in [(0, 1), (1, 0)]:
        assert affinity[i, twin] == np.delete(affinity[i], i).max() > 0
        assert affinity[twin, i] == np.delete(affinity[:, i], i).max()
    assert affinity[0, 3] < 0 and affinity[3, 0] < 0
    # each task's own step lowers its own loss
    assert (np.diag(affinity) > 0).all()


def test_recording_does_not_change_the_fitted_model():
    X, Y = planted_clusters(0, n=200)
    params = {"dropout": 0.2, "max_epochs": 3}
    plain = affinity_estimator(record_task_affinity=None, **params).fit(X, Y)
    recorded = affinity_estimator(record_task_affinity=1, **params).fit(X, Y)
    assert_array_equal(plain.predict(X), recorded.predict(X))
    assert not hasattr(plain, "task_affinity_")


def test_pair_never_labelled_together_is_nan():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 4))
    Y = np.column_stack([X[:, 0], X[:, 0] + X[:, 1], X[:, 1]])
    Y[:100, 0] = np.nan  # task 0 labelled on the second half only
    Y[100:, 1] = np.nan  # task 1 on the first half only
    est = affinity_estimator(max_epochs=3, record_task_affinity=1).fit(X, Y)
    affinity = est.task_affinity_
    assert np.isnan(affinity[0, 1]) and np.isnan(affinity[1, 0])
    others = ~np.isnan(affinity)
    assert others.sum() == 9 - 2
    # a pair labelled together in only some batches is measured on those
    assert np.isfinite(affinity[0, 2]) and np.isfinite(affinity[2, 1])


def test_zero_sample_weights_count_as_missing_labels():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 4))
    Y = np.column_stack([X[:, 0], X[:, 0] + X[:, 1], X[:, 1]])
    weights = np.ones_like(Y)
    weights[:100, 0] = 0.0
    weights[100:, 1] = 0.0
    est = affinity_estimator(max_epochs=2, record_task_affinity=1)
    affinity = est.fit(X, Y, sample_weight=weights).task_affinity_
    assert np.isnan(affinity[0, 1]) and np.isnan(affinity[1, 0])
    assert np.isfinite(np.delete(affinity.ravel(), [1, 3])).all()


WEIGHTINGS = ["fixed", "uncertainty", "dwa", "famo", "gradnorm", "pcgrad", "mgda"]


@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_every_weighting_records_the_same_kind_of_matrix(weighting):
    X, Y = planted_clusters(0, n=120)
    est = affinity_estimator(max_epochs=2, weighting=weighting, batch_size=40)
    affinity = est.fit(X, Y).task_affinity_
    assert affinity.shape == (6, 6) and np.isfinite(affinity).all()


def test_torchjd_aggregator_records_affinity():
    aggregation = pytest.importorskip("torchjd.aggregation")
    X, Y = planted_clusters(0, n=120)
    est = affinity_estimator(
        max_epochs=2, weighting=aggregation.UPGrad(), batch_size=40
    )
    assert np.isfinite(est.fit(X, Y).task_affinity_).all()


def test_group_towers_and_classification_tasks_record_affinity():
    X, Y = planted_clusters(0, n=160)
    Y = np.column_stack([Y[:, :3], Y[:, 3] > 0])
    tasks = [
        ("a", Task(group="g")),
        ("b", Task(group="g")),
        ("c", Task(head_sizes=(3,))),
        ("d", Task("classification", class_weight="balanced")),
    ]
    est = affinity_estimator(tasks=tasks, max_epochs=2, schedule="joint")
    affinity = est.fit(X, Y).task_affinity_
    assert affinity.shape == (4, 4) and np.isfinite(affinity).all()


def test_custom_trunk_records_affinity():
    class Trunk(torch.nn.Module):
        def __init__(self, n_features):
            super().__init__()
            self.layer = torch.nn.Linear(n_features, 3)
            self.out_features = 3

        def forward(self, X):
            return torch.relu(self.layer(X))

    X, Y = planted_clusters(0, n=120)
    est = affinity_estimator(trunk=Trunk, max_epochs=2)
    assert np.isfinite(est.fit(X, Y).task_affinity_).all()


def test_warm_start_goes_on_averaging_and_a_fit_without_recording_drops_it():
    X, Y = planted_clusters(0, n=160)
    est = affinity_estimator(max_epochs=2, record_task_affinity=1, batch_size=40)
    est.fit(X, Y)
    first = est.task_affinity_.copy()
    count = est.net_._affinity_count.copy()
    est.set_params(warm_start=True).fit(X, Y)
    assert (est.net_._affinity_count == 2 * count).all()
    assert not np.allclose(est.task_affinity_, first)
    est.set_params(record_task_affinity=None).fit(X, Y)
    assert not hasattr(est, "task_affinity_")
    est.set_params(warm_start=False).fit(X, Y)
    assert not hasattr(est, "task_affinity_")


def test_partial_fit_and_the_sequential_schedule_record_affinity():
    X, Y = planted_clusters(0, n=120)
    est = affinity_estimator(record_task_affinity=1, batch_size=40)
    est.partial_fit(X, Y)
    count = est.net_._affinity_count.copy()
    assert (count == 3).all()  # three batches, every pair labelled in each
    est.partial_fit(X, Y)
    assert (est.net_._affinity_count == 2 * count).all()
    sequential = affinity_estimator(schedule="sequential", max_epochs=1)
    assert np.isfinite(sequential.fit(X, Y).task_affinity_).all()


def test_no_trained_trunk_is_an_error():
    X, Y = planted_clusters(0, n=60)
    with pytest.raises(ValueError, match="record_task_affinity=5 takes lookahead"):
        affinity_estimator(trunk_sizes=()).fit(X, Y)
    with pytest.raises(ValueError, match="record_task_affinity"):
        affinity_estimator(record_task_affinity=0).fit(X, Y)


def test_affinity_survives_pickle_and_save_load(tmp_path):
    X, Y = planted_clusters(0, n=160)
    Y[:80, 0] = np.nan
    Y[80:, 1] = np.nan
    est = affinity_estimator(max_epochs=2, record_task_affinity=1).fit(X, Y)
    assert np.isnan(est.task_affinity_).sum() == 2
    copy = pickle.loads(pickle.dumps(est))
    assert_array_equal(copy.task_affinity_, est.task_affinity_)
    path = tmp_path / "model.safetensors"
    sklearn_mtl.save(est, path)
    loaded = sklearn_mtl.load(path)
    assert_allclose(loaded.task_affinity_, est.task_affinity_, equal_nan=True)
    assert loaded.record_task_affinity == 1
    # a warm start after loading goes on averaging the same measurements
    assert_array_equal(loaded.net_._affinity_count, est.net_._affinity_count)
    loaded.set_params(warm_start=True).fit(X, Y)
    assert (loaded.net_._affinity_count >= est.net_._affinity_count).all()


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.update(task_affinity_counts=None),
        lambda d: d["task_affinity_counts"][0].__setitem__(1, 1.5),
        lambda d: d["task_affinity_counts"][0].__setitem__(0, -1),
        lambda d: d["task_affinity_counts"][0].__setitem__(1, 0),
        lambda d: d.update(task_affinity_=[[0.0]]),
    ],
)
def test_tampered_affinity_in_a_model_file_is_rejected(tmp_path, edit):
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    X, Y = planted_clusters(0, n=60)
    est = affinity_estimator(max_epochs=1, record_task_affinity=1).fit(X, Y)
    path = tmp_path / "m.safetensors"
    sklearn_mtl.save(est, path)
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata()
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    document = json.loads(metadata["estimator"])
    edit(document)
    metadata["estimator"] = json.dumps(document)
    save_file(tensors, path, metadata=metadata)
    with pytest.raises(ValueError, match="The model file is invalid.*task_affinity"):
        sklearn_mtl.load(path)


def test_model_without_affinity_saves_and_loads_without_it(tmp_path):
    X, Y = planted_clusters(0, n=60)
    est = affinity_estimator(max_epochs=1, record_task_affinity=None).fit(X, Y)
    sklearn_mtl.save(est, tmp_path / "m.safetensors")
    assert not hasattr(sklearn_mtl.load(tmp_path / "m.safetensors"), "task_affinity_")


# -- groups -------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_planted_clusters_are_recovered(seed):
    X, Y = planted_clusters(seed)
    est = affinity_estimator(random_state=seed).fit(X, Y)
    groups = suggest_task_groups(est, n_groups=2)
    assert list(groups) == est.task_names_
    assert list(groups.values()) == [0, 0, 0, 1, 1, 1]
    affinity = est.task_affinity_
    within = np.array([[1, 1, 1, 0, 0, 0]] * 3 + [[0, 0, 0, 1, 1, 1]] * 3, bool)
    np.fill_diagonal(within, False)
    across = ~within & ~np.eye(6, dtype=bool)
    assert affinity[within].mean() > 0 > affinity[across].mean()


def brute_force(affinity, n_groups):
    """The best score over all labelings, each scored by hand."""
    import itertools

    n = len(affinity)
    a = np.nan_to_num(affinity)
    best = -np.inf
    for labels in itertools.product(range(n_groups), repeat=n):
        total = 0.0
        for i in range(n):
            mates = [j for j in range(n) if j != i and labels[j] == labels[i]]
            total += np.mean([a[j, i] for j in mates]) if mates else 0.0
        best = max(best, total)
    return best


def score(groups, affinity):
    from sklearn_mtl._grouping import group_scores

    return group_scores(np.array([list(groups.values())]), affinity)[0]


def test_groups_of_a_block_matrix_are_its_blocks():
    affinity = np.full((6, 6), -0.5)
    affinity[:3, :3] = affinity[3:, 3:] = 1.0
    names = list("abcdef")
    groups = suggest_task_groups(affinity, n_groups=3, task_names=names)
    assert groups == {"a": 0, "b": 0, "c": 0, "d": 1, "e": 1, "f": 1}


def test_a_task_that_everyone_hurts_is_left_alone():
    affinity = np.full((4, 4), 0.3)
    affinity[:, 3] = affinity[3, :] = -0.2  # task 3 is hurt by all, hurts all
    groups = suggest_task_groups(affinity, n_groups=2)
    assert list(groups.values()) == [0, 0, 0, 1]
    # with one group allowed, everything goes together
    assert set(suggest_task_groups(affinity, n_groups=1).values()) == {0}


def test_equal_affinities_give_one_group():
    # every partition without a lone task scores the same: fewer groups win
    affinity = np.full((5, 5), 0.4)
    assert set(suggest_task_groups(affinity, n_groups=3).values()) == {0}


def test_the_mean_objective_splits_off_a_closer_pair():
    # all positive, but a and b help each other far more than c helps them
    affinity = np.array([[0.0, 1.0, 0.1], [1.0, 0.0, 0.1], [0.1, 0.1, 0.0]])
    groups = suggest_task_groups(affinity, n_groups=2, task_names=list("abc"))
    assert groups == {"a": 0, "b": 0, "c": 1}


def test_asymmetric_affinity_uses_the_effect_onto_each_task():
    # b helps a a lot, a hurts b a little: together a gains 1.0, b loses 0.1
    affinity = np.array([[0.0, -0.1], [1.0, 0.0]])
    assert suggest_task_groups(affinity, n_groups=2) == {"task_0": 0, "task_1": 0}
    affinity = np.array([[0.0, -1.0], [0.1, 0.0]])
    assert suggest_task_groups(affinity, n_groups=2) == {"task_0": 0, "task_1": 1}


@pytest.mark.parametrize("seed", range(4))
def test_exact_search_finds_the_brute_force_optimum(seed):
    rng = np.random.RandomState(seed)
    affinity = rng.normal(size=(6, 6))
    for n_groups in (2, 3):
        groups = suggest_task_groups(affinity, n_groups=n_groups)
        assert len(set(groups.values())) <= n_groups
        assert score(groups, affinity) == pytest.approx(brute_force(affinity, n_groups))


def test_nan_counts_as_no_effect():
    affinity = np.array([[0.0, np.nan, 0.5], [np.nan, 0.0, 0.5], [0.5, 0.5, 0.0]])
    groups = suggest_task_groups(affinity, n_groups=2)
    assert set(groups.values()) == {0}
    # tasks 0 and 1 get (0 + 0.5) / 2 each, task 2 gets 0.5
    assert score(groups, affinity) == pytest.approx(0.25 + 0.25 + 0.5)


def test_beam_search_beyond_ten_tasks_recovers_planted_blocks():
    rng = np.random.RandomState(0)
    labels = rng.permutation(np.repeat([0, 1, 2], 5))
    affinity = np.where(labels[:, None] == labels[None, :], 1.0, -1.0)
    affinity += 0.1 * rng.normal(size=affinity.shape)
    groups = suggest_task_groups(affinity, n_groups=3)
    found = np.array(list(groups.values()))
    same = found[:, None] == found[None, :]
    assert_array_equal(same, labels[:, None] == labels[None, :])


def test_suggest_task_groups_errors():
    with pytest.raises(ValueError, match="record_task_affinity"):
        X, Y = planted_clusters(0, n=40)
        suggest_task_groups(
            affinity_estimator(max_epochs=1, record_task_affinity=None).fit(X, Y)
        )
    with pytest.raises(ValueError, match="square"):
        suggest_task_groups(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="task_names must be 2 distinct"):
        suggest_task_groups(np.zeros((2, 2)), task_names=["a"])
    with pytest.raises(ValueError, match="n_groups must be an int >= 1"):
        suggest_task_groups(np.zeros((2, 2)), n_groups=0)
    with pytest.raises(ValueError, match="infinite"):
        suggest_task_groups(np.array([[0, np.inf], [0, 0]]))


def test_groups_go_straight_into_tasks_and_a_grouped_fit():
    X, Y = planted_clusters(0)
    est = affinity_estimator().fit(X, Y)
    groups = suggest_task_groups(est, n_groups=2)
    tasks = group_tasks(est.tasks_, groups)
    assert [task.group for _, task in tasks] == [0, 0, 0, 1, 1, 1]
    assert all(task.group is None for _, task in est.tasks_)  # not modified
    grouped = affinity_estimator(tasks=tasks, record_task_affinity=None).fit(X, Y)
    assert len(grouped.net_.module_.towers) == 2
    # Task(group=...) takes a label as it is
    Task(group=groups["task_0"])
    with pytest.raises(ValueError, match="not among the tasks"):
        group_tasks(est.tasks_, {"nope": 0})


# -- the one-call comparison and the display ------------------------------------


def test_grouping_report_compares_grouped_together_and_alone_in_the_same_folds():
    import pandas as pd
    from sklearn.model_selection import KFold

    from sklearn_mtl import task_grouping_report

    X, Y = planted_clusters(0, n=160)
    Y = Y[:, [0, 1, 3]]
    est = affinity_estimator(record_task_affinity=None, max_epochs=3)
    cv = KFold(2, shuffle=True, random_state=0)
    report = task_grouping_report(est, X, Y, cv=cv, record_task_affinity=5)
    assert isinstance(report, pd.DataFrame)
    assert list(report.index) == ["task_0", "task_1", "task_2"]
    assert list(report.columns) == [
        "metric",
        "group",
        "grouped_mean",
        "grouped_std",
        "together_mean",
        "together_std",
        "alone_mean",
        "alone_std",
        "best",
    ]
    assert set(report["group"]) <= {0, 1}
    fold_groups = report.attrs["fold_groups"]
    assert [list(groups) for groups in fold_groups] == [list(report.index)] * 2
    assert report.attrs["task_affinity"].shape == (3, 3)
    assert set(report.attrs["summary"]) == {"grouped", "together", "alone"}
    # the together column is the recording fit, the same as a plain fit
    scores = []
    for train, test in cv.split(X):
        plain = affinity_estimator(record_task_affinity=None, max_epochs=3)
        plain.fit(X[train], Y[train])
        scores.append(plain.score_tasks(X[test], Y[test])["task_2"])
    assert report.loc["task_2", "together_mean"] == pytest.approx(np.mean(scores))
    for row in report.itertuples():
        means = [row.grouped_mean, row.together_mean, row.alone_mean]
        assert row.best == ["grouped", "together", "alone"][int(np.argmax(means))]


def test_affinity_display_outlines_the_groups(monkeypatch):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sklearn_mtl import TaskAffinityDisplay

    X, Y = planted_clusters(0)
    # tasks interleaved: the display regroups them
    Y = Y[:, [0, 3, 1, 4, 2, 5]]
    est = affinity_estimator().fit(X, Y)
    display = TaskAffinityDisplay.from_estimator(est, n_groups=2)
    assert display.order_ == [f"task_{i}" for i in (0, 2, 4, 1, 3, 5)]
    assert [r.get_width() for r in display.rectangles_] == [3, 3]
    assert display.rectangles_[1].get_xy() == (2.5, 2.5)
    shown = display.im_.get_array()
    assert np.ma.is_masked(shown[0, 0])  # the diagonal is left blank
    assert shown[0, 1] == pytest.approx(est.task_affinity_[0, 2])
    plt.close("all")
    with pytest.raises(ValueError, match="not among the tasks"):
        TaskAffinityDisplay(np.zeros((2, 2)), groups={"x": 0}).plot()
    plt.close("all")
