"""Training: the loop, augmentation, checkpoints, checkpoint averaging, prior fitting, and the torch-free run-folder format."""
