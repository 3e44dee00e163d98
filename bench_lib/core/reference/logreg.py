"""Multinomial logistic regression in closed form: loss, gradient, Hessian-vector
products and the dense Hessian, in float64 NumPy."""

from __future__ import annotations

import numpy as np

from bench_lib.core.models import LogReg, split


def _log_probabilities(case: LogReg, params, x):
    w, b = split(case, params)
    z = x @ w + b
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True)), w


def loss(case: LogReg, params, x, y) -> float:
    log_p, w = _log_probabilities(case, params, x)
    return float(-(y * log_p).sum() / len(x) + 0.5 * case.l2 * (w**2).sum())


def gradient(case: LogReg, params, x, y) -> np.ndarray:
    """dW = x^T (P - y) / B + l2 W, db = sum_i (P_i - y_i) / B."""
    log_p, w = _log_probabilities(case, params, x)
    residual = (np.exp(log_p) - y) / len(x)
    return np.concatenate([(x.T @ residual + case.l2 * w).ravel(), residual.sum(axis=0)])


def hvps(case: LogReg, params, x, y, directions) -> np.ndarray:
    """H d for each row d = (dW, db) of ``directions`` (k, n): the logits move by
    dz = x dW + db, the probabilities by dP = P * dz - P (P . dz) (the softmax's
    Jacobian), and H d = (x^T dP / B + l2 dW, sum_i dP_i / B)."""
    log_p, _ = _log_probabilities(case, params, x)
    p = np.exp(log_p)
    k, d, c = len(directions), case.features, case.classes
    d_w = directions[:, : d * c].reshape(k, d, c)
    d_b = directions[:, d * c :]
    d_z = x @ d_w + d_b[:, None, :]
    d_p = p * d_z - p * (p * d_z).sum(axis=2, keepdims=True)
    h_w = x.T @ d_p / len(x) + case.l2 * d_w  # (k, features, classes)
    return np.concatenate([h_w.reshape(k, -1), d_p.sum(axis=1) / len(x)], axis=1)


def hessian(case: LogReg, params, x, y) -> np.ndarray:
    """H = (1/B) sum_i (x~_i x~_i^T) kron (diag(P_i) - P_i P_i^T) + l2 on W's diagonal,
    with x~_i = (x_i, 1): the flat order (W row-major, then b) is that of the
    (features + 1, classes) matrix [W; b], so index (j, c) is j * classes + c."""
    log_p, _ = _log_probabilities(case, params, x)
    p = np.exp(log_p)
    batch, c = x.shape[0], case.classes
    xt = np.concatenate([x, np.ones((batch, 1))], axis=1)
    rows = xt.shape[1]
    diagonal = np.zeros((rows, c, rows, c))
    for k in range(c):
        diagonal[:, k, :, k] = (xt * p[:, k : k + 1]).T @ xt
    u = (xt[:, :, None] * p[:, None, :]).reshape(batch, rows * c)
    hessian = (diagonal.reshape(rows * c, rows * c) - u.T @ u) / batch
    w_entries = case.features * c
    hessian[np.arange(w_entries), np.arange(w_entries)] += case.l2
    return hessian
