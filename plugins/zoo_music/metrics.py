"""Music metrics: statistics of sampled piano rolls against the test split, and ABC tunes that parse.

    pitch_class_distance  total-variation distance between the pitch-class histograms (of note onsets)
                          of samples and test pieces: 0 identical, 1 disjoint; lower is better
    music_stats           pitch range (semitones per piece), note density (onsets per quarter note) and
                          polyphony (keys sounding per non-silent frame) of samples and test pieces, and
                          each gap |samples - test|; lower gaps are better
    in_key                share of sampled notes whose pitch class is in each piece's detected key
                          (Krumhansl-Schmuckler); higher is better, the test pieces' share beside it
    abc_metre             text models: share of finished generated tunes music21 parses with a consistent
                          metre (zoo_music.tunes.metre_consistent); higher is better, the test tunes' beside it;
                          sampled with --set constrain=metre, the protocol holds what the constraint cost
    harmonization         four-voice GPTs: the test sopranos harmonized (zoo_music.harmony), parallel fifths and
                          octaves per 100 beats beside Bach's, voices in range, crossings, key agreement
"""
from __future__ import annotations

from typing import Any

import numpy as np

from zoo.contract import Family
from zoo.evaluation import CacheKey, EvalContext, Metric, MetricResult
from zoo_music import tunes
from zoo_music.render import notes
from zoo_music.scores import LOWEST

# Krumhansl & Kessler's (1982) key profiles, tonic first
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 9, 10, 11)  # natural minor with the raised sixth and seventh (melodic and harmonic minor)


# ---- statistics of rolls (T×88 arrays) ----------------------------------------------------------------
def pitch_class_histogram(rolls: list[np.ndarray]) -> np.ndarray:
    """How often each pitch class (C = 0) starts a note across `rolls`, normalised to sum 1 (zeros when none)."""
    counts = np.zeros(12)
    for roll in rolls:
        for key, _, _ in notes(roll):
            counts[(key + LOWEST) % 12] += 1
    return counts / counts.sum() if counts.sum() else counts


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    return float(0.5 * np.abs(p - q).sum())


def pitch_range(roll: np.ndarray) -> float:
    """Semitones from the lowest to the highest key the piece sounds (0 when silent)."""
    keys = np.nonzero(roll.any(0))[0]
    return float(keys[-1] - keys[0]) if len(keys) else 0.0


def note_density(roll: np.ndarray, frames_per_quarter: int) -> float:
    """Notes started per quarter note."""
    return len(notes(roll)) / (len(roll) / frames_per_quarter) if len(roll) else 0.0


def polyphony(roll: np.ndarray) -> float:
    """Keys sounding per frame, over the frames where any sounds (0 when silent)."""
    counts = roll.sum(1)
    return float(counts[counts > 0].mean()) if counts.any() else 0.0


def detect_key(histogram: np.ndarray) -> tuple[int, str]:
    """(tonic pitch class, "major"/"minor") whose Krumhansl-Kessler profile correlates best with a pitch-class histogram."""
    best = max(
        ((np.corrcoef(histogram, np.roll(profile, tonic))[0, 1], tonic, mode) for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)) for tonic in range(12)),
        key=lambda c: (np.nan_to_num(c[0], nan=-2.0), -c[1]),
    )
    return best[1], best[2]


def in_key_counts(roll: np.ndarray) -> tuple[int, int]:
    """(notes in the piece's detected key, all notes)."""
    pitch_classes = [(key + LOWEST) % 12 for key, _, _ in notes(roll)]
    if not pitch_classes:
        return 0, 0
    tonic, mode = detect_key(np.bincount(pitch_classes, minlength=12).astype(float))
    scale = {(tonic + step) % 12 for step in (MAJOR_SCALE if mode == "major" else MINOR_SCALE)}
    return sum(pc in scale for pc in pitch_classes), len(pitch_classes)


def in_key_fraction(rolls: list[np.ndarray]) -> float:
    counts = np.array([in_key_counts(r) for r in rolls]).reshape(-1, 2).sum(0)
    return float(counts[0] / counts[1]) if counts[1] else 0.0


# ---- what the metrics share within one evaluation ------------------------------------------------
def sampled_rolls(model: Family, ctx: EvalContext) -> list[np.ndarray]:
    return ctx.cached(ctx.model_key(model, "music-rolls", n=ctx.num_samples), lambda: list(ctx.samples(model).numpy()))


def test_rolls(ctx: EvalContext) -> list[np.ndarray]:
    def read() -> list[np.ndarray]:
        test = ctx.raw_split("test")
        return [test.piece(i).numpy() for i in range(len(test))]

    return ctx.cached(CacheKey("music-test-rolls"), read)


def protocol(ctx: EvalContext, samples: list[np.ndarray], reference: list[np.ndarray]) -> dict[str, Any]:
    return {"num_samples": len(samples), "frames_per_sample": int(samples[0].shape[0]) if samples else 0, "seed": ctx.seed,
            "reference": f"{ctx.config.data.dataset}/test", "reference_pieces": len(reference)}


class PitchClassDistance(Metric):
    """Total-variation distance between sampled and test pitch-class histograms."""

    name = "pitch_class_distance"
    version = "1"
    modalities = ("music",)
    higher_is_better = False

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        samples, reference = sampled_rolls(model, ctx), test_rolls(ctx)
        value = total_variation(pitch_class_histogram(samples), pitch_class_histogram(reference))
        return MetricResult({self.name: value}, protocol(ctx, samples, reference))


class MusicStats(Metric):
    """Pitch range, note density and polyphony of samples and of test pieces (means over pieces), and their gaps."""

    name = "music_stats"
    version = "1"
    modalities = ("music",)
    higher_is_better = {"pitch_range_gap": False, "note_density_gap": False, "polyphony_gap": False}

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        samples, reference = sampled_rolls(model, ctx), test_rolls(ctx)
        fpq = ctx.config.data.frames_per_quarter
        stats = {"pitch_range": pitch_range, "note_density": lambda r: note_density(r, fpq), "polyphony": polyphony}
        values = {}
        for name, stat in stats.items():
            ours, theirs = float(np.mean([stat(r) for r in samples])), float(np.mean([stat(r) for r in reference]))
            values.update({name: ours, f"{name}_test": theirs, f"{name}_gap": abs(ours - theirs)})
        return MetricResult(values, protocol(ctx, samples, reference))


class InKey(Metric):
    """Share of sampled notes in each piece's detected key, with the test pieces' share."""

    name = "in_key"
    version = "1"
    modalities = ("music",)
    higher_is_better = True

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        samples, reference = sampled_rolls(model, ctx), test_rolls(ctx)
        values = {self.name: in_key_fraction(samples), "in_key_test": ctx.cached(CacheKey("music-in-key-test"), lambda: in_key_fraction(reference))}
        return MetricResult(values, {**protocol(ctx, samples, reference), "key_finding": "Krumhansl-Schmuckler on note onsets, per piece"})


class AbcMetre(Metric):
    """Share of a text model's finished generated tunes that music21 parses with a consistent metre."""

    name = "abc_metre"
    version = "1"
    modalities = ("text",)
    higher_is_better = True

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        samples = ctx.samples(model)
        generated = [tune for text in samples.texts for tune in tunes.finished_tunes(text)]
        consistent = sum(tunes.metre_consistent(tune) for tune in generated)

        def reference() -> float:
            real = tunes.finished_tunes(ctx.raw_split("test").text)
            return sum(map(tunes.metre_consistent, real)) / max(1, len(real))

        values = {self.name: consistent / len(generated) if generated else 0.0, "abc_tunes": float(len(generated)),
                  "abc_metre_test": ctx.cached(CacheKey("abc-metre-test"), reference)}
        return MetricResult(values, {"num_samples": ctx.num_samples, "seed": ctx.seed, "tunes": len(generated), "unparsed_or_inconsistent": len(generated) - consistent,
                                     "rule": f"music21 parses it; no bar over the metre; short bars only at section edges but for at most {tunes.SLIPS}", "reference": f"{ctx.config.data.dataset}/test",
                                     **({"constraint": samples.meta["constraint"]} if "constraint" in samples.meta else {})})


class Harmonization(Metric):
    """The test chorales' sopranos harmonized by the model, judged beside Bach's own harmonizations of them:
    parallel fifths and octaves per 100 beats (music21's VoiceLeadingQuartet), voices in their SATB
    ranges, voice crossings, and whether the harmonization's key (Krumhansl-Schmuckler) is Bach's."""

    name = "harmonization"
    version = "1"
    modalities = ("music",)
    higher_is_better = {"parallels_per_100_beats": False, "parallels_per_100_beats_bach": False, "parallels_vs_bach": False,
                        "in_range": True, "in_range_bach": True, "crossings": False, "crossings_bach": False, "key_agreement": True,
                        "masked_share": False, "constraint_nats_per_frame": False}

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        import torch

        from zoo_music import harmony, tokens

        test = ctx.raw_split("test")
        bach = [tokens.voices(test.piece(i)).numpy() for i in range(len(test))]
        lengths = [len(v) for v in bach]
        sopranos = torch.full((len(bach), max(lengths)), -1, dtype=torch.long)
        for i, v in enumerate(bach):
            sopranos[i, : len(v)] = torch.from_numpy(v[:, 0])
        constrain = ctx.conditions.get("constrain")
        harmonized, steered = model.harmonize_steered(sopranos, ctx.generator(), 1.0, constrain)
        ours = [keys[:n] for keys, n in zip(harmonized.cpu().numpy(), lengths)]
        beats = sum(lengths) / test.info["frames_per_quarter"]
        rate = lambda pieces: 100 * sum(map(harmony.parallels, pieces)) / beats  # noqa: E731
        share = lambda counts: sum(c[0] for c in counts) / max(1, sum(c[1] for c in counts))  # noqa: E731
        key = lambda keys: detect_key(pitch_class_histogram([tokens.rolls_of(torch.from_numpy(keys)[None])[0].numpy()]))  # noqa: E731
        values = {"parallels_per_100_beats": rate(ours), "parallels_per_100_beats_bach": rate(bach)}
        values["parallels_vs_bach"] = values["parallels_per_100_beats"] / max(values["parallels_per_100_beats_bach"], 1e-9)
        values.update(in_range=share([harmony.in_range(k) for k in ours]), in_range_bach=share([harmony.in_range(k) for k in bach]),
                      crossings=sum(map(harmony.crossings, ours)) / sum(lengths), crossings_bach=sum(map(harmony.crossings, bach)) / sum(lengths),
                      key_agreement=sum(key(a) == key(b) for a, b in zip(ours, bach)) / len(bach))
        protocol: dict[str, Any] = {}
        if steered is not None:  # what the rule cost: the share of the lower voices' probability it masked, and the nats it gave up
            written = harmonized.shape[0] * harmonized.shape[1] * (tokens.VOICES - 1)
            values.update(masked_share=steered.masked_mass / written, constraint_nats_per_frame=steered.nats / (harmonized.shape[0] * harmonized.shape[1]))
            protocol["constraint"] = constrain
        return MetricResult(values, {**protocol, "pieces": len(bach), "beats": beats, "seed": ctx.seed, "temperature": 1.0, "reference": f"{ctx.config.data.dataset}/test (Bach's own harmonizations)",
                                     "parallels": "fifths and octaves/unisons between any two voices, frame to frame, both voices moving (music21 VoiceLeadingQuartet)",
                                     "in_range": f"share of sounding voice-frames within S {harmony.RANGES[0]}, A {harmony.RANGES[1]}, T {harmony.RANGES[2]}, B {harmony.RANGES[3]} (MIDI), in C major / A minor",
                                     "crossings": "share of frames where a lower voice sounds above the one over it (Bach's are 0: the tokens give the highest keys to the highest voices)"})


PITCH_CLASS_DISTANCE = PitchClassDistance()
MUSIC_STATS = MusicStats()
IN_KEY = InKey()
ABC_METRE = AbcMetre()
HARMONIZATION = Harmonization()
