"""Facts of the data every layer agrees on."""

N_CLASSES = 10  # digits 0-9 (Fashion-MNIST and KMNIST also have ten classes)
IMAGE_SIZE = 28  # pixels per side
# Images per forward pass when a trained network only infers (the judge, the generators' sampling).
# On a 2-core CPU small batches keep the activations in cache. Measured 2026-12-02 (AVX-512 EPYC,
# bench/inference_batch.py), seconds for 1,000 images at batch 1,000 / 64: the judge 0.30 / 0.11,
# the GAN's generator 0.26 / 0.09, the CNN's test pass 0.32 / 0.11; the diffusion sampler (8
# steps) 7.9 at 256 / 3.85 at 64. Each sample is computed on its own, so the outputs are the same
# at any batch size (bench/inference_batch.py and tests/test_inference_batch.py check it).
INFERENCE_BATCH = 64
# The scoreboard's painters, in the seeds' order (the `real` reference row comes first). A painter
# named here that has a stage of its own (gmm and the networks) reads that stage's outputs.
PAINTERS = ("untrained", "gmm", "vae", "gan", "diffusion")
NETWORK_PAINTERS = ("vae", "gan", "diffusion")  # trained networks: self-describing checkpoints at models/<name>/model.pt
# data/prepared.npz: <split>_images (N, 28, 28) uint8 and <split>_labels (N,) int64 per split; the
# validation split is the promotion gate's alone (carved out of the source's training split by `download`)
SPLITS = ("train", "validation", "test")
DATA_KEYS = tuple(f"{split}_{kind}" for split in SPLITS for kind in ("images", "labels"))
