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
    return ssim_map(a, b, max_val, window, sigma).flatten(1).mean(dim=1)


def ssim_window(size: tuple[int, ...], window: int = 11) -> int:
    """The window SSIM uses on images of `size` (H, W): the largest odd one up to `window` that fits."""
    window = min(window, *size)
    return window - 1 if window % 2 == 0 else window


def ssim_map(
    a: ArrayLike, b: ArrayLike, max_val: float = 1.0, window: int = 11, sigma: float = 1.5
) -> torch.Tensor:
    """Local SSIM per window position: N x C x (H - w + 1) x (W - w + 1) ('valid' borders), for
    scores over a region (inpainting's hidden pixels)."""
    x, y = _image_pair(a, b)
    window = ssim_window(tuple(x.shape[-2:]), window)
    c1, c2 = (_K1 * max_val) ** 2, (_K2 * max_val) ** 2

    # One conv for all five local moments: stack them along the channel axis.
    moments = _blur(torch.cat([x, y, x * x, y * y, x * y], dim=1), window, sigma)
    mu_x, mu_y, xx, yy, xy = moments.chunk(5, dim=1)
    var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    structure = (2 * cov + c2) / (var_x + var_y + c2)
    return luminance * structure
