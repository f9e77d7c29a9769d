"""Pure PyTorch GAN code: networks, losses, the training loop, data, sampling, checkpoints.

Nothing here knows about HTTP, Celery or Redis; it can be used from a notebook.
"""
