"""The GAN family: the classic DCGAN shapes, the shared stacks at any shape and rank, and none of the
known mistakes of tutorial GAN code."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from zoo import device as dev
from zoo.capabilities import LABEL, Conditional
from zoo.config import DataConfig
from zoo.contract import FamilyContext, StepContext
from zoo.errors import UsageError
from zoo.nn.dcgan import Discriminator, Generator, ProjectionHead, plan
from zoo.nn.gan import TRUNCATION, r1_penalty, truncated_normal
from zoo_gan.family import DCGANConfig, DCGANFamily

INFO = {"channels": 1, "image_size": 32, "num_classes": 10}
CONTEXT = FamilyContext(Path("unused"), DataConfig(dataset="mnist"))


def make(**kw) -> tuple[DCGANFamily, StepContext]:
    torch.manual_seed(0)
    model = DCGANFamily(DCGANConfig(**{"nz": 8, "ngf": 4, "ndf": 4, **kw}), INFO, CONTEXT)
    opts = {k: torch.optim.Adam(v, 1e-3) for k, v in model.param_groups().items()}
    return model, StepContext(opts, torch.device("cpu"), "fp32", None)


def batch(n: int = 6) -> dict[str, torch.Tensor]:
    return {"x": torch.rand(n, 1, 32, 32), "y": torch.randint(0, 10, (n,))}


def test_classic_dcgan_shapes():
    assert plan((32, 32)) == ((4, 4), 3) and plan((64, 64)) == ((4, 4), 4)
    g = Generator(100, 64, 1, (4, 4), 3)
    convs = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(100, 256), (256, 128), (128, 64), (64, 1)]
    assert g(torch.randn(2, 100)).shape == (2, 1, 32, 32)
    g64, d64 = Generator(100, 64, 3, (4, 4), 4), Discriminator(64, 3, (4, 4), 4)
    assert len([m for m in g64.modules() if isinstance(m, nn.ConvTranspose2d)]) == 5
    assert d64(g64(torch.randn(2, 100))).shape == (2,)


@pytest.mark.parametrize(
    ("shape", "stride", "kernel", "stem"),
    [((64, 16), 2, 4, "conv"), ((28, 28), 2, 4, "conv"), ((2048,), 4, 25, "linear"), ((8, 8, 16), 2, 4, "conv")],
)
def test_stacks_at_any_shape_and_rank(shape, stride, kernel, stem):
    if stride == 2:
        base, ups = plan(shape)
    else:
        base, ups = (shape[0] // stride**5,), 5
    g = Generator(8, 2, 3, base, ups, num_classes=4, kernel=kernel, stride=stride, stem=stem)
    d = Discriminator(2, 3, base, ups, num_classes=4, kernel=kernel, stride=stride, norm="spectral")
    y = torch.tensor([0, 3])
    x = g(torch.randn(2, 8), y)
    assert x.shape == (2, 3, *shape) and x.abs().max() <= 1
    assert d(x, y).shape == (2,)


def test_plan_refuses_shapes_without_a_doubling():
    assert plan((6, 6)) is None and plan((9, 32)) is None
    assert plan((36, 36)) == ((9, 9), 2)  # halves only while every side stays even


def test_projection_head_adds_the_class_projection_to_the_unconditional_logit():
    head = ProjectionHead(3, (2, 2), num_classes=5)
    h, y = torch.randn(4, 3, 2, 2), torch.tensor([0, 1, 2, 4])
    plain = head.out(h).flatten()
    projection = (head.embed.weight[y] * h.sum(dim=(2, 3))).sum(dim=1)
    torch.testing.assert_close(head(h, y), plain + projection)
    assert ProjectionHead(3, (2, 2))(h).shape == (4,)


def test_image_size_without_a_dcgan_stack_is_a_usage_error():
    with pytest.raises(UsageError, match="image_size"):
        DCGANFamily(DCGANConfig(nz=8, ngf=4, ndf=4), {**INFO, "image_size": 6}, CONTEXT)


def test_conditional_without_labels_and_bad_widths_are_usage_errors():
    with pytest.raises(UsageError, match="labelled dataset"):
        DCGANFamily(DCGANConfig(nz=8, ngf=4, ndf=4, conditional=True), {"channels": 1, "image_size": 32}, CONTEXT)
    with pytest.raises(UsageError, match="d_steps"):
        DCGANConfig(d_steps=0)


def test_declares_the_label_condition_and_its_classes():
    model, _ = make(conditional=True)
    assert DCGANFamily.conditions == (LABEL, TRUNCATION)
    assert isinstance(model, Conditional) and model.num_classes == 10
    assert make()[0].num_classes == 0


def test_discriminator_step_sees_detached_fakes_and_generator_step_a_fresh_pass():
    model, ctx = make()
    calls = []
    original = model.D.forward

    def spy(x, y=None):
        calls.append((x.requires_grad, x.grad_fn is not None, [p.clone() for p in list(model.D.parameters())[:1]]))
        return original(x, y)

    model.D.forward = spy
    model.train_step(batch(), ctx)
    (_, real_graph, _), (_, fake_graph_d, w_before), (_, fake_graph_g, w_after) = calls
    assert not real_graph and not fake_graph_d, "D must see real images and detached fakes"
    assert fake_graph_g, "G's loss must flow through a pass on non-detached fakes"
    assert not torch.equal(w_before[0], w_after[0]), "G's pass must use the updated discriminator"


def test_generator_step_leaves_discriminator_gradients_alone():
    model, ctx = make()
    model.train_step(batch(), ctx)
    assert all(p.grad is None or p.grad.abs().sum() > 0 for p in model.D.parameters())
    assert all(p.requires_grad for p in model.D.parameters())


def test_odd_last_batch_sizes_work():
    model, ctx = make(conditional=True)
    logs = model.train_step(batch(5), ctx)
    assert all(torch.isfinite(v) for v in logs.values())


@pytest.mark.parametrize("loss", ["nonsaturating", "hinge", "wgan-gp"])
def test_every_loss_trains(loss):
    model, ctx = make(loss=loss, spectral_norm=loss == "hinge")
    before = [p.clone() for p in model.G.parameters()]
    logs = model.train_step(batch(), ctx)
    assert {"loss_d", "loss_g"} <= logs.keys()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.G.parameters()))


def test_r1_penalty_closed_form_and_in_training():
    w = torch.randn(5)
    x = torch.randn(3, 5, requires_grad=True)
    assert torch.allclose(r1_penalty(x @ w, x), w.pow(2).sum())  # a linear D's input gradient is w for every sample
    model, ctx = make(r1_weight=10.0)
    logs = model.train_step(batch(), ctx)
    assert torch.isfinite(logs["loss_d"])
    with pytest.raises(UsageError, match="r1_weight"):
        DCGANConfig(r1_weight=-1.0)


@pytest.mark.parametrize("step", [0, 1, 2])
def test_lazy_r1_is_the_scaled_penalty_every_kth_step(step):
    """r1_every=2 adds 2γ's penalty on even steps and none on odd ones (StyleGAN2's lazy regularisation)."""
    data = batch()

    def loss_d(**kw) -> torch.Tensor:
        model, ctx = make(**kw)
        ctx.step = step
        torch.manual_seed(1)
        return model.train_step(data, ctx)["loss_d"]

    expected = loss_d(r1_weight=20.0) if step % 2 == 0 else loss_d()
    assert torch.allclose(loss_d(r1_weight=10.0, r1_every=2), expected)
    assert not torch.allclose(loss_d(r1_weight=20.0), loss_d())  # the penalty is not negligible here
    with pytest.raises(UsageError, match="r1_every"):
        DCGANConfig(r1_every=0)


def test_wgan_critic_steps_per_generator_step():
    model, ctx = make(loss="wgan-gp", d_steps=5)
    updated = []
    for step in range(10):
        ctx.step = step
        updated.append("loss_g" in model.train_step(batch(), ctx))
    assert updated == [True, False, False, False, False] * 2


def test_conditional_sampling_and_label_validation():
    model, _ = make(conditional=True)
    model.eval()
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    a, b = model.sample(4, gen(), label=3).images, model.sample(4, gen(), label=7).images
    assert a.shape == (4, 1, 32, 32) and not torch.equal(a, b)
    for bad in (10, -1, "3", True):
        with pytest.raises(UsageError, match="label must be an integer in 0..9"):
            model.sample(2, label=bad)
    unconditional, _ = make()
    with pytest.raises(UsageError, match="unconditional"):
        unconditional.sample(2, label=1)


def test_no_ema_of_its_own():
    """The trainer keeps the EMA (train.ema_decay) for every family; the GAN has no copy of G."""
    with pytest.raises(TypeError):
        DCGANConfig(ema_decay=0.999)
    model, _ = make()
    assert {name.split(".")[0] for name in model.state_dict()} == {"G", "D"}


def test_sample_is_the_generator_on_seeded_latents():
    model, _ = make()
    model.eval()
    sample = model.sample(2, torch.Generator().manual_seed(1)).images
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(sample, ((model.G(z) + 1) / 2).clamp(0, 1))


@pytest.mark.parametrize("t", [0.5, 1.0, 2.0])
def test_truncated_latents_have_the_truncated_normals_moments(t):
    """Against the closed form of N(0, 1) cut to [-t, t]: variance 1 - 2tφ(t) / (2Φ(t) - 1)."""
    z = truncated_normal((200_000,), t, torch.Generator().manual_seed(0), torch.device("cpu")).double()
    normal = torch.distributions.Normal(0.0, 1.0)
    phi, cdf = normal.log_prob(torch.tensor(t)).exp().item(), normal.cdf(torch.tensor(t)).item()
    assert z.abs().max() <= t
    assert abs(z.mean()) < 0.01 and z.var().item() == pytest.approx(1 - 2 * t * phi / (2 * cdf - 1), rel=0.01)


def test_truncation_condition_draws_bounded_latents_and_is_recorded():
    model, _ = make()
    model.eval()
    sample = model.sample(3, torch.Generator().manual_seed(1), truncation=0.5)
    z = truncated_normal((3, 8), 0.5, torch.Generator().manual_seed(1), torch.device("cpu"))
    assert torch.allclose(sample.images, ((model.G(z) + 1) / 2).clamp(0, 1)) and sample.meta["truncation"] == 0.5
    plain = model.sample(3, torch.Generator().manual_seed(1)).images
    assert not torch.equal(sample.images, plain)
    assert torch.equal(model.sample(3, torch.Generator().manual_seed(1), truncation=float("inf")).images, plain)
    with pytest.raises(UsageError, match="truncation must be > 0"):
        model.sample(2, truncation=0.0)


def test_bf16_autocast_step_on_cpu():
    model, _ = make()
    opts = {k: torch.optim.Adam(v, 1e-3) for k, v in model.param_groups().items()}
    ctx = StepContext(opts, torch.device("cpu"), dev.resolve_precision("bf16", torch.device("cpu")), 1.0)
    with ctx.autocast():
        logs = model.train_step(batch(), ctx)
    assert all(torch.isfinite(v) for v in logs.values())
