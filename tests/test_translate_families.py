"""The translating families (zoo_translate): the regression U-Net, pix2pix and CycleGAN, and the blocks they
share in zoo.nn (the U-Net, the PatchGAN, the history pool)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from zoo.capabilities import Translates
from zoo.contract import FamilyContext, StepContext
from zoo.data.spec import ImageDataConfig
from zoo.errors import UsageError
from zoo.nn.history import HistoryPool
from zoo.nn.patchgan import PatchGAN, adversarial, patch_grid, receptive_field
from zoo.nn.unet2d import UNet2d
from zoo.testing import FamilyContract
from zoo.translation import Degradation, resize
from zoo_translate.common import TranslatorConfig
from zoo_translate.cyclegan import CycleGANConfig, CycleGANFamily
from zoo_translate.pix2pix import Pix2PixConfig, Pix2PixFamily
from zoo_translate.regression import RegressionFamily

SIZE = 16
TINY = {"widths": [4, 8]}
GAN_TINY = {**TINY, "ndf": 4, "d_layers": 1}


class TestRegressionContract(FamilyContract):
    preset = "sr4-fashion-l1"


class TestPix2PixContract(FamilyContract):
    preset = "edges2fashion"
    loss_key = "loss_l1"


class TestCycleGANContract(FamilyContract):
    preset = "printed2mnist"
    loss_key = "loss_cycle"


def make(family: type, config: object, degrade: str, channels: int = 1, **info: object) -> tuple[object, StepContext]:
    torch.manual_seed(0)
    context = FamilyContext(Path("unused"), ImageDataConfig(dataset="mnist", image_size=SIZE, degrade=degrade))
    model = family(config, {"channels": channels, "image_size": SIZE, "num_classes": 10, **info}, context)
    opts = {k: torch.optim.Adam(v, 2e-3, betas=(0.5, 0.999)) for k, v in model.param_groups().items()}
    return model, StepContext(opts, torch.device("cpu"), "fp32", None)


def shapes(n: int = 8, channels: int = 1, seed: int = 0) -> torch.Tensor:
    """Smooth random images in [0, 1] (blurred noise, rescaled): structure a tiny model can learn in a few steps."""
    x = torch.rand(n, channels, SIZE // 4, SIZE // 4, generator=torch.Generator().manual_seed(seed))
    return F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False)


def batch(degrade: str, n: int = 8, channels: int = 1) -> dict[str, torch.Tensor]:
    x = shapes(n, channels)
    return {"x": x, "source": Degradation.parse(degrade)(x, torch.Generator().manual_seed(1))}


# ---- the shared blocks ------------------------------------------------------------------------------------
def test_unet_maps_any_channels_at_every_depth_and_checks_the_size():
    for widths in ([4], [4, 8], [4, 8, 16]):
        assert UNet2d(2, 3, widths)(torch.rand(2, 2, SIZE, SIZE)).shape == (2, 3, SIZE, SIZE)
    net = UNet2d(1, 1, [4, 8, 8])
    assert [block.layers[0][0].in_channels for block in net.decoder] == [16, 8]  # each decoder block takes the skip beside the upsampled map
    net.check_size(12)
    with pytest.raises(UsageError, match="divisible by 4.*data.image_size=8"):
        net.check_size(10)


def test_patchgan_sees_patches_of_its_receptive_field():
    assert receptive_field(3) == 70  # the paper's 70×70 PatchGAN
    assert (receptive_field(1), receptive_field(2)) == (16, 34)
    for layers, size in ((1, 32), (2, 48)):
        d = PatchGAN(1, 4, layers, norm="none")
        x = torch.rand(1, 1, size, size, requires_grad=True)
        logits = d(x)
        assert logits.shape[-1] == patch_grid(size, layers)
        centre = logits.shape[-1] // 2
        logits[0, 0, centre, centre].backward()
        rows = x.grad[0, 0].abs().sum(1).nonzero()
        assert rows.max() - rows.min() + 1 == receptive_field(layers)


def test_adversarial_losses_closed_form():
    logits = torch.tensor([[-1.0, 0.0, 2.0]])
    assert torch.allclose(adversarial(logits, True, "lsgan"), ((logits - 1) ** 2).mean())
    assert torch.allclose(adversarial(logits, False, "lsgan"), (logits**2).mean())
    assert torch.allclose(adversarial(logits, True, "nonsaturating"), F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)))
    assert torch.allclose(adversarial(logits, False, "nonsaturating"), F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits)))


def test_history_pool_fills_then_swaps_half_and_stays_capped():
    torch.manual_seed(0)
    pool = HistoryPool(4, (1, 2, 2))
    first = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 1, 2, 2)
    assert torch.equal(pool(first), first) and int(pool.count) == 3  # filling: stored and returned as they are
    stored, returned = {0.0, 1.0, 2.0}, 0
    for step in range(200):
        new = torch.full((5, 1, 2, 2), 10.0 + step).add(torch.arange(5.0).view(5, 1, 1, 1) / 10)
        out = pool(new)
        assert int(pool.count) == 4 and pool.images.shape == (4, 1, 2, 2)
        for i, image in enumerate(out):
            value = float(image[0, 0, 0])
            if step == 0 and i == 0:
                assert value == float(new[i, 0, 0, 0])  # fills the last free slot
            elif value != float(new[i, 0, 0, 0]):
                returned += 1
                assert value in stored | {float(v) for v in new[:i, 0, 0, 0]}, "a swapped-in image must be one stored earlier"
        stored |= {float(v) for v in pool.images[:, 0, 0, 0]}
    assert 0.4 < returned / (200 * 5 - 1) < 0.6  # probability 1/2 once full
    assert set(dict(pool.named_buffers())) == {"images", "count"}  # checkpoints carry the pool
    assert torch.equal(HistoryPool(0, (1, 2, 2))(first), first)


# ---- the families -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("degrade", ["sr:4", "noise:0.4", "blur:1.0"])
def test_regression_at_init_is_bicubic_upsampling_or_the_input(degrade):
    """The residual head starts at zero: before training the model is bicubic ×4 upsampling (sr) or the
    identity; one step moves it."""
    model, ctx = make(RegressionFamily, TranslatorConfig(**TINY), degrade)
    data = batch(degrade)
    expected = resize(data["source"], SIZE) if degrade.startswith("sr") else data["source"]
    assert torch.equal(model.translate(data["source"]), expected)
    model.train_step(data, ctx)
    assert not torch.equal(model.translate(data["source"]), expected)


def test_regression_matches_channels_for_colorization():
    model, ctx = make(RegressionFamily, TranslatorConfig(**TINY), "gray", channels=3)
    data = batch("gray", channels=3)
    assert model.source_shape == (1, SIZE, SIZE)
    out = model.translate(data["source"])
    assert out.shape == (8, 3, SIZE, SIZE) and torch.equal(out, data["source"].expand(-1, 3, -1, -1))
    assert torch.isfinite(model.train_step(data, ctx)["loss"])


@pytest.mark.parametrize(("family", "config"), [(RegressionFamily, TranslatorConfig(**TINY)), (Pix2PixFamily, Pix2PixConfig(**GAN_TINY, dropout=0.5)),
                                                (CycleGANFamily, CycleGANConfig(**GAN_TINY))])
@pytest.mark.parametrize("degrade", ["sr:4", "edges"])
def test_translate_is_deterministic_and_shaped(family, config, degrade):
    model, ctx = make(family, config, degrade)
    data = batch(degrade)
    for _ in range(2):
        model.train_step(data, ctx)
    model.eval()
    assert isinstance(model, Translates) and model.source_shape == tuple(data["source"].shape[1:])
    first = model.translate(data["source"], generator=torch.Generator().manual_seed(0))
    second = model.translate(data["source"], generator=torch.Generator().manual_seed(0))
    assert first.shape == data["x"].shape and 0 <= first.min() and first.max() <= 1
    assert torch.equal(first, second)
    torch.testing.assert_close(model.translate(data["source"][:2]), first[:2])  # no dependence on the rest of the batch


def test_pix2pix_discriminator_judges_source_and_image_together():
    model, ctx = make(Pix2PixFamily, Pix2PixConfig(**GAN_TINY), "sr:4")
    data = batch("sr:4")
    seen = []
    original = model.D.forward
    model.D.forward = lambda x: seen.append(x) or original(x)
    model.train_step(data, ctx)
    assert model.D.net[0].in_channels == 2
    source = resize(data["source"], SIZE) * 2 - 1
    real, fake_d, fake_g = seen
    assert all(torch.equal(x[:, :1], source) for x in seen), "D must see the upsampled source beside each image"
    assert torch.allclose(real[:, 1:], data["x"] * 2 - 1)
    assert not fake_d.requires_grad, "D's own step must see detached outputs"
    assert fake_g.requires_grad, "G's adversarial loss must flow through D"


def test_pix2pix_l1_weight_is_the_papers_and_dominates_a_short_run():
    assert Pix2PixConfig().l1_weight == 100.0
    model, ctx = make(Pix2PixFamily, Pix2PixConfig(**GAN_TINY), "blur:1.0")
    data = batch("blur:1.0")
    losses = [float(model.train_step(data, ctx)["loss_l1"]) for _ in range(30)]
    assert sum(losses[-5:]) < 0.7 * sum(losses[:5])


def test_cyclegan_cycle_loss_falls_and_cycles_close():
    """After a few dozen steps on tiny data, F(G(a)) is closer to a (and G(F(b)) to b) than at init."""
    model, ctx = make(CycleGANFamily, CycleGANConfig(**GAN_TINY, pool_size=8), "blur:1.0")
    data = batch("blur:1.0")
    a, b = data["source"] * 2 - 1, data["x"] * 2 - 1

    def cycle_errors() -> tuple[float, float]:
        with torch.no_grad():
            return float((model.to_source(model.to_target(a)) - a).abs().mean()), float((model.to_target(model.to_source(b)) - b).abs().mean())

    before = cycle_errors()
    logs = [model.train_step(data, ctx) for _ in range(40)]
    after = cycle_errors()
    assert after[0] < 0.6 * before[0] and after[1] < 0.6 * before[1], f"cycle errors {before} -> {after}"
    assert float(logs[-1]["loss_cycle"]) < 0.6 * float(logs[0]["loss_cycle"])
    assert {"loss_cycle", "loss_adv", "loss_identity", "loss_d"} <= logs[0].keys()


def test_cyclegan_resizes_through_the_cycle_and_drops_identity_when_shapes_differ():
    model, ctx = make(CycleGANFamily, CycleGANConfig(**GAN_TINY), "sr:4")
    data = batch("sr:4")
    assert model.source_shape == (1, SIZE // 4, SIZE // 4)
    assert model.to_source(data["x"]).shape == data["source"].shape
    logs = model.train_step(data, ctx)
    assert "loss_identity" not in logs and torch.isfinite(logs["loss_cycle"])
    assert model.pool_source.images.shape[1:] == (1, SIZE // 4, SIZE // 4) and int(model.pool_source.count) == 8


def test_cyclegan_discriminators_get_no_gradient_from_the_generator_step():
    model, ctx = make(CycleGANFamily, CycleGANConfig(**GAN_TINY), "blur:1.0")
    data = batch("blur:1.0")
    before = [p.clone() for p in model.G.parameters()]
    model.train_step(data, ctx)
    assert any(not torch.equal(x, y) for x, y in zip(before, model.G.parameters()))
    assert all(p.requires_grad for p in [*model.D_target.parameters(), *model.D_source.parameters()])
    assert {"pool_target.images", "pool_source.count"} <= model.state_dict().keys()


def test_cyclegan_semantic_loss_reads_outputs_with_a_classifier_of_the_labelled_sources():
    with pytest.raises(UsageError, match="model.semantic needs labels on the source domain"):
        make(CycleGANFamily, CycleGANConfig(**GAN_TINY, semantic=1.0), "blur:1.0")
    model, ctx = make(CycleGANFamily, CycleGANConfig(**GAN_TINY, semantic=1.0), "blur:1.0", source_num_classes=2)
    data = batch("blur:1.0")
    data["source_y"] = (data["source"].mean((1, 2, 3)) > data["source"].mean()).long()  # two classes: brighter or darker
    seen = []
    original = model.C.forward
    model.C.forward = lambda x: seen.append(x) or original(x)
    logs = [model.train_step(data, ctx) for _ in range(30)]
    assert seen[0].requires_grad and torch.equal(seen[1], data["source"] * 2 - 1), "G's outputs are read; only real sources are learnt"
    assert float(logs[-1]["loss_c"]) < 0.5 * float(logs[0]["loss_c"]) and {"loss_semantic", "loss_c"} <= logs[0].keys()
    assert all(p.requires_grad for p in model.C.parameters()) and "c" in model.param_groups()


def test_cyclegan_semantic_from_both_also_learns_the_labelled_targets():
    with pytest.raises(UsageError, match="semantic_from=both needs the target domain labelled"):
        make(CycleGANFamily, CycleGANConfig(**GAN_TINY, semantic=1.0, semantic_from="both"), "blur:1.0", source_num_classes=2)
    model, ctx = make(CycleGANFamily, CycleGANConfig(**GAN_TINY, semantic=1.0, semantic_from="both"), "blur:1.0",
                      source_num_classes=2, num_classes=2)
    data = batch("blur:1.0")
    data["source_y"] = (data["source"].mean((1, 2, 3)) > data["source"].mean()).long()
    data["y"] = (data["x"].mean((1, 2, 3)) > data["x"].mean()).long()
    seen = []
    original = model.C.forward
    model.C.forward = lambda x: seen.append(x) or original(x)
    model.train_step(data, ctx)
    assert len(seen) == 3 and torch.equal(seen[2], data["x"] * 2 - 1), "G's output, then the real sources, then the real targets"


def test_bad_settings_are_usage_errors_naming_the_fix():
    with pytest.raises(UsageError, match="model.widths"):
        TranslatorConfig(widths=[2])
    with pytest.raises(UsageError, match="l1_weight"):
        Pix2PixConfig(l1_weight=-1.0)
    with pytest.raises(UsageError, match="pool_size"):
        CycleGANConfig(pool_size=-1)
    with pytest.raises(UsageError, match="d_layers=3 leaves no patches of 16×16 images; use --set model.d_layers=2"):
        make(Pix2PixFamily, Pix2PixConfig(**{**GAN_TINY, "d_layers": 3}), "edges")
    with pytest.raises(UsageError, match="divisible by 32.*data.image_size=32"):
        make(RegressionFamily, TranslatorConfig(widths=[4] * 6), "noise:0.4")
