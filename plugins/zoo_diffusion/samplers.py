"""Samplers: chosen at sampling time, never baked into a run. Each integrates from t = t_max (noise) to 0
on a uniform time grid of `steps` intervals, through one `denoise(x_t, t) -> (x̂, ε̂)` function, so every
sampler works with every objective.

- "ddim" (Song et al. 2021) with η: x_t' = a'·x̂ + √(s'² - σ²)·ε̂ + σ·z, σ = η·σ̃ where σ̃ is the standard
  deviation of the forward process's posterior q(x_t' | x_t, x̂). η = 0 is deterministic (and for straight
  flow paths it is exactly the Euler step); η = 1 is ancestral sampling.
- "ddpm": ancestral sampling (Ho et al. 2020), i.e. "ddim" with η = 1, for any path (Kingma et al. 2021's
  posterior for x_t = a·x + s·ε).
- "euler" and "heun": the probability-flow ODE dx/dt = da·x̂ + ds·ε̂ solved with Euler's method or Heun's
  second-order method (Karras et al. 2022: 2·steps - 1 network evaluations, Euler on the last step).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from zoo.errors import UsageError
from zoo_diffusion.paths import Path

Denoise = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]  # (x_t, t N) -> (x̂, ε̂)
Known = Callable[[Tensor, Tensor, Tensor], Tensor]  # (x_t', t', x̂) -> x_t' with known pixels re-imposed (inpainting)
SAMPLERS: tuple[str, ...] = ("ddim", "ddpm", "euler", "heun")


def sample(
    path: Path, denoise: Denoise, noise: Tensor, sampler: str, steps: int, *, eta: float = 0.0,
    generator: torch.Generator | None = None, known: Known | None = None, resample: int = 1,
) -> Tensor:
    """Integrate from `noise` (x at t_max) to an x̂ at t = 0 with `sampler` in `steps` steps.

    `known` re-imposes known pixels after each step (inpainting); `resample` > 1 then takes every step
    that many times, noising the result back to the step's start in between, so the generated pixels
    can settle around the known ones (RePaint, Lugmayr et al. 2022, with jumps of one step)."""
    if sampler not in SAMPLERS:
        raise UsageError(f"unknown sampler {sampler!r}; choose from {', '.join(SAMPLERS)}")
    if steps <= 0:
        raise UsageError(f"steps must be a positive integer, got {steps}")
    if not 0 <= eta <= 1:
        raise UsageError(f"eta must be in [0, 1] (0: deterministic DDIM, 1: ancestral), got {eta}")
    eta = 1.0 if sampler == "ddpm" else eta
    grid = torch.linspace(path.t_max, 0, steps + 1, device=noise.device)
    x = noise
    for i in range(steps):
        t, t_next = grid[i].expand(len(x)), grid[i + 1].expand(len(x))
        for again in range(resample if known is not None and i < steps - 1 else 1):
            if again:
                x = renoise(path, x, t_next, t, generator)
            x = step(path, denoise, x, t, t_next, sampler, eta, generator, last=i == steps - 1, known=known)
    return x


def step(
    path: Path, denoise: Denoise, x: Tensor, t: Tensor, t_next: Tensor, sampler: str, eta: float,
    generator: torch.Generator | None, *, last: bool, known: Known | None,
) -> Tensor:
    """One step of `sampler` from t to t_next (known pixels re-imposed after it when given)."""
    x_hat, eps_hat = denoise(x, t)
    if sampler in ("ddim", "ddpm"):
        x = ddim_step(path, x, x_hat, eps_hat, t, t_next, eta, generator)
    else:
        dt = (t_next - t).view(-1, *[1] * (x.dim() - 1))
        velocity = ode_velocity(path, x_hat, eps_hat, t)
        if sampler == "heun" and not last:
            x_hat2, eps_hat2 = denoise(x + dt * velocity, t_next)
            x = x + dt * (velocity + ode_velocity(path, x_hat2, eps_hat2, t_next)) / 2
        else:
            x = x + dt * velocity
    return known(x, t_next, x_hat) if known is not None else x


def renoise(path: Path, x: Tensor, t: Tensor, t_back: Tensor, generator: torch.Generator | None) -> Tensor:
    """x_t -> a draw of x_t_back (t_back > t) from the forward process q(x_t_back | x_t)."""
    shape = (-1, *[1] * (x.dim() - 1))
    a, s, _, _ = (c.view(shape) for c in path.coefficients(t))
    a2, s2, _, _ = (c.view(shape) for c in path.coefficients(t_back))
    ratio = a2 / a
    return ratio * x + (s2**2 - ratio**2 * s**2).clamp_min(0).sqrt() * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def ode_velocity(path: Path, x_hat: Tensor, eps_hat: Tensor, t: Tensor) -> Tensor:
    _, _, da, ds = (c.view(-1, *[1] * (x_hat.dim() - 1)) for c in path.coefficients(t))
    return da * x_hat + ds * eps_hat


def ddim_step(
    path: Path, x: Tensor, x_hat: Tensor, eps_hat: Tensor, t: Tensor, t_next: Tensor, eta: float, generator: torch.Generator | None,
) -> Tensor:
    """x_t -> x_t' through the (η-scaled) posterior of the forward process given x̂."""
    shape = (-1, *[1] * (x.dim() - 1))
    a, s, _, _ = (c.view(shape) for c in path.coefficients(t))
    a2, s2, _, _ = (c.view(shape) for c in path.coefficients(t_next))
    # q(x_t' | x_t, x): variance s'²·(s² - (a/a')²·s'²)/s²
    var = (s2**2 * (s**2 - (a / a2) ** 2 * s2**2) / s**2).clamp_min(0)
    sigma = eta * var.sqrt()
    x_next = a2 * x_hat + (s2**2 - sigma**2).clamp_min(0).sqrt() * eps_hat
    if eta > 0:
        x_next = x_next + sigma * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x_next
