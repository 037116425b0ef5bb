"""Fitting, predicting and scoring mixed tasks with missing labels."""

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone

from sklearn_mtl import MultiTaskNetEstimator, Task


def make_estimator(**params):
    params = {"max_epochs": 30, "random_state": 0, "trunk_sizes": (32,), **params}
    return MultiTaskNetEstimator(
        tasks=[
            ("income", Task("classification")),
            ("married", Task("classification", weight=0.5)),
            ("age", Task("regression", head_sizes=(8,), loss="huber")),
        ],
        **params,
    )


def test_fit_predict_mixed_tasks_in_their_own_label_spaces(census):
    X, Y = census
    est = make_estimator().fit(X, Y)

    y_pred = est.predict(X)
    assert y_pred.shape == (len(X), 3)
    assert y_pred.dtype == object  # strings, bools and floats mixed
    assert set(y_pred[:, 0]) <= {"low", "mid", "high"}
    assert set(y_pred[:, 1]) <= {True, False}
    assert np.isfinite(y_pred[:, 2].astype(float)).all()

    assert est.task_names_ == ["income", "married", "age"]
    assert_array_equal(est.classes_[0], ["high", "low", "mid"])
    assert_array_equal(est.classes_[1], [False, True])
    assert est.classes_[2] is None
    assert est.n_features_in_ == 6
    assert_array_equal(est.feature_names_in_, X.columns)
    assert [task.kind for _, task in est.tasks_] == [
        "classification",
        "classification",
        "regression",
    ]


def test_model_learns_every_task(census):
    X, Y = census
    scores = make_estimator(max_epochs=50, lr=1e-2).fit(X, Y).score_tasks(X, Y)
    assert scores["income"] > 0.8
    assert scores["married"] > 0.75
    assert scores["age"] > 0.7


def test_predict_proba_one_array_per_classification_task(census):
    X, Y = census
    est = make_estimator().fit(X, Y)
    income, married = est.predict_proba(X)
    assert income.shape == (len(X), 3) and married.shape == (len(X), 2)
    np.testing.assert_allclose(income.sum(axis=1), 1)
    # predict is the most probable class of predict_proba
    assert_array_equal(est.classes_[0][income.argmax(axis=1)], est.predict(X)[:, 0])


def test_predict_proba_absent_without_classification_task():
    X = np.random.RandomState(0).normal(size=(50, 3))
    est = MultiTaskNetEstimator(tasks=[("a", Task("regression"))], max_epochs=2)
    assert not hasattr(est, "predict_proba")
    est = MultiTaskNetEstimator(max_epochs=2).fit(X, X[:, :2])  # floats: regression
    assert not hasattr(est, "predict_proba")


def test_score_is_mean_of_task_scores_and_skips_missing_labels(census):
    X, Y = census
    est = make_estimator().fit(X, Y)
    scores = est.score_tasks(X, Y)
    assert est.score(X, Y) == pytest.approx(np.mean(list(scores.values())))
    labelled = Y["age"].notna().to_numpy()
    from sklearn.metrics import r2_score

    age_pred = est.predict(X)[labelled, 2].astype(float)
    assert scores["age"] == pytest.approx(r2_score(Y["age"][labelled], age_pred))


def test_task_without_labels_in_test_set_scores_nan(census):
    X, Y = census
    est = make_estimator(max_epochs=2).fit(X, Y)
    Y_test = Y.copy()
    Y_test["age"] = np.nan
    scores = est.score_tasks(X, Y_test)
    assert np.isnan(scores["age"])
    assert est.score(X, Y_test) == pytest.approx(
        (scores["income"] + scores["married"]) / 2
    )


def test_dataframe_columns_matched_by_name(census):
    X, Y = census
    est = make_estimator(max_epochs=3)
    reordered = Y[["age", "income", "married"]]
    assert_array_equal(est.fit(X, reordered).predict(X), est.fit(X, Y).predict(X))
    assert est.score_tasks(X, reordered) == est.score_tasks(X, Y)


def test_array_columns_taken_in_task_order(census):
    X, Y = census
    est = make_estimator(max_epochs=3)
    from_frame = est.fit(X, Y).predict(X)
    from_array = est.fit(X.to_numpy(), Y.to_numpy(dtype=object)).predict(X.to_numpy())
    assert_array_equal(from_frame, from_array)


def test_default_tasks_one_auto_task_per_column(census):
    X, Y = census
    est = MultiTaskNetEstimator(max_epochs=2, random_state=0).fit(X, Y)
    assert est.task_names_ == ["income", "married", "age"]
    assert est.tasks is None  # parameters are left as given
    est.fit(X.to_numpy(), Y.to_numpy(dtype=object))
    assert est.task_names_ == ["task_0", "task_1", "task_2"]


@pytest.mark.parametrize(
    "column, kind",
    [
        (np.array(["a", "b", "a", "b"]), "classification"),
        (np.array([True, False, True, False]), "classification"),
        (pd.Series(["x", "y", "x", None], dtype="category"), "classification"),
        (pd.Series([1.5, 2.5, 1.5, 3.5], dtype="category"), "classification"),
        (np.array([0, 1, 2, 1]), "classification"),
        (pd.Series([0, 1, None, 2], dtype="Int64"), "classification"),
        (np.array([0.0, 1.0, np.nan, 1.0]), "classification"),  # binary with NaN
        (np.array([3750.0, 3800.0, np.nan, 3250.0]), "regression"),
        (np.array([0.1, 1.0, 0.5, 2.0]), "regression"),
        (np.array([0.0, 1.0, 2.0, 1.0]), "regression"),  # floats with 3 values
        (np.array([1.0, 2.5, None, 2.0], dtype=object), "regression"),
    ],
)
def test_auto_kind_inference(column, kind):
    X = np.arange(8, dtype=float).reshape(4, 2)
    est = MultiTaskNetEstimator(max_epochs=1, trunk_sizes=(4,)).fit(X, column)
    assert est.tasks_[0][1].kind == kind


def test_one_dimensional_y_is_a_single_task():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    y = np.where(X[:, 0] > 0, "pos", "neg")
    est = MultiTaskNetEstimator(max_epochs=5, random_state=0).fit(X, y)
    assert est.predict(X).shape == (60,)
    assert est.predict_proba(X).shape == (60, 2)
    assert est.task_names_ == ["task_0"]


def test_class_labels_keep_their_dtype():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(np.int16) * 7
    est = MultiTaskNetEstimator(max_epochs=3, random_state=0).fit(X, Y)
    y_pred = est.predict(X)
    assert y_pred.dtype == np.int16
    assert set(np.unique(y_pred)) <= {0, 7}


def test_regression_predictions_in_original_units():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 3))
    y = 1e5 + 2e4 * X[:, 0]  # far from unit scale: standardized inside
    est = MultiTaskNetEstimator(
        tasks=[("price", Task("regression"))], max_epochs=60, random_state=0
    ).fit(X, y.reshape(-1, 1))
    y_pred = est.predict(X)[:, 0]
    assert est.score(X, y.reshape(-1, 1)) > 0.95
    assert abs(y_pred.mean() - 1e5) < 5e3


def test_missing_label_values_are_ignored(census):
    # A missing label must not influence the model: replacing the labels of
    # missing entries by other missing markers gives an identical fit.
    X, Y = census
    Y_none = Y.astype(object).where(Y.notna(), None)
    est = make_estimator(max_epochs=3)
    assert_array_equal(est.fit(X, Y).predict(X), est.fit(X, Y_none).predict(X))


def test_rows_without_any_label_are_allowed_and_change_nothing(census):
    # A row without any label contributes nothing to any task's loss: with
    # one batch per epoch, fitting with it equals fitting without it.
    X, Y = census
    Y = Y.copy()
    Y.iloc[:10] = None
    # No dropout: its masks depend on the number of rows in a batch.
    est = make_estimator(max_epochs=2, batch_size=len(X), dropout=0.0)
    with_rows = est.fit(X, Y).predict(X)
    without_rows = clone(est).fit(X.iloc[10:], Y.iloc[10:]).predict(X)
    assert with_rows.shape == (len(X), 3)
    assert_array_equal(with_rows[:, :2], without_rows[:, :2])
    assert_allclose(with_rows[:, 2].astype(float), without_rows[:, 2].astype(float))


def test_same_random_state_same_model_and_global_rng_untouched(census):
    X, Y = census
    torch.manual_seed(123)
    np.random.seed(123)
    torch_state, numpy_state = torch.random.get_rng_state(), np.random.get_state()
    first = make_estimator(max_epochs=5, dropout=0.2).fit(X, Y).predict(X)
    second = make_estimator(max_epochs=5, dropout=0.2).fit(X, Y).predict(X)
    assert_array_equal(first, second)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert_array_equal(np.random.get_state()[1], numpy_state[1])
    other = make_estimator(max_epochs=5, dropout=0.2, random_state=1).fit(X, Y)
    assert not np.array_equal(first[:, 2], other.predict(X)[:, 2])


@pytest.mark.parametrize(
    "dumps, loads", [(pickle.dumps, pickle.loads), ("joblib", "joblib")]
)
def test_pickle_round_trip_gives_identical_predictions(census, dumps, loads, tmp_path):
    X, Y = census
    est = make_estimator(max_epochs=3).fit(X, Y)
    if dumps == "joblib":
        joblib.dump(est, tmp_path / "model.joblib")
        restored = joblib.load(tmp_path / "model.joblib")
    else:
        restored = loads(dumps(est))
    assert_array_equal(restored.predict(X), est.predict(X))
    for a, b in zip(restored.predict_proba(X), est.predict_proba(X)):
        assert_array_equal(a, b)


def test_history_records_per_task_losses(census):
    X, Y = census
    est = make_estimator(max_epochs=4, early_stopping=True).fit(X, Y)
    history = est.net_.history
    assert len(history) == est.n_iter_ == 4
    for prefix in ("train", "valid"):
        for task in est.task_names_:
            losses = history[:, f"{prefix}_loss_{task}"]
            assert len(losses) == 4 and np.isfinite(losses).all()
    # the model learns: each task's training loss goes down
    for task in est.task_names_:
        assert history[-1, f"train_loss_{task}"] < history[0, f"train_loss_{task}"]


def test_early_stopping_stops_and_restores_best_epoch():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 3))
    y = rng.normal(size=(200, 1))  # pure noise: validation loss soon stops improving
    est = MultiTaskNetEstimator(
        max_epochs=200, early_stopping=True, n_iter_no_change=3, random_state=0
    ).fit(X, y)
    assert est.n_iter_ < 200
    valid = est.net_.history[:, "valid_loss"]
    assert est.n_iter_ - (int(np.argmin(valid)) + 1) == 3


def test_zero_weight_task_does_not_train_its_head(census):
    X, Y = census
    est = make_estimator(max_epochs=3)
    est.set_params(age__weight=0.0).fit(X, Y)
    init = make_estimator(max_epochs=1, lr=1e-12).set_params(age__weight=0.0).fit(X, Y)
    np.testing.assert_allclose(
        est.net_.module_.heads[2][0].weight.detach(),
        init.net_.module_.heads[2][0].weight.detach(),
    )


def test_fit_does_not_mutate_inputs_or_tasks(census):
    X, Y = census
    X_copy, Y_copy = X.copy(), Y.copy()
    est = make_estimator(max_epochs=2)
    tasks_before = [(name, task.get_params()) for name, task in est.tasks]
    est.fit(X, Y)
    pd.testing.assert_frame_equal(X, X_copy)
    pd.testing.assert_frame_equal(Y, Y_copy)
    assert [(name, task.get_params()) for name, task in est.tasks] == tasks_before
    assert all(task.kind != "auto" for _, task in est.tasks_)


def test_verbose_prints_per_task_losses(census, capsys):
    X, Y = census
    make_estimator(max_epochs=2, verbose=1).fit(X, Y)
    out = capsys.readouterr().out
    assert "train_loss_income" in out and "train_loss_age" in out
    make_estimator(max_epochs=2, verbose=0).fit(X, Y)
    assert capsys.readouterr().out == ""


def test_verbose_warm_start_after_a_silent_fit_prints_the_log_header(census, capsys):
    X, Y = census
    est = make_estimator(max_epochs=1, verbose=0, warm_start=True).fit(X, Y)
    assert capsys.readouterr().out == ""
    est.set_params(verbose=1).fit(X, Y)
    out = capsys.readouterr().out
    assert "epoch" in out and "train_loss_income" in out


def test_extra_callbacks_are_passed_to_skorch(census):
    from skorch.callbacks import Callback

    class CountEpochs(Callback):
        def initialize(self):
            self.epochs = 0
            return self

        def on_epoch_end(self, net, **kwargs):
            self.epochs += 1

    X, Y = census
    counter = CountEpochs()
    est = make_estimator(max_epochs=3, callbacks=[("count", counter)]).fit(X, Y)
    assert dict(est.net_.callbacks_)["count"].epochs == 3
    assert not hasattr(counter, "epochs")  # the caller's callback is left untouched


def test_custom_optimizer_and_activation(census):
    X, Y = census
    est = make_estimator(
        max_epochs=2,
        optimizer=torch.optim.SGD,
        activation=torch.nn.ELU,
        weight_decay=1e-3,
    ).fit(X, Y)
    assert isinstance(est.net_.optimizer_, torch.optim.SGD)
    assert isinstance(est.net_.module_.trunk[1], torch.nn.ELU)


def test_pandas_output(census):
    from sklearn.base import clone

    X, Y = census
    X = X.set_index(X.index + 1000)
    est = make_estimator(max_epochs=2).set_output(predict="pandas").fit(X, Y)
    y_pred = est.predict(X)
    assert list(y_pred.columns) == ["income", "married", "age"]
    assert y_pred.index.equals(X.index)
    assert y_pred["age"].dtype == np.float64 and y_pred["married"].dtype == bool
    income, married = est.predict_proba(X)
    assert list(income.columns) == ["high", "low", "mid"]
    assert clone(est).fit(X, Y).predict(X).equals(y_pred)
    assert isinstance(est.set_output(predict="default").predict(X), np.ndarray)


def test_verbose_2_shows_a_progress_bar(census, capsys):
    X, Y = census
    make_estimator(max_epochs=2, verbose=2).fit(X, Y)
    captured = capsys.readouterr()
    assert "train_loss_income" in captured.out  # the per-epoch table
    assert "it/s" in captured.err or "s/it" in captured.err  # tqdm's bar


def test_unseeded_fit_leaves_numpy_global_random_state_alone(census):
    X, Y = census
    np.random.seed(7)
    before = np.random.get_state()[1].copy()
    make_estimator(max_epochs=1, random_state=None).fit(X, Y)
    assert_array_equal(np.random.get_state()[1], before)


def test_regression_labels_near_the_float64_limit():
    # Standardizing 1e160 naively squares it to inf: every prediction was NaN.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    y = 1e160 * (X[:, 0] + 2)
    est = MultiTaskNetEstimator(max_epochs=30, lr=1e-2, random_state=0).fit(X, y)
    pred = est.predict(X)
    assert np.all(np.isfinite(pred))
    assert np.corrcoef(pred / 1e160, y / 1e160)[0, 1] > 0.9


def test_labels_are_read_the_way_users_mean_them():
    # A Python list keeps each value as given (NumPy would make 'nan' a class
    # and 1.3 a string), Decimal is a number, as pandas.read_sql returns it.
    from decimal import Decimal

    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 2))
    rows = [
        ["yes" if a > 0 else "no", float(b) if i % 5 else np.nan]
        for i, (a, b) in enumerate(X)
    ]
    est = MultiTaskNetEstimator(trunk_sizes=(4,), max_epochs=2, random_state=0)
    est.fit(X, rows)
    assert [task.kind for _, task in est.tasks_] == ["classification", "regression"]
    assert list(est.classes_[0]) == ["no", "yes"]
    labels = [np.nan if i % 4 == 0 else r for i, (r, _) in enumerate(rows)]
    est.fit(X, labels)  # a 1-D list of strings with gaps: NaN is missing
    assert list(est.classes_[0]) == ["no", "yes"]
    decimals = [Decimal(str(round(v, 3))) for v in X[:, 1]]
    est.set_params(tasks=[("value", Task("regression"))]).fit(X, decimals)
    assert est.tasks_[0][1].kind == "regression"


def test_duplicate_target_column_names_are_an_error():
    X = np.zeros((4, 2))
    Y = pd.DataFrame([[1.0, 2.0]] * 4, columns=["a", "a"])
    with pytest.raises(ValueError, match="duplicate column names \\['a'\\]"):
        MultiTaskNetEstimator(max_epochs=1).fit(X, Y)


def test_predict_decodes_batch_by_batch(census, monkeypatch):
    # Predicting many rows of a many-class task must not hold every logit:
    # each batch is decoded to labels (or probabilities) as it comes.
    from sklearn_mtl import _codecs, _net

    X, Y = census
    est = make_estimator(max_epochs=1).fit(X, Y)
    expected, expected_proba = est.predict(X), est.predict_proba(X)
    monkeypatch.setattr(_net, "PREDICT_BATCH_SIZE", 50)
    seen = []
    decode = _codecs.ClassCodec.decode

    def recording_decode(self, logits):
        seen.append(len(logits))
        return decode(self, logits)

    monkeypatch.setattr(_codecs.ClassCodec, "decode", recording_decode)
    predicted = est.predict(X)
    assert_array_equal(predicted[:, :2], expected[:, :2])
    # Other batch sizes may round the last float bit differently.
    assert_allclose(predicted[:, 2].astype(float), expected[:, 2].astype(float))
    assert max(seen) == 50 and sum(seen) == 2 * len(X)  # two class tasks
    for proba, proba_before in zip(est.predict_proba(X), expected_proba):
        assert_allclose(proba, proba_before)
