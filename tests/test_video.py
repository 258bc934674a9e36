"""Video: the Moving MNIST generator, clip files (GIF, MP4, sheets), OpenSTL-convention prediction scores, the
space-time blocks, and the video families' contracts (ConvLSTM, video flow generation and prediction, restoration)."""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest
import torch

from zoo.data.moving_mnist import MovingMNIST, SmallMovingMNISTConfig, render, trajectories
from zoo.errors import UsageError
from zoo.metrics.video import baselines, frame_mae, frame_mse, frame_psnr_ssim
from zoo.samples import VideoSamples
from zoo.testing import FamilyContract, dataset_installed
from zoo import video

needs_mnist = pytest.mark.skipif(not dataset_installed("mnist"), reason="MNIST is not installed here")


# ---- the generator ------------------------------------------------------------------------------
def test_trajectory_bounces_like_the_hand_computed_one() -> None:
    """Start at (0.95, 0.5) moving +x at step 0.1: 1.05 clamps to 1 and reverses, then 0.9, 0.8; y never moves."""
    pos = trajectories(torch.tensor([[0.5, 0.95]]), torch.tensor([[0.0, 1.0]]), 4, 0.1)[0]
    assert torch.allclose(pos[:, 1], torch.tensor([1.0, 0.9, 0.8, 0.7]))
    assert torch.allclose(pos[:, 0], torch.full((4,), 0.5))
    # a diagonal start bounces off the low border on both axes at once, then keeps its speed
    pos = trajectories(torch.tensor([[0.05, 0.05]]), torch.tensor([[-0.6, -0.8]]), 3, 0.1)[0]
    assert torch.allclose(pos[0], torch.tensor([0.0, 0.0]))
    assert torch.allclose(pos[1], torch.tensor([0.06, 0.08])) and torch.allclose(pos[2], torch.tensor([0.12, 0.16]))


def test_constant_speed_between_bounces() -> None:
    gen = torch.Generator().manual_seed(0)
    theta = torch.rand(64, generator=gen) * 2 * math.pi
    pos = trajectories(torch.rand(64, 2, generator=gen) * 0.6 + 0.2, torch.stack([theta.sin(), theta.cos()], -1), 20, 0.05)
    steps = (pos[:, 1:] - pos[:, :-1]).norm(dim=-1)
    inside = ((pos[:, 1:] > 0) & (pos[:, 1:] < 1) & (pos[:, :-1] > 0) & (pos[:, :-1] < 1)).all(-1)
    assert inside.float().mean() > 0.5 and torch.allclose(steps[inside], torch.full_like(steps[inside], 0.05), atol=1e-6)


def test_render_places_digits_and_combines_by_maximum() -> None:
    digits = torch.zeros(1, 2, 3, 3)
    digits[0, 0, 0, 0], digits[0, 1, 2, 2] = 0.4, 0.9
    digits[0, 0, 1, 1], digits[0, 1, 0, 0] = 0.7, 0.2  # both land on canvas (3, 3) at frame 0: the maximum wins
    offsets = torch.tensor([[[[2, 2]], [[3, 3]]]])  # N×D×T×2 (row, column)
    frame = render(digits, offsets, 8)[0, 0, 0]
    assert frame[2, 2] == 0.4 and frame[5, 5] == 0.9 and frame[3, 3] == 0.7 and frame.count_nonzero() == 3


@needs_mnist
def test_fixed_test_set_checksum() -> None:
    """The fixed test set is the same sequences on every machine: first 64 sequences' bytes and digits."""
    from zoo.data import get_spec, load_dataset

    for name, frames, labels in (("moving-mnist", "b6432dc544a22cc6", "ce391e9a2e29ddfa"), ("moving-mnist-small", "64af7740d81d1446", "7ba33b01bff23ff4")):
        test = load_dataset(get_spec(name).config(dataset=name), "test")
        batch = test.batch(torch.arange(64))
        assert batch["x"].shape == ((64, 20, 1, 64, 64) if name == "moving-mnist" else (64, 10, 1, 32, 32))
        x = (batch["x"] * 255).round().to(torch.uint8)
        assert hashlib.sha256(x.numpy().tobytes()).hexdigest()[:16] == frames
        assert hashlib.sha256(batch["digits"].numpy().tobytes()).hexdigest()[:16] == labels


def test_train_batches_are_fresh_and_follow_the_global_seed() -> None:
    images = torch.randint(0, 256, (20, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    data = MovingMNIST(images, torch.arange(20) % 10, SmallMovingMNISTConfig(dataset="moving-mnist-small"), "train")
    torch.manual_seed(1)
    a, b = data.batch(torch.arange(4)), data.batch(torch.arange(4))
    torch.manual_seed(1)
    again = data.batch(torch.arange(4))
    assert not torch.equal(a["x"], b["x"]) and torch.equal(a["x"], again["x"])
    assert a["x"].shape == (4, 10, 1, 32, 32) and a["direction"].max() < 8


# ---- clip files ---------------------------------------------------------------------------------
def clips(n: int = 2, t: int = 5, c: int = 1, size: int = 12) -> torch.Tensor:
    return (torch.rand(n, t, c, size, size, generator=torch.Generator().manual_seed(0)) * 255).round() / 255


def test_gif_round_trip_is_exact_for_grey(tmp_path: Path) -> None:
    x = clips(1)
    VideoSamples(x, nrow=1).save(tmp_path / "a.gif")
    back = video.clip_tensor(video.read_clip(tmp_path / "a.gif"))
    assert back.shape == (5, 1, 12, 12) and torch.equal(back, x[0])  # one clip is written as itself
    VideoSamples(clips(2), nrow=2).save(tmp_path / "b.gif")
    back = video.clip_tensor(video.read_clip(tmp_path / "b.gif"))
    assert back.shape == (5, 1, 16, 30) and torch.equal(back[:, :, 2:14, 2:14], clips(2)[0])  # tiled, 2-pixel white borders


def test_mp4_round_trip_is_close(tmp_path: Path) -> None:
    x = torch.zeros(1, 6, 3, 16, 16)
    x[0, :, 0, 4:12, 4:12] = 1.0  # a red square on black: flat areas, as H.264 keeps them
    (tmp_path / "a.mp4").write_bytes(video.mp4_bytes(x[0]))
    back = video.clip_tensor(video.read_clip(tmp_path / "a.mp4", channels=3))
    assert back.shape == (6, 3, 16, 16) and (back - x[0]).abs().mean() < 0.02
    import av

    with av.open(str(tmp_path / "a.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "h264"


def test_sheet_and_folder(tmp_path: Path) -> None:
    from PIL import Image

    files = VideoSamples(clips(2, 3)).save(tmp_path / "out")
    assert [f.name for f in files] == ["00000.gif", "00001.gif", "sheet.png", "samples.json"]
    with Image.open(tmp_path / "out" / "sheet.png") as sheet:
        assert sheet.size == (3 * 14 + 2, 2 * 14 + 2)  # time across, clips down
    with pytest.raises(UsageError, match=".gif or .mp4"):
        VideoSamples(clips()).save(tmp_path / "x.wav")
    assert "image/gif" in VideoSamples(clips())._repr_html_()


def test_context_errors(tmp_path: Path) -> None:
    VideoSamples(clips(1, 3)).save(tmp_path / "frames")
    clip = tmp_path / "frames" / "00000.gif"
    assert video.read_context(clip, (1, 12, 12), 3).shape == (1, 3, 1, 12, 12)
    with pytest.raises(UsageError, match="has 3 frame"):
        video.read_context(clip, (1, 12, 12), 5)
    with pytest.raises(UsageError, match="predicts 16×16"):
        video.read_context(clip, (1, 16, 16), 2)
    with pytest.raises(UsageError, match="no such file"):
        video.read_context(tmp_path / "none.gif", (1, 12, 12), 2)
    (tmp_path / "bad.gif").write_bytes(b"GIF89a broken")
    with pytest.raises(UsageError, match="cannot read"):
        video.read_context(tmp_path / "bad.gif", (1, 12, 12), 2)


# ---- scores -------------------------------------------------------------------------------------
def test_openstl_mse_closed_form() -> None:
    """Zeros vs 0.5 on 4×4 frames: each frame's squared error sums to 16·0.25 = 4; one pixel off by a in one of
    two frames gives a²/2; MAE sums absolute errors the same way."""
    true = torch.full((3, 2, 1, 4, 4), 0.5)
    assert frame_mse(torch.zeros_like(true), true) == pytest.approx(4.0)
    assert frame_mae(torch.zeros_like(true), true) == pytest.approx(8.0)
    pred = true.clone()
    pred[:, 0, 0, 1, 2] += 0.3
    assert frame_mse(pred, true) == pytest.approx(0.09 / 2)
    p, s = frame_psnr_ssim(true, true)
    assert p == 100.0 and s == pytest.approx(1.0)


def test_baselines() -> None:
    context = torch.arange(3.0).view(1, 3, 1, 1, 1).expand(1, 3, 1, 2, 2)
    b = baselines(context, 2)
    assert torch.equal(b["copy_last"], torch.full((1, 2, 1, 2, 2), 2.0)) and torch.equal(b["mean_frame"], torch.full((1, 2, 1, 2, 2), 1.0))


# ---- blocks -------------------------------------------------------------------------------------
def test_spacetime_unet_starts_at_zero_and_mixes_time() -> None:
    from zoo.nn.spacetime import SpaceTimeUNet

    torch.manual_seed(0)
    net = SpaceTimeUNet(1, 1, [4, 8], emb=8)
    x = torch.rand(2, 5, 1, 8, 8)
    assert net(x, torch.rand(2, 8)).abs().max() == 0  # zero head
    for p in net.parameters():  # every layer live: a change to frame 0 must reach frame 1 through the temporal convs
        torch.nn.init.normal_(p, std=0.2)
    emb = torch.rand(2, 8)
    x2 = x.clone()
    x2[:, 0] += 1
    assert (net(x2, emb)[:, 1] - net(x, emb)[:, 1]).abs().max() > 0


def test_temporal_attention_reaches_across_the_whole_clip() -> None:
    """Four temporal convs reach four frames; attention at one level ties frame 0 to frame 11."""
    from zoo.nn.spacetime import SpaceTimeUNet

    x = torch.rand(1, 12, 1, 8, 8)
    moved = x.clone()
    moved[:, 0] += 1
    reach = {}
    for attention in ((), (1,)):
        torch.manual_seed(0)
        net = SpaceTimeUNet(1, 1, [4, 8], emb=0, attention=attention)
        assert net(x).abs().max() == 0  # attention's projection starts at zero too
        for p in net.parameters():
            torch.nn.init.normal_(p, std=0.2)
        reach[attention] = float((net(moved)[:, 11] - net(x)[:, 11]).abs().max())
    assert reach[()] == 0 and reach[(1,)] > 0


def test_joint_attention_reads_other_frames_anywhere() -> None:
    """Temporal attention at a pixel sees the other frames at that pixel only; joint attention sees them everywhere."""
    from zoo.nn.spacetime import JointAttention, TemporalAttention

    x = torch.rand(1, 12, 8, 8, 8)
    swapped = x.clone()  # two of frame 0's pixels swapped: its norm statistics stay, its layout changes
    swapped[:, 0, :, 0, 0], swapped[:, 0, :, 0, 1] = x[:, 0, :, 0, 1], x[:, 0, :, 0, 0]
    change = {}
    for layer in (TemporalAttention(8), JointAttention(8)):
        torch.manual_seed(0)
        for p in layer.parameters():
            torch.nn.init.normal_(p, std=0.2)
        with torch.no_grad():
            change[type(layer).__name__] = float((layer(swapped) - layer(x))[:, 11, :, 7, 7].abs().max())  # frame 11, far corner
    assert change["TemporalAttention"] < 1e-7 and change["JointAttention"] > 1e-5
    with pytest.raises(UsageError, match="multiples of 8"):
        JointAttention(12)


# ---- families -----------------------------------------------------------------------------------
class TestConvLSTMContract(FamilyContract):
    preset = "convlstm-mmnist"


class TestVideoPredictContract(FamilyContract):
    preset = "predict-mmnist"


class TestVideoFlowContract(FamilyContract):
    preset = "flow-mmnist"


class TestVideoRestoreContract(FamilyContract):
    preset = "denoise-mmnist"


def record_passes(model: torch.nn.Module, monkeypatch: pytest.MonkeyPatch) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Every `generate` pass of `model` from now on, as (its conditioning, its output)."""
    passes: list[tuple[torch.Tensor, torch.Tensor]] = []
    generate = model.generate

    def recorded(*args: object, **kwargs: object) -> torch.Tensor:
        out = generate(*args, **kwargs)  # type: ignore[operator]
        passes.append((kwargs["cond"], out))  # type: ignore[arg-type]
        return out

    monkeypatch.setattr(model, "generate", recorded)
    return passes


def test_video_flow_with_a_context_draws_a_window_then_the_next_given_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.contract import FamilyContext
    from zoo.data.spec import ImageDataConfig
    from zoo_diffusion.video import VideoFlowConfig, VideoFlowFamily

    info = {"channels": 1, "image_size": 8, "frames": 4, "num_classes": 0}
    ctx = FamilyContext(tmp_path, ImageDataConfig())
    with pytest.raises(UsageError, match="context_dropout"):
        VideoFlowFamily(VideoFlowConfig(widths=[4, 8], attention=[], context=1), info, ctx)
    torch.manual_seed(0)
    model = VideoFlowFamily(VideoFlowConfig(widths=[4, 8], attention=[], context=1, context_dropout=0.5, steps=2), info, ctx).eval()
    assert model.shape == (3, 1, 8, 8)  # by default a window is the clip's frames after the context
    for p in model.parameters():  # a live network (the head starts at zero)
        torch.nn.init.normal_(p, std=0.2)
    given = torch.rand(3, 1, 1, 8, 8) * 2 - 1
    cond = model.conditioning(given, torch.tensor([False, True, False]))  # N×W×(frame, given, position)×H×W
    assert cond.shape == (3, 3, 3, 8, 8)
    assert torch.equal(cond[0, :, 0], given[0, 0, 0].expand(3, 8, 8)) and torch.equal(cond[0, :, 1, 0, 0], torch.ones(3))
    assert cond[1, :, :2].abs().max() == 0  # hidden: neither the frame nor the plane saying it is given
    assert torch.equal(cond[1, :, 2, 0, 0], torch.tensor([0, 0.5, 1]))  # positions stay

    passes = record_passes(model, monkeypatch)
    clips = model.sample(2, torch.Generator().manual_seed(0)).clips
    (hidden, first), (shown, rest) = passes
    assert hidden[:, :, :2].abs().max() == 0  # pass 1: nothing given
    assert torch.equal(shown[:, :, 0], first[:, -1:, 0].expand(2, 3, 8, 8))  # pass 2: given pass 1's last frame
    assert torch.allclose(clips * 2 - 1, torch.cat([first, rest[:, :1]], 1), atol=1e-6)
    # guidance on the given frame steers pass 2 only
    plain, steered = (model.sample(2, torch.Generator().manual_seed(0), guidance=w).clips for w in (0.0, 2.0))
    assert torch.equal(plain[:, :3], steered[:, :3]) and not torch.allclose(plain[:, 3:], steered[:, 3:])
    with pytest.raises(UsageError, match="model.context > 0"):
        VideoFlowFamily(VideoFlowConfig(widths=[4, 8], attention=[]), info, ctx).sample(1, guidance=1.0)


def test_video_flow_in_windows_draws_each_window_given_the_frames_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.contract import FamilyContext
    from zoo.data.spec import ImageDataConfig
    from zoo_diffusion.video import VideoFlowConfig, VideoFlowFamily

    info = {"channels": 1, "image_size": 8, "frames": 7, "num_classes": 0}
    ctx = FamilyContext(tmp_path, ImageDataConfig())
    for bad in ({"window": 3}, {"context": 3, "context_dropout": 0.5, "window": 2}, {"context": 2, "context_dropout": 0.5, "window": 6}):
        with pytest.raises(UsageError, match=f"model.window={bad['window']} needs model.context"):
            VideoFlowFamily(VideoFlowConfig(widths=[4, 8], attention=[], **bad), info, ctx)
    torch.manual_seed(0)
    config = VideoFlowConfig(widths=[4, 8], attention=[], context=2, context_dropout=0.5, window=2, steps=2, guidance=0.0)
    model = VideoFlowFamily(config, info, ctx)
    clips = torch.rand(6, 7, 1, 8, 8)
    x, cond = model.encode({"x": clips})  # training: 2 frames of each clip, given the 2 before them (or hidden)
    assert x.shape == (6, 2, 1, 8, 8) and cond.shape == (6, 2, 4, 8, 8)
    starts = [next(s for s in range(4) if torch.equal(x[i], clips[i, s + 2 : s + 4] * 2 - 1)) for i in range(6)]
    assert len(set(starts)) > 1
    for i, s in enumerate(starts):
        shown = torch.equal(cond[i, 0, :2], clips[i, s : s + 2, 0] * 2 - 1)
        assert shown or cond[i, :, :3].abs().max() == 0  # the frames before the window, or nothing
    x, cond = model.eval().encode({"x": clips})  # evaluation: the first window, always given its context
    assert torch.equal(x, clips[:, 2:4] * 2 - 1) and torch.equal(cond[:, 0, :2], clips[:, :2, 0] * 2 - 1)

    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    passes = record_passes(model, monkeypatch)
    out = model.sample(2, torch.Generator().manual_seed(0)).clips * 2 - 1
    assert out.shape == (2, 7, 1, 8, 8) and len(passes) == 4  # 2 frames, then 2 + 2 + 2 (the last pass's second frame dropped)
    drawn = torch.cat([o for _, o in passes], 1)
    assert torch.allclose(out, drawn[:, :7], atol=1e-6)
    for i, (cond, _) in enumerate(passes[1:]):  # each pass given the two frames drawn just before it
        assert torch.equal(cond[:, 0, :2], drawn[:, 2 * i : 2 * i + 2, 0])


def test_global_shift_shift_frames_and_change_beyond_a_move() -> None:
    from zoo.metrics.video import change_beyond_a_move, global_shift, shift_frames

    frames = torch.zeros(3, 2, 16, 16)
    frames[:, :, 4:10, 5:9] = 0.5 + 0.5 * torch.rand(3, 2, 6, 4)
    shift = torch.tensor([[2, -3], [-4, 5], [0, 0]])
    moved = shift_frames(frames, shift)
    assert torch.equal(moved[0, :, 6:12, 2:6], frames[0, :, 4:10, 5:9]) and torch.isclose(moved[0].sum(), frames[0].sum())
    assert torch.equal(global_shift(frames, moved), shift)
    assert torch.equal(global_shift(moved, frames), -shift)
    gone = shift_frames(frames, torch.tensor([[0, 9]]).expand(3, 2))  # columns 5-8 moved to 14-17: two leave the frame
    assert torch.equal(gone[:, :, 4:10, 14:16], frames[:, :, 4:10, 5:7]) and gone[:, :, :, :14].abs().max() == 0
    clip = torch.stack([frames[:, :1], moved[:, :1], moved[:, :1]], 1)  # N×3×1×H×W: a move, then standing still
    assert torch.equal(change_beyond_a_move(clip), torch.zeros(3, 2))
    clip[:, 2] = 0.5 * moved[:, :1] + 0.05 * (moved[:, :1] == 0)  # the blob at half its ink, on haze nobody sees (< INK)
    assert torch.allclose(change_beyond_a_move(clip), torch.tensor([0.0, 1.0]).expand(3, 2))  # half lost / half left


def test_video_flow_context_noise_noises_the_given_frames_in_training_and_sampling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.contract import FamilyContext
    from zoo.data.spec import ImageDataConfig
    from zoo_diffusion.video import VideoFlowConfig, VideoFlowFamily, VideoPredictFamily

    info = {"channels": 1, "image_size": 8, "frames": 4, "num_classes": 0}  # one window: frames 3-4 given 1-2
    ctx = FamilyContext(tmp_path, ImageDataConfig())
    for bad, match in (({"context_noise": 0.1}, "needs model.context > 0"), ({"context": 2, "context_noise": -0.1}, "must be >= 0")):
        with pytest.raises(UsageError, match=match):
            VideoFlowConfig(**bad)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="drop model.context_noise"):
        VideoPredictFamily(VideoFlowConfig(widths=[4, 8], attention=[], context=2, context_noise=0.1), info, ctx)
    torch.manual_seed(0)
    config = VideoFlowConfig(widths=[4, 8], attention=[], context=2, context_dropout=0.5, window=2, steps=2, guidance=0.0, context_noise=0.1)
    model = VideoFlowFamily(config, info, ctx)
    clips = torch.rand(500, 4, 1, 8, 8)
    _, cond = model.encode({"x": clips})  # training: the given frames noised (or hidden)
    shown = cond[:, 0, 2, 0, 0] == 1
    error = cond[shown][:, 0, :2] - (clips[shown][:, :2, 0] * 2 - 1)  # noise of std 0.1 on the given frames, none on the planes
    assert 0.098 < float(error.std()) < 0.102 and abs(float(error.mean())) < 0.002
    _, clean = model.eval().encode({"x": clips})  # evaluation: the first window, given its frames as they are
    assert torch.equal(clean[:, 0, :2], clips[:, :2, 0] * 2 - 1)

    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    passes = record_passes(model, monkeypatch)
    first = model.sample(2, torch.Generator().manual_seed(0)).clips
    drawn = torch.cat([o for _, o in passes], 1)
    error = passes[1][0][:, 0, :2] - drawn[:, :2, 0]  # sampling gives a pass the frames drawn before it, noised too
    assert 0.05 < float(error.std()) < 0.15
    assert torch.equal(first, model.sample(2, torch.Generator().manual_seed(0)).clips)  # that noise comes from the generator


def test_video_predict_draws_only_the_frames_after_the_context(tmp_path: Path) -> None:
    from zoo.contract import FamilyContext
    from zoo.data.spec import ImageDataConfig
    from zoo_diffusion.video import VideoFlowConfig, VideoPredictFamily

    info = {"channels": 1, "image_size": 8, "frames": 5, "num_classes": 0}
    ctx = FamilyContext(tmp_path, ImageDataConfig())
    with pytest.raises(UsageError, match="drop model.window"):
        VideoPredictFamily(VideoFlowConfig(widths=[4, 8], attention=[], context=2, window=2), info, ctx)
    torch.manual_seed(0)
    model = VideoPredictFamily(VideoFlowConfig(widths=[4, 8], attention=[], context=2, steps=2), info, ctx)
    assert model.shape == (3, 1, 8, 8)
    clips = torch.rand(3, 5, 1, 8, 8)
    x, cond = model.encode({"x": clips})  # training too: frames 3-5, given 1-2
    assert torch.equal(x, clips[:, 2:] * 2 - 1) and torch.equal(cond[:, 1, :2], clips[:, :2, 0] * 2 - 1)
    future = model.eval().predict(clips[:, :2], generator=torch.Generator().manual_seed(0))
    assert future.shape == (3, 3, 1, 8, 8)


@needs_mnist
def test_predict_mode_on_a_generating_family_and_bad_contexts(tmp_path: Path) -> None:
    import zoo

    tiny = {"train.log_every": 1, "train.sample_every": 0, "train.checkpoint_every": 0, "eval.num_samples": 8}
    from zoo_diffusion.video import VideoFlowFamily, VideoPredictFamily

    flow = zoo.train("flow-mmnist", steps=2, out=tmp_path / "flow", overrides={**tiny, **VideoFlowFamily.tiny}, quiet=True).path
    with pytest.raises(UsageError, match="cannot predict"):
        zoo.sample(flow, 2, mode="predict", context=str(tmp_path))
    pred = zoo.train("predict-mmnist", steps=2, out=tmp_path / "pred", overrides={**tiny, **VideoPredictFamily.tiny}, quiet=True).path
    with pytest.raises(UsageError, match="needs --context"):
        zoo.sample(pred, 2, mode="predict")
    test = zoo.sample(pred, 2, seed=0)
    assert test.clips.shape == (2, 4, 1, 16, 16) and test.meta["mode"] == "predict-test"
    clip = tmp_path / "c.gif"
    VideoSamples(test.clips, nrow=2).save(clip)  # two clips tiled: the wrong size
    with pytest.raises(UsageError, match="predicts 16×16"):
        zoo.sample(pred, 2, mode="predict", context=str(clip))
    (tmp_path / "ok.gif").write_bytes(video.gif_bytes(test.clips[0]))
    out = zoo.sample(pred, 3, seed=1, mode="predict", context=str(tmp_path / "ok.gif"))
    assert torch.allclose(out.clips[:, :2], test.clips[:1, :2].expand(3, -1, -1, -1, -1), atol=1 / 255)  # the context is kept
    assert not torch.equal(out.clips[0, 2:], out.clips[1, 2:])  # different futures per draw


# ---- own clips ----------------------------------------------------------------------------------
def test_video_folder_decodes_mixed_clips_once(tmp_path: Path) -> None:
    """GIFs, an MP4 of another size and a frame folder all come out T×C×S×S; a corrupt file is skipped with a
    count; a clip shorter than data.frames is a usage error naming it."""
    import warnings

    from PIL import Image

    from zoo.data.video_folder import VideoFolderConfig, load_videos

    root = tmp_path / "clips"
    root.mkdir()
    x = clips(6, 6, 1, 16)
    for i in range(5):
        (root / f"c{i}.gif").write_bytes(video.gif_bytes(x[i]))
    (root / "big.mp4").write_bytes(video.mp4_bytes(torch.nn.functional.interpolate(x[5], size=24)))
    (root / "frames").mkdir()
    for t in range(6):
        Image.fromarray((x[0, t, 0] * 255).byte().numpy()).save(root / "frames" / f"{t:02d}.png")
    (root / "bad.gif").write_bytes(b"GIF89a broken")
    config = VideoFolderConfig(dataset="video-folder", path=str(root), image_size=16, channels=1, frames=4, test_fraction=0.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_videos(root, "train", config)
    assert any("skipped 1 unreadable" in str(w.message) for w in caught)
    assert data.fields["x"].shape == (7, 4, 1, 16, 16) and data.info["frames"] == 4
    batch = data.batch(torch.arange(7))["x"]
    assert torch.equal(batch[1], x[0, :4]) and torch.equal(batch[6], x[0, :4])  # c0.gif and the frame folder (sorted after big.mp4), exactly
    with pytest.raises(UsageError, match="fewer than data.frames=7"):
        load_videos(root, "train", VideoFolderConfig(dataset="video-folder", path=str(root), image_size=16, channels=1, frames=7, test_fraction=0.0))


def test_centroids_windows_and_motion_plausibility() -> None:
    from zoo.metrics.video import centroids, digit_windows, motion_plausibility

    frame = torch.zeros(1, 1, 12, 12)
    frame[0, 0, 3, 5], frame[0, 0, 5, 7] = 1.0, 3.0  # centroid: rows (3 + 15)/4 = 4.5, columns (5 + 21)/4 = 6.5
    assert torch.allclose(centroids(frame), torch.tensor([[4.5, 6.5]]))
    crops, corner = digit_windows(frame, 4)
    assert crops.sum() == 4.0 and corner.tolist() == [[3, 5]]  # 4.5 - 1.5, 6.5 - 1.5: both marks inside
    # a blob moving one pixel per frame, away from the borders, is perfectly plausible; shuffled in time it is not
    clip = torch.zeros(1, 8, 1, 24, 24)
    for t in range(8):
        clip[0, t, 0, 8 : 11, 2 + 2 * t : 5 + 2 * t] = 1.0
    assert motion_plausibility(clip, 3) == 1.0
    assert motion_plausibility(clip[:, [0, 5, 1, 6, 2, 7, 3, 4]], 3) < 0.5


def test_haze_nobody_sees_is_not_ink_but_a_second_blob_or_noise_is() -> None:
    from zoo.metrics.video import READABLE, digit_windows, ink_share, visible_ink

    digit = torch.zeros(1, 1, 32, 32)
    digit[0, 0, 10:20, 12:16] = 0.8
    hazy = digit + 2 / 255  # a sampler's residue on the background
    second = digit.clone()
    second[0, 0, 26:30, 0:4] = 0.8  # another blob, outside the 16×16 window
    noise = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))

    def share(frames: torch.Tensor) -> float:
        frames = visible_ink(frames)
        return float(ink_share(frames, digit_windows(frames, 16)[0]))

    assert share(hazy) == 1.0 and float(ink_share(hazy, digit_windows(hazy, 16)[0])) < READABLE  # the haze alone made it unreadable
    assert share(second) < READABLE and share(noise) < READABLE


def test_identity_consistency_counts_frames_read_as_the_clips_commonest_digit() -> None:
    from zoo.metrics.video import identity_consistency

    labels = torch.tensor([[3, 3, 3, 3],  # all four frames agree
                           [-1, -1, -1, 7],  # mostly unread: its one read frame is its commonest digit
                           [5, 2, 5, -1]])  # two of four read as 5
    assert identity_consistency(labels, 10) == (4 + 1 + 2) / 12
    assert identity_consistency(torch.full((2, 5), -1), 10) == 0.0


@needs_mnist
def test_serve_continues_an_uploaded_clip(tmp_path: Path) -> None:
    """A predicting run's page takes a GIF or MP4 upload (never a server path) and shows continuations that keep its
    first k frames; a clip of another size, a non-clip and a run that cannot predict are one-line errors."""
    import base64
    import re

    from fastapi.testclient import TestClient

    import zoo
    from zoo.serve import create_app
    from zoo_diffusion.video import VideoPredictFamily

    tiny = {"train.log_every": 1, "train.sample_every": 0, "train.checkpoint_every": 0, **VideoPredictFamily.tiny}
    run = zoo.train("predict-mmnist", steps=2, out=tmp_path / "pred", overrides=tiny, quiet=True).path
    client = TestClient(create_app([run]))
    page = client.get("/").text
    assert "clip to continue (16×16, at least 2 frames)" in page and 'name="context"' not in page and 'name="mode"' not in page
    clip = zoo.sample(run, 1, seed=0).clips[0]  # a test clip's context and a prediction: 4 frames of 16×16

    def post(data: bytes, kind: str = "image/gif", **body: object) -> tuple[int, str]:
        answer = client.post("/predict", json={"run": 0, "seed": 1, "n": 2, "clip": f"data:{kind};base64," + base64.b64encode(data).decode(), **body})
        return answer.status_code, answer.text

    status, html = post(video.gif_bytes(clip))
    assert status == 200 and "2 continuations of the uploaded clip&#x27;s first 2 frames" in html
    shown = base64.b64decode(re.search(r'src="data:image/gif;base64,([^"]+)"', html).group(1))
    (tmp_path / "shown.gif").write_bytes(shown)
    tiled = video.clip_tensor(video.read_clip(tmp_path / "shown.gif"))  # two clips side by side, 2-pixel borders
    assert torch.allclose(tiled[:2, :, 2:18, 2:18], clip[:2], atol=1 / 255) and torch.allclose(tiled[:2, :, 2:18, 20:36], clip[:2], atol=1 / 255)
    status, html = post(video.mp4_bytes(clip), "video/mp4", n=1)
    assert status == 200 and "1 continuation of the uploaded clip" in html
    status, html = post(video.gif_bytes(video.tile(torch.stack([clip, clip]))))
    assert status == 400 and "Error: the uploaded clip is 38×20 but this run predicts 16×16 clips" in html
    assert post(b"GIF89a broken")[0] == 400
    status, html = post(b"not a clip at all")
    assert status == 400 and "not a GIF, MP4 or WebM clip" in html
    status, html = post(video.gif_bytes(clip), run=3)
    assert status == 400 and "run 3 does not predict frames" in html
