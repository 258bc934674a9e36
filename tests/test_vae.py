"""The vae and vqvae families: the contract for every preset, the maths (KL, ELBO vs IWAE, VQ gradients,
EMA codebook), phases, capabilities and the sampling modes."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch.distributions import Normal, kl_divergence

import zoo
from zoo.capabilities import Conditional, LogLikelihood, Reconstructs, check_conditions
from zoo.contract import FamilyContext, StepContext
from zoo.data import load_dataset
from zoo.errors import UsageError
from zoo.presets import resolve
from zoo.registry import get_catalog
from zoo_vae.conv_vae import ConvVAE, gaussian_kl
from zoo_vae.family import VAEConfig, VAEFamily
from zoo_vae.vqvae import VectorQuantizer
from zoo_vae.vqvae_family import VQVAEConfig, VQVAEFamily

MNIST_INFO = {"channels": 1, "image_size": 28, "num_classes": 10}
LOCAL = StepContext({}, torch.device("cpu"), "fp32", None)  # one process: its collectives do nothing


class FakeTest:
    """A stand-in test split: eight constant images whose value is their index / 10, labels 0..7."""

    def __len__(self) -> int:
        return 8

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"x": (idx.float() / 10).view(-1, 1, 1, 1).expand(-1, 1, 28, 28).clone(), "y": idx.clone()}


class FakeContext(FamilyContext):
    """A context whose test split is FakeTest: the family must read test images through `context.split`."""

    def split(self, name: str = "test") -> FakeTest:
        assert name == "test"
        return FakeTest()


def context(tmp: Path | None = None) -> FamilyContext:
    return FamilyContext(tmp or Path("/nonexistent-assets"), resolve("vae-mnist").data)


def tiny_family(ctx: FamilyContext | None = None, **changes) -> VAEFamily:
    config = VAEConfig(**{"width": 4, "hidden": 16, "latent_dim": 4, "iwae_k": 4, **changes})
    torch.manual_seed(0)
    return VAEFamily(config, MNIST_INFO, ctx or context())


def tiny_vq(ctx: FamilyContext | None = None, **changes) -> VQVAEFamily:
    config = VQVAEConfig(**{"width": 4, "codebook_size": 8, "code_dim": 4, "prior_layers": 1, "prior_heads": 1, "prior_embd": 8, **changes})
    torch.manual_seed(0)
    return VQVAEFamily(config, MNIST_INFO, ctx or context())


def binary_images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.bernoulli(torch.full((n, 1, 28, 28), 0.3), generator=torch.Generator().manual_seed(seed))


# ---- Gaussian VAE maths ------------------------------------------------------------------------
def test_kl_matches_closed_form_of_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 7, generator=gen), torch.randn(5, 7, generator=gen)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(1)
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected)


def test_iwae_with_one_sample_is_the_elbo_estimate_on_the_same_draw():
    model = ConvVAE(1, 28, 4, 16, 4, "bernoulli").eval()
    x = binary_images(6)
    with torch.no_grad():
        log_w = model.log_weights(x, None, 1, torch.Generator().manual_seed(3))[:, 0]
        # The same draw by hand, with torch.distributions for both Gaussians.
        mu, logvar = model.encoder(x)
        z = mu + torch.randn((1, *mu.shape), generator=torch.Generator().manual_seed(3))[0] * (0.5 * logvar).exp()
        log_px = torch.distributions.Bernoulli(logits=model.decoder(z)).log_prob(x).flatten(1).sum(1)
        elbo = log_px + Normal(0.0, 1.0).log_prob(z).sum(1) - Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(1)
    torch.testing.assert_close(log_w, elbo, rtol=1e-5, atol=1e-3)
    family = tiny_family()
    with torch.no_grad():
        bound = family.iwae(x, None, 1, torch.Generator().manual_seed(3))
        torch.testing.assert_close(bound, family.net.log_weights(x, None, 1, torch.Generator().manual_seed(3))[:, 0])


def test_mean_importance_weight_matches_the_analytic_elbo():
    model = ConvVAE(1, 28, 4, 16, 4, "bernoulli").eval()
    x = binary_images(4)
    with torch.no_grad():
        log_w = model.log_weights(x, None, 4000, torch.Generator().manual_seed(0))  # N×k
        recon, kl = model.terms(x, None, torch.Generator().manual_seed(1))
        mu, logvar = model.encoder(x)
        z = mu + torch.randn((4000, *mu.shape), generator=torch.Generator().manual_seed(2)) * (0.5 * logvar).exp()
        expected_log_px = torch.stack([model.likelihood.log_prob(x, model.decoder(zi)) for zi in z[:500]]).mean(0)
    analytic = expected_log_px - gaussian_kl(mu, logvar)  # E_q log p(x|z) - KL
    torch.testing.assert_close(log_w.mean(1), analytic, rtol=0, atol=1.5)
    assert torch.isfinite(recon).all() and (kl >= 0).all()


def test_iwae_bound_grows_with_k_and_stays_above_the_elbo():
    family = tiny_family().eval()
    x = binary_images(8)
    with torch.no_grad():
        family.net.decoder.fc[0].weight.mul_(30)  # make p(x|z) depend strongly on z, so a poor q leaves a wide gap
        bounds = {k: torch.stack([family.iwae(x, None, k, torch.Generator().manual_seed(s)).mean() for s in range(4)]).mean() for k in (1, 10, 100)}
        recon, kl = family.net.terms(x, None, torch.Generator().manual_seed(0))
    assert bounds[1] <= bounds[10] <= bounds[100]
    assert bounds[100] > -(recon + kl).mean()  # the ELBO is a lower bound of the IWAE estimate


def test_gaussian_likelihood_is_a_normalised_density():
    likelihood = tiny_family(likelihood="gaussian").net.likelihood
    with torch.no_grad():
        likelihood.log_sigma.fill_(math.log(0.3))
        x = torch.rand(3, 1, 28, 28)
        out = torch.zeros(3, 1, 28, 28)  # mean sigmoid(0) = 0.5 everywhere
        expected = Normal(0.5, 0.3).log_prob(x).flatten(1).sum(1)
        torch.testing.assert_close(likelihood.log_prob(x, out), expected)


# ---- conditional VAE -----------------------------------------------------------------------
def test_conditional_samples_follow_the_label():
    """A tiny CVAE trained briefly on zeros and ones: decoding the same z under label 0 lands nearer the mean
    zero than decoding it under label 1, for every z, and each label's samples sit nearer their own class mean."""
    data = load_dataset(resolve("cvae-mnist").data, "train")
    keep = (data.fields["y"] <= 1).nonzero().flatten()[:4000]
    x, y = data.fields["x"][keep].float() / 255, data.fields["y"][keep]
    family = tiny_family(arch="cvae", width=8, hidden=64)
    ctx = StepContext({"model": torch.optim.Adam(family.parameters(), lr=3e-3)}, torch.device("cpu"), "fp32", None)
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    for step in range(200):
        idx = torch.randint(len(x), (32,), generator=gen)
        ctx.step = step
        family.train_step({"x": x[idx], "y": y[idx]}, ctx)
    family.eval()
    means = torch.stack([x[y == c].mean(0) for c in (0, 1)])  # 2×1×28×28
    lean = []  # per sample: distance to the mean one minus distance to the mean zero (> 0: looks like a zero)
    for label in (0, 1):
        images = family.sample(64, generator=torch.Generator().manual_seed(1), label=label).images  # the same z for both labels
        dist = ((images[:, None] - means[None]) ** 2).flatten(2).mean(2)  # 64×2
        lean.append(dist[:, 1] - dist[:, 0])
    assert (lean[0] > lean[1]).all()
    assert lean[0].mean() > 0 > lean[1].mean()
    # With no label, reconstruct() picks the label under which each image is most likely.
    assert (family.net.classify(x[:200]) == y[:200]).float().mean() >= 0.8


def test_labels_and_conditions_are_validated():
    cvae = tiny_family(arch="cvae").eval()
    for bad in (10, -1, "3", 2.0, True):
        with pytest.raises(UsageError, match="label"):
            cvae.sample(2, label=bad)
    assert cvae.num_classes == 10
    vae = tiny_family().eval()
    assert vae.num_classes == 0
    with pytest.raises(UsageError, match="unconditional"):
        vae.sample(2, label=3)
    with pytest.raises(UsageError, match="mode"):  # what the core checks before calling sample
        check_conditions(VAEFamily.conditions, {"mode": "dream"})
    assert check_conditions(VAEFamily.conditions, {"mode": "interpolate", "label": 3}) == {"mode": "interpolate", "label": 3}
    with pytest.raises(UsageError, match="unknown condition 'label'"):
        check_conditions(VQVAEFamily.conditions, {"label": 3})


def test_capabilities():
    vae, cvae, vq = tiny_family(), tiny_family(arch="cvae"), tiny_vq()
    for model in (vae, cvae, vq):
        assert isinstance(model, Reconstructs) and isinstance(model, LogLikelihood)
    assert isinstance(vae, Conditional) and isinstance(cvae, Conditional) and not isinstance(vq, Conditional)
    assert get_catalog().get("models", "vqvae").load() is VQVAEFamily


def test_nll_is_the_iwae_bound_in_nats_and_repeatable():
    family = tiny_family().eval()
    grey = {"x": torch.rand(6, 1, 28, 28), "y": torch.arange(6)}
    nll = family.nll(grey)
    assert nll.shape == (6,) and (nll > 0).all()
    assert torch.equal(nll, family.nll(grey))  # a fixed binarization and fixed latent draws: the same batch, the same score
    binary = {"x": binary_images(6)}
    with torch.no_grad():
        generator = torch.Generator().manual_seed(0)
        assert torch.equal(torch.bernoulli(binary["x"], generator=generator), binary["x"])  # binary images are scored as they are
        bound = -family.iwae(binary["x"], None, 4, generator)
    torch.testing.assert_close(family.nll(binary), bound)
    cvae = tiny_family(arch="cvae").eval()
    assert cvae.nll(grey).shape == (6,)
    with pytest.raises(UsageError, match="labels"):
        cvae.nll({"x": grey["x"]})
    vq = tiny_vq().eval()
    with torch.no_grad():
        recon, rate, _ = vq.terms(binary["x"])
        ids = vq.net.sequences(vq.net.codes(binary["x"]))
        expected_rate = vq.net.prior.loss(ids) * (ids.shape[1] - 1)  # mean code NLL × codes per image
    torch.testing.assert_close(rate.mean(), expected_rate)
    torch.testing.assert_close(vq.nll(binary), recon + rate)


# ---- VQ-VAE ----------------------------------------------------------------------------------
def test_straight_through_gradient_reaches_the_encoder():
    family = tiny_vq()
    x = binary_images(4)
    z_e = family.net.encoder(x)
    z_q, codes, commitment = family.net.quantizer(z_e)
    torch.testing.assert_close(z_q, family.net.quantizer.lookup(codes))  # forward: exactly the chosen codes
    recon = -family.net.likelihood.log_prob(x, family.net.decoder(z_q)).mean()
    recon.backward()
    grad = family.net.encoder[0].weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert family.net.quantizer.embed.grad is None  # the codebook learns by EMA, not by gradient
    assert commitment.shape == (4,) and (commitment >= 0).all()


def test_ema_update_moves_codes_toward_their_assigned_vectors():
    torch.manual_seed(0)
    vq = VectorQuantizer(4, 3, decay=0.9, restart_below=0.0)
    target = vq.embed[2] + torch.tensor([0.3, -0.2, 0.1])
    z_e = target.view(1, 3, 1, 1).expand(2, 3, 2, 2).contiguous()  # eight vectors, all nearest code 2
    _, codes, _ = vq(z_e)
    assert (codes == 2).all()
    before = (vq.embed[2] - target).norm()
    vq.update(z_e, codes, LOCAL)
    after = (vq.embed[2] - target).norm()
    assert after < before
    for _ in range(200):
        vq.update(z_e, vq(z_e)[1], LOCAL)
    torch.testing.assert_close(vq.embed[2], target, atol=1e-3, rtol=0)


def test_dead_codes_restart_at_encoder_outputs():
    torch.manual_seed(0)
    vq = VectorQuantizer(4, 3, decay=0.9)
    z_e = torch.randn(2, 3, 2, 2)
    codes = torch.zeros(2, 2, 2, dtype=torch.long)  # pretend every vector chose code 0: codes 1..3 go unused
    vq.update(z_e, codes, LOCAL)
    vectors = z_e.permute(0, 2, 3, 1).reshape(-1, 3)
    for code in (1, 2, 3):
        assert torch.isclose(vectors, vq.embed[code]).all(1).any()


def test_vqvae_trains_autoencoder_then_prior_by_phase():
    family = tiny_vq()
    groups = family.param_groups()
    ctx = StepContext({k: torch.optim.Adam(v, lr=1e-2) for k, v in groups.items()}, torch.device("cpu"), "fp32", None)
    batch = {"x": torch.rand(8, 1, 28, 28), "y": torch.zeros(8, dtype=torch.long)}
    snapshot = lambda params: [p.detach().clone() for p in params]  # noqa: E731
    changed = lambda old, params: any(not torch.equal(a, b) for a, b in zip(old, params))  # noqa: E731

    with pytest.raises(UsageError, match="train.phases"):  # the trainer's default single phase
        family.train_step(batch, ctx)

    ae, prior = snapshot(groups["vqvae"]), snapshot(groups["prior"])
    ctx.step, ctx.phase, ctx.active = 0, "autoencoder", ("vqvae",)
    logs = family.train_step(batch, ctx)
    assert "perplexity" in logs and changed(ae, groups["vqvae"]) and not changed(prior, groups["prior"])

    ae, prior, codebook = snapshot(groups["vqvae"]), snapshot(groups["prior"]), family.net.quantizer.embed.clone()
    ctx.step, ctx.phase, ctx.active = 1, "prior", ("prior",)
    first = family.train_step(batch, ctx)["prior_loss"]
    assert changed(prior, groups["prior"]) and not changed(ae, groups["vqvae"])
    assert torch.equal(codebook, family.net.quantizer.embed)
    for step in range(2, 12):
        ctx.step = step
        last = family.train_step(batch, ctx)["prior_loss"]
    assert last < first
    family.eval()
    images = family.sample(3, generator=torch.Generator().manual_seed(0)).images
    assert images.shape == (3, 1, 28, 28)


def test_vqvae_preset_declares_its_phases():
    config = resolve("vqvae-mnist")
    assert config.family == "vqvae"
    assert [(p["name"], p["optimizers"], p.get("steps")) for p in config.train.phases] == [("autoencoder", ["vqvae"], 2000), ("prior", ["prior"], None)]


# ---- image outputs beyond samples ------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    overrides = {**VAEFamily.tiny, "train.log_every": 1, "train.sample_every": 0, "train.checkpoint_every": 0, "eval.metrics": []}
    return zoo.train("cvae-mnist", steps=2, device="cpu", out=tmp_path_factory.mktemp("vae") / "run", overrides=overrides, quiet=True).path


def test_reconstruct_mode_pairs_test_images_with_reconstructions(trained_run):
    samples = zoo.sample(trained_run, 6, seed=2, mode="reconstruct")
    assert len(samples) == 6
    test = load_dataset(resolve("cvae-mnist").data, "test").fields["x"].float() / 255
    for original in samples.images[0::2]:  # even places hold test images as they are
        assert ((test - original).abs().flatten(1).amax(1) < 1e-6).any()
    model = zoo.load(trained_run)
    again = model.reconstruct(samples.images[0::2])
    assert again.shape == (3, 1, 28, 28) and 0 <= again.min() and again.max() <= 1
    with pytest.raises(UsageError, match="-n 2"):
        zoo.sample(trained_run, 1, mode="reconstruct")


@pytest.mark.parametrize("make", [tiny_family, lambda ctx: tiny_family(ctx, arch="cvae"), tiny_vq], ids=["vae", "cvae", "vqvae"])
def test_modes_read_test_images_from_the_context(make):
    family = make(FakeContext(Path("/nonexistent-assets"), resolve("vae-mnist").data)).eval()
    fake = FakeTest().batch(torch.arange(8))["x"]
    pairs = family.sample(6, torch.Generator().manual_seed(2), mode="reconstruct")
    assert pairs.images.shape == (6, 1, 28, 28) and pairs.meta["mode"] == "reconstruct"
    for original in pairs.images[0::2]:  # even places hold the context's test images as they are
        assert ((fake - original).abs().flatten(1).amax(1) < 1e-6).any()
    with pytest.raises(UsageError, match="-n 2"):
        family.sample(1, mode="reconstruct")
    grid = family.sample(9, torch.Generator().manual_seed(0), mode="interpolate")
    assert grid.images.shape == (9, 1, 28, 28)  # 3 pairs × 3 steps
    if isinstance(family, Conditional) and family.num_classes:
        fixed = family.sample(9, torch.Generator().manual_seed(0), mode="interpolate", label=3)
        assert not torch.equal(grid.images, fixed.images) and fixed.meta["label"] == 3  # a fixed label changes the decoded rows


def test_evaluate_reports_nats_per_image(trained_run):
    metrics = zoo.evaluate(trained_run, device="cpu", metrics=[])
    assert set(metrics) == {"elbo", "recon", "kl", "nll_iwae"}
    assert metrics["nll_iwae"] <= -metrics["elbo"] + 1.0  # IWAE(k=4) tightens the one-sample ELBO, up to noise
    assert math.isclose(metrics["elbo"], -(metrics["recon"] + metrics["kl"]), rel_tol=1e-6)
    assert metrics["nll_iwae"] > 0 and metrics["kl"] >= 0
