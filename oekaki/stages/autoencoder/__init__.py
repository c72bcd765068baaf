"""Stage `autoencoder`: the text painter's latent space."""
