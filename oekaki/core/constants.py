"""Facts of the data every layer agrees on."""

N_CLASSES = 10  # digits 0-9 (Fashion-MNIST and KMNIST also have ten classes)
IMAGE_SIZE = 28  # pixels per side
# The scoreboard's painters, in the seeds' order (the `real` reference row comes first). A painter
# named here that has a stage of its own (gmm and the networks) reads that stage's outputs.
PAINTERS = ("untrained", "gmm", "vae", "gan", "diffusion")
NETWORK_PAINTERS = ("vae", "gan", "diffusion")  # trained networks: self-describing checkpoints at models/<name>/model.pt
# data/prepared.npz: <split>_images (N, 28, 28) uint8 and <split>_labels (N,) int64 per split; the
# validation split is the promotion gate's alone (carved out of the source's training split by `download`)
SPLITS = ("train", "validation", "test")
DATA_KEYS = tuple(f"{split}_{kind}" for split in SPLITS for kind in ("images", "labels"))
