"""Shared building blocks for families: plain `nn.Module`s any plugin may use (DCGAN stacks for any
shape and rank, a projection discriminator head, GPT blocks) and the GAN update rule every GAN family
subclasses (`zoo.nn.gan.GANFamily`). Plugins share code through here, never by importing each other."""
