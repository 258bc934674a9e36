"""The history pool of generated images (Shrivastava et al. 2017, used by CycleGAN): the discriminator is
shown fakes from earlier generator steps as well as the current ones, so it does not forget what it
already rejected and the two networks oscillate less.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class HistoryPool(nn.Module):
    """Up to `size` past images of shape C×H×W. Until it is full, each new image is stored and returned;
    after that each one is returned as it is with probability 1/2, otherwise a random stored image is
    returned in its place and the new one is stored in that slot.

    The images and their count are buffers, so checkpoints carry them and a resumed run continues with
    the same pool; the draws come from the global RNG, which the trainer saves and restores.
    """

    def __init__(self, size: int, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *shape))  # size×C×H×W
        self.register_buffer("count", torch.zeros(1, dtype=torch.long))  # how many slots are filled

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:  # N×C×H×W -> N×C×H×W, what the discriminator sees
        if not self.size:
            return images.detach()
        swap = (torch.rand(len(images), device=images.device) < 0.5).tolist()
        slot = torch.randint(self.size, (len(images),), device=images.device).tolist()
        out, count = images.detach().clone(), int(self.count)
        for i, image in enumerate(images.detach()):
            if count < self.size:
                self.images[count] = image
                count += 1
            elif swap[i]:
                out[i] = self.images[slot[i]]
                self.images[slot[i]] = image
        self.count.fill_(count)
        return out
