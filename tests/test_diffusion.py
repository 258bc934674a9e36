"""The diffusion family: closed-form checks of the noising paths and samplers, then the family on tiny
seeded models (determinism, guidance, inpainting) and its usage errors through the CLI."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from zoo.cli import cli
from zoo.errors import UsageError
from zoo_diffusion.paths import OBJECTIVES, SCHEDULES, Path as NoisePath
from zoo_diffusion.samplers import SAMPLERS, sample

PAIRS = [(s, o) for s in SCHEDULES for o in OBJECTIVES if not (s == "flow" and o != "flow")]


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_forward_marginal_has_the_schedules_mean_and_variance(schedule: str) -> None:
    """x_t | x ~ N(a(t)·x, s(t)²): checked empirically and against the closed forms of ā(t)."""
    path = NoisePath(schedule, "flow")
    t = torch.tensor([0.1, 0.5, 0.9])
    a, s, _, _ = path.coefficients(t)
    closed = {
        "flow": (1 - t, t),
        "linear": (torch.exp(-(0.1 * t + 19.9 * t**2 / 2) / 2), torch.sqrt(1 - torch.exp(-(0.1 * t + 19.9 * t**2 / 2)))),
        "cosine": (torch.cos((t + 0.008) / 1.008 * math.pi / 2) / math.cos(0.008 / 1.008 * math.pi / 2),) * 2,
    }[schedule]
    torch.testing.assert_close(a, closed[0])
    if schedule != "cosine":
        torch.testing.assert_close(s, closed[1])
    else:
        torch.testing.assert_close(a**2 + s**2, torch.ones(3))  # variance-preserving
    x = torch.full((3, 200_000), 0.7)
    xt, _ = path.noised(x, torch.randn(x.shape, generator=torch.Generator().manual_seed(0)), t)
    torch.testing.assert_close(xt.mean(dim=1), a * 0.7, atol=0.01, rtol=0)
    torch.testing.assert_close(xt.std(dim=1), s, atol=0.01, rtol=0)


def test_linear_schedule_is_ddpms_discrete_schedule_in_the_limit() -> None:
    """ā at step k of DDPM's 1,000 steps (β from 1e-4 to 0.02) against the continuous form at t = k/1000."""
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    discrete = torch.cumprod(1 - betas, 0)
    k = torch.tensor([99, 499, 899])
    a, _, _, _ = NoisePath("linear", "eps").coefficients((k + 1).double() / 1000)
    torch.testing.assert_close(a**2, discrete[k], rtol=0.05, atol=1e-4)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_coefficient_derivatives_match_finite_differences(schedule: str) -> None:
    path = NoisePath(schedule, "flow")
    t, h = torch.tensor([0.2, 0.5, 0.8], dtype=torch.float64), 1e-6
    a, s, da, ds = path.coefficients(t)
    (a1, s1, _, _), (a0, s0, _, _) = path.coefficients(t + h), path.coefficients(t - h)
    torch.testing.assert_close(da, (a1 - a0) / (2 * h), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(ds, (s1 - s0) / (2 * h), rtol=1e-4, atol=1e-6)


def test_flow_target_is_the_straight_paths_constant_velocity() -> None:
    path = NoisePath("flow", "flow")
    x, noise = torch.randn(4, 1, 3, 3), torch.randn(4, 1, 3, 3)
    for t in (0.1, 0.6):
        tt = torch.full((4,), t)
        _, target = path.noised(x, noise, tt)
        ahead, _ = path.noised(x, noise, tt + 1e-3)
        behind, _ = path.noised(x, noise, tt - 1e-3)
        torch.testing.assert_close(target, noise - x)
        torch.testing.assert_close((ahead - behind) / 2e-3, target, atol=1e-3, rtol=0)


@pytest.mark.parametrize("schedule, objective", PAIRS)
def test_each_objectives_target_converts_back_to_data_and_noise(schedule: str, objective: str) -> None:
    path = NoisePath(schedule, objective)
    x, noise = torch.randn(5, 1, 4, 4, dtype=torch.float64), torch.randn(5, 1, 4, 4, dtype=torch.float64)
    t = torch.tensor([0.05, 0.3, 0.5, 0.7, 0.95], dtype=torch.float64)
    xt, target = path.noised(x, noise, t)
    x_hat, eps_hat = path.estimates(target, xt, t)
    torch.testing.assert_close(x_hat, x)
    torch.testing.assert_close(eps_hat, noise)


def gaussian_denoiser(path: NoisePath, mu: float, sd: float):
    """The exact E[x | x_t] for data x ~ N(mu, sd²) (1-D), and the noise it implies."""

    def denoise(xt: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, s, _, _ = (c.view(-1, 1) for c in path.coefficients(t))
        x_hat = mu + a * sd**2 / (a**2 * sd**2 + s**2) * (xt - a * mu)
        return x_hat, (xt - a * x_hat) / s

    return denoise


@pytest.mark.parametrize("schedule", ["flow", "cosine"])
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_samplers_draw_a_gaussian_exactly_given_the_exact_denoiser(schedule: str, sampler: str) -> None:
    """With the true posterior mean, ancestral sampling (DDIM with η = 1), deterministic DDIM and the ODE
    solvers all end at the data distribution N(0.5, 0.2²)."""
    path = NoisePath(schedule, "flow")
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(40_000, 1, generator=gen, dtype=torch.float64)
    out = sample(path, gaussian_denoiser(path, 0.5, 0.2), noise, sampler, 200, eta=0.0, generator=gen)
    assert out.mean().item() == pytest.approx(0.5, abs=0.01)
    assert out.std().item() == pytest.approx(0.2, abs=0.01)


def test_ddim_with_eta_one_is_the_ancestral_sampler() -> None:
    path = NoisePath("cosine", "eps")
    denoise = gaussian_denoiser(path, 0.0, 1.0)
    noise = torch.randn(64, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ancestral = sample(path, denoise, noise, "ddpm", 10, generator=torch.Generator().manual_seed(2))
    ddim = sample(path, denoise, noise, "ddim", 10, eta=1.0, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(ancestral, ddim)


def test_sampler_settings_are_checked() -> None:
    path, noise = NoisePath("flow", "flow"), torch.zeros(2, 1)
    denoise = gaussian_denoiser(path, 0.0, 1.0)
    with pytest.raises(UsageError, match="unknown sampler 'rk4'; choose from ddim, ddpm, euler, heun"):
        sample(path, denoise, noise, "rk4", 10)
    with pytest.raises(UsageError, match="steps must be a positive integer"):
        sample(path, denoise, noise, "euler", 0)


# ---- the family on tiny models ----------------------------------------------------------------------
TINY = ["--set", "model.widths=[8,8]", "--set", "model.attention=[1]", "--set", "data.batch_size=8", "--set", "train.sample_every=0",
        "--set", "train.checkpoint_every=0", "--quiet"]


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("diffusion")
    out = {}
    for preset in ("flow-mnist", "cflow-mnist"):
        out[preset] = root / preset
        result = run_cli("train", preset, "--steps", 3, "--out", out[preset], *TINY)
        assert result.exit_code == 0, result.output
    return out


def test_samples_are_deterministic_for_a_seed_and_record_the_sampler(runs: dict[str, Path]) -> None:
    from zoo.api import sample as draw

    a = draw(runs["flow-mnist"], 4, seed=3, steps=3, sampler="euler")
    b = draw(runs["flow-mnist"], 4, seed=3, steps=3, sampler="euler")
    c = draw(runs["flow-mnist"], 4, seed=4, steps=3, sampler="euler")
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    assert a.images.shape == (4, 1, 28, 28) and a.meta["sampler"] == "euler" and a.meta["steps"] == 3


def test_guidance_and_labels_change_a_conditional_models_samples(runs: dict[str, Path]) -> None:
    from zoo.api import sample as draw

    plain = draw(runs["cflow-mnist"], 2, seed=0, steps=2, label=3, guidance=0.0).images
    guided = draw(runs["cflow-mnist"], 2, seed=0, steps=2, label=3, guidance=3.0).images
    other = draw(runs["cflow-mnist"], 2, seed=0, steps=2, label=5, guidance=3.0).images
    assert not torch.equal(plain, guided) and not torch.equal(guided, other)


def test_inpainting_keeps_the_known_pixels_and_fills_the_rest(runs: dict[str, Path]) -> None:
    from zoo.api import load
    from zoo.restoration import masks

    model = load(runs["flow-mnist"], "cpu")
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    for kind in ("center", "left", "random"):
        mask = masks(kind, 3, (28, 28), torch.Generator().manual_seed(1))
        out = model.restore(x, mask, generator=torch.Generator().manual_seed(2), steps=3)
        assert torch.equal(out[mask.expand_as(x) == 1], x[mask.expand_as(x) == 1])
        assert not torch.equal(out, x) and out.min() >= 0 and out.max() <= 1
    assert 0 < int((1 - masks("center", 1, (28, 28))).sum()) == 14 * 14


def test_inpaint_mode_writes_original_masked_and_completion(runs: dict[str, Path], tmp_path: Path) -> None:
    result = run_cli("sample", runs["flow-mnist"], "-n", 6, "--mode", "inpaint", "--set", "mask=left", "--set", "steps=2", "--out", tmp_path / "inp")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "inp").glob("*.png"))) == 6  # two test images × (original, masked, completion)


def test_evaluate_takes_sampler_settings_and_records_them(runs: dict[str, Path]) -> None:
    import json

    result = run_cli("evaluate", runs["flow-mnist"], "--metrics", "inpainting", "--num-samples", 8, "--set", "steps=2",
                     "--set", "sampler=euler", "--set", "inpainting.mask=left", "--json")
    assert result.exit_code == 0, result.output
    values = json.loads(result.output[result.output.index("{"):])
    assert {"test_loss", "inpaint_psnr", "inpaint_ssim", "inpaint_baseline_psnr", "inpaint_baseline_ssim"} <= set(values)
    protocol = json.loads((runs["flow-mnist"] / "summary.json").read_text())["protocol"]["inpainting"]
    assert protocol["sampling"]["steps"] == 2 and protocol["sampling"]["sampler"] == "euler" and protocol["mask"] == "left"


@pytest.mark.parametrize("args, message", [
    (["sample", "{flow}", "--set", "sampler=rk4", "--out", "{tmp}/x.png"], "unknown sampler 'rk4'; choose from ddim, ddpm, euler, heun"),
    (["sample", "{flow}", "--set", "steps=0", "--out", "{tmp}/x.png"], "steps must be a positive integer"),
    (["sample", "{flow}", "--set", "guidance=2", "--out", "{tmp}/x.png"], "guidance needs a class-conditional model"),
    (["sample", "{flow}", "--mode", "inpaint", "--set", "mask=top", "--out", "{tmp}/x.png"], "unknown mask 'top'; choose from center, left, random"),
    (["train", "flow-mnist", "--set", "model.objective=score", "--out", "{tmp}/r"], "model.objective"),
    (["train", "flow-mnist", "--set", "model.objective=eps", "--out", "{tmp}/r"], "needs a variance-preserving schedule"),
])
def test_bad_sampling_input_is_one_line_and_exit_2(runs: dict[str, Path], tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli(*[a.format(flow=runs["flow-mnist"], tmp=tmp_path) for a in args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_inpaint_mode_on_a_family_that_cannot_restore(tmp_path: Path) -> None:
    run = tmp_path / "gan"
    assert run_cli("train", "gan-mnist-quick", "--steps", 1, "--out", run, "--set", "model.ngf=4", "--set", "model.ndf=4", "--quiet").exit_code == 0
    result = run_cli("sample", run, "--mode", "inpaint", "--out", tmp_path / "x.png")
    assert result.exit_code == 2 and "cannot restore images" in result.output


def test_a_presets_precision_is_checked_before_the_run_folder_exists(tmp_path: Path) -> None:
    from zoo.presets import resolve

    assert resolve("flow-mnist").train.precision == "bf16"  # the preset's choice is what --precision auto means
    result = run_cli("train", "flow-mnist", "--set", "train.precision=fp16", "--out", tmp_path / "r")
    assert result.exit_code == 2 and "fp16 needs a GPU" in result.output and not (tmp_path / "r").exists()
