"""The conditional flow translator (flow-translate): the family contract on a tiny ×4 super-resolution
preset over MNIST (registered by a test plugin, so it runs wherever MNIST is), its translations, and the
diffusion UNet's backwards compatibility with weights made before it gained `in_channels`."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from zoo import plugins
from zoo.capabilities import Translates
from zoo.contract import FamilyContext
from zoo.data.spec import ImageDataConfig
from zoo.errors import UsageError
from zoo.hookspecs import hookimpl
from zoo.testing import FamilyContract
from zoo.translation import resize
from zoo_diffusion.family import DiffusionConfig, DiffusionFamily
from zoo_diffusion.translator import FlowTranslateFamily, TranslatorConfig

BEFORE = Path(__file__).parent / "data" / "diffusion_unet_before_in_channels.safetensors"
INFO = {"channels": 1, "image_size": 16, "num_classes": 10}


class TinyTranslatePreset:
    @hookimpl
    def register_presets(self, register: Any) -> None:
        register("sr4-mnist-tiny", {
            "family": "flow-translate",
            "description": "×4 super-resolution of 16×16 MNIST with a tiny UNet (a test model)",
            "model": {"widths": [8, 8], "attention": [1], "sampler": "heun", "steps": 2, "eval_images": 16},
            "data": {"dataset": "mnist", "batch_size": 8, "image_size": 16, "degrade": "sr:4"},
            "train": {"steps": 24, "lr": 3.0e-3, "sample_every": 0, "checkpoint_every": 0},
            "eval": {"metrics": [], "num_samples": 16},
        })


@pytest.fixture(scope="module", autouse=True)
def registered():
    plugins.reset()
    plugins.get_plugin_manager().register(TinyTranslatePreset(), name="flow-translate-test")
    yield
    plugins.reset()


def make(**config: Any) -> FlowTranslateFamily:
    torch.manual_seed(0)
    context = FamilyContext(Path("unused"), ImageDataConfig(dataset="mnist", image_size=16, degrade="sr:4"))
    return FlowTranslateFamily(TranslatorConfig(**{"widths": [8, 8], "attention": [1], "steps": 2, **config}), INFO, context)


class TestFlowTranslate(FamilyContract):
    preset = "sr4-mnist-tiny"

    def sources(self) -> torch.Tensor:
        return torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(5))

    def test_translates_4_to_16_deterministically_for_a_seed_and_diversely_across_seeds(self, run_dir: Path) -> None:
        import zoo

        model = zoo.load(run_dir)
        assert isinstance(model, Translates) and model.source_shape == (1, 4, 4)
        a = model.translate(self.sources(), generator=torch.Generator().manual_seed(0))
        b = model.translate(self.sources(), generator=torch.Generator().manual_seed(0))
        c = model.translate(self.sources(), generator=torch.Generator().manual_seed(1))
        assert a.shape == (3, 1, 16, 16) and 0 <= a.min() and a.max() <= 1
        assert torch.equal(a, b) and (a - c).abs().mean() > 1e-3

    def test_the_output_depends_on_the_source(self, run_dir: Path) -> None:
        import zoo

        model = zoo.load(run_dir)
        a = model.translate(self.sources(), generator=torch.Generator().manual_seed(0))
        b = model.translate(self.sources().flip(-1), generator=torch.Generator().manual_seed(0))
        assert (a - b).abs().mean() > 1e-3

    def test_sample_is_the_translation_sheet_with_its_settings(self, run_dir: Path) -> None:
        import zoo

        sheet = zoo.sample(run_dir, 6, seed=2, sampler="euler", steps=3)
        assert sheet.images.shape == (6, 1, 16, 16) and sheet.nrow == 3
        assert sheet.meta["mode"] == "translate" and sheet.meta["sampler"] == "euler" and sheet.meta["steps"] == 3
        source, target = sheet.images[0::3], sheet.images[2::3]  # the source is shown upsampled (nearest)
        torch.testing.assert_close(source[..., ::4, ::4], resize(target, 4))

    def test_a_source_of_the_wrong_shape_is_a_usage_error(self, run_dir: Path) -> None:
        import zoo

        with pytest.raises(UsageError, match="translates 1×4×4 sources, got 1×8×8"):
            zoo.load(run_dir).translate(torch.rand(2, 1, 8, 8))


@pytest.mark.parametrize("residual", [True, False])
def test_encode_and_decode_are_inverse_and_condition_on_the_bicubic_source(residual: bool) -> None:
    model = make(residual=residual)
    target = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    source = resize(target, 4)
    x, cond = model.encode({"x": target, "source": source})
    torch.testing.assert_close(cond, resize(source, 16) * 2 - 1)
    torch.testing.assert_close(x, (target * 2 - 1 - cond) * 3.0 if residual else target * 2 - 1)
    torch.testing.assert_close(model.decode(x, cond), target * 2 - 1)
    assert model.unet.stem.in_channels == 2 and model.unet.head[-1].out_channels == 1


def test_config_errors_name_the_fix() -> None:
    with pytest.raises(UsageError, match="drop model.conditional"):
        TranslatorConfig(conditional=True)
    with pytest.raises(UsageError, match="model.residual_scale must be positive"):
        TranslatorConfig(residual_scale=0.0)
    with pytest.raises(UsageError, match="model.residual=false or model.objective=v"):
        TranslatorConfig(objective="eps", schedule="cosine", residual=True)
    TranslatorConfig(objective="eps", schedule="cosine", residual=False)


def test_diffusion_loads_a_unet_checkpoint_made_before_in_channels_existed() -> None:
    """Weights saved by the UNet before it took `in_channels` load strictly into today's diffusion family
    and give the same outputs."""
    from safetensors.torch import load_file

    saved = load_file(BEFORE)
    context = FamilyContext(Path("unused"), ImageDataConfig(dataset="mnist", image_size=8))
    model = DiffusionFamily(DiffusionConfig(widths=[4, 4], attention=[1], heads=2), {"channels": 1, "image_size": 8, "num_classes": 0}, context)
    model.load_state_dict({k: v for k, v in saved.items() if k.startswith("unet.")}, strict=True)
    with torch.no_grad():
        out = model.unet(saved["probe.x"], saved["probe.t"])
    torch.testing.assert_close(out, saved["probe.out"])
