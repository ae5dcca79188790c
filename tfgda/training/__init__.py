"""Training: the GAN step (`gan`), its losses and regularizers, optimizers,
the device strategy, and the training loop (`trainer`)."""
