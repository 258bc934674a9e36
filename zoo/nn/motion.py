"""Global motion between frames, for models that continue a clip: the shift that best aligns one frame with the
next (the peak of their cross-correlation, computed with FFTs), and frames moved by whole pixels. A scene that
translates (a Moving MNIST digit, a camera pan) is then continued by moving the last frame on, which a
convolutional network can copy pixel to pixel instead of learning to reach several pixels across."""
from __future__ import annotations

import torch
from torch import Tensor


def global_shift(a: Tensor, b: Tensor) -> Tensor:
    """Frames a, b N×C×H×W with a zero background -> N×2 whole-pixel shifts (rows, columns) that move a onto b:
    the argmax of their linear cross-correlation (zero-padded to twice the size, so nothing wraps around)."""
    h, w = a.shape[-2:]
    size = (2 * h, 2 * w)
    fa, fb = (torch.fft.rfft2(f.float(), s=size) for f in (a, b))
    corr = torch.fft.irfft2(fa.conj() * fb, s=size).sum(1)  # N×2H×2W: corr[d] = Σ_y a(y)·b(y + d), circular over 2H×2W
    peak = corr.flatten(1).argmax(1)
    rows, cols = peak // size[1], peak % size[1]
    rows = torch.where(rows >= h, rows - size[0], rows)  # indices past the middle are negative shifts
    cols = torch.where(cols >= w, cols - size[1], cols)
    return torch.stack([rows, cols], 1)


def shift_frames(x: Tensor, shift: Tensor) -> Tensor:
    """Frames x N×C×H×W moved by whole-pixel shifts N×2 (rows, columns; positive: down, right); what enters from
    outside the frame is zero."""
    n, c, h, w = x.shape
    shift = shift.long().to(x.device)
    rows = torch.arange(h, device=x.device)[None] - shift[:, :1]  # N×H: the source row of each row
    cols = torch.arange(w, device=x.device)[None] - shift[:, 1:]  # N×W
    inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]  # N×H×W
    out = x.gather(2, rows.clamp(0, h - 1)[:, None, :, None].expand(n, c, h, w))
    out = out.gather(3, cols.clamp(0, w - 1)[:, None, None, :].expand(n, c, h, w))
    return out * inside[:, None].to(x.dtype)
