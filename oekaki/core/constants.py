"""Facts of the data every layer agrees on."""

N_CLASSES = 10  # digits 0-9 (Fashion-MNIST and KMNIST also have ten classes)
IMAGE_SIZE = 28  # pixels per side
# Images per forward pass when a trained network only infers (the judge, the generators' sampling).
# On a 2-core CPU small batches keep the activations in cache. Measured 2026-12-02 (AVX-512 EPYC,
# the inference_batch bench of d993c28; the table is in docs/speed.md), seconds for 1,000 images at batch
# 1,000 / 64: the judge 0.308 / 0.115, the CNN's test pass 0.255 / 0.119, the GAN's generator
# 0.160 / 0.100; the diffusion sampler 6.14 at its old 256 / 2.95 at 64. Each sample is computed
# on its own, so the outputs are the same at any batch size (tests/test_inference_batch.py).
INFERENCE_BATCH = 64
# The scoreboard's painters, in the seeds' order (the `real` reference row comes first). A painter
# named here that has a stage of its own (gmm and the networks) reads that stage's outputs.
PAINTERS = ("untrained", "gmm", "vae", "gan", "diffusion")
NETWORK_PAINTERS = ("vae", "gan", "diffusion")  # trained networks: self-describing checkpoints at models/<name>/model.pt
# data/prepared.npz: <split>_images (N, 28, 28) uint8 and <split>_labels (N,) int64 per split; the
# validation split is the promotion gate's alone (carved out of the source's training split by `download`)
SPLITS = ("train", "validation", "test")
DATA_KEYS = tuple(f"{split}_{kind}" for split in SPLITS for kind in ("images", "labels"))
