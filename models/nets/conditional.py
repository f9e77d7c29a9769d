"""The generator and discriminator every family uses: a backbone plus the family's conditioning.

- cgan (Mirza & Osindero 2014): one-hot labels concatenated to z, and to D's input.
- acgan (Odena et al. 2017): labels to G; D sees no labels but predicts them with an auxiliary head.
- sngan with classes (Miyato & Koyama 2018): a projection term <embed(y), features> in D.
- infogan (Chen et al. 2016): categorical and continuous codes concatenated to z; a Q head on D's
  features recovers them. On images, GANConfig.fc_stem adds the paper's fully connected layer (1024 units
  with BatchNorm) between the latents and G's convolutions and after D's, and Q's hidden layer gets BatchNorm
  (the paper's table for MNIST).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from models.nets.dcgan import ConvBody, ConvGenerator, init_weights
from models.nets.mlp import MLPBody, MLPGenerator


@dataclass
class DOutput:
    logit: torch.Tensor  # N: real/fake score
    class_logits: torch.Tensor | None = None  # N x classes (acgan)
    q_categorical: torch.Tensor | None = None  # N x categories (infogan)
    q_continuous: torch.Tensor | None = None  # N x continuous codes (infogan)


class Generator(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.latent_dim = config.latent_dim
        self.label_classes = config.num_classes if config.conditions_generator else 0
        self.cat_codes, self.cont_codes = config.cat_codes, config.cont_codes
        in_dim = self.latent_dim + self.label_classes + self.cat_codes + self.cont_codes
        self.stem = None
        if config.backbone == "conv":
            c, size, _ = config.data_shape
            if config.fc_stem:  # the paper's MNIST G: FC units, BatchNorm and ReLU before the convs
                self.stem = nn.Sequential(nn.Linear(in_dim, config.fc_stem), nn.BatchNorm1d(config.fc_stem),
                                          nn.ReLU(True))
                in_dim = config.fc_stem
            self.backbone = ConvGenerator(in_dim, c, size, config.g_width)
            self.backbone.apply(init_weights)
        else:
            self.backbone = MLPGenerator(in_dim, config.data_shape, config.hidden, config.depth)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None,
                categorical: torch.Tensor | None = None, continuous: torch.Tensor | None = None) -> torch.Tensor:
        parts = [z]
        if self.label_classes:
            parts.append(F.one_hot(labels, self.label_classes).to(z.dtype))
        if self.cat_codes:
            parts.append(F.one_hot(categorical, self.cat_codes).to(z.dtype))
        if self.cont_codes:
            parts.append(continuous.to(z.dtype))
        x = torch.cat(parts, dim=1)
        return self.backbone(self.stem(x) if self.stem is not None else x)


class Discriminator(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.input_classes = config.num_classes if config.conditioning == "concat" else 0
        self.pack = pack = config.pack
        wrap = spectral_norm if config.d_norm == "spectral" else (lambda m: m)
        if config.backbone == "conv":
            c, size, _ = config.data_shape
            self.body = ConvBody(pack * (c + self.input_classes), size, config.d_width, config.d_norm, config.mbstd)
            self.body.apply(init_weights)
        else:
            self.body = MLPBody(pack * (config.data_dim + self.input_classes), config.hidden, config.depth,
                                config.d_norm, config.mbstd)
        features = self.body.features
        self.stem = None
        if config.fc_stem and config.backbone == "conv":  # the paper's MNIST D: FC units that D's heads and Q share
            self.stem = nn.Sequential(nn.Linear(features, config.fc_stem), nn.BatchNorm1d(config.fc_stem),
                                      nn.LeakyReLU(0.2, True))
            features = config.fc_stem
        self.adversarial = wrap(nn.Linear(features, 1))
        self.projection = (wrap(nn.Embedding(config.num_classes, features))
                           if config.conditioning == "projection" else None)
        # Per-sample heads read a pack's features and answer for each of its members.
        self.classifier = (nn.Linear(features, pack * config.num_classes) if config.conditioning == "auxiliary"
                           else None)
        self.cat_codes, self.cont_codes = config.cat_codes, config.cont_codes
        q_norm = [nn.BatchNorm1d(128)] if self.stem is not None else []
        self.q = (nn.Sequential(nn.Linear(features, 128), *q_norm, nn.LeakyReLU(0.2, True),
                                nn.Linear(128, pack * (self.cat_codes + self.cont_codes)))
                  if self.cat_codes + self.cont_codes else None)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> DOutput:
        n = x.shape[0]
        if self.input_classes:
            x = _with_labels(x, F.one_hot(labels, self.input_classes).to(x.dtype))
        if self.pack > 1:  # PacGAN: N samples become N / pack inputs, channels (or features) side by side
            x = x.reshape(n // self.pack, self.pack * x.shape[1], *x.shape[2:]) if x.dim() == 4 \
                else x.reshape(n // self.pack, -1)
        features = self.body(x)
        if self.stem is not None:
            features = self.stem(features)
        logit = self.adversarial(features).view(-1)  # one score per pack
        out = DOutput(logit)
        if self.projection is not None:
            embedded = self.projection(labels).reshape(logit.shape[0], self.pack, -1).sum(dim=1)
            out.logit = logit + (embedded * features).sum(dim=1)
        if self.classifier is not None:
            out.class_logits = self.classifier(features).reshape(n, -1)
        if self.q is not None:
            q = self.q(features).reshape(n, -1)
            out.q_categorical, out.q_continuous = q[:, : self.cat_codes], q[:, self.cat_codes :]
        return out

    def q_parameters(self) -> list[nn.Parameter]:
        return list(self.q.parameters()) if self.q is not None else []


def _with_labels(x: torch.Tensor, one_hot: torch.Tensor) -> torch.Tensor:
    if x.dim() == 4:  # images: one constant map per class, stacked as extra channels
        return torch.cat([x, one_hot[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])], dim=1)
    return torch.cat([x.flatten(1), one_hot], dim=1)
