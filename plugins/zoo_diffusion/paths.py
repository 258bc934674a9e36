"""Noising paths and training objectives: x_t = a(t)·x + s(t)·ε with t in [0, 1] (0: data, 1: noise).

Three schedules of (a, s):
- "flow": rectified flow / conditional flow matching, straight paths a = 1 - t, s = t (Liu et al. 2022;
  Lipman et al. 2022);
- "linear": variance-preserving, the continuous form of DDPM's linear β from 1e-4 to 0.02 over 1,000 steps
  (Song et al. 2021): log ā(t) = -(β0·t + (β1 - β0)·t²/2) with β0 = 0.1, β1 = 20, a = √ā, s = √(1 - ā);
- "cosine": variance-preserving, ā(t) = cos²(π/2·(t + 0.008)/1.008) / cos²(π/2·0.008/1.008) (Nichol & Dhariwal 2021).

Three objectives, i.e. what the network predicts: "eps" the noise ε (DDPM), "v" the velocity
a·ε - s·x (Salimans & Ho 2022), "flow" the path's time derivative da·x + ds·ε (for straight paths the
constant ε - x). Each prediction converts to the pair (x̂, ε̂) every sampler works with.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

Schedule = Literal["flow", "linear", "cosine"]
Objective = Literal["eps", "v", "flow"]
SCHEDULES: tuple[str, ...] = ("flow", "linear", "cosine")
OBJECTIVES: tuple[str, ...] = ("eps", "v", "flow")
_B0, _B1 = 0.1, 20.0  # continuous-time DDPM linear schedule
_COS_S = 0.008


class Path:
    """The schedule's a(t), s(t) and their time derivatives, and the objective's target and inverse."""

    def __init__(self, schedule: Schedule, objective: Objective) -> None:
        self.schedule, self.objective = schedule, objective
        # Where sampling starts: pure noise for flows; for variance-preserving schedules the last time
        # where a(t) is not negligible, so an ε-prediction can still be turned into x̂.
        self.t_max = 1.0 if schedule == "flow" else 0.999 if schedule == "cosine" else 1.0

    def coefficients(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """a(t), s(t), da/dt, ds/dt (each shaped like t)."""
        if self.schedule == "flow":
            return 1 - t, t, -torch.ones_like(t), torch.ones_like(t)
        if self.schedule == "linear":
            log_abar = -(_B0 * t + (_B1 - _B0) * t**2 / 2)
            dlog_abar = -(_B0 + (_B1 - _B0) * t)
        else:
            phi = (t + _COS_S) / (1 + _COS_S) * math.pi / 2
            log_abar = 2 * (torch.log(torch.cos(phi).clamp_min(1e-12)) - math.log(math.cos(_COS_S / (1 + _COS_S) * math.pi / 2)))
            dlog_abar = -2 * torch.tan(phi) * math.pi / 2 / (1 + _COS_S)
        a = torch.exp(log_abar / 2)
        s = torch.sqrt((1 - a**2).clamp_min(1e-20))
        da = a * dlog_abar / 2
        return a, s, da, -a * da / s

    def noised(self, x: Tensor, noise: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """x_t and the objective's regression target, for data x, noise ε and times t (N)."""
        a, s, da, ds = (c.view(-1, *[1] * (x.dim() - 1)) for c in self.coefficients(t))
        xt = a * x + s * noise
        target = {"eps": noise, "v": a * noise - s * x, "flow": da * x + ds * noise}[self.objective]
        return xt, target

    def estimates(self, prediction: Tensor, xt: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """(x̂, ε̂): the data and noise the network's prediction at (x_t, t) implies."""
        a, s, da, ds = (c.view(-1, *[1] * (xt.dim() - 1)) for c in self.coefficients(t))
        if self.objective == "eps":
            return (xt - s * prediction) / a, prediction
        if self.objective == "v":  # a² + s² = 1 on variance-preserving paths
            return a * xt - s * prediction, s * xt + a * prediction
        # velocity u = da·x + ds·ε and x_t = a·x + s·ε: solve the 2×2 system for (x, ε)
        det = a * ds - s * da
        return (ds * xt - s * prediction) / det, (a * prediction - da * xt) / det
