"""Which training loop a family runs (its Family.trainer), and the one way to make a trainer for a config."""

from __future__ import annotations

import torch

from models.config import TrainConfig
from models.dagan import DAGANTrainer
from models.gan import GANConfig
from models.progan import ProGANTrainer
from models.stylegan2 import StyleGAN2Trainer
from models.trainer import Trainer
from models.translators import CycleGANTrainer, Pix2PixTrainer, SRGANTrainer

TRAINERS: dict[str, type[Trainer]] = {
    "adversarial": Trainer, "pix2pix": Pix2PixTrainer, "cyclegan": CycleGANTrainer, "srgan": SRGANTrainer,
    "dagan": DAGANTrainer, "progan": ProGANTrainer, "stylegan2": StyleGAN2Trainer,
}


def make_trainer(gan: GANConfig, config: TrainConfig, device: str | torch.device = "cpu") -> Trainer:
    return TRAINERS[gan.family.trainer](gan, config, device)
