"""Text sample diversity: distinct-n over the evaluation's generated samples.

Likelihood numbers (validation loss, bits per character, perplexity) come from the text family's
own `evaluate()`, since only the model knows its tokenizer; this metric needs samples only.
"""
from __future__ import annotations

from zoo.contract import Family
from zoo.errors import UsageError
from zoo.evaluation import EvalContext, Metric, MetricResult
from zoo.metrics.text import distinct_n
from zoo.samples import TextSamples

ORDERS = (1, 2, 3)


class DistinctN(Metric):
    """distinct-1/2/3: unique word n-grams over all n-grams, pooled over the samples (Li et al., 2016).

    Words are whitespace-separated; characters would make distinct-1 the alphabet's share."""

    name = "distinct_n"
    version = "1"
    modalities = ("text",)
    higher_is_better = {f"distinct_{n}": True for n in ORDERS}

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        samples = ctx.samples(model)
        if not isinstance(samples, TextSamples):
            raise UsageError(f"distinct_n needs text samples, but {type(model).__name__} made {type(samples).__name__}")
        words = [text.split() for text in samples.texts]
        values = {f"distinct_{n}": distinct_n(words, n) for n in ORDERS}
        return MetricResult(values, {"units": "whitespace words", "num_generated": len(words), "seed": ctx.seed})


distinct = DistinctN()
