"""`nll`: the test split's negative log-likelihood under any model with the `LogLikelihood` capability.

    nll           mean nats per item (an image, a token window, a clip), as the model's `nll(batch)` says
    bits_per_dim  nll / (dims · ln 2), dims the size of one item: C·H·W for images, tokens for text,
                  samples for audio; comparable across resolutions and with the literature's bits/dim

A model whose `nll` is an upper bound (a VAE's negative ELBO) reports that bound. Items are spread
evenly over the split (every k-th of its first num_samples·k), so for text, whose item i is the
window starting at token i, they cover the whole split instead of its first few hundred tokens.
"""
from __future__ import annotations

import math

import torch

from zoo.capabilities import LogLikelihood
from zoo.contract import Family
from zoo.errors import UsageError
from zoo.evaluation import EvalContext, Metric, MetricResult


class NLL(Metric):
    """Mean test-split negative log-likelihood, in nats per item and bits per dimension."""

    name = "nll"
    version = "1"
    modalities = ("image", "text", "audio")
    higher_is_better = {"nll": False, "bits_per_dim": False}

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        if not isinstance(model, LogLikelihood):
            raise UsageError(f"nll needs a model that scores data (capability zoo.capabilities.LogLikelihood: an nll(batch) method "
                             f"returning nats per item); {type(model).__name__} has none, so drop it from --metrics")
        test = ctx.split(model, "test")
        n = min(len(test), ctx.num_samples)
        if n == 0:
            raise UsageError(f"the {ctx.config.data.dataset} test split is empty; nll needs data to score")
        stride = len(test) // n
        total, dims = 0.0, 0
        for idx in (torch.arange(n, device=ctx.device) * stride).split(ctx.batch_size):
            batch = test.batch(idx)
            nats = model.nll(batch)  # N
            if tuple(nats.shape) != (len(idx),):
                raise UsageError(f"{type(model).__name__}.nll returned shape {tuple(nats.shape)} for a batch of {len(idx)}; "
                                 "it must return one value per item, in nats")
            total += nats.double().sum().item()
            dims = batch["x"][0].numel()
        mean = total / n
        protocol = {"split": "test", "num_items": n, "stride": stride, "dims": dims, "seed": ctx.seed}
        return MetricResult({"nll": mean, "bits_per_dim": mean / (dims * math.log(2))}, protocol)


nll = NLL()
