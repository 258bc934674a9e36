"""The core translation pieces: degradations against hand-computed cases and PIL, the BasicSR-convention
PSNR/SSIM against scikit-image and closed forms, and the usage errors of bad degradations."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.errors import UsageError
from zoo.metrics.translation import classical_baselines, median3, restoration_scores, to_y
from zoo.translation import Degradation, Pairs, edge_map, gaussian_blur, luma, read_sources, resize, write_images


def test_parse_and_describe() -> None:
    assert str(Degradation.parse("sr:4")) == "sr:4"
    assert Degradation.parse("noise:0.4").value == pytest.approx(0.4)
    assert Degradation.parse("mask").mask == "center"
    assert Degradation.parse("gray").kind == "gray"


@pytest.mark.parametrize("text, words", [
    ("jpeg:10", "unknown degradation"), ("sr:3.5", "integer from 2 to 8"), ("sr:16", "integer from 2 to 8"),
    ("noise:0", "(0, 1]"), ("noise:abc", "Gaussian noise"), ("blur:9", "(0, 5]"), ("mask:square", "unknown mask"), ("gray:2", "no parameter"),
])
def test_bad_degradations_name_the_fix(text: str, words: str) -> None:
    with pytest.raises(UsageError) as err:
        Degradation.parse(text)
    assert words in str(err.value)


def test_sr_downsampling_matches_pil_bicubic() -> None:
    rng = np.random.default_rng(0)
    image = (rng.random((32, 32)) * 255).astype(np.uint8)
    expected = np.asarray(Image.fromarray(image).resize((8, 8), Image.BICUBIC), dtype=np.float64) / 255
    ours = Degradation.parse("sr:4")(torch.from_numpy(image).float().div(255)[None, None])[0, 0].double().numpy()
    assert ours.shape == (8, 8)
    assert np.abs(ours - expected).max() <= 1.5 / 255  # the same kernel; at most a rounding step apart


def test_bicubic_upsampling_matches_pil() -> None:
    rng = np.random.default_rng(1)
    image = (rng.random((8, 8)) * 255).astype(np.uint8)
    expected = np.asarray(Image.fromarray(image).resize((32, 32), Image.BICUBIC), dtype=np.float64) / 255
    ours = resize(torch.from_numpy(image).float().div(255)[None, None], 32)[0, 0].double().numpy()
    diff = np.abs(ours - expected)
    # PIL clips to 8 bits between its horizontal and vertical passes, so overshoots near sharp edges differ a little
    assert (diff <= 1.5 / 255).mean() >= 0.97 and diff.max() <= 12 / 255


def test_noise_is_clipped_gaussian() -> None:
    x = torch.full((64, 1, 16, 16), 0.5)
    noisy = Degradation.parse("noise:0.1")(x, torch.Generator().manual_seed(0))
    assert noisy.min() >= 0 and noisy.max() <= 1
    assert (noisy - x).std().item() == pytest.approx(0.1, rel=0.03)


def test_blur_of_a_point_is_the_gaussian_kernel() -> None:
    x = torch.zeros(1, 1, 15, 15)
    x[0, 0, 7, 7] = 1.0
    out = gaussian_blur(x, 1.0)[0, 0]
    assert out.sum().item() == pytest.approx(1.0, abs=1e-5)
    g = math.exp(-1 / 2)  # one pixel away along an axis, relative to the centre
    assert (out[7, 8] / out[7, 7]).item() == pytest.approx(g, rel=1e-4)
    assert (out[8, 8] / out[7, 7]).item() == pytest.approx(g * g, rel=1e-4)


def test_gray_is_bt601_luma_and_needs_colour() -> None:
    x = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    assert luma(x).item() == pytest.approx(0.299)
    with pytest.raises(UsageError, match="colour"):
        Degradation.parse("gray").source_shape(1, 32)


def test_edges_of_a_square_are_its_outline() -> None:
    x = torch.zeros(1, 1, 16, 16)
    x[..., 4:12, 4:12] = 1.0
    edges = edge_map(x)[0, 0]
    assert edges[4:12, 4:12][2:-2, 2:-2].sum() == 0  # flat inside: no edges
    assert edges[0:2].sum() == 0 and edges[:, 0:2].sum() == 0  # flat outside: none
    assert edges[8, 3] == 1 and edges[3, 8] == 1  # the border is an edge
    source = Degradation.parse("edges")(x)
    assert set(source.unique().tolist()) == {0.0, 1.0} and source.mean() > 0.5  # black lines on white


def test_mask_hides_pixels_as_grey() -> None:
    x = torch.ones(2, 1, 8, 8)
    out = Degradation.parse("mask:left")(x)
    assert (out[..., :4] == 0.5).all() and (out[..., 4:] == 1).all()


def test_sr_source_shape_and_divisibility() -> None:
    assert Degradation.parse("sr:4").source_shape(3, 32) == (3, 8)
    with pytest.raises(UsageError, match="divisible"):
        Degradation.parse("sr:4").source_shape(1, 30)


def test_pairs_batch_sources_from_targets() -> None:
    from zoo.data.tensors import TensorData

    data = TensorData({"x": torch.randint(0, 256, (10, 1, 16, 16), dtype=torch.uint8), "y": torch.arange(10)})
    batch = Pairs(data, Degradation.parse("sr:2")).batch(torch.tensor([3, 1]))
    assert batch["x"].shape == (2, 1, 16, 16) and batch["source"].shape == (2, 1, 8, 8)
    assert torch.equal(batch["y"], torch.tensor([3, 1]))


# ---- metrics ----------------------------------------------------------------------------------------
def test_psnr_closed_form() -> None:
    x = torch.zeros(1, 1, 8, 8)
    y = torch.full((1, 1, 8, 8), 0.1)  # MSE 0.01 -> 20 dB
    p, _ = restoration_scores(y, x)
    assert p.item() == pytest.approx(20.0, abs=1e-6)  # 0.1 is not exact in float32


def test_colorization_is_scored_on_rgb_since_its_grey_input_is_the_y_channel() -> None:
    red, grey = torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8)
    red[:, 0], grey[:] = 0.5, 0.5 * 65.481 / 219  # a grey of the red's luma (BasicSR's Y weights sum to 219/255)
    assert restoration_scores(grey, red)[0].item() == 100  # on Y the grey guess is perfect (PSNR at its cap)
    rgb_mse = ((grey - red) ** 2).mean().item()
    assert restoration_scores(grey, red, luma=False)[0].item() == pytest.approx(-10 * np.log10(rgb_mse), abs=1e-4)


def test_ssim_matches_scikit_image_with_basicsr_settings() -> None:
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(0)
    a = rng.random((32, 32))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    ours = restoration_scores(torch.from_numpy(b)[None, None], torch.from_numpy(a)[None, None])[1].item()
    # skimage averages over the whole image after cropping (win-1)/2 pixels: the same valid region
    reference = metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
    assert ours == pytest.approx(reference, abs=2e-3)


def test_rgb_is_scored_on_y_and_border_is_cropped() -> None:
    rgb = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    y = to_y(rgb)
    assert y.shape == (2, 1, 16, 16) and y.min() >= 16 / 255 - 1e-9 and y.max() <= 235 / 255 + 1e-9
    damaged = rgb.clone()
    damaged[..., :2, :] = 0  # only the border differs
    p, s = restoration_scores(damaged, rgb, crop=2)
    assert p.min().item() == pytest.approx(100.0) and s.min().item() == pytest.approx(1.0)


def test_median3_and_baselines() -> None:
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 1.0  # salt: removed by a median
    assert median3(x).abs().sum() == 0
    base = classical_baselines(Degradation.parse("sr:2"), torch.rand(1, 1, 4, 4), torch.rand(1, 1, 8, 8))
    assert set(base) == {"bicubic", "nearest"} and base["bicubic"].shape == (1, 1, 8, 8)


def test_read_and_write_sources(tmp_path) -> None:
    image = (np.arange(64, dtype=np.uint8).reshape(8, 8) * 4)
    Image.fromarray(image).save(tmp_path / "a.png")
    Image.fromarray(image).convert("RGB").save(tmp_path / "b.jpg", quality=100)
    x = read_sources([tmp_path / "a.png", tmp_path / "b.jpg"], (1, 8, 8))
    assert x.shape == (2, 1, 8, 8) and torch.allclose(x[0, 0], torch.from_numpy(image).float() / 255)
    with pytest.raises(UsageError, match="translates 4×4 images; pass --resize"):
        read_sources([tmp_path / "a.png"], (1, 4, 4))
    assert read_sources([tmp_path / "a.png"], (1, 4, 4), resize_to_fit=True).shape == (1, 1, 4, 4)
    (tmp_path / "out").mkdir()
    write_images(x, [tmp_path / "out" / "a.png", tmp_path / "out" / "b.jpg"])
    assert Image.open(tmp_path / "out" / "b.jpg").format == "JPEG"
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "a.png")), image)
