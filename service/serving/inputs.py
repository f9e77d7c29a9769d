"""What one request's images are made from. Its own module, beneath everything else in service.serving: the
archives and formats that carry the inputs need it, and so does the request handling in generation, which reads
the API's request schemas; kept apart, none of them imports another in a circle."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from models.sampling import Conditioning


@dataclass
class GeneratorInputs:
    """What one request's images are made from: latents (and conditioning), or a style-based model's ws."""

    latents: torch.Tensor
    conditioning: Conditioning = field(default_factory=dict)
    seed: int | None = None
    truncation: float | None = None
    ws: torch.Tensor | None = None  # N x num_ws x w_dim: the images come from these, not from the latents

    @property
    def count(self) -> int:
        return (self.ws if self.ws is not None else self.latents).shape[0]

    def headers(self, model_id: str) -> dict[str, str]:
        headers = {"X-Model-Id": model_id, "X-Image-Count": str(self.count)}
        if self.seed is not None:
            headers["X-Seed"] = str(self.seed)
        if self.truncation is not None:
            headers["X-Truncation"] = str(self.truncation)
        return headers
