"""The training-curves picture puts each series where its values say, in its own colour."""

import numpy as np

from models.curves import MARGIN_LEFT, MARGIN_RIGHT, PANELS, WIDTH, draw_curves


def colour_rows(image, colour) -> np.ndarray:
    pixels = np.asarray(image)
    return np.nonzero((pixels == colour).all(axis=2).any(axis=1))[0]


def test_each_series_is_drawn_in_its_colour_where_its_values_lie():
    points = [{"step": s, "loss_d": 1.0, "loss_g": 2.0 + s / 100, "d_real": 0.9, "d_fake": 0.1}
              for s in range(0, 101, 10)]
    image = draw_curves(points)
    assert image.size[0] == WIDTH
    (_, ((_, _, d_colour), (_, _, g_colour))), (_, ((_, _, real_colour), (_, _, fake_colour))) = PANELS
    # In the loss panel, D's constant loss (1.0) lies below G's (2.0 to 3.0), so it is drawn lower down.
    assert colour_rows(image, d_colour).max() > colour_rows(image, g_colour).max()
    # In the D-output panel (the lower one), D(x) = 0.9 is drawn above D(G(z)) = 0.1.
    assert colour_rows(image, real_colour).min() < colour_rows(image, fake_colour).max()
    pixels = np.asarray(image)
    columns = np.nonzero((pixels == g_colour).all(axis=2).any(axis=0))[0]
    assert columns.min() <= MARGIN_LEFT + 2 and columns.max() >= WIDTH - MARGIN_RIGHT - 2  # spans every step


def test_missing_and_non_finite_values_are_left_out_not_drawn():
    points = [{"step": 1, "loss_d": float("nan"), "loss_g": None}, {"step": 2, "loss_d": 0.5}]
    image = draw_curves(points)  # one finite value: a dot, no crash
    assert image.size[1] > 0


def coloured_pixels(image, colour) -> int:
    return int((np.asarray(image) == colour).all(axis=2).sum())


def test_no_points_yet_gives_empty_axes():
    colours = [colour for _, lines in PANELS for _, _, colour in lines]
    empty = draw_curves([])
    drawn = draw_curves([{"step": s, "loss_d": 1.0, "loss_g": 2.0, "d_real": 0.9, "d_fake": 0.1} for s in (0, 50)])
    for colour in colours:  # only the legend's swatch of each colour, no line
        assert coloured_pixels(empty, colour) < 100 < coloured_pixels(drawn, colour)
    assert (np.asarray(empty) != 255).any()  # the frames and labels are drawn
