"""Facts of the data every layer agrees on."""

N_CLASSES = 10  # digits 0-9 (Fashion-MNIST and KMNIST also have ten classes)
IMAGE_SIZE = 28  # pixels per side
# The scoreboard's painters, in the seeds' order (the `real` reference row comes first). A painter
# named here that has a stage of its own (gmm and the networks) reads that stage's outputs.
PAINTERS = ("untrained", "gmm", "vae", "gan", "diffusion")
NETWORK_PAINTERS = ("vae", "gan", "diffusion")  # trained networks: self-describing checkpoints at models/<name>/model.pt
