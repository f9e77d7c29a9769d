"""Training curves as a picture: the losses, and D's outputs on real and generated images, by step.

Drawn with Pillow alone (no plotting library), for READMEs and notebooks: two panels sharing the step
axis, each labelled with its range, a legend naming each line in its colour.
"""

from __future__ import annotations

import math

from PIL import Image, ImageDraw, ImageFont

PANELS = (
    ("loss", (("loss_d", "D loss", (200, 40, 40)), ("loss_g", "G loss", (30, 90, 200)))),
    ("D output", (("d_real", "D(x)", (20, 140, 60)), ("d_fake", "D(G(z))", (220, 130, 0)))),
)
WIDTH, PANEL_HEIGHT, MARGIN_LEFT, MARGIN_RIGHT, MARGIN_Y = 720, 220, 64, 16, 28
GRID, AXIS, TEXT = (225, 225, 225), (90, 90, 90), (30, 30, 30)


def series(points: list[dict], field: str) -> list[tuple[float, float]]:
    return [(p["step"], p[field]) for p in points if isinstance(p.get(field), int | float)
            and math.isfinite(p[field])]


def draw_curves(points: list[dict]) -> Image.Image:
    """`points`: dicts with `step` and any of loss_d, loss_g, d_real, d_fake, in step order."""
    image = Image.new("RGB", (WIDTH, PANEL_HEIGHT * len(PANELS) + MARGIN_Y), "white")
    draw, font = ImageDraw.Draw(image), ImageFont.load_default()
    steps = [p["step"] for p in points] or [0]
    x_low, x_high = min(steps), max(max(steps), min(steps) + 1)
    for index, (title, lines) in enumerate(PANELS):
        top = index * PANEL_HEIGHT + MARGIN_Y // 2
        box = (MARGIN_LEFT, top + 18, WIDTH - MARGIN_RIGHT, top + PANEL_HEIGHT - 22)
        values = [v for field, _, _ in lines for _, v in series(points, field)]
        y_low, y_high = _range(values, unit=title == "D output")
        _frame(draw, font, box, title, (x_low, x_high), (y_low, y_high))
        legend_x = box[0] + 90
        for field, label, colour in lines:
            xy = [(_scale(s, x_low, x_high, box[0], box[2]), _scale(v, y_low, y_high, box[3], box[1]))
                  for s, v in series(points, field)]
            if len(xy) > 1:
                draw.line(xy, fill=colour, width=2)
            elif xy:
                draw.ellipse((xy[0][0] - 2, xy[0][1] - 2, xy[0][0] + 2, xy[0][1] + 2), fill=colour)
            draw.line((legend_x, top + 7, legend_x + 18, top + 7), fill=colour, width=3)
            draw.text((legend_x + 22, top), label, fill=TEXT, font=font)
            legend_x += 110
    return image


def _range(values: list[float], unit: bool) -> tuple[float, float]:
    if unit:  # D's outputs are probabilities: keep the whole [0, 1] in view
        return 0.0, 1.0
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    pad = (high - low) * 0.08 or max(abs(high) * 0.1, 0.1)
    return (max(low - pad, 0.0) if low >= 0 else low - pad), high + pad  # losses that are never negative start at 0


def _scale(value: float, low: float, high: float, start: float, end: float) -> float:
    return start + (value - low) / (high - low) * (end - start)


def _frame(draw: ImageDraw.ImageDraw, font, box, title: str, x_range, y_range) -> None:
    left, top, right, bottom = box
    for i in range(5):
        y = top + (bottom - top) * i / 4
        draw.line((left, y, right, y), fill=GRID)
        value = y_range[1] - (y_range[1] - y_range[0]) * i / 4
        draw.text((4, y - 6), f"{value:.3g}", fill=TEXT, font=font)
    draw.rectangle(box, outline=AXIS)
    draw.text((left, top - 18), title, fill=TEXT, font=font)
    draw.text((left, bottom + 4), f"step {x_range[0]:.0f}", fill=TEXT, font=font)
    label = f"step {x_range[1]:.0f}"
    draw.text((right - draw.textlength(label, font=font), bottom + 4), label, fill=TEXT, font=font)
