"""The style-mix figure of a style-based generator (psi truncation and ws inputs live in service.serving.generation).

A style-based model's card has `inputs.styles` (how many ws, their size, which resolution each drives, and the
coarse / middle / fine groups); everything here checks requests against it, never against an arch name.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.card import ModelCard, StyleInputs
from service.api.problems import Problem
from service.api.schemas import StyleMixRequest
from service.serving.generation import Mapper, label_index, labels_needed, point_ws, styles_of
from service.serving.inputs import GeneratorInputs


@dataclass
class StyleMix:
    """The ws of a style-mix figure: the column sources, then each row's source followed by its mixed cells."""

    ws: torch.Tensor
    rows: int
    columns: int

    def cells(self) -> list[int]:
        """Where the mixed cells are in `ws`, row by row."""
        width = self.columns + 1
        return [self.columns + r * width + 1 + c for r in range(self.rows) for c in range(self.columns)]


def style_mix(card: ModelCard, request: StyleMixRequest, cap: int, mapper: Mapper) -> StyleMix:
    styles = styles_of(card, "style-mix")
    rows, columns = len(request.rows), len(request.columns)
    if (count := columns + rows * (columns + 1)) > cap:
        raise Problem(422, f"rows x columns: the figure has {count} images; at most {cap} (the server's "
                           "max_images_per_request)")
    taken = mixed_layers(styles, request.from_columns)
    labels = _labels(card, request)
    sources = [[point_ws(card, point, request.truncation, labels, mapper, f"{side}[{i}]")
                for i, point in enumerate(getattr(request, side))] for side in ("rows", "columns")]
    row_ws, column_ws = torch.stack(sources[0]), torch.stack(sources[1])
    figure = [column_ws]
    for r in range(rows):
        mixed = row_ws[r].expand(columns, -1, -1).clone()
        mixed[:, taken] = column_ws[:, taken]
        figure += [row_ws[r : r + 1], mixed]
    return StyleMix(torch.cat(figure), rows, columns)


def mixed_layers(styles: StyleInputs, asked: str | list[int]) -> list[int]:
    if isinstance(asked, str):
        if not styles.groups.get(asked):
            raise Problem(422, f"from_columns: this model has no {asked} styles (its groups: "
                               f"{ {k: v for k, v in styles.groups.items() if v} })")
        return styles.groups[asked]
    if bad := [i for i in asked if i >= styles.num_ws]:
        raise Problem(422, f"from_columns: w indices are 0..{styles.num_ws - 1}; got {bad}")
    return sorted(set(asked))


def _labels(card: ModelCard, request: StyleMixRequest) -> torch.Tensor | None:
    """The class the sources made from seeds or latents are mapped with. A conditional model is told it, as for
    interpolate and traverse: a silent first class would pass for what the model draws. Sources given as ws hold
    what the mapping made of their class already."""
    label = request.labels
    if not card.inputs.labels:
        if label is not None:
            raise Problem(422, f"labels: model {card.id} is unconditional and takes no labels")
        return None
    if all(point.ws is not None for point in [*request.rows, *request.columns]):
        if label is not None:
            raise Problem(422, "labels: every source is ws, which hold what the mapping made of their classes; "
                               "leave labels out")
        return None
    if label is None:
        raise Problem(422, labels_needed(card, "the sources given as seeds or latents"))
    return torch.tensor([label_index(card.inputs.labels, label)])


def figure(images: torch.Tensor) -> torch.Tensor:
    """The figure's images (made in StyleMix order) behind a black corner: with a row as wide as a row of
    cells plus one, the column sources run along the top and each row's source down the left."""
    return torch.cat([torch.zeros_like(images[:1]), images])


def only(inputs: GeneratorInputs, rows: list[int]) -> GeneratorInputs:
    """The inputs of the mixed cells alone (for the formats that carry no figure)."""
    index = torch.tensor(rows)
    return GeneratorInputs(inputs.latents[index], {name: value[index] for name, value in inputs.conditioning.items()},
                           truncation=inputs.truncation, ws=inputs.ws[index])
