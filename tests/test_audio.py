"""Audio: the FSDD dataset, SpecGAN / WaveGAN / WaveNet on tiny configs, audio I/O and the audio metrics."""
from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import wavfile

import zoo
from zoo.capabilities import LABEL
from zoo.contract import FamilyContext, StepContext
from zoo.errors import UsageError
from zoo.samples import AudioSamples
from zoo_audio.fsdd import AudioDataConfig


@pytest.fixture(scope="module")
def fsdd() -> dict:
    """Both splits at the tiny presets' clip length (1024 samples)."""
    from zoo.data import load_dataset

    config = AudioDataConfig(dataset="fsdd", clip_samples=1024)
    return {split: load_dataset(config, split) for split in ("train", "test")}


def test_fsdd_splits(fsdd):
    train, test = fsdd["train"], fsdd["test"]
    assert len(train) == 2700 and len(test) == 300
    assert test.fields["x"].shape == (300, 1024) and test.fields["x"].dtype == torch.float32
    assert torch.bincount(test.fields["y"]).tolist() == [30] * 10
    assert torch.bincount(train.fields["speaker"]).tolist() == [450] * 6
    assert test.fields["x"].abs().max() <= 1
    assert test.info == {"sample_rate": 8000, "clip_samples": 1024, "num_classes": 10, "speakers": train.info["speakers"]}


CONTEXT = FamilyContext(Path("unused"), AudioDataConfig(dataset="fsdd", clip_samples=1024))
CLIPS = {"num_classes": 10, "clip_samples": 1024, "sample_rate": 8000}


def tiny_wavenet(conditional: bool = True, label_dropout: float = 0.0):
    from zoo_audio.wavenet import WaveNet, WaveNetConfig

    torch.manual_seed(0)
    config = WaveNetConfig(channels=6, skip_channels=5, layers=3, stacks=2, conditional=conditional, cond_segment=16,  # 16 timeline steps
                           label_dropout=label_dropout)
    model = WaveNet(config, {"num_classes": 10, "clip_samples": 256, "sample_rate": 8000}, CONTEXT).eval()
    if conditional:
        torch.nn.init.normal_(model.cond.weight, std=0.1)  # as after training (the table starts at zero)
    return model


def tiny_gan(name: str, **kw):
    """SpecGAN or WaveGAN at the tiny presets' sizes, built directly, with its optimizers' StepContext."""
    from zoo_audio.specgan import SpecGANFamily
    from zoo_audio.wavegan import WaveGANFamily

    torch.manual_seed(0)
    if name == "specgan":
        cls, info = SpecGANFamily, {**CLIPS, "spec_mean": [0.0] * 64, "spec_std": [1.0] * 64}
        kw = {"loss": "hinge", "spectral_norm": True, "ngf": 4, "ndf": 4, "griffin_lim_iters": 2, **kw}
    else:
        cls, info = WaveGANFamily, CLIPS
        kw = {"ngf": 2, "ndf": 2, "kernel_size": 8, **kw}
    model = cls(cls.Config(nz=8, **kw), info, CONTEXT)
    opts = {k: torch.optim.Adam(v, 1e-3) for k, v in model.param_groups().items()}
    return model, StepContext(opts, torch.device("cpu"), "fp32", None)


@pytest.mark.parametrize("name", ["specgan", "wavegan"])
@pytest.mark.parametrize("conditional", [False, True])
def test_audio_gans_train_and_sample_through_the_core_gan_rule(name, conditional, fsdd):
    model, ctx = tiny_gan(name, conditional=conditional)
    assert type(model).conditions[0] == LABEL and model.num_classes == (10 if conditional else 0)
    assert [c.name for c in type(model).conditions] == (["label", "truncation", "vocoder"] if name == "specgan" else ["label", "truncation"])
    data = model.prepare(type(fsdd["train"])({k: v[:8] for k, v in fsdd["train"].fields.items()}, fsdd["train"].info))
    batch = dict(data.fields)
    assert batch["x"].min() >= 0 and batch["x"].max() <= 1
    for step in range(2):
        ctx.step = step
        logs = model.train_step(batch, ctx)
        assert all(torch.isfinite(v) for v in logs.values())
    model.eval()
    samples = model.sample(3, torch.Generator().manual_seed(0), label=7 if conditional else None)
    assert samples.waves.shape == (3, 1024) and samples.waves.abs().max() <= 1
    assert (samples.labels.tolist() == [7] * 3) if conditional else samples.labels is None


def test_wavegan_shuffles_phase_in_the_discriminator_only_while_training():
    from zoo_audio.wavegan import PhaseShuffle

    model, _ = tiny_gan("wavegan", phase_shuffle=2)
    assert sum(isinstance(m, PhaseShuffle) for m in model.D.modules()) == 4  # between the five convolutions
    x = torch.rand(2, 1, 1024) * 2 - 1
    model.D.eval()
    assert torch.equal(model.D(x), model.D(x))
    assert not any(isinstance(m, PhaseShuffle) for m in tiny_gan("wavegan", phase_shuffle=0)[0].D.modules())


def test_audio_gan_shapes_that_do_not_fit_are_usage_errors():
    with pytest.raises(UsageError, match="divisible by 1024"):
        tiny_gan("wavegan", kernel_size=2)
    with pytest.raises(UsageError, match="multiple of model.hop"):
        tiny_gan("specgan", hop=100)


def test_audio_plugin_imports_no_other_plugin():
    """Plugins share code through the core (zoo.nn), never by importing each other."""
    import zoo_audio

    for path in Path(zoo_audio.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not [n for n in names if n.split(".")[0] in ("zoo_gan", "zoo_vae", "zoo_text")], f"{path.name} imports {names}"


def test_unconditional_models_refuse_labels_and_conditional_check_range():
    with pytest.raises(UsageError, match="unconditional"):
        tiny_wavenet(conditional=False).sample(2, label=3)
    with pytest.raises(UsageError, match="0..9"):
        tiny_wavenet().sample(2, label=12)


def test_mu_law_round_trip_within_quantization_error():
    from zoo_audio.wavenet import mu_law_decode, mu_law_encode

    x = torch.cat([torch.linspace(-1, 1, 10001), torch.randn(10000).clamp(-1, 1) * 0.05])
    q = mu_law_encode(x, 256)
    assert q.dtype == torch.int64 and q.min() >= 0 and q.max() <= 255 and mu_law_encode(torch.zeros(1), 256).item() == 128

    def compand(v: torch.Tensor) -> torch.Tensor:  # mu-law's own axis, where the 256 levels are evenly spaced
        return v.sign() * torch.log1p(255 * v.abs()) / math.log(256)

    error = (compand(mu_law_decode(q, 256)) - compand(x)).abs()
    assert error.max() <= 1 / 255 + 1e-5  # half of one level's width (2/255)
    quiet = x.abs() < 1e-3
    assert (mu_law_decode(q, 256) - x)[quiet].abs().max() < (1 / 256) / 10  # near silence: 10× finer than linear 8 bits


def test_griffin_lim_inverts_a_real_clip(fsdd):
    from zoo.nn.spectrogram import griffin_lim, log_magnitude

    clip = fsdd["test"].fields["x"][:1]  # a spoken zero, 1024 samples
    target = log_magnitude(clip, 128, 64)  # 1×64×16

    def convergence(n_iter: int) -> float:  # ||S - S'||_F / ||S||_F on magnitudes
        rebuilt = log_magnitude(griffin_lim(target, 128, 64, clip.shape[1], n_iter), 128, 64)
        return ((rebuilt.exp() - target.exp()).norm() / target.exp().norm()).item()

    assert convergence(32) < 0.2  # about 0.1 for this clip
    assert convergence(32) < 0.7 * convergence(0)  # the iterations, not the magnitudes alone, do the work


def test_cached_generation_equals_uncached():
    model = tiny_wavenet()
    y = torch.tensor([3, 8])
    assert model.receptive_field == 15
    cached = model.generate(2, 60, y, torch.Generator().manual_seed(5), cached=True)
    uncached = model.generate(2, 60, y, torch.Generator().manual_seed(5), cached=False)
    assert torch.equal(cached, uncached)
    assert cached.unique().numel() > 5  # a real draw, not a constant


def test_wavenet_guidance_samples_from_the_guided_logits():
    """With guidance each step draws from softmax(cond + w·(cond - uncond)), the digit-less rows running
    beside the asked-for ones, and the cache still gives the uncached numbers."""
    from zoo.capabilities import guided

    model = tiny_wavenet(label_dropout=0.1)
    y = torch.tensor([3, 8])
    assert model.cond.num_embeddings == 11 * model.segments  # ten digits and "no digit"
    first = model.generate(2, 1, y, torch.Generator().manual_seed(5), guidance=2.0)[:, 0]
    silence = torch.full((2, 1), model.silence)
    with torch.no_grad():
        logits = guided(model(silence, y)[:, :, 0], model(silence, torch.full_like(y, 10))[:, :, 0], 2.0)
    cdf = logits.softmax(dim=1).cumsum(dim=1)
    assert torch.equal(first, torch.searchsorted(cdf, torch.rand(2, 1, generator=torch.Generator().manual_seed(5))).squeeze(1))
    cached = model.generate(2, 40, y, torch.Generator().manual_seed(5), guidance=2.0)
    assert torch.equal(cached, model.generate(2, 40, y, torch.Generator().manual_seed(5), cached=False, guidance=2.0))
    assert not torch.equal(cached, model.generate(2, 40, y, torch.Generator().manual_seed(5)))  # guidance changes the draw


def test_wavenet_guidance_needs_label_dropout():
    with pytest.raises(UsageError, match="label_dropout"):
        tiny_wavenet().sample(2, label=3, guidance=2.0)
    with pytest.raises(UsageError, match=">= 0"):
        tiny_wavenet(label_dropout=0.1).sample(2, label=3, guidance=-1.0)


def test_cached_step_logits_match_teacher_forcing():
    model = tiny_wavenet()
    y = torch.tensor([1, 4])
    inputs = torch.randint(0, 256, (2, 40), generator=torch.Generator().manual_seed(0))
    step = model.stepper(2, y)
    stepped = torch.stack([step(inputs[:, t]) for t in range(40)], dim=2)
    torch.testing.assert_close(stepped, model(inputs, y), rtol=1e-4, atol=1e-5)


def test_wavenet_label_and_position_reach_the_output_at_step_0():
    """The digit must change what the model predicts from the very first (silent) input, in both the
    teacher-forced and the cached path, and its timeline must change the prediction over time."""
    model = tiny_wavenet()
    silence = torch.full((2, 48), model.silence)
    y = torch.tensor([3, 8])
    first = model.stepper(2, y)(silence[:, 0]).softmax(dim=1)
    assert (first[0] - first[1]).abs().sum() > 1e-2  # the two digits' distributions differ at step 0
    with torch.no_grad():
        probs = model(silence, y).softmax(dim=1)  # N×Q×48, for a constant input: changes come from the timeline
    torch.testing.assert_close(first, probs[:, :, 0], rtol=1e-4, atol=1e-6)
    # Outputs 30 and 31 see (receptive field 15) only inputs of timeline step 1 (16..31), output 47 only step 2.
    assert torch.allclose(probs[:, :, 30], probs[:, :, 31]) and (probs[:, :, 31] - probs[:, :, 47]).abs().sum() > 1e-2


def test_wavenet_global_conditioning_is_one_embedding_per_digit():
    from zoo_audio.wavenet import WaveNet, WaveNetConfig

    model = WaveNet(WaveNetConfig(channels=6, skip_channels=5, layers=3, stacks=2, cond_segment=0), CLIPS, CONTEXT)
    assert model.segments == 1 and model.cond.num_embeddings == 10
    assert tiny_wavenet().segments == 256 // 16


def test_wav_files_are_readable(tmp_path):
    t = torch.arange(4000) / 8000
    waves = torch.stack([0.5 * torch.sin(2 * math.pi * 440 * t), 1.5 * torch.sin(2 * math.pi * 220 * t)])  # the second clips
    samples = AudioSamples(waves, 8000, torch.tensor([1, 2]))
    written = samples.save(tmp_path / "clips")
    assert [p.name for p in written] == ["00000.wav", "00001.wav", "spectrograms.png", "samples.json"]
    for path, peak in zip(written[:2], (0.5, 1.0)):
        rate, pcm = wavfile.read(path)
        assert rate == 8000 and pcm.dtype == np.int16 and pcm.shape == (4000,)
        assert abs(np.abs(pcm).max() / 32767 - peak) < 1e-3
    rate, joined = wavfile.read(samples.save(tmp_path / "all.wav")[0])
    assert rate == 8000 and joined.shape == (2 * (4000 + 2000),)
    arrays = np.load(samples.save(tmp_path / "all.npz")[0])
    assert arrays["waves"].shape == (2, 4000) and arrays["labels"].tolist() == [1, 2] and int(arrays["sample_rate"]) == 8000
    assert samples.save(tmp_path / "grid.png")[0].stat().st_size > 0


def test_classifier_on_a_tiny_budget_beats_chance(fsdd):
    from zoo_audio.classifier import Recipe, accuracy, train_classifier

    model = train_classifier(fsdd["train"], Recipe(epochs=1))  # on clean and degraded clips, with masks
    assert accuracy(model, fsdd["test"].fields["x"], fsdd["test"].fields["y"]) > 0.3  # chance is 0.1


def test_degradations_are_seeded_and_keep_the_digit_audible(fsdd):
    from zoo_audio.classifier import DEGRADATIONS, degraded
    from zoo.nn.spectrogram import log_magnitude

    clips = fsdd["test"].fields["x"][:6]
    once, again = degraded(clips, seed=3), degraded(clips, seed=3)
    assert list(once) == ["clean", *DEGRADATIONS]
    for name, waves in once.items():
        assert waves.shape == clips.shape and torch.equal(waves, again[name]), name
        if name != "clean":
            assert not torch.equal(waves, clips), name
    spectrum = log_magnitude(clips, 128, 64).exp()
    for name in ("griffin-lim", "mu-law", "noise"):  # the magnitudes, what a listener hears, stay close
        error = (log_magnitude(once[name], 128, 64).exp() - spectrum).norm() / spectrum.norm()
        assert error < 0.5, (name, error)
    quantised = once["mu-law"].unique()
    assert len(quantised) <= 256


def test_spec_augment_masks_one_span_of_frames_and_of_bands_per_clip():
    from zoo_audio.classifier import LOG_FLOOR, Recipe, spec_augment

    feats = torch.zeros(50, 40, 65)
    masked = spec_augment(feats, Recipe(time_mask=8, band_mask=6), torch.Generator().manual_seed(0)) == LOG_FLOOR
    frames, bands = masked.all(dim=1).sum(dim=1), masked.all(dim=2).sum(dim=1)
    assert frames.max() <= 8 and bands.max() <= 6 and frames.float().mean() > 2 and bands.float().mean() > 1


def test_judge_is_built_apart_and_beats_chance(fsdd):
    from zoo_audio.judge import judge_labels, train_judge

    judge = train_judge(fsdd["train"])
    assert not any(isinstance(m, torch.nn.Conv1d) for m in judge.modules())  # no part of the classifier's design
    hits = judge_labels(judge, fsdd["test"].fields["x"]) == fsdd["test"].fields["y"]
    assert hits.float().mean() > 0.3  # chance is 0.1 (128 ms clips; 99.3% on whole ones)


class RealClips(torch.nn.Module):
    """A stand-in conditional model whose 'samples' are real test clips (their labels as requested)."""

    modality = "audio"

    def __init__(self, data, noise: bool = False) -> None:
        super().__init__()
        self.data, self.noise = data, noise

    def sample(self, n: int, generator=None) -> AudioSamples:
        x = self.data.fields["x"][:n]
        if self.noise:
            x = torch.randn(x.shape, generator=torch.Generator().manual_seed(0)) * 0.1
        return AudioSamples(x, 8000, self.data.fields["y"][:n])


def test_audio_metrics_rank_real_clips_above_noise(fsdd, tmp_path):
    from zoo.evaluation import EvalContext
    from zoo.presets import resolve
    from zoo_audio import metrics

    config = resolve("cspecgan-digits", {"data.clip_samples": 1024})
    perm = torch.randperm(300, generator=torch.Generator().manual_seed(0))  # mixed digits in every chunk
    test = type(fsdd["test"])({k: v[perm] for k, v in fsdd["test"].fields.items()}, fsdd["test"].info)
    scores = {}
    for name, model in (("real", RealClips(test)), ("noise", RealClips(test, noise=True))):
        ctx = EvalContext(config, torch.device("cpu"), num_samples=200)
        results = {m.name: m.compute(model, ctx) for m in (metrics.AUDIO_FD, metrics.AUDIO_IS, metrics.DIGIT_ACCURACY)}
        scores[name] = {k: v for r in results.values() for k, v in r.values.items()}
        protocol = results["audio_fd"].protocol
        assert protocol["num_samples"] == 200 and protocol["reference_items"] == 300 and len(protocol["classifier_sha256"]) == 64
    assert scores["real"]["digit_accuracy"] > 0.8 and scores["noise"]["digit_accuracy"] < 0.3
    assert scores["real"]["judge_digit_accuracy"] > 2 * scores["noise"]["judge_digit_accuracy"]
    assert set(results["digit_accuracy"].protocol["judge_test_accuracy"]) == {"clean", "griffin-lim", "griffin-lim-jittered", "mu-law", "noise"}
    assert scores["real"]["audio_is"] > 3 * scores["noise"]["audio_is"]
    assert scores["real"]["audio_fd"] < scores["noise"]["audio_fd"] / 3
