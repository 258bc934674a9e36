"""The vocoder, spectrogram families rendering through it, and voice conversion, on tiny seeded configs
(tests/test_contract.py runs the contract kit on vocoder-digits and vc-digits)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torchaudio
from scipy.io import wavfile

import zoo
from zoo.errors import UsageError
from zoo.nn.vocoder import Generator, MelFrontEnd
from zoo.testing import dataset_installed
from zoo_audio.distances import log_spectral_distance, mel_cepstral_distortion

RATE = 8000
TINY_VOCODER = {"model.channels": 8, "model.dilations": [1], "model.periods": [2], "model.scales": 1, "model.d_width": 4,
                "model.segment": 256, "model.gan_start": 2, "data.batch_size": 4, "data.clip_samples": 1024,
                "train.log_every": 1, "train.checkpoint_every": 0, "train.sample_every": 0}

needs_fsdd = pytest.mark.skipif(not dataset_installed("fsdd"), reason="FSDD is not installed here")


def tone(freq: float, samples: int = 4096, amplitude: float = 0.5) -> torch.Tensor:
    return amplitude * torch.sin(2 * math.pi * freq * torch.arange(samples) / RATE)


def test_mel_front_end_is_torchauidos_mel_spectrogram():
    waves = torch.randn(3, 1024, generator=torch.Generator().manual_seed(0))
    ours = MelFrontEnd(RATE, 128, 64, 40)
    theirs = torchaudio.transforms.MelSpectrogram(RATE, n_fft=128, hop_length=64, n_mels=40, power=1.0)(waves)
    assert theirs.shape[-1] == 1024 // 64 + 1  # centred frames: one more than ours
    torch.testing.assert_close(ours.mel(waves), theirs[..., :-1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours(waves), torch.log(theirs[..., :-1].clamp_min(1e-5)), rtol=1e-5, atol=1e-5)
    magnitude = torch.stft(waves, 128, 64, window=torch.hann_window(128), return_complex=True).abs()[..., :-1]
    torch.testing.assert_close(ours.from_magnitude(magnitude), ours(waves), rtol=1e-4, atol=1e-4)


def test_distances_in_closed_form():
    x = 0.3 * torch.randn(2, 4096, generator=torch.Generator().manual_seed(0))  # energy in every bin, far above the floor
    assert log_spectral_distance(x, x).abs().max() < 1e-4 and mel_cepstral_distortion(x, x, RATE).abs().max() < 1e-4
    # twice the amplitude is +6.02 dB in every bin (LSD), and only a change of level (c0, left out of MCD)
    torch.testing.assert_close(log_spectral_distance(2 * x, x), torch.full((2,), 20 * math.log10(2)), rtol=1e-3, atol=1e-3)
    assert mel_cepstral_distortion(2 * x, x, RATE).abs().max() < 1e-3
    assert mel_cepstral_distortion(tone(1000.0)[None], tone(440.0)[None], RATE).item() > 5
    padded = torch.cat([x, torch.zeros(2, 4096)], dim=1)  # silence after the recording does not count
    noisy = padded + 1e-3 * torch.randn(padded.shape, generator=torch.Generator().manual_seed(0))
    assert log_spectral_distance(noisy, padded).max() < 1.0


def test_copy_synthesis_of_a_pure_tone():
    """A tiny generator fitted to one 1 kHz tone's mel frames resynthesises a tone at 1 kHz. (A faint noise
    floor keeps every mel band above the log floor, as in recordings.)"""
    torch.manual_seed(0)
    front, G = MelFrontEnd(RATE, 128, 64, 40), Generator(40, 16, (4, 4, 4), 3, (1,))
    wave = (tone(1000.0, 1024) + 0.01 * torch.randn(1024, generator=torch.Generator().manual_seed(1)))[None]
    mel = front(wave)
    opt = torch.optim.Adam(G.parameters(), lr=3e-3)
    for _ in range(150):
        loss = torch.nn.functional.l1_loss(front(G(mel)), mel)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        out = G(mel)
    spectrum = torch.fft.rfft(out[0] * torch.hann_window(1024)).abs()
    peak_hz = spectrum.argmax().item() * RATE / 1024
    assert abs(peak_hz - 1000.0) < 10, f"the resynthesised tone peaks at {peak_hz:.0f} Hz"
    assert spectrum.max() > 50 * spectrum.median()  # a tone, not noise
    assert log_spectral_distance(out, wave).item() < log_spectral_distance(tone(440.0, 1024)[None], wave).item()


def test_generator_upsamples_by_the_hop_for_odd_rates_too():
    for rates in ((4, 4, 4), (8, 8), (5, 3)):
        G = Generator(40, 8, rates, 3, (1,))
        assert G(torch.randn(2, 40, 7)).shape == (2, 7 * math.prod(rates))


def test_vocoder_rates_must_multiply_to_the_hop():
    from zoo_audio.vocoder import VocoderConfig

    with pytest.raises(UsageError, match="multiply to model.hop"):
        VocoderConfig(hop=64, rates=[4, 4])


def test_speaker_labels_from_fsdd_names():
    from zoo_audio.fsdd import parse_name

    assert parse_name("7_jackson_32.wav") == (7, "jackson", 32)
    assert parse_name("0_yweweler_4.wav") == (0, "yweweler", 4)


def test_speaker_labels_from_an_own_folder_by_regex(tmp_path):
    from zoo.data import load_dataset
    from zoo.data.own import AudioFolderConfig

    for i, name in enumerate(["ann", "bob", "cy"] * 4):
        wavfile.write(tmp_path / f"{i % 10}_{name}_{i}.wav", RATE, (tone(300.0 + 50 * i, 800).numpy() * 20000).astype(np.int16))
    config = AudioFolderConfig(dataset="audio-folder", path=str(tmp_path), clip_samples=1024, speaker_regex=r"^\d_([a-z]+)_", test_fraction=0.0)
    data = load_dataset(config, "train")
    assert data.info["speakers"] == ["ann", "bob", "cy"]
    names = sorted(p.name for p in tmp_path.glob("*.wav"))
    assert sorted(data.info["speakers"][s] for s in data.fields["speaker"].tolist()) == sorted(n.split("_")[1] for n in names)
    with pytest.raises(UsageError, match="does not match"):
        load_dataset(AudioFolderConfig(dataset="audio-folder", path=str(tmp_path), clip_samples=1024, speaker_regex=r"^x_", test_fraction=0.0), "train")


def test_short_and_silent_clips_are_refused_by_name(tmp_path):
    from zoo_audio.wavfiles import read_clip

    wavfile.write(tmp_path / "short.wav", RATE, np.ones(50, dtype=np.int16) * 1000)
    wavfile.write(tmp_path / "silent.wav", RATE, np.zeros(4000, dtype=np.int16))
    wavfile.write(tmp_path / "ok16k.wav", 16000, (tone(500.0, 8000).numpy() * 10000).astype(np.int16))
    with pytest.raises(UsageError, match="short.wav is too short"):
        read_clip(tmp_path / "short.wav", RATE, 128)
    with pytest.raises(UsageError, match="silent.wav is silent"):
        read_clip(tmp_path / "silent.wav", RATE, 128)
    clip = read_clip(tmp_path / "ok16k.wav", RATE, 128)  # resampled to 8 kHz, peak 1
    assert len(clip) == 4000 and abs(clip.abs().max().item() - 1) < 1e-6


# ---- runs: a tiny vocoder, spectrogram models rendering through it, voice conversion ---------------
@pytest.fixture(scope="module")
def vocoder_run(tmp_path_factory) -> Path:
    if not dataset_installed("fsdd"):
        pytest.skip("FSDD is not installed here")
    return zoo.train("vocoder-digits", steps=4, device="cpu", out=tmp_path_factory.mktemp("voc") / "run", overrides=TINY_VOCODER, quiet=True).path


@needs_fsdd
def test_translate_resynthesises_wav_files(vocoder_run, tmp_path):
    from zoo.api import translate_files

    clips = tmp_path / "clips"
    (clips / "sub").mkdir(parents=True)
    wavfile.write(clips / "a.wav", RATE, (tone(400.0, 3000).numpy() * 20000).astype(np.int16))
    wavfile.write(clips / "sub" / "b.wav", RATE, (tone(800.0, 5000).numpy() * 20000).astype(np.int16))
    written = translate_files(vocoder_run, [clips], tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == ["a.wav", "sub/b.wav"]
    rate, pcm = wavfile.read(tmp_path / "out" / "sub" / "b.wav")
    assert rate == RATE and len(pcm) == 5000
    again = translate_files(vocoder_run, [clips / "a.wav"], tmp_path / "again")
    assert (tmp_path / "again" / "a.wav").read_bytes() == (tmp_path / "out" / "a.wav").read_bytes() and len(again) == 1


@needs_fsdd
def test_spectrogram_models_render_through_a_vocoder_run(vocoder_run, tmp_path):
    spec = zoo.train("cspecgan-digits", steps=2, device="cpu", out=tmp_path / "spec", quiet=True,
                     overrides={"model.nz": 8, "model.ngf": 4, "model.ndf": 4, "model.griffin_lim_iters": 2, "data.batch_size": 8,
                                "data.clip_samples": 1024, "train.checkpoint_every": 0, "train.sample_every": 0}).path
    plain = zoo.sample(spec, 4, seed=0, label=3)
    vocoded = zoo.sample(spec, 4, seed=0, label=3, vocoder=str(vocoder_run))
    assert vocoded.waves.shape == plain.waves.shape and not torch.equal(vocoded.waves, plain.waves)
    assert vocoded.meta["conditions"]["vocoder"] == str(vocoder_run)
    assert torch.equal(zoo.sample(spec, 4, seed=0, label=3, vocoder=str(vocoder_run)).waves, vocoded.waves)

    other = zoo.train("vocoder-digits", steps=1, device="cpu", out=tmp_path / "voc256", quiet=True,
                      overrides={**TINY_VOCODER, "model.n_fft": 256}).path
    with pytest.raises(UsageError, match=r"does not fit this run's spectrograms: n_fft 256 \(this run: 128\)"):
        zoo.sample(spec, 2, seed=0, vocoder=str(other))
    with pytest.raises(UsageError, match="not a vocoder"):
        zoo.sample(spec, 2, seed=0, vocoder=str(spec))
    with pytest.raises(UsageError, match="no run there"):
        zoo.sample(spec, 2, seed=0, vocoder=str(tmp_path / "nowhere"))


@needs_fsdd
def test_voice_conversion_speakers_and_errors(vocoder_run, tmp_path):
    from zoo.api import translate_files

    vc = zoo.train("vc-digits", steps=2, device="cpu", out=tmp_path / "vc", quiet=True,
                   overrides={"model.channels": 8, "model.blocks": 1, "model.d_channels": 4, "data.batch_size": 8, "data.clip_samples": 1024,
                              "train.checkpoint_every": 0, "train.sample_every": 0}).path
    model = zoo.load(vc)
    assert model.speakers == ["george", "jackson", "lucas", "nicolas", "theo", "yweweler"]
    clip = tmp_path / "in" / "c.wav"
    clip.parent.mkdir()
    wavfile.write(clip, RATE, (tone(300.0, 4000).numpy() * 20000).astype(np.int16))
    with pytest.raises(UsageError, match="unknown speaker 'bob'; this run knows george, jackson, lucas, nicolas, theo, yweweler"):
        translate_files(vc, [clip], tmp_path / "out", speaker="bob")
    with pytest.raises(UsageError, match="say whose voice"):
        translate_files(vc, [clip], tmp_path / "out")
    (out,) = translate_files(vc, [clip], tmp_path / "out", speaker="theo", vocoder=str(vocoder_run))
    assert wavfile.read(out)[1].shape == (4000,)
    a = model.convert(torch.stack([tone(300.0, 1024)]), torch.tensor([0]))
    b = model.convert(torch.stack([tone(300.0, 1024)]), torch.tensor([4]))
    assert a.shape == (1, 1024) and not torch.equal(a, b)  # the target speaker reaches the output
    samples = zoo.sample(vc, 3, seed=0, speaker="lucas", vocoder=str(vocoder_run))
    assert samples.meta["conditions"] == {"speaker": "lucas", "vocoder": str(vocoder_run)}


class LossRecorder:
    """A StepContext stand-in that keeps each optimiser's loss instead of stepping."""

    def __init__(self) -> None:
        self.losses: dict[str, torch.Tensor] = {}

    def update(self, name: str, loss: torch.Tensor) -> None:
        self.losses[name] = loss.detach()


def test_voice_conversion_discriminator_learns_conversions_as_their_source_speaker():
    """D's speaker head is trained on real clips as their speaker and on conversions as their *source*
    speaker, so that G must remove the source voice rather than fool a head that never saw a fake; its
    content head learns the real clips' digits only."""
    import torch.nn.functional as F

    from zoo.config import DataConfig
    from zoo.contract import FamilyContext
    from zoo_audio.conversion import ConversionConfig, VoiceConversion

    info = {"speakers": ["a", "b", "c"], "num_classes": 10, "sample_rate": RATE, "mel_mean": [0.0] * 8, "mel_std": [1.0] * 8}
    torch.manual_seed(0)
    model = VoiceConversion(ConversionConfig(n_mels=8, channels=8, blocks=1, d_channels=4), info,
                            FamilyContext(Path("unused"), DataConfig(dataset="fsdd")))
    x, source, said = torch.randn(4, 8, 16), torch.tensor([0, 1, 2, 0]), torch.tensor([3, 1, 4, 1])
    recorder = LossRecorder()
    torch.manual_seed(1)
    model.train_step({"x": x, "speaker": source, "y": said}, recorder)

    torch.manual_seed(1)
    target = (source + torch.randint(1, 3, source.shape)) % 3
    with torch.no_grad():
        (real_logit, real_speaker, real_content), (fake_logit, fake_speaker, _) = model.D(x), model.D(model.G(x, target))
    expected = ((1 - real_logit).pow(2).mean() + fake_logit.pow(2).mean()
                + F.cross_entropy(real_speaker, source) + F.cross_entropy(fake_speaker, source) + F.cross_entropy(real_content, said))
    torch.testing.assert_close(recorder.losses["d"], expected)
    assert not torch.equal(target, source) and (target != source).all()
