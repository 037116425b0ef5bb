"""The :class:`MultiTaskNetEstimator`: one network, several targets, scikit-learn's API."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import ArrayLike
from scipy.special import softmax
from skorch.callbacks import ProgressBar
from sklearn.base import _fit_context
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import _BaseComposition, available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ._network import ACTIVATIONS, MaskedMultiTaskLoss, MultiTaskNetwork
from ._targets import (
    check_warm_start_labels,
    fit_target,
    infer_kind,
    labelled_values,
    split_columns,
    stack_predictions,
)
from ._task import Task, check_layer_sizes, check_task_list, resolve_task
from ._training import (
    HoldoutSplit,
    MultiTaskNet,
    StopEarly,
    TensorBatchIterator,
    TensorDataset,
    torch_threads,
)

# Rows per forward pass at prediction time: large enough to amortize Python
# overhead, small enough to bound activation memory.
_PREDICT_BATCH_SIZE = 8192


def _has_classification_task(estimator):
    """Whether ``predict_proba`` applies (before fit: unless all tasks regress)."""
    tasks = getattr(estimator, "tasks_", estimator.tasks)
    try:
        return tasks is None or any(task.kind != "regression" for _, task in tasks)
    except (TypeError, ValueError, AttributeError):
        return True  # malformed tasks: let fit report it


class MultiTaskNetEstimator(_BaseComposition):
    """Neural network learning several targets at once through a shared trunk.

    Hard parameter sharing: every row of ``X`` passes through a shared trunk
    of fully connected layers, then through one small head per task. Tasks may
    mix classification and regression, and any label may be missing. Training
    minimizes the weighted sum of the tasks' losses, each averaged over the
    rows of the mini-batch that have a label for it. Training is run by
    `skorch <https://skorch.readthedocs.io>`_; the fitted skorch net is
    ``net_``.

    Parameters
    ----------
    tasks : list of (str, Task) tuples, default=None
        The named tasks, in the order of the columns of ``y`` (or matched by
        name to a DataFrame ``y``'s columns). Task parameters are reachable
        as ``<name>__<param>``, e.g. ``set_params(age__weight=2.0)``. Names
        must be unique, must not contain ``__`` and must not be a parameter
        name of this estimator. None means one ``Task()`` (kind inferred)
        per column of ``y``, named after a DataFrame's columns or
        ``task_0``, ``task_1``, ... for arrays.

    trunk_sizes : tuple of int, default=(128, 64)
        Hidden layer sizes of the shared trunk. ``()`` connects the heads
        directly to ``X``.

    activation : {"relu", "tanh", "logistic", "identity", "gelu"} or \
            type of torch.nn.Module, default="relu"
        Nonlinearity after every hidden layer, trunk and heads alike.

    dropout : float, default=0.0
        Dropout probability after every hidden layer, in [0, 1).

    max_epochs : int, default=100
        Number of passes over the training data (an upper bound when
        ``early_stopping=True``).

    batch_size : int, default=128
        Rows per mini-batch.

    lr : float, default=1e-3
        Learning rate of the optimizer.

    optimizer : type of torch.optim.Optimizer, default=torch.optim.Adam
        The optimizer class; it receives ``lr`` and ``weight_decay``.

    weight_decay : float, default=0.0
        The optimizer's weight decay (an L2 penalty for Adam and SGD).

    early_stopping : bool, default=False
        Whether to hold out ``validation_fraction`` of the training rows and
        stop when the validation loss has not improved by at least ``tol``
        for ``n_iter_no_change`` epochs. The weights of the best epoch are
        restored at the end.

    validation_fraction : float, default=0.1
        Share of the training rows held out when ``early_stopping=True``.

    n_iter_no_change : int, default=10
        Epochs without improvement before early stopping.

    tol : float, default=1e-4
        Minimum decrease of the validation loss that counts as improvement.

    warm_start : bool, default=False
        When fitted already, continue training the fitted network for
        ``max_epochs`` more epochs on the new data, with the current ``lr``
        and task weights, instead of starting afresh. The tasks, their label
        encoding and the network's architecture must be unchanged. After an
        interrupted fit, this resumes training.

    callbacks : list of skorch callbacks or (name, callback) tuples, \
            default=None
        Extra skorch callbacks, copied at each fit and passed to the net.

    device : str or torch.device, default="cpu"
        Where to train and predict, e.g. ``"cuda"``. The data are moved to
        the device once per fit.

    num_threads : int or None, default=1
        Number of CPU threads torch uses inside ``fit``, ``predict`` and
        ``score`` (set with :func:`torch.set_num_threads` and restored
        afterwards). One thread is as fast as several for the small networks
        typical of tabular data, avoids oversubscribing the cores when a
        search runs fits in parallel (``GridSearchCV(n_jobs=...)``), and
        makes results independent of the machine's core count. Raise it for
        one large network on a many-core machine; None keeps torch's current
        setting.

    random_state : int, RandomState instance or None, default=None
        Seeds weight initialization, dropout, batch shuffling and the
        validation split. With an int, two fits give identical models on
        the CPU. The global random states of torch and numpy are left as
        they were.

    verbose : int, default=0
        0 is silent; 1 prints one line per epoch with the total and
        per-task losses; 2 also shows a progress bar over each epoch's
        mini-batches (on stderr, via tqdm), for long fits.

    Attributes
    ----------
    tasks_ : list of (str, Task) tuples
        The tasks as fitted: copies with ``kind`` and ``loss`` resolved.

    task_names_ : list of str
        Names of the tasks, in the order of ``predict``'s columns.

    classes_ : list of ndarray or None
        Per task, the class labels of a classification task, None for a
        regression task.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit. Defined only when ``X`` has
        feature names that are all strings.

    net_ : skorch.NeuralNet
        The fitted skorch net. ``net_.history`` holds, per epoch,
        ``train_loss`` (the weighted objective), ``train_loss_<task>``
        (each task's mean loss over its labelled rows) and, with early
        stopping, the same for ``valid_``. Regression losses are on the
        standardized target.

    n_iter_ : int
        Number of epochs run.

    See Also
    --------
    Task : The specification of one task.
    sklearn.neural_network.MLPClassifier : Single-task network.
    sklearn.multioutput.MultiOutputRegressor : One independent model per target.

    Notes
    -----
    Regression targets are standardized inside the estimator, so that task
    losses are on comparable scales and ``Task.weight`` means what it says;
    predictions come back in the original units. ``X`` is not scaled: put a
    :class:`~sklearn.preprocessing.StandardScaler` in front of the estimator.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl import MultiTaskNetEstimator, Task
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 4))
    >>> y = np.column_stack([X[:, 0] > 0, X[:, 1] + X[:, 2]])  # 0./1. and reals
    >>> y[::10, 1] = np.nan  # every tenth row lacks the second label
    >>> est = MultiTaskNetEstimator(
    ...     tasks=[("sign", Task("classification")), ("sum", Task("regression"))],
    ...     max_epochs=20, random_state=0,
    ... ).fit(X, y)
    >>> est.predict(X[:3]).shape
    (3, 2)
    >>> est.classes_
    [array([0., 1.]), None]
    >>> sorted(est.score_tasks(X, y))
    ['sign', 'sum']
    """

    _parameter_constraints: dict = {
        "tasks": [list, None],
        "trunk_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS)), type],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [type],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "warm_start": ["boolean"],
        "callbacks": [list, None],
        "device": [str, torch.device],
        "num_threads": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        tasks: list[tuple[str, Task]] | None = None,
        *,
        trunk_sizes: Sequence[int] = (128, 64),
        activation: str | type[torch.nn.Module] = "relu",
        dropout: float = 0.0,
        max_epochs: int = 100,
        batch_size: int = 128,
        lr: float = 1e-3,
        optimizer: type[torch.optim.Optimizer] = torch.optim.Adam,
        weight_decay: float = 0.0,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        tol: float = 1e-4,
        warm_start: bool = False,
        callbacks: list[Any] | None = None,
        device: str | torch.device = "cpu",
        num_threads: int | None = 1,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
    ) -> None:
        self.tasks = tasks
        self.trunk_sizes = trunk_sizes
        self.activation = activation
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.warm_start = warm_start
        self.callbacks = callbacks
        self.device = device
        self.num_threads = num_threads
        self.random_state = random_state
        self.verbose = verbose

    # -- parameters: tasks are routed like Pipeline steps ---------------------

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Get parameters of this estimator and, with ``deep``, of its tasks.

        Parameters
        ----------
        deep : bool, default=True
            If True, also return each task as ``<name>`` and its parameters
            as ``<name>__<param>``.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        return self._get_params("tasks", deep=deep)

    def set_params(self, **params: Any) -> MultiTaskNetEstimator:
        """Set parameters of this estimator or of its tasks.

        Valid keys are the constructor's parameters, task names (to replace
        a task) and ``<task>__<param>`` (e.g. ``married__weight=2.0``).

        Parameters
        ----------
        **params : dict
            Parameters to set.

        Returns
        -------
        self : MultiTaskNetEstimator
            This estimator.
        """
        self._set_params("tasks", **params)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = True
        tags.input_tags.allow_nan = False
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "net_")

    # -- fitting --------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> MultiTaskNetEstimator:
        """Fit the network to all tasks at once.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric features, without missing values.
        y : array-like of shape (n_samples, n_tasks) or (n_samples,), or \
                DataFrame
            One column per task. A DataFrame's columns are matched to the
            task names; an array's columns are taken in task order. NaN, None
            and pandas.NA mark missing labels, which are left out of their
            task's loss. A 1-D ``y`` is a single task.

        Returns
        -------
        self : MultiTaskNetEstimator
            The fitted estimator.
        """
        try:
            return self._fit(X, y)
        except BaseException:
            self._forget_fit()  # a failed fit leaves no half-fitted model
            raise

    def _fit(self, X, y):
        warm = self.warm_start and self.__sklearn_is_fitted__()
        X = self._validate_X(X, reset=not warm)
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None. Pass one column of labels per task."
            )
        columns, column_names, y_1d = split_columns(y)
        self._check_n_rows(X, columns)
        if self.tasks is None:
            tasks = self._default_tasks(columns, column_names)
        else:
            tasks = check_task_list(self.tasks, self.get_params(deep=False))
            columns = self._match_columns(columns, column_names, tasks)

        resolved, targets, codes = [], [], []
        for j, ((name, task), column) in enumerate(zip(tasks, columns)):
            values, missing, is_categorical = labelled_values(column)
            kind = task.kind
            if kind == "auto" and len(values):
                kind = infer_kind(values, is_categorical)
            resolved_task = resolve_task(name, task, kind)
            if warm:  # keep the label encoding the network was trained with
                target = self._targets_[j]
                check_warm_start_labels(name, target, values)
            else:
                target = fit_target(name, resolved_task.kind, values)
            resolved.append((name, resolved_task))
            targets.append(target)
            codes.append(target.encode(values, missing))

        rng = check_random_state(self.random_state)
        torch_seed, *data_seeds = rng.randint(np.iinfo(np.int32).max, size=3).tolist()
        if warm:
            net = self._continue_net(resolved, *data_seeds)
        else:
            net = self._build_net(resolved, targets, X.shape[1], *data_seeds)
        X_t = torch.as_tensor(X, device=net.device)
        y_t = torch.as_tensor(np.column_stack(codes), device=net.device)
        # Seed torch's global generator (weights, dropout) inside a fork so that
        # fitting leaves the caller's random state untouched.
        with (
            torch.random.fork_rng(devices=self._rng_devices()),
            torch_threads(self.num_threads),
        ):
            torch.manual_seed(torch_seed)
            if warm:
                net.partial_fit(TensorDataset(X_t, y_t), y=None, epochs=self.max_epochs)
            else:
                net.fit(TensorDataset(X_t, y_t), y=None)
        if net._interrupted:
            if not net.history:
                raise KeyboardInterrupt  # interrupted before any epoch finished
            warnings.warn(
                f"Training was interrupted (KeyboardInterrupt); the model keeps the "
                f"weights of epoch {len(net.history)}, the last one that finished. "
                "Fit again with warm_start=True to continue training.",
                UserWarning,
                stacklevel=3,
            )

        self.net_ = net
        self.tasks_ = resolved
        self.task_names_ = [name for name, _ in resolved]
        self.classes_ = [getattr(target, "classes", None) for target in targets]
        self.n_iter_ = len(net.history)
        self._targets_ = targets
        self._y_1d_ = y_1d
        return self

    def _continue_net(self, tasks, shuffle_seed, split_seed):
        """The fitted net, checked against ``tasks`` and set up for more epochs."""
        fitted = [(name, task.kind, task.loss, task.head_sizes) for name, task in self.tasks_]
        current = [(name, task.kind, task.loss, task.head_sizes) for name, task in tasks]
        module_params = {
            "trunk_sizes": check_layer_sizes(self.trunk_sizes, "trunk_sizes"),
            "activation": self.activation,
            "dropout": self.dropout,
        }
        changed = [
            key
            for key, value in module_params.items()
            if self.net_.get_params()[f"module__{key}"] != value
        ]
        if fitted != current or changed:
            raise ValueError(
                "warm_start=True continues training the fitted network, but "
                f"{'the tasks' if fitted != current else ', '.join(changed)} changed "
                "since it was fitted. Set warm_start=False to fit a new network."
            )
        net = self.net_
        net.set_params(lr=self.lr, verbose=self.verbose, callbacks=self._callbacks())
        net.initialize_callbacks()
        net.set_params(callbacks__print_log__sink=self._log_sink())
        # A plain attribute: skorch's set_params can't take iterator arguments
        # on an initialized net.
        net.iterator_train__seed = shuffle_seed
        if net.train_split is not None:
            net.train_split.seed = split_seed
        net.criterion_.weights = torch.as_tensor(
            [task.weight for _, task in tasks], dtype=torch.float32, device=net.device
        )
        for group in net.optimizer_.param_groups:
            group["lr"] = self.lr
        return net

    def _build_net(self, tasks, targets, n_features, shuffle_seed, split_seed):
        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device={self.device!r}, but no CUDA device is available; use "
                "device='cpu'."
            )
        if not issubclass(self.optimizer, torch.optim.Optimizer):
            raise TypeError(
                "optimizer must be a torch.optim.Optimizer class such as "
                f"torch.optim.Adam, got {self.optimizer!r}."
            )
        if isinstance(self.activation, type) and not issubclass(
            self.activation, torch.nn.Module
        ):
            raise TypeError(
                "activation must be one of "
                f"{sorted(ACTIVATIONS)} or a torch.nn.Module class, got "
                f"{self.activation!r}."
            )
        train_split = None
        if self.early_stopping:
            train_split = HoldoutSplit(self.validation_fraction, split_seed)
        return MultiTaskNet(
            module=MultiTaskNetwork,
            module__n_features=n_features,
            module__trunk_sizes=check_layer_sizes(self.trunk_sizes, "trunk_sizes"),
            module__heads=[
                (task.head_sizes, target.n_outputs)
                for (_, task), target in zip(tasks, targets)
            ],
            module__activation=self.activation,
            module__dropout=self.dropout,
            criterion=MaskedMultiTaskLoss,
            criterion__losses=[task.loss for _, task in tasks],
            criterion__weights=[task.weight for _, task in tasks],
            optimizer=self.optimizer,
            optimizer__weight_decay=self.weight_decay,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            dataset=TensorDataset,
            iterator_train=TensorBatchIterator,
            iterator_train__shuffle=True,
            iterator_train__seed=shuffle_seed,
            iterator_valid=TensorBatchIterator,
            train_split=train_split,
            callbacks=self._callbacks(),
            callbacks__print_log__sink=self._log_sink(),
            device=device,
            verbose=self.verbose,
            task_names=[name for name, _ in tasks],
        )

    def _callbacks(self):
        """Copies of the user's callbacks, plus early stopping and progress bar."""
        callbacks = copy.deepcopy(list(self.callbacks or []))
        if self.verbose >= 2:
            callbacks.append(("progress_bar", ProgressBar()))
        if self.early_stopping:
            callbacks.append(
                (
                    "early_stopping",
                    StopEarly(
                        monitor="valid_loss",
                        patience=self.n_iter_no_change,
                        threshold=self.tol,
                        threshold_mode="abs",
                        load_best=True,
                        sink=self._log_sink(),
                    ),
                )
            )
        return callbacks

    def _log_sink(self):
        # skorch's loggers only honour verbose=0 when their sink is print itself.
        return _print if self.verbose else _silent

    def _rng_devices(self):
        device = torch.device(self.device)
        if device.type != "cuda":
            return []
        return [device.index if device.index is not None else torch.cuda.current_device()]

    def _forget_fit(self):
        for attr in [a for a in vars(self) if a.endswith("_") and not a.startswith("__")]:
            delattr(self, attr)

    def _validate_X(self, X, reset):
        try:
            return validate_data(self, X, reset=reset, dtype=np.float32)
        except ValueError as exc:
            if "could not convert" not in str(exc):
                raise
            raise ValueError(
                f"X must be numeric, but it holds non-numeric values ({exc}). "
                "Encode categorical features first, e.g. with a OneHotEncoder in "
                "a ColumnTransformer."
            ) from None

    @staticmethod
    def _check_n_rows(X, columns):
        if columns and len(columns[0]) != len(X):
            raise ValueError(
                f"X has {len(X)} rows but y has {len(columns[0])}; they need "
                "one row per sample."
            )

    @staticmethod
    def _default_tasks(columns, column_names):
        if not columns:
            raise ValueError("y has no columns; it needs one column per task.")
        names = column_names or [f"task_{j}" for j in range(len(columns))]
        if len(set(names)) != len(names):
            raise ValueError(
                f"The columns of y must have unique names to name the tasks, got {names}."
            )
        return [(name, Task()) for name in names]

    @staticmethod
    def _match_columns(columns, column_names, tasks):
        """Order ``y``'s columns like ``tasks``: by name for a DataFrame, else by position."""
        task_names = [name for name, _ in tasks]
        if column_names is None:
            if len(columns) != len(task_names):
                raise ValueError(
                    f"y has {len(columns)} column(s) but there are {len(task_names)} "
                    f"tasks {task_names}; y needs one column per task, in task order."
                )
            return columns
        missing = [name for name in task_names if name not in column_names]
        if missing:
            raise ValueError(
                f"y has no column for task(s) {missing}; its columns are "
                f"{column_names}. A DataFrame y is matched to the tasks by column name."
            )
        extra = [name for name in column_names if name not in task_names]
        if extra:
            raise ValueError(
                f"y has column(s) {extra} that match no task; the tasks are "
                f"{task_names}. Drop these columns or add a task for each."
            )
        return [columns[column_names.index(name)] for name in task_names]

    # -- prediction -----------------------------------------------------------

    def set_output(
        self, *, predict: Literal["default", "pandas"] | None = None
    ) -> MultiTaskNetEstimator:
        """Choose the container of ``predict`` and ``predict_proba``.

        Parameters
        ----------
        predict : {"default", "pandas"} or None, default=None
            ``"pandas"``: ``predict`` returns a DataFrame with one column per
            task (named after it, each with its own dtype, indexed like
            ``X`` when ``X`` is a DataFrame) and ``predict_proba`` DataFrames
            whose columns are the classes. ``"default"``: NumPy arrays.
            None leaves the setting unchanged. The choice survives
            :func:`~sklearn.base.clone`, as scikit-learn's ``set_output``.

        Returns
        -------
        self : MultiTaskNetEstimator
            This estimator.
        """
        if predict is None:
            return self
        if predict not in ("default", "pandas"):
            raise ValueError(
                f"predict must be 'default', 'pandas' or None, got {predict!r}."
            )
        self._sklearn_output_config = {"predict": predict}
        return self

    def _pandas_output(self, X):
        """The pandas module and ``X``'s index when pandas output is on, else None."""
        config = getattr(self, "_sklearn_output_config", {})
        if config.get("predict", "default") != "pandas":
            return None
        import pandas as pd

        return pd, getattr(X, "index", None)

    def _forward(self, X):
        """Raw network outputs, one (n_samples, n_outputs) array per task."""
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        module, device = self.net_.module_, self.net_.device
        if module.training:  # eval() walks every submodule: skip it when possible
            module.eval()
        outputs = [[] for _ in self.task_names_]
        X = torch.from_numpy(X)
        with torch.inference_mode(), torch_threads(self.num_threads):
            for start in range(0, len(X), _PREDICT_BATCH_SIZE):
                batch = X[start : start + _PREDICT_BATCH_SIZE].to(device)
                for task_outputs, out in zip(outputs, module(batch)):
                    task_outputs.append(out.cpu())
        return [torch.cat(out).numpy() for out in outputs]

    def _predict_columns(self, X):
        """Per-task predictions in each task's own label space and dtype."""
        outputs = self._forward(X)
        return [target.decode(out) for target, out in zip(self._targets_, outputs)]

    def predict(self, X: ArrayLike) -> Any:
        """Predict every task: class labels or values in the task's own units.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples to predict.

        Returns
        -------
        y_pred : ndarray of shape (n_samples, n_tasks)
            One column per task, in task order. Class labels keep their dtype
            when all tasks share one; otherwise the array is of dtype object.
            Of shape (n_samples,) when the estimator was fitted on a 1-D ``y``.
            A DataFrame (or Series) after ``set_output(predict="pandas")``.
        """
        columns = self._predict_columns(X)
        pandas = self._pandas_output(X)
        if pandas is not None:
            pd, index = pandas
            frame = pd.DataFrame(dict(zip(self.task_names_, columns)), index=index)
            return frame.iloc[:, 0] if self._y_1d_ else frame
        return columns[0] if self._y_1d_ else stack_predictions(columns)

    @available_if(_has_classification_task)
    def predict_proba(self, X: ArrayLike) -> Any:
        """Class probabilities of every classification task.

        Available only when at least one task is a classification task.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples to predict.

        Returns
        -------
        proba : list of ndarray of shape (n_samples, n_classes)
            One array per classification task, in task order; its columns
            follow that task's ``classes_``. When the estimator was fitted on
            a 1-D ``y`` (a single task), the array itself, as for a
            single-output classifier.
        """
        outputs = self._forward(X)
        probas = [
            softmax(out.astype(np.float64), axis=1)
            for (_, task), out in zip(self.tasks_, outputs)
            if task.kind == "classification"
        ]
        pandas = self._pandas_output(X)
        if pandas is not None:
            pd, index = pandas
            classes = [c for c in self.classes_ if c is not None]
            probas = [
                pd.DataFrame(proba, columns=cls, index=index)
                for proba, cls in zip(probas, classes)
            ]
        return probas[0] if self._y_1d_ else probas

    def score_tasks(self, X: ArrayLike, y: ArrayLike) -> dict[str, float]:
        """Score each task on its labelled rows.

        Classification tasks are scored by accuracy, regression tasks by R².

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test samples.
        y : array-like of shape (n_samples, n_tasks) or DataFrame
            True labels, one column per task (matched by name for a
            DataFrame); missing labels are skipped.

        Returns
        -------
        scores : dict of str to float
            Task name to score; NaN for a task without labels in ``y``.
        """
        check_is_fitted(self)
        columns, column_names, _ = split_columns(y)
        columns = self._match_columns(columns, column_names, self.tasks_)
        predictions = self._predict_columns(X)
        self._check_n_rows(predictions[0], columns)
        scores = {}
        for (name, task), column, pred in zip(self.tasks_, columns, predictions):
            values, missing, _ = labelled_values(column)
            if not len(values):
                scores[name] = np.nan
            elif task.kind == "classification":
                scores[name] = float(accuracy_score(values, pred[~missing]))
            else:
                scores[name] = float(r2_score(values.astype(np.float64), pred[~missing]))
        return scores

    def score(self, X: ArrayLike, y: ArrayLike) -> float:
        """Mean over tasks of accuracy (classification) and R² (regression).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test samples.
        y : array-like of shape (n_samples, n_tasks) or DataFrame
            True labels, one column per task; missing labels are skipped.

        Returns
        -------
        score : float
            The mean of :meth:`score_tasks` over the tasks that have labels.
        """
        scores = [s for s in self.score_tasks(X, y).values() if not np.isnan(s)]
        return float(np.mean(scores)) if scores else np.nan


# Log sinks: module-level functions rather than a lambda or a reference to the
# builtin print, so that a fitted net pickles anywhere (Ray, for one, replaces
# builtins.print in its workers).
def _print(*args, **kwargs):
    print(*args, **kwargs)


def _silent(*args, **kwargs):
    pass
