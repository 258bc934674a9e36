"""Shared building blocks for families: plain `nn.Module`s any plugin may use (DCGAN stacks for any
shape and rank, a projection discriminator head, GPT blocks). Plugins share code through here, never
by importing each other."""
