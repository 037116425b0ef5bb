"""Adaptive task weighting and gradient combination (``weighting=...``).

Each method is a criterion: a subclass of
:class:`~sklearn_mtl._loss.MaskedMultiTaskLoss` that changes how the
per-task mean losses are combined (:meth:`combine_means`), or, for the
methods that work on gradients, how the per-task gradients of the shared
trunk are combined (:meth:`combine_gradients`, with ``per_task_gradients``
set so that :class:`~sklearn_mtl._training.MultiTaskNet` computes one
gradient per task). Learnable weights are parameters of the criterion, so
that skorch's optimizer trains them with the network.

The pure functions (:func:`project_conflicting`,
:func:`min_norm_coefficients`, :func:`gradnorm_scale_gradient`,
:func:`dwa_weights`, :func:`famo_logit_gradient`, :func:`gradient_cosines`)
hold the mathematics of each paper and are tested on their own.

A task without labels in a batch takes no part in that batch's combination:
its mean loss is zero there (:func:`~sklearn_mtl._loss.task_means`), its
gradient row is left out or has no effect, and its learned state (a
log-variance, a scale, a FAMO logit) does not move.
"""

import numpy as np
import torch
from torch import nn

from ._loss import MaskedMultiTaskLoss

# -- the mathematics ------------------------------------------------------------


def dwa_weights(previous, before_previous, temperature):
    """Dynamic Weight Average (Liu, Johns & Davison, 2019), eq. 1.

    ``w_i = n * softmax(r / T)_i`` with ``r_i = L_i(t-1) / L_i(t-2)``, the
    ratio of each task's last two epoch losses: a task whose loss fell less
    gets more weight. Uniform (all ones) while either epoch is unknown; a
    task whose ratio is not finite counts as ratio 1.
    """
    previous = np.asarray(previous, dtype=np.float64)
    before_previous = np.asarray(before_previous, dtype=np.float64)
    n = len(previous)
    if np.all(np.isnan(before_previous)):
        return np.ones(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = previous / before_previous
    ratio = np.where(np.isfinite(ratio), ratio, 1.0)
    z = ratio / temperature
    z = np.exp(z - z.max())
    return n * z / z.sum()


def project_conflicting(grads, orders):
    """PCGrad's projection (Yu et al., 2020, Algorithm 1).

    For each task ``i``, and each other task ``j`` in ``orders[i]``: when the
    (already projected) gradient of ``i`` conflicts with ``j``'s original
    gradient (negative inner product), remove its component along ``j``'s:
    ``g_i -= (g_i . g_j) / |g_j|^2 * g_j``. Non-conflicting gradients are
    left untouched.

    Parameters
    ----------
    grads : torch.Tensor of shape (n_tasks, n_params)
        The tasks' gradients.
    orders : sequence of sequences of int
        Per task, the other tasks in the order to project on (random in
        PCGrad).

    Returns
    -------
    projected : torch.Tensor of shape (n_tasks, n_params)
        The projected gradients; PCGrad's update is their sum.
    """
    projected = grads.clone()
    squared_norms = (grads * grads).sum(dim=1)
    for i, order in enumerate(orders):
        for j in order:
            if j == i or squared_norms[j] == 0:
                continue
            dot = projected[i] @ grads[j]
            if dot < 0:
                projected[i] -= dot / squared_norms[j] * grads[j]
    return projected


def _affine_min_norm(gram):
    """Coefficients (summing to 1) of the min-norm point of the points' affine hull."""
    k = len(gram)
    kkt = np.zeros((k + 1, k + 1))
    kkt[:k, :k] = gram
    kkt[:k, k] = kkt[k, :k] = 1.0
    rhs = np.zeros(k + 1)
    rhs[k] = 1.0
    return np.linalg.lstsq(kkt, rhs, rcond=None)[0][:k]


def min_norm_coefficients(gram, tol=1e-10):
    """Minimum-norm point of the convex hull of gradients (MGDA's subproblem).

    Solves ``min_a |sum_i a_i g_i|^2`` over the simplex (``a_i >= 0``,
    ``sum a_i = 1``) from the Gram matrix ``gram[i, j] = g_i . g_j``: in
    closed form for two tasks (Sener & Koltun, 2018, Algorithm 1), otherwise
    exactly by Wolfe's active-set algorithm for the minimum-norm point of a
    polytope (Wolfe, 1976), which, unlike the Frank-Wolfe iterations of
    Sener & Koltun's Algorithm 2, ends at the solution itself. There,
    ``d = sum a_i g_i`` satisfies ``d . g_i >= |d|^2 >= 0`` for every task:
    a small step along ``-d`` decreases no task's loss.

    Parameters
    ----------
    gram : array-like of shape (n_tasks, n_tasks)
    tol : float, default=1e-10
        Optimality tolerance, relative to the largest squared gradient norm.

    Returns
    -------
    alpha : ndarray of shape (n_tasks,)
    """
    gram = np.asarray(gram, dtype=np.float64)
    k = len(gram)
    if k == 1:
        return np.ones(1)
    if k == 2:
        denom = gram[0, 0] - 2 * gram[0, 1] + gram[1, 1]
        a = 0.5 if denom <= 0 else (gram[1, 1] - gram[0, 1]) / denom
        a = min(max(a, 0.0), 1.0)
        return np.array([a, 1.0 - a])
    eps = tol * max(gram.diagonal().max(), np.finfo(np.float64).tiny)
    active = [int(np.argmin(gram.diagonal()))]
    weights = np.ones(1)
    for _ in range(50 * k):  # Wolfe's algorithm terminates; this only guards
        x_dot = gram[:, active] @ weights  # x . g_i for every i
        j = int(np.argmin(x_dot))
        if x_dot[j] >= weights @ x_dot[active] - eps or j in active:
            break  # no point lies beyond the supporting hyperplane: optimal
        active.append(j)
        weights = np.append(weights, 0.0)
        while True:  # minor cycle: move to the affine minimum within the hull
            affine = _affine_min_norm(gram[np.ix_(active, active)])
            if np.all(affine > eps):
                weights = affine
                break
            shrink = weights - affine
            blocking = shrink > 0
            step = np.min(weights[blocking] / shrink[blocking], initial=1.0)
            weights = weights + step * (affine - weights)
            keep = weights > eps
            active = [i for i, kept in zip(active, keep) if kept]
            weights = weights[keep] / weights[keep].sum()
    alpha = np.zeros(k)
    alpha[active] = weights
    return alpha


def gradnorm_scale_gradient(scales, grad_norms, loss_ratios, alpha):
    """Gradient of GradNorm's loss with respect to the task scales.

    GradNorm (Chen et al., 2018, eq. 2): with ``G_i = s_i * g_i`` the norm
    of task ``i``'s scaled gradient on the last shared layer and ``r_i`` its
    inverse training rate (loss ratio ``L_i(t) / L_i(0)`` over its mean),
    ``L_grad = sum_i |G_i - mean(G) * r_i ** alpha|``, the target held
    constant. Its gradient is ``sign(G_i - target_i) * g_i``: a gradient
    step moves each ``G_i`` toward its target, so tasks that train slower
    (higher ``r_i``) get larger gradients.

    Parameters
    ----------
    scales, grad_norms, loss_ratios : torch.Tensor of shape (n_tasks,)
        The scales ``s``, the unscaled gradient norms ``g`` and the loss
        ratios ``L_i(t) / L_i(0)`` of the tasks taking part.
    alpha : float
        The asymmetry: 0 balances the gradient norms alone; larger values
        favour the slower tasks more.

    Returns
    -------
    grad : torch.Tensor of shape (n_tasks,)
    """
    norms = scales * grad_norms
    inverse_rate = loss_ratios / loss_ratios.mean()
    target = norms.mean() * inverse_rate**alpha
    return torch.sign(norms - target) * grad_norms


def famo_logit_gradient(logits, delta):
    """FAMO's update direction of its logits (Liu et al., 2023, Algorithm 1).

    With task weights ``z = softmax(logits)`` and ``delta_i`` the decrease of
    task ``i``'s log loss over the last step
    (``log L_i(t) - log L_i(t + 1)``), the logits descend along
    ``J_z^T delta = z * (delta - z . delta)``: the weights of the tasks
    whose loss fell faster than the weighted average shrink, those of the
    slower ones grow, so that all losses come to fall at the same rate.
    """
    z = torch.softmax(logits, dim=0)
    return z * (delta - z @ delta)


def gradient_cosines(grads, present):
    """Pairwise cosine similarities of the tasks' gradients (NaN where undefined).

    A pair is undefined when either task has no label in the batch
    (``present`` False) or a zero gradient.
    """
    norms = grads.norm(dim=1)
    valid = present & (norms > 0)
    unit = grads / norms.clamp(min=torch.finfo(grads.dtype).tiny)[:, None]
    cosines = unit @ unit.T
    defined = valid[:, None] & valid[None, :]
    return torch.where(defined, cosines, torch.nan)


# -- the criteria -----------------------------------------------------------------


class UncertaintyLoss(MaskedMultiTaskLoss):
    """Homoscedastic uncertainty weighting (Kendall, Gal & Cipolla, 2018).

    Each task ``i`` has a learned log-variance ``s_i = log(sigma_i^2)``
    (initialized to 0). Task ``i`` contributes
    ``weight_i * (c_i * exp(-s_i) * L_i + s_i / 2)``, with ``c_i = 1/2`` for
    regression (``L / (2 sigma^2) + log sigma``, eq. 7 of the paper) and
    ``c_i = 1`` for classification (``L / sigma^2 + log sigma``, eq. 10),
    ``weight_i`` being ``Task.weight``. The effective weight of ``L_i`` is
    ``weight_i * c_i * exp(-s_i)``; at the optimum of ``s_i`` it is
    ``weight_i / (2 L_i)``: noisy tasks (large irreducible loss) get small
    weights. A task with a zero loss in the batch (in particular one without
    labels there) contributes nothing, so its ``s_i`` is not pushed down by
    the ``s_i / 2`` term alone.
    """

    learnable = ("log_vars",)

    def __init__(self, losses, weights, **kwargs):
        super().__init__(losses, weights, **kwargs)
        self.log_vars = nn.Parameter(torch.zeros(len(self.losses)))
        factors = [1.0 if loss == "log_loss" else 0.5 for loss in self.losses]
        self.register_buffer("factors", torch.tensor(factors))

    def effective_weights(self):
        return self.weights * self.factors * torch.exp(-self.log_vars)

    def combine_means(self, means):
        terms = self.factors * torch.exp(-self.log_vars) * means + self.log_vars / 2
        return (self.weights * torch.where(means > 0, terms, 0.0)).sum()


class DWALoss(MaskedMultiTaskLoss):
    """Dynamic Weight Average (Liu, Johns & Davison, 2019).

    The loss of task ``i`` is multiplied by ``weight_i * lambda_i(t)``, where
    ``lambda(t)`` (see :func:`dwa_weights`) is recomputed at the end of each
    epoch from the tasks' mean training losses of the last two epochs,
    uniform for the first two.

    Parameters
    ----------
    temperature : float, default=2.0
        Softness of the weights: large values make them uniform.
    """

    def __init__(self, losses, weights, temperature=2.0, **kwargs):
        super().__init__(losses, weights, **kwargs)
        self.temperature = temperature
        n = len(self.losses)
        self.register_buffer("dynamic", torch.ones(n))
        self.register_buffer("history", torch.full((2, n), torch.nan))

    def effective_weights(self):
        return self.weights * self.dynamic

    def combine_means(self, means):
        return (self.weights * self.dynamic * means).sum()

    def end_epoch(self, train_means):
        self.history[1] = self.history[0].clone()
        self.history[0] = torch.as_tensor(train_means, dtype=torch.float32)
        new = dwa_weights(
            self.history[0].tolist(), self.history[1].tolist(), self.temperature
        )
        self.dynamic.copy_(torch.as_tensor(new, dtype=torch.float32))


class FAMOLoss(MaskedMultiTaskLoss):
    """FAMO, fast adaptive multitask optimization (Liu, Liu, Jin, Stone & Liu, 2023).

    Learned logits ``xi`` (initialized to 0) give the task weights
    ``z = softmax(xi)``. The objective is ``sum_i a_i log(L_i + eps)`` with
    ``a_i = w_i z_i / sum_j (w_j z_j / (L_j + eps))`` held constant
    (``w_i`` being ``Task.weight``), so the update is the convex combination
    ``sum_i g_i grad L_i`` with ``g_i = a_i / (L_i + eps)``, summing to 1: a
    direction that decreases the log losses in proportion to ``w_i z_i``.
    After each optimizer step the losses are computed again on the same
    batch (one forward pass, no backward: the cost stays O(1) in the number
    of tasks), and the logits take an Adam step along
    :func:`famo_logit_gradient` of the decrease of each log loss, plus
    ``gamma * xi`` (the paper's regularization). The recorded weight of a
    task is its mean ``g_i`` over the epoch's batches.

    Only the tasks with labels in the batch (a nonzero loss) and a nonzero
    weight take part: the softmax runs over their logits, and an absent
    task's logit and Adam state do not move.

    Parameters
    ----------
    lr : float, default=0.025
        Step size ``beta`` of the logits (the paper's value).
    gamma : float, default=1e-3
        Decay of the logits toward uniform weights (the paper's value).
    """

    loss_feedback = True
    _EPS = 1e-8
    _BETAS = (0.9, 0.999)

    def __init__(self, losses, weights, lr=0.025, gamma=1e-3, **kwargs):
        super().__init__(losses, weights, **kwargs)
        self.lr = lr
        self.gamma = gamma
        n = len(self.losses)
        self.register_buffer("logits", torch.zeros(n))
        # Adam's moments and step counts, per task: an absent task takes no step.
        self.register_buffer("adam_m", torch.zeros(n))
        self.register_buffer("adam_v", torch.zeros(n))
        self.register_buffer("adam_steps", torch.zeros(n))
        self.begin_epoch()

    def _objective_coefficients(self, means, active):
        z = torch.zeros_like(self.logits)
        if active.any():
            z[active] = torch.softmax(self.logits[active], dim=0)
        scaled = self.weights * z
        normalizer = (scaled / (means.detach() + self._EPS)).sum()
        return scaled / torch.where(normalizer > 0, normalizer, 1.0)

    def effective_weights(self):
        return self.weights * torch.softmax(self.logits, dim=0)

    def combine_means(self, means):
        coefficients = self._objective_coefficients(means, means > 0)
        return (coefficients * torch.log(means + self._EPS)).sum()

    def combine_gradients(self, grads, means, present, last_layer):
        active = present & (means > 0)
        coefficients = self._objective_coefficients(means, active)
        return (coefficients / (means.detach() + self._EPS)) @ grads

    def begin_epoch(self):
        self._coefficient_sum = torch.zeros(len(self.losses), dtype=torch.float64)
        self._n_steps = 0

    def update_from_losses(self, before, after, present):
        """The logits' step from the tasks' losses before and after a step."""
        with torch.no_grad():
            before, after = before.to(self.logits), after.to(self.logits)
            active = present & (before > 0) & (self.weights > 0)
            coefficients = self._objective_coefficients(before, active)
            step_weights = coefficients / (before + self._EPS)
            self._coefficient_sum += step_weights.double().cpu()
            self._n_steps += 1
            if int(active.sum()) < 2:
                return  # nothing to balance
            delta = torch.log(before[active] + self._EPS) - torch.log(
                after[active] + self._EPS
            )
            logits = self.logits[active]
            grad = famo_logit_gradient(logits, delta) + self.gamma * logits
            beta1, beta2 = self._BETAS
            steps = self.adam_steps[active] + 1
            m = beta1 * self.adam_m[active] + (1 - beta1) * grad
            v = beta2 * self.adam_v[active] + (1 - beta2) * grad * grad
            m_hat = m / (1 - beta1**steps)
            v_hat = v / (1 - beta2**steps)
            self.logits[active] = logits - self.lr * m_hat / (v_hat.sqrt() + 1e-8)
            self.adam_m[active], self.adam_v[active] = m, v
            self.adam_steps[active] = steps

    def epoch_weights(self):
        mean = self._coefficient_sum / max(self._n_steps, 1)
        return mean.float().to(self.weights.device)


class GradientLoss(MaskedMultiTaskLoss):
    """Base of the methods that combine per-task gradients of the trunk."""

    per_task_gradients = True


class GradNormLoss(GradientLoss):
    """GradNorm (Chen, Badrinarayanan, Lee & Rabinovich, 2018).

    Learned task scales ``s`` (initialized to 1) multiply the task losses;
    after each step they are renormalized to sum to ``n_tasks``. Their
    gradient is not that of the training loss but GradNorm's
    (:func:`gradnorm_scale_gradient`), computed from the gradient norms of
    the scaled losses on the last shared layer. ``Task.weight`` multiplies
    the scale: the effective weight is ``weight_i * s_i``, and the scales
    balance the unweighted terms ``s_i * L_i``. A task with ``weight=0``
    takes no part.

    Parameters
    ----------
    alpha : float, default=1.5
        GradNorm's asymmetry.
    """

    learnable = ("scales",)

    def __init__(self, losses, weights, alpha=1.5, **kwargs):
        super().__init__(losses, weights, **kwargs)
        self.alpha = alpha
        n = len(self.losses)
        self.scales = nn.Parameter(torch.ones(n))
        self.register_buffer("initial_losses", torch.full((n,), torch.nan))

    def effective_weights(self):
        return self.weights * self.scales

    def combine_means(self, means):
        return (self.weights * self.scales.detach() * means).sum()

    def combine_gradients(self, grads, means, present, last_layer):
        with torch.no_grad():
            losses = means.detach()
            first = present & torch.isnan(self.initial_losses)
            self.initial_losses[first] = losses[first]
            active = present & (self.weights > 0) & (self.initial_losses > 0)
            grad = torch.zeros_like(self.scales)
            if int(active.sum()) >= 2:
                grad[active] = gradnorm_scale_gradient(
                    self.scales[active],
                    grads[active][:, last_layer].norm(dim=1),
                    losses[active] / self.initial_losses[active],
                    self.alpha,
                )
            self.scales.grad = grad
            return (self.weights * self.scales) @ grads

    def after_step(self):
        with torch.no_grad():
            self.scales.clamp_(min=1e-4)
            self.scales.mul_(len(self.scales) / self.scales.sum())


class PCGradLoss(GradientLoss):
    """PCGrad, gradient surgery (Yu et al., 2020).

    The gradients of the trunk of the tasks' weighted losses
    (``Task.weight * L_i``) are projected (:func:`project_conflicting`, in a
    random order per task and step) and summed; heads and group towers get
    their tasks' ordinary gradients.

    Parameters
    ----------
    random_state : int or sequence of int, default=0
        Seed of the projection orders (for :func:`numpy.random.default_rng`).
    """

    def __init__(self, losses, weights, random_state=0, **kwargs):
        super().__init__(losses, weights, **kwargs)
        self.random_state = random_state
        self.rng = np.random.default_rng(random_state)

    def combine_gradients(self, grads, means, present, last_layer):
        weighted = self.weights[:, None] * grads
        n = len(grads)
        orders = [self.rng.permutation(n).tolist() for _ in range(n)]
        return project_conflicting(weighted, orders).sum(dim=0)


class MGDALoss(GradientLoss):
    """MGDA, multiple-gradient descent (Sener & Koltun, 2018).

    The trunk's update is the minimum-norm convex combination
    (:func:`min_norm_coefficients`) of the gradients of the tasks' weighted
    losses (``Task.weight * L_i``) that have labels in the batch: a common
    descent direction for all of them. Heads and group towers get their
    tasks' ordinary gradients (Algorithm 2 of the paper). The recorded
    weight of a task is its mean coefficient over the epoch's batches times
    its ``Task.weight``.
    """

    def __init__(self, losses, weights, **kwargs):
        super().__init__(losses, weights, **kwargs)
        self.begin_epoch()

    def begin_epoch(self):
        self._coefficient_sum = torch.zeros(len(self.losses), dtype=torch.float64)
        self._n_steps = 0

    def combine_gradients(self, grads, means, present, last_layer):
        weighted = self.weights[:, None] * grads
        active = (present & (self.weights > 0)).nonzero().flatten()
        coefficients = torch.zeros(len(grads), dtype=torch.float64)
        if len(active):
            selected = weighted[active]
            gram = (selected @ selected.T).double().cpu().numpy()
            coefficients[active.cpu()] = torch.from_numpy(min_norm_coefficients(gram))
        self._coefficient_sum += coefficients
        self._n_steps += 1
        return coefficients.to(grads) @ weighted

    def epoch_weights(self):
        mean = self._coefficient_sum / max(self._n_steps, 1)
        return mean.float().to(self.weights.device) * self.weights


CRITERIA = {
    "fixed": MaskedMultiTaskLoss,
    "uncertainty": UncertaintyLoss,
    "dwa": DWALoss,
    "gradnorm": GradNormLoss,
    "pcgrad": PCGradLoss,
    "mgda": MGDALoss,
    "famo": FAMOLoss,
}

#: Methods that need one backward pass per task.
GRADIENT_METHODS = ("gradnorm", "pcgrad", "mgda")
