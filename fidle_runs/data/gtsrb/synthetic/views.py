"""One view of a sign as a camera sees it, part of the synthetic GTSRB generator.

A view gets GTSRB's nuisances: size, position, rotation, perspective, light, colour cast,
fading, blur, noise, cluttered background, sometimes an occluder. What a physical sign keeps
along its track (its size range, tilt, light, palette...) is drawn from the track's key, the
rest from the image's own key.
"""

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from fidle_runs.data.gtsrb.synthetic.pictograms import pictogram_pyramid

_PALETTES = (  # background gradients: sky, foliage, buildings, dusk, concrete, overcast
    ((150, 180, 215), (225, 232, 240)), ((45, 75, 40), (120, 150, 80)),
    ((115, 105, 95), (185, 175, 165)), ((55, 55, 75), (150, 120, 110)),
    ((85, 85, 90), (155, 155, 150)), ((185, 190, 200), (130, 140, 150)),
)
_CLUTTER = ((60, 90, 45), (35, 55, 30), (110, 100, 90), (170, 160, 150), (90, 70, 50),
            (200, 200, 205), (60, 60, 65), (140, 160, 190), (150, 60, 50))


def render_view(class_id: int, track_key: tuple[int, ...], image_key: tuple[int, ...],
                pos: float | None) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """The RGB image of one view and its sign's inclusive ROI (x1, y1, x2, y2).

    `track_key` and `image_key` seed the draws of the view's track and of the view itself;
    `pos` is its place along the track, 0 (far) to 1 (near), None: drawn (test images).
    """
    track = np.random.default_rng(track_key)
    end = float(np.clip(track.lognormal(math.log(55), 0.3), 30, 125))
    start = max(25.0, end * track.uniform(0.4, 0.8))
    aspect = track.normal(1, 0.04)
    tilt = track.normal(0, 4)
    squeeze = track.uniform(-0.15, 0.15)
    palette = _PALETTES[track.integers(len(_PALETTES))]
    light = track.uniform(0.3, 0.55) if track.random() < 0.15 else track.uniform(0.65, 1.25)
    cast = track.normal(1, 0.07, 3)
    fade = track.uniform(0, 0.35)
    gain = track.uniform(0.75, 1.1)
    pos = track.random() if pos is None else pos

    rng = np.random.default_rng(image_key)
    size = start + (end - start) * pos**1.5
    h = max(25, round(size * rng.normal(1, 0.02)))
    w = max(25, round(h * aspect * rng.normal(1, 0.02)))
    x1, x2 = _sign_span(rng, w)
    y1, y2 = _sign_span(rng, h)
    angle = float(np.clip(tilt + rng.normal(0, 1.5), -10, 10))

    sign = np.asarray(_warp(class_id, (w, h), (x1, y1, x2, y2), angle, squeeze, rng),
                      dtype=np.float32)
    alpha = sign[..., 3:] / 255
    colour = sign[..., :3]
    colour = (colour + (colour.mean(axis=2, keepdims=True) - colour) * fade) * gain
    background = np.asarray(_background(rng, w, h, palette), dtype=np.float32)
    image = Image.fromarray(np.clip(background * (1 - alpha) + colour * alpha, 0, 255)
                            .astype(np.uint8))
    if rng.random() < 0.05:
        _occlude(rng, image, (x1, y1, x2, y2))
    blur = rng.uniform(0, min(1, w / 40))  # small images are blurry enough already
    if blur > 0.2:
        image = image.filter(ImageFilter.GaussianBlur(blur))

    x = np.asarray(image, dtype=np.float32)
    mean = x.mean()
    x = (x - mean) * rng.uniform(0.7, 1.2) + mean
    x = x * (light * rng.uniform(0.85, 1.15) * cast) + rng.normal(0, rng.uniform(1, 6), x.shape)
    return Image.fromarray(np.clip(x + 0.5, 0, 255).astype(np.uint8)), (x1, y1, x2, y2)


def _sign_span(rng: np.random.Generator, n: int) -> tuple[int, int]:
    """Inclusive first/last sign pixel along a side of `n` px: GTSRB's ~10 %, >= 5 px margins."""
    base = max(5.0, 0.1 * n)
    return round(base * rng.uniform(1, 1.3)), n - 1 - round(base * rng.uniform(1, 1.3))


def _warp(class_id: int, size: tuple[int, int], roi: tuple[int, int, int, int], angle: float,
          squeeze: float, rng: np.random.Generator) -> Image.Image:
    """The pictogram filling `roi` of a transparent `size` image, rotated and in perspective."""
    x1, y1, x2, y2 = roi
    hw, hh = (x2 + 1 - x1) / 2, (y2 + 1 - y1) / 2
    left, right = 1 - max(squeeze, 0), 1 - max(-squeeze, 0)  # a sign seen a little sideways
    corners = np.array([[-hw, -hh * left], [hw, -hh * right], [hw, hh * right], [-hw, hh * left]])
    corners += rng.normal(0, 0.02 * max(hw, hh), corners.shape)
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    corners = corners @ np.array([[cos, sin], [-sin, cos]]) + [(x1 + x2 + 1) / 2, (y1 + y2 + 1) / 2]
    template = next((t for t in pictogram_pyramid(class_id) if t.width >= 2 * max(hw, hh)),
                    pictogram_pyramid(class_id)[-1])
    n = template.width
    coeffs = _perspective_coeffs(corners, np.array([[0, 0], [n, 0], [n, n], [0, n]]))
    return template.transform(size, Image.Transform.PERSPECTIVE, coeffs,
                              Image.Resampling.BILINEAR)


def _perspective_coeffs(dst: np.ndarray, src: np.ndarray) -> tuple[float, ...]:
    """PIL's PERSPECTIVE data sending the 4 output points `dst` to the 4 input points `src`."""
    a = np.zeros((8, 8))
    for k, ((x, y), (u, v)) in enumerate(zip(dst, src, strict=True)):
        a[2 * k] = [x, y, 1, 0, 0, 0, -x * u, -y * u]
        a[2 * k + 1] = [0, 0, 0, x, y, 1, -x * v, -y * v]
    return tuple(np.linalg.solve(a, src.reshape(8).astype(float)).tolist())


def _random_colour(rng: np.random.Generator, base: Sequence[int], spread: float) -> tuple:
    return tuple(int(v) for v in np.clip(np.asarray(base) + rng.normal(0, spread, 3), 0, 255))


def _background(rng: np.random.Generator, w: int, h: int, palette: tuple) -> Image.Image:
    """A defocused street-ish scene: a colour gradient with a few blobs, blocks and poles."""
    c0, c1 = (np.asarray(_random_colour(rng, c, 15), dtype=np.float32) for c in palette)
    theta = rng.uniform(0, 2 * math.pi)
    yy, xx = np.ogrid[0:h, 0:w]
    t = xx * math.cos(theta) + yy * math.sin(theta)
    t = (t - t.min()) / (np.ptp(t) + 1e-6)
    image = Image.fromarray((c0 + (c1 - c0) * t[..., None]).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(2, 7)):
        colour = _random_colour(rng, _CLUTTER[rng.integers(len(_CLUTTER))], 20)
        x0, y0 = rng.uniform(-0.2, 1) * w, rng.uniform(-0.2, 1) * h
        x1, y1 = x0 + rng.uniform(0.1, 0.6) * w, y0 + rng.uniform(0.1, 0.6) * h
        kind = rng.integers(3)
        if kind == 0:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        elif kind == 1:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.line((x0, y0, x1, rng.uniform(0, h)), fill=colour,
                      width=int(rng.integers(1, max(2, w // 8))))
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2)))


def _occlude(rng: np.random.Generator, image: Image.Image, roi: tuple[int, int, int, int]) -> None:
    """A leaf or branch over an edge of the sign."""
    x1, y1, x2, y2 = roi
    side = x2 - x1
    cx, cy = (x1, x2)[rng.integers(2)], rng.uniform(y1, y2)
    if rng.random() < 0.5:
        cx, cy = rng.uniform(x1, x2), (y1, y2)[rng.integers(2)]
    colour = _random_colour(rng, _CLUTTER[rng.integers(2)], 20)
    draw = ImageDraw.Draw(image)
    if rng.random() < 0.5:
        r = side * rng.uniform(0.15, 0.35)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    else:
        dx, dy = rng.normal(0, side, 2)
        draw.line((cx - dx, cy - dy, cx + dx, cy + dy), fill=colour,
                  width=max(1, round(side * rng.uniform(0.05, 0.12))))
