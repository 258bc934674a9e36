"""Shared building blocks for families: plain `nn.Module`s any plugin may use (DCGAN stacks for any
shape and rank, a projection discriminator head, GPT blocks, the image-to-image U-Net, the PatchGAN
discriminator and the history pool of generated images) and the GAN update rule every GAN family
subclasses (`zoo.nn.gan.GANFamily`). Plugins share code through here, never by importing each other."""
