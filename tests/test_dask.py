"""Hyperparameter searches on a Dask cluster give the sequential search's results.

A real, process-based ``LocalCluster`` (two single-threaded workers) on the
loopback interface runs the searches through joblib's ``"dask"`` backend, so
estimators travel to the workers and back by pickling, as on a real cluster.
Client calls have a timeout, and every test (and the cluster's start and
stop) a time limit, which also bounds the calls that take no timeout (a
search whose workers cannot import the estimator would otherwise hang
silently); the cluster must leave no process behind. Skipped when
``distributed`` is absent.
"""

import contextlib
import signal

import joblib
import pytest
from numpy.testing import assert_array_equal
from scipy.stats import loguniform
from sklearn.model_selection import GridSearchCV, KFold, RandomizedSearchCV

from sklearn_mtl import MultiTaskNetEstimator, Task

distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

pytestmark = pytest.mark.filterwarnings(
    # distributed warns when a worker's scratch directory takes over 1 s to
    # create, which a busy test machine can take.
    "ignore:Creating scratch directories is taking:UserWarning"
)

CALL_TIMEOUT = 60  # seconds, for every client call
TEST_TIMEOUT = 120  # seconds, for every test and for the cluster's set-up


@contextlib.contextmanager
def time_limit(seconds, what):
    """Raise TimeoutError in the main thread if the block runs longer than ``seconds``.

    A no-op where SIGALRM does not exist (Windows); the per-call timeouts
    still apply there.
    """
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def on_alarm(signum, frame):
        raise TimeoutError(f"{what} took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def _time_limit(request):
    with time_limit(TEST_TIMEOUT, request.node.name):
        yield


def _child_processes():
    # multiprocessing's resource tracker lives as long as this process, by
    # design; it is not the cluster's to stop.
    return {
        p
        for p in psutil.Process().children(recursive=True)
        if "resource_tracker" not in " ".join(_cmdline(p))
    }


def _cmdline(process):
    try:
        return process.cmdline()
    except psutil.Error:  # gone, or a zombie
        return []


@pytest.fixture(scope="module")
def client():
    before = _child_processes()
    cluster = client = None
    try:
        with time_limit(TEST_TIMEOUT, "starting the Dask cluster"):
            cluster = distributed.LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",  # loopback only
                dashboard_address="127.0.0.1:0",  # None would still bind port 8787
            )
            client = distributed.Client(cluster, timeout=CALL_TIMEOUT)
            client.wait_for_workers(2, timeout=CALL_TIMEOUT)
        assert _child_processes() - before, "the workers should be child processes"
        yield client
    finally:
        started = _child_processes() - before
        with time_limit(TEST_TIMEOUT, "stopping the Dask cluster"):
            if client is not None:
                client.close(timeout=CALL_TIMEOUT)
            if cluster is not None:
                cluster.close(timeout=CALL_TIMEOUT)
        _, alive = psutil.wait_procs(list(started), timeout=CALL_TIMEOUT)
        for process in alive:  # don't leave them running, but fail the test
            process.kill()
        assert not alive, f"the Dask cluster left processes behind: {alive}"


def make_estimator():
    return MultiTaskNetEstimator(
        tasks=[
            ("income", Task("classification")),
            ("married", Task("classification")),
            ("age", Task("regression")),
        ],
        trunk_sizes=(8,),
        max_epochs=3,
        batch_size=64,
        random_state=0,
    )


def run_on_dask(client, search, X, Y):
    """Fit ``search`` with its fits on the cluster; check they ran there."""
    with (
        distributed.get_task_stream(client=client) as tasks,
        joblib.parallel_backend("dask", client=client, wait_for_workers_timeout=10),
    ):
        search.fit(X, Y)
    workers = {task["worker"] for task in tasks.data}
    assert workers, "no task ran on the Dask cluster"
    assert all(w.startswith("tcp://127.0.0.1:") for w in workers)  # loopback only
    return search


def assert_same_search_results(on_dask, sequential, X):
    assert on_dask.cv_results_["params"] == sequential.cv_results_["params"]
    for key in ["split0_test_score", "split1_test_score", "mean_test_score"]:
        assert_array_equal(on_dask.cv_results_[key], sequential.cv_results_[key])
    assert on_dask.best_params_ == sequential.best_params_
    best_dask, best_sequential = on_dask.best_estimator_, sequential.best_estimator_
    assert_array_equal(best_dask.predict(X), best_sequential.predict(X))
    for a, b in zip(
        best_dask.predict_proba(X), best_sequential.predict_proba(X), strict=True
    ):
        assert_array_equal(a, b)


def test_grid_search_on_dask_matches_sequential(client, census):
    X, Y = census

    def search():
        return GridSearchCV(
            make_estimator(),
            {"married__weight": [0.5, 2.0], "age__head_sizes": [(), (4,)]},
            cv=KFold(2, shuffle=True, random_state=0),
        )

    on_dask = run_on_dask(client, search(), X, Y)
    assert_same_search_results(on_dask, search().fit(X, Y), X)


def test_randomized_search_on_dask_matches_sequential(client, census):
    X, Y = census

    def search():
        return RandomizedSearchCV(
            make_estimator(),
            {"lr": loguniform(1e-3, 1e-1), "income__weight": [0.5, 1.0, 2.0]},
            n_iter=3,
            cv=KFold(2, shuffle=True, random_state=0),
            random_state=0,
        )

    on_dask = run_on_dask(client, search(), X, Y)
    assert_same_search_results(on_dask, search().fit(X, Y), X)


def test_incremental_training_on_a_dask_array(client):
    # dask_ml's Incremental calls partial_fit block by block, on the
    # cluster; it takes one target column (a single task here).
    dask_ml_wrappers = pytest.importorskip("dask_ml.wrappers")
    import dask.array as da
    import numpy as np

    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    X_dask, y_dask = da.from_array(X, chunks=100), da.from_array(y, chunks=100)
    est = MultiTaskNetEstimator(trunk_sizes=(8,), lr=1e-2, random_state=0)
    model = dask_ml_wrappers.Incremental(est)
    with time_limit(TEST_TIMEOUT, "Incremental.fit"):
        for _ in range(3):
            model.partial_fit(X_dask, y_dask, classes=[0, 1])
    fitted = model.estimator_
    assert fitted.n_iter_ == 12  # 3 passes over 4 blocks
    assert fitted.score(X, y) > 0.8
