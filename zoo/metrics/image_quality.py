"""Full-reference image quality: PSNR and SSIM (Wang et al., 2004).

Both take ``N x C x H x W`` images in ``[0, max_val]`` and return one value per
image, so callers can average or report distributions themselves.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.metrics._arrays import ArrayLike, as_tensor64

_K1, _K2 = 0.01, 0.03


def _image_pair(a: ArrayLike, b: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = as_tensor64(a, "a", ndim=4), as_tensor64(b, "b", ndim=4)
    if x.shape != y.shape:
        raise ValueError(f"image shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    return x, y


def psnr(a: ArrayLike, b: ArrayLike, max_val: float = 1.0) -> torch.Tensor:
    """Per-image PSNR in dB, ``10 log10(max_val^2 / MSE)``.

    Identical images have zero MSE and get ``inf`` (not a capped value), so
    averaging callers must decide how to treat them.
    """
    x, y = _image_pair(a, b)
    mse = (x - y).pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(max_val**2 / mse)


def _gaussian_1d(size: int, sigma: float) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _blur(x: torch.Tensor, window: int, sigma: float) -> torch.Tensor:
    """Separable Gaussian filter, depthwise per channel, 'valid' borders as in the paper."""
    channels = x.shape[1]
    g = _gaussian_1d(window, sigma)
    x = F.conv2d(x, g.view(1, 1, window, 1).expand(channels, 1, window, 1), groups=channels)
    return F.conv2d(x, g.view(1, 1, 1, window).expand(channels, 1, 1, window), groups=channels)


def ssim(
    a: ArrayLike, b: ArrayLike, max_val: float = 1.0, window: int = 11, sigma: float = 1.5
) -> torch.Tensor:
    """Per-image mean SSIM with a Gaussian window (K1=0.01, K2=0.03).

    Images smaller than the window use the largest odd window that fits,
    so tiny images (e.g. 8x8 test sprites) still get a score.
    """
    x, y = _image_pair(a, b)
    window = min(window, *x.shape[-2:])
    if window % 2 == 0:
        window -= 1
    c1, c2 = (_K1 * max_val) ** 2, (_K2 * max_val) ** 2

    # One conv for all five local moments: stack them along the channel axis.
    moments = _blur(torch.cat([x, y, x * x, y * y, x * y], dim=1), window, sigma)
    mu_x, mu_y, xx, yy, xy = moments.chunk(5, dim=1)
    var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    structure = (2 * cov + c2) / (var_x + var_y + c2)
    return (luminance * structure).flatten(1).mean(dim=1)
