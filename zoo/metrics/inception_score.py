"""Inception Score (Salimans et al., 2016).

IS = exp(E_x KL(p(y|x) || p(y))), computed on ``splits`` near-equal chunks and
reported as mean and population std over chunks, as in the original code.
"""

from __future__ import annotations

import torch

from zoo.metrics._arrays import ArrayLike, as_tensor64

# Clamp before log so that exact zeros contribute 0 * log(tiny) = 0 instead of NaN.
_LOG_FLOOR = 1e-12
_SUM_TOLERANCE = 1e-3


def _split_score(p: torch.Tensor) -> float:
    log_p = p.clamp_min(_LOG_FLOOR).log()
    log_marginal = p.mean(dim=0).clamp_min(_LOG_FLOOR).log()
    return float((p * (log_p - log_marginal)).sum(dim=1).mean().exp())


def inception_score(probs: ArrayLike, splits: int = 10) -> tuple[float, float]:
    """Mean and std of the Inception Score of ``N x C`` class probabilities.

    Takes probabilities, not logits: rows must be non-negative and sum to 1,
    otherwise ``ValueError`` (passing logits is the common mistake).
    """
    p = as_tensor64(probs, "probs")
    if not 1 <= splits <= p.shape[0]:
        raise ValueError(f"splits must be in [1, {p.shape[0]}], got {splits}")
    if (p < 0).any() or (p.sum(dim=1) - 1).abs().max() > _SUM_TOLERANCE:
        raise ValueError("probs rows must be non-negative and sum to 1 (got logits?)")
    scores = torch.tensor([_split_score(chunk) for chunk in p.tensor_split(splits)], dtype=torch.float64)
    return float(scores.mean()), float(scores.std(correction=0))
