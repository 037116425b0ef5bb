"""The benchmark scripts still run: their ``--quick`` modes, end to end.

Their numbers are not checked here (a smoke run's scores mean nothing); the
scripts must finish and print their tables. The quality benchmark needs the
shared data sets beside the repository and is skipped without them.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO_ROOT / "benchmarks"
DATA = REPO_ROOT.parent / "shared" / "data"


def run_script(*args):
    result = subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.skipif(
    not (DATA / "mulan").is_dir() or not (DATA / "uci").is_dir(),
    reason="the shared data sets (../shared/data) are not beside the repository",
)
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


@pytest.mark.skipif(
    not (DATA / "mulan").is_dir(),
    reason="the shared data sets (../shared/data) are not beside the repository",
)
def test_quality_benchmark_runs_only_the_models_asked_for():
    out = run_script(
        BENCHMARKS / "bench_quality.py",
        *("--quick", "--datasets", "yeast", "--splits", "1", "--models", "5"),
    )
    assert "| (5) HistGradientBoosting |" in out
    assert "(1) multi-task net" not in out and "(3) single-task" not in out
    assert "## Summary" not in out  # it needs models (1)-(4)


@pytest.mark.skipif(
    not (DATA / "mulan").is_dir(),
    reason="the shared data sets (../shared/data) are not beside the repository",
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_quality_benchmark_runs_the_random_forest_where_asked(monkeypatch):
    # Model (6) runs on Tox21 only, which needs rdkit; check it on Yeast.
    import dataclasses

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_quality

    yeast = dataclasses.replace(bench_quality.BENCHMARKS["yeast"], random_forest=True)
    outcomes = bench_quality.run_benchmark(yeast, quick=True, n_splits=1)
    auxiliary = {bench_quality.AUXILIARY, bench_quality.AUXILIARY_ENSEMBLE}
    assert list(outcomes) == [
        name for name in bench_quality.MODELS if name not in auxiliary
    ]
    forest = outcomes["(6) random forest"][0].scores
    assert 0.0 < forest["micro-F1"] <= 1.0
    assert "(6) random forest" not in bench_quality.BENCHMARKS["yeast"].models


@pytest.mark.skipif(
    not (DATA / "mulan").is_dir(),
    reason="the shared data sets (../shared/data) are not beside the repository",
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_quality_benchmark_trains_auxiliary_tasks_where_asked(monkeypatch):
    # Model (7) runs on Tox21 only, which needs rdkit; check it on Yeast, with
    # a few input columns standing in for the auxiliary targets.
    import dataclasses

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import _data
    import bench_quality

    yeast = dataclasses.replace(
        bench_quality.BENCHMARKS["yeast"],
        auxiliary=lambda: _data.load_yeast().X.iloc[:, :5],
    )
    auxiliary = [bench_quality.AUXILIARY, bench_quality.AUXILIARY_ENSEMBLE]
    assert set(auxiliary) <= set(yeast.models)
    assert not set(auxiliary) & set(bench_quality.BENCHMARKS["yeast"].models)
    outcomes = bench_quality.run_benchmark(yeast, quick=True, n_splits=1, models={7, 8})
    assert list(outcomes) == auxiliary
    single, ensemble = (outcomes[name][0] for name in auxiliary)
    assert single.note == "5 auxiliary tasks"
    assert ensemble.note == "2 networks"  # --quick averages two
    for outcome in (single, ensemble):
        assert 0.0 < outcome.scores["micro-F1"] <= 1.0


def test_auxiliary_targets_drop_unusable_columns_and_keep_missing_values(
    monkeypatch,
):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_quality

    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {
            "skewed": rng.lognormal(size=500),
            "constant": np.ones(500),
            "mostly missing": np.where(rng.random(500) < 0.5, np.nan, 1.0),
            "one missing": np.r_[np.nan, rng.normal(size=499)],
        }
    )
    targets = bench_quality.auxiliary_targets(table)
    assert list(targets.columns) == ["aux: skewed", "aux: one missing"]
    assert targets["aux: one missing"].isna().sum() == 1
    assert abs(targets["aux: skewed"].median()) < 0.1  # mapped to a normal
    assert targets.index.equals(table.index)


@pytest.mark.skipif(
    not (DATA / "chemprop").is_dir(),
    reason="the shared data sets (../shared/data) are not beside the repository",
)
def test_tox21_variants_quick_run_prints_its_table():
    pytest.importorskip("rdkit")
    out = run_script(BENCHMARKS / "tox21_variants.py", "--quick", "--splits", "1")
    assert out.count("| blend |") == 3
    assert "nan" not in out.lower()


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


@pytest.mark.skipif(
    not (DATA / "chemprop").is_dir(),
    reason="the shared data sets (../shared/data) are not beside the repository",
)
def test_tox21_variants_compares_auxiliary_task_weights():
    pytest.importorskip("rdkit")
    out = run_script(
        BENCHMARKS / "tox21_variants.py", "--auxiliary", "--quick", "--splits", "1"
    )
    assert "| none (the network of (2)) |" in out and "| weight 0.5 |" in out
    assert "nan" not in out.lower()
