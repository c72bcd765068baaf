"""Facts of the data every layer agrees on."""

N_CLASSES = 10  # digits 0-9 (Fashion-MNIST and KMNIST also have ten classes)
IMAGE_SIZE = 28  # pixels per side
