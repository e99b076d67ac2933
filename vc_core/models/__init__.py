"""Neural networks: the VideoComposer UNet with its STC-encoder, the VAE, CLIP towers, annotators."""
