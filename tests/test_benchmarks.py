"""The benchmark scripts still run: their ``--quick`` modes, end to end.

Their numbers are not checked here (a smoke run's scores mean nothing); the
scripts must finish and print their tables. These tests are marked
``benchmark`` and deselected by default (they take minutes); run them with::

    python -m pytest -m benchmark tests/test_benchmarks.py

The quality benchmark and the studies need the shared data sets beside the
repository (``../shared/data``, or the folder named by ``SKLEARN_MTL_DATA``)
and are skipped without them; the Tox21 studies also need ``rdkit``.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.benchmark

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO_ROOT / "benchmarks"
STUDIES = BENCHMARKS / "studies"
DATA_VARIABLE = "SKLEARN_MTL_DATA"  # as benchmarks/_data.py reads it
DATA = Path(os.environ.get(DATA_VARIABLE, REPO_ROOT.parent / "shared" / "data"))


def needs_data(*folders):
    """Skip unless the shared data sets' ``folders`` are there."""
    missing = [f"{folder}/" for folder in folders if not (DATA / folder).is_dir()]
    where = (
        f"{DATA_VARIABLE}={DATA}" if DATA_VARIABLE in os.environ else "../shared/data"
    )
    return pytest.mark.skipif(
        bool(missing),
        reason="the shared benchmark data sets are not beside this repository "
        f"({where}, which lacks {', '.join(missing)}); they are needed only by "
        "the benchmark smoke tests",
    )


def needs_rdkit():
    pytest.importorskip(
        "rdkit",
        reason="rdkit is not installed (pip install -e '.[benchmarks]'); the "
        "Tox21 benchmarks need it to compute the molecules' fingerprints",
    )


def run_script(*args):
    result = subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture
def benchmarks_path(monkeypatch):
    """``benchmarks/`` on ``sys.path``, as for its scripts, to import its helpers."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))


# -- bench_quality.py ----------------------------------------------------------


@needs_data("mulan", "uci")
def test_quality_benchmark_quick_run_prints_tables():
    out = run_script(
        BENCHMARKS / "bench_quality.py",
        "--quick",
        "--datasets",
        "yeast",
        "parkinsons",
        "--splits",
        "1",
    )
    assert "## Yeast" in out and "## Parkinson's telemonitoring" in out
    assert "## Summary: multi-task (2) vs single-task networks (3)" in out
    assert "nan" not in out.lower()


def test_task_fusion_merges_the_classification_tasks_of_penguins():
    # penguins come with the palmerpenguins package: no shared data needed
    out = run_script(
        BENCHMARKS / "bench_quality.py",
        *("--quick", "--datasets", "penguins", "--splits", "1", "--models", "20"),
    )
    row = next(line for line in out.splitlines() if line.startswith("| (20)"))
    assert "nan" not in row.lower()
    # a mean score, the three tasks' scores and the time: every task predicted
    assert len(row.strip("|").split("|")) == 6


@needs_data("mulan")
def test_quality_benchmark_runs_only_the_models_asked_for():
    out = run_script(
        BENCHMARKS / "bench_quality.py",
        *("--quick", "--datasets", "yeast", "--splits", "1", "--models", "5"),
    )
    assert "| (5) HistGradientBoosting |" in out
    assert "(1) multi-task net" not in out and "(3) single-task" not in out
    assert "## Summary" not in out  # it needs models (1)-(4)


@needs_data("mulan")
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_quality_benchmark_runs_the_random_forest_where_asked(benchmarks_path):
    # Model (6) runs on Tox21 only, which needs rdkit; check it on Yeast.
    import dataclasses

    import _protocol
    import _quality_models
    import bench_quality

    yeast = dataclasses.replace(_protocol.BENCHMARKS["yeast"], random_forest=True)
    outcomes = bench_quality.run_benchmark(yeast, quick=True, n_splits=1)
    # Not on Yeast: the auxiliary tasks and the Tox21 ensemble; pytabkit's
    # models need pytabkit.
    skipped = {
        _quality_models.AUXILIARY,
        _quality_models.AUXILIARY_ENSEMBLE,
        _quality_models.NET_ENSEMBLE,
        _quality_models.NET_SMOOTHED,
        _quality_models.NET_SMOOTHED_ENSEMBLE,
        _quality_models.NET_MMOE,
        _quality_models.TASK_FUSION,
    }
    if not _quality_models.PYTABKIT:
        skipped |= {_quality_models.REALMLP, _quality_models.TABM}
    assert list(outcomes) == [
        name for name in _quality_models.MODELS if name not in skipped
    ]
    forest = outcomes["(6) random forest"][0].scores
    assert 0.0 < forest["micro-F1"] <= 1.0
    unchanged = _quality_models.models_for(_protocol.BENCHMARKS["yeast"])
    assert "(6) random forest" not in unchanged


@needs_data("mulan")
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_quality_benchmark_trains_auxiliary_tasks_where_asked(benchmarks_path):
    # Model (7) runs on Tox21 only, which needs rdkit; check it on Yeast, with
    # a few input columns standing in for the auxiliary targets.
    import dataclasses

    import _data
    import _protocol
    import _quality_models
    import bench_quality

    yeast = dataclasses.replace(
        _protocol.BENCHMARKS["yeast"],
        auxiliary=lambda: _data.load_yeast().X.iloc[:, :5],
    )
    auxiliary = [_quality_models.AUXILIARY, _quality_models.AUXILIARY_ENSEMBLE]
    assert set(auxiliary) <= set(_quality_models.models_for(yeast))
    unchanged = _quality_models.models_for(_protocol.BENCHMARKS["yeast"])
    assert not set(auxiliary) & set(unchanged)
    outcomes = bench_quality.run_benchmark(yeast, quick=True, n_splits=1, models={7, 8})
    assert list(outcomes) == auxiliary
    single, ensemble = (outcomes[name][0] for name in auxiliary)
    assert single.note == "5 auxiliary tasks"
    assert ensemble.note == "2 networks"  # --quick averages two
    for outcome in (single, ensemble):
        assert 0.0 < outcome.scores["micro-F1"] <= 1.0


def test_auxiliary_targets_drop_unusable_columns_and_keep_missing_values(
    benchmarks_path,
):
    import _quality_models

    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {
            "skewed": rng.lognormal(size=500),
            "constant": np.ones(500),
            "mostly missing": np.where(rng.random(500) < 0.5, np.nan, 1.0),
            "one missing": np.r_[np.nan, rng.normal(size=499)],
        }
    )
    targets = _quality_models.auxiliary_targets(table)
    assert list(targets.columns) == ["aux: skewed", "aux: one missing"]
    assert targets["aux: one missing"].isna().sum() == 1
    assert abs(targets["aux: skewed"].median()) < 0.1  # mapped to a normal
    assert targets.index.equals(table.index)


# -- the studies ---------------------------------------------------------------


@needs_data("chemprop")
def test_tox21_variants_quick_run_prints_its_table():
    needs_rdkit()
    out = run_script(STUDIES / "tox21_variants.py", "--quick", "--splits", "1")
    assert out.count("| blend |") == 3
    assert "nan" not in out.lower()


@needs_data("chemprop")
def test_tox21_variants_compares_auxiliary_task_weights():
    needs_rdkit()
    out = run_script(
        STUDIES / "tox21_variants.py", "--auxiliary", "--quick", "--splits", "1"
    )
    assert "| none (the network of (2)) |" in out and "| weight 0.5 |" in out
    assert "nan" not in out.lower()


@needs_data("mulan")
def test_tune_networks_ranks_the_candidates_asked_for():
    out = run_script(
        STUDIES / "tune_networks.py",
        *("--dataset", "yeast", "--splits", "1", "--max-epochs", "2"),
        *("--only", "0", "1"),
    )
    assert "| # | candidate | validation micro-F1 | test micro-F1 | s / fit |" in out
    rows = [line for line in out.splitlines() if line.startswith("| 0 |")]
    rows += [line for line in out.splitlines() if line.startswith("| 1 |")]
    assert len(rows) == 2
    assert "nan" not in out.lower()


# -- bench_speed.py ------------------------------------------------------------


def test_speed_benchmark_quick_run_prints_targets():
    out = run_script(BENCHMARKS / "bench_speed.py", "--quick")
    assert "## Targets" in out
    assert "(d) MultiTaskNetEstimator" in out
    assert "## (d) against (c): many rounds of the two alone" in out


def test_speed_benchmark_runs_only_the_sections_asked():
    out = run_script(BENCHMARKS / "bench_speed.py", "--quick", "--sections", "duel")
    assert "## (d) against (c): many rounds of the two alone" in out
    assert "## Fit time: contenders side by side" not in out
    targets = out[out.index("## Targets") :]
    assert "fit (d)/(c), n=2,000 (duel)" in targets
    assert "fit (d)/(a)" not in targets and "GridSearchCV" not in targets


def test_speed_benchmark_profiles_a_training_step_of_the_estimator():
    # The profile drives the estimator's own module and loss by hand.
    out = run_script(BENCHMARKS / "bench_speed.py", "--quick", "--sections", "profile")
    assert "## Where a training step of (d) goes" in out
    assert "| masked multi-task loss |" in out
    assert "| one step of (d)'s fit |" in out


def test_speed_benchmark_target_layout_holds_codes_then_label_weights(
    benchmarks_path,
):
    import _estimator_sections
    import _speed

    X, y = _speed.make_data(200)
    encoded = _estimator_sections.encode_targets(y)
    n_tasks = y.shape[1]
    assert encoded.dtype == np.float32 and encoded.shape == (200, 2 * n_tasks)
    codes, weights = encoded[:, :n_tasks], encoded[:, n_tasks:]
    missing = np.isnan(y)
    assert missing.any()
    np.testing.assert_array_equal(weights, (~missing).astype(np.float32))
    assert not np.isnan(encoded).any() and (codes[missing] == 0).all()
    np.testing.assert_array_equal(codes[~missing[:, 0], 0], y[~missing[:, 0], 0])
    regression = codes[~missing[:, 2], 2]
    assert abs(regression.mean()) < 1e-5 and abs(regression.std() - 1) < 1e-5


def test_special_cases_benchmark_switches_each_one_off():
    out = run_script(BENCHMARKS / "bench_special_cases.py", "--quick")
    for variant in (
        "as it is",
        "epoch log formatted when silent",
        "Adam not fused",
        "heads not fused",
    ):
        assert f"| {variant} |" in out


# -- bench_weighting.py --------------------------------------------------------


@needs_data("mulan", "uci")
def test_weighting_benchmark_quick_run_prints_both_tables():
    out = run_script(BENCHMARKS / "bench_weighting.py", "--quick")
    assert "## Fit time per step, relative to weighting='fixed'" in out
    assert "| famo |" in out and "| mgda |" in out
    assert "### Adult" in out and "### Yeast" in out
    assert "| fixed, tuned: " in out


# -- bench_defaults.py and studies/choose_defaults.py ---------------------------


def test_defaults_benchmark_quick_run_prints_both_comparisons():
    out = run_script(BENCHMARKS / "bench_defaults.py", "--quick")
    assert "## New defaults against old ones" in out
    assert "| 8 members / 1 |" in out


def test_choose_defaults_ranks_candidates_on_generated_data():
    out = run_script(
        STUDIES / "choose_defaults.py", "--datasets", "small-wide", "--quick"
    )
    assert "### Ranking (validation parts only)" in out
    assert "| old defaults |" in out


# -- bench_task_affinity.py ----------------------------------------------------


def test_task_affinity_benchmark_quick_run_prints_its_tables():
    out = run_script(BENCHMARKS / "bench_task_affinity.py", "--quick")
    assert "Clusters recovered in" in out
    assert "| grouped |" in out and "| alone |" in out
    assert "| record_task_affinity=10 |" in out


# -- bench_num_embedding.py ----------------------------------------------------


def test_num_embedding_benchmark_quick_run_prints_its_table():
    pytest.importorskip("rtdl_num_embeddings")
    out = run_script(
        BENCHMARKS / "bench_num_embedding.py", "--quick", "--datasets", "synthetic"
    )
    rows = [line for line in out.splitlines() if line.startswith("| synthetic |")]
    assert [row.split(" | ")[2] for row in rows] == [
        "None",
        "periodic",
        "piecewise_linear",
    ]
    assert "nan" not in out.lower()


# -- bench_architectures.py ----------------------------------------------------


def test_architectures_benchmark_quick_run_prints_its_tables():
    out = run_script(BENCHMARKS / "bench_architectures.py", "--quick")
    assert "## The MMoE paper's synthetic experiment" in out
    assert "| MMoE, 8 × (16,) |" in out
    assert "## Fit time: each architecture against a hand-written loop" in out
    assert "| task attention (64,) |" in out


# -- bench_out_of_core.py ------------------------------------------------------


def test_out_of_core_benchmark_quick_run_trains_on_the_worker():
    pytest.importorskip("distributed")
    out = run_script(BENCHMARKS / "bench_out_of_core.py", "--quick")
    assert "## Out-of-core runs on the worker" in out
    # One row per seed, each trained on every row of the (tiny) array.
    assert out.count(" | 20,000 | ") == 2
    assert "## Test-set quality: out-of-core against in memory" in out
    assert "| worker peak RSS below its limit |" in out
    assert "Cluster processes still running after closing it: 0." in out
    assert "nan" not in out.lower()


def test_sparse_benchmark_quick_run_prints_its_targets():
    out = run_script(BENCHMARKS / "bench_sparse.py", "--quick")
    assert "## Targets" in out
    assert "time per epoch, (e) / (s)" in out and "peak memory" in out
