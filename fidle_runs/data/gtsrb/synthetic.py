"""Synthetic traffic signs written in GTSRB's raw on-disk layouts, to run the real pipeline offline.

43 sign-like classes, distinct in grayscale too, each drawn once per process as a clean pictogram.
Train images come in tracks of 30 views of one physical sign that grow along the track (a car
approaching), as in GTSRB; test images are single views. Every view gets GTSRB's nuisances:
size, position, rotation, perspective, light, colour cast, fading, blur, noise, cluttered
background, sometimes an occluder. An image's randomness comes from (seed, split, index) and its
track's from (seed, split, class, track), so the files do not depend on the number of workers.
"""

import csv
import math
import os
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from functools import cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from fidle_runs.data.spawn_pool import spawn_pool
from fidle_runs.errors import UserError

N_CLASSES = 43
TRAIN_COUNTS: tuple[int, ...] = (
    210, 2220, 2250, 1410, 1980, 1860, 420, 1440, 1410, 1470, 2010, 1320, 2100, 2160, 780, 630,
    420, 1110, 1200, 210, 360, 330, 390, 510, 270, 1500, 600, 240, 540, 270, 450, 780, 240, 689,
    420, 1200, 390, 210, 2070, 300, 360, 240, 240,
)
TEST_COUNTS: tuple[int, ...] = (
    60, 720, 750, 450, 660, 630, 150, 450, 450, 480, 660, 420, 690, 720, 270, 210, 150, 360, 390,
    60, 90, 90, 120, 150, 90, 480, 180, 60, 150, 90, 150, 270, 60, 210, 120, 390, 120, 60, 690,
    90, 90, 60, 90,
)
LAYOUTS = ("kaggle", "official")
TRACK_LENGTH = 30
GEOMETRY_COLUMNS = ("Width", "Height", "Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2")

_TEMPLATE_SIZE = 96  # the Meta pictograms; the largest level of the per-class pyramid
_SUPERSAMPLING = 4
_PYRAMID = (16, 24, 32, 48, 64, 96)  # a sign is warped from the smallest level at least its size
_CHUNK = 128
# Stream ids that keep the random draws of splits, tracks and images apart.
_TRAIN_IMAGE, _TEST_IMAGE, _TRAIN_TRACK, _TEST_TRACK, _TEST_ORDER = range(5)


def class_counts(fraction: float) -> tuple[list[int], list[int]]:
    """Per-class train/test counts for `fraction` of GTSRB's size (1.0: 39,209 / 12,630), every
    class >= 2 train and >= 1 test."""
    if not fraction > 0:
        raise ValueError(f"fraction={fraction} must be > 0")
    return ([max(2, round(n * fraction)) for n in TRAIN_COUNTS],
            [max(1, round(n * fraction)) for n in TEST_COUNTS])


def write_synthetic_gtsrb(root: Path, fraction: float = 1.0, layout: str = "kaggle", seed: int = 0,
                          workers: int | None = None,
                          progress: Callable[[int], None] | None = None) -> None:
    """Write a synthetic raw GTSRB under `root` (created; must be empty or absent) in `layout`.

    kaggle: FIDLE's `GTSRB/origine` (Train.csv, Test.csv, Meta.csv, PNG); official: torchvision's
    root (gtsrb/GTSRB/Training/000NN/GT-000NN.csv, Final_Test/Images, gtsrb/GT-final_test.csv,
    PPM). `progress` is called with the number of images finished, chunk by chunk.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is not one of {', '.join(LAYOUTS)}")
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise UserError(f"{root} is not empty: synthetic GTSRB is only written into an empty or "
                        "new folder; delete it or choose another")
    train_counts, test_counts = class_counts(fraction)
    test_labels = np.random.default_rng((seed, _TEST_ORDER)).permutation(
        np.repeat(np.arange(N_CLASSES), test_counts)).tolist()

    train_names, jobs = [], []
    for c, count in enumerate(train_counts):
        for k in range(count):
            track, i = divmod(k, TRACK_LENGTH)
            length = min(TRACK_LENGTH, count - track * TRACK_LENGTH)
            name = _train_name(layout, c, track, i)
            train_names.append(name)
            pos = i / (length - 1) if length > 1 else 1.0
            jobs.append(_Job(str(root / name), c, (seed, _TRAIN_TRACK, c, track),
                             (seed, _TRAIN_IMAGE, len(jobs)), pos))
    test_names = [_test_name(layout, n) for n in range(len(test_labels))]
    jobs += [_Job(str(root / name), c, (seed, _TEST_TRACK, n), (seed, _TEST_IMAGE, n), None)
             for n, (name, c) in enumerate(zip(test_names, test_labels, strict=True))]
    for folder in sorted({Path(job.path).parent for job in jobs}):
        folder.mkdir(parents=True, exist_ok=True)

    geometry = _render_all(jobs, workers or os.cpu_count() or 1, progress)
    n_train = len(train_names)
    train = [(*g, job.class_id) for g, job in zip(geometry[:n_train], jobs[:n_train], strict=True)]
    test = [(*g, c) for g, c in zip(geometry[n_train:], test_labels, strict=True)]
    if layout == "kaggle":
        _write_kaggle(root, train, train_names, test, test_names)
    else:
        _write_official(root, train, train_names, test, test_names)


class _Job(NamedTuple):
    path: str
    class_id: int
    track_key: tuple[int, ...]
    image_key: tuple[int, ...]
    pos: float | None  # place along the track, 0 (far) to 1 (near); None: drawn (test images)


def _train_name(layout: str, c: int, track: int, i: int) -> str:
    if layout == "kaggle":
        return f"Train/{c}/{c:05d}_{track:05d}_{i:05d}.png"
    return f"gtsrb/GTSRB/Training/{c:05d}/{track:05d}_{i:05d}.ppm"


def _test_name(layout: str, n: int) -> str:
    if layout == "kaggle":
        return f"Test/{n:05d}.png"
    return f"gtsrb/GTSRB/Final_Test/Images/{n:05d}.ppm"


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence], delimiter: str) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _write_kaggle(root: Path, train: list[tuple], train_names: list[str], test: list[tuple],
                  test_names: list[str]) -> None:
    header = (*GEOMETRY_COLUMNS, "ClassId", "Path")
    _write_csv(root / "Train.csv", header,
               ((*g, name) for g, name in zip(train, train_names, strict=True)), ",")
    _write_csv(root / "Test.csv", header,
               ((*g, name) for g, name in zip(test, test_names, strict=True)), ",")
    (root / "Meta").mkdir()
    for c in range(N_CLASSES):
        _templates(c)[-1].save(root / "Meta" / f"{c}.png")
    _write_csv(root / "Meta.csv", ("Path", "ClassId", "ShapeId", "ColorId", "SignId"),
               ((f"Meta/{c}.png", c, *meta) for c, meta in enumerate(_meta_ids())), ",")


def _write_official(root: Path, train: list[tuple], train_names: list[str], test: list[tuple],
                    test_names: list[str]) -> None:
    header = ("Filename", *GEOMETRY_COLUMNS, "ClassId")
    by_class: dict[int, list[tuple]] = {}
    for g, name in zip(train, train_names, strict=True):
        by_class.setdefault(g[-1], []).append((Path(name).name, *g))
    training = root / "gtsrb" / "GTSRB" / "Training"
    for c, rows in by_class.items():
        _write_csv(training / f"{c:05d}" / f"GT-{c:05d}.csv", header, rows, ";")
    rows = [(Path(name).name, *g) for g, name in zip(test, test_names, strict=True)]
    _write_csv(root / "gtsrb" / "GTSRB" / "Final_Test" / "Images" / "GT-final_test.test.csv",
               header[:-1], (r[:-1] for r in rows), ";")
    _write_csv(root / "gtsrb" / "GT-final_test.csv", header, rows, ";")


def _render_all(jobs: list[_Job], workers: int,
                progress: Callable[[int], None] | None) -> list[tuple[int, ...]]:
    """(Width, Height, x1, y1, x2, y2) of every job's image, in job order, once written."""
    chunks = [jobs[k : k + _CHUNK] for k in range(0, len(jobs), _CHUNK)]
    geometry: list[tuple[int, ...]] = []
    with ExitStack() as stack:
        if workers > 1 and len(chunks) > 1:
            pool = stack.enter_context(spawn_pool(min(workers, len(chunks))))
            results = pool.imap(_render_chunk, chunks)
        else:
            results = map(_render_chunk, chunks)
        for rows in results:
            geometry += rows
            if progress is not None:
                progress(len(rows))
    return geometry


def _render_chunk(jobs: list[_Job]) -> list[tuple[int, ...]]:
    rows = []
    for job in jobs:
        image, roi = _render(job)
        image.save(job.path)
        rows.append((image.width, image.height, *roi))
    return rows


# --- One view of a sign --------------------------------------------------------------------------

_PALETTES = (  # background gradients: sky, foliage, buildings, dusk, concrete, overcast
    ((150, 180, 215), (225, 232, 240)), ((45, 75, 40), (120, 150, 80)),
    ((115, 105, 95), (185, 175, 165)), ((55, 55, 75), (150, 120, 110)),
    ((85, 85, 90), (155, 155, 150)), ((185, 190, 200), (130, 140, 150)),
)
_CLUTTER = ((60, 90, 45), (35, 55, 30), (110, 100, 90), (170, 160, 150), (90, 70, 50),
            (200, 200, 205), (60, 60, 65), (140, 160, 190), (150, 60, 50))


def _render(job: _Job) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """The RGB image of one view and its sign's inclusive ROI (x1, y1, x2, y2)."""
    track = np.random.default_rng(job.track_key)
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
    pos = track.random() if job.pos is None else job.pos

    rng = np.random.default_rng(job.image_key)
    size = start + (end - start) * pos**1.5
    h = max(25, round(size * rng.normal(1, 0.02)))
    w = max(25, round(h * aspect * rng.normal(1, 0.02)))
    x1, x2 = _sign_span(rng, w)
    y1, y2 = _sign_span(rng, h)
    angle = float(np.clip(tilt + rng.normal(0, 1.5), -10, 10))

    sign = np.asarray(_warp(job.class_id, (w, h), (x1, y1, x2, y2), angle, squeeze, rng),
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
    template = next((t for t in _templates(class_id) if t.width >= 2 * max(hw, hh)),
                    _templates(class_id)[-1])
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


# --- The pictograms ------------------------------------------------------------------------------

Point = tuple[float, float]
_RED, _WHITE, _BLACK = (200, 25, 35), (245, 245, 240), (25, 25, 25)
_BLUE, _YELLOW, _GREEN, _GREY = (25, 75, 170), (250, 195, 20), (40, 160, 70), (150, 150, 150)


class _Pen:
    """Draws on a square canvas of `px` pixels in local coordinates: [-1, 1]² spans `scale`
    canvas units (0..1) either side of (cx, cy), x mirrored when `mirror`."""

    def __init__(self, draw: ImageDraw.ImageDraw, px: int, cx: float = 0.5, cy: float = 0.5,
                 scale: float = 0.5, mirror: bool = False) -> None:
        self.draw, self.px, self.cx, self.cy = draw, px, cx, cy
        self.scale, self.mirror = scale, mirror

    def at(self, x: float, y: float, scale: float) -> "_Pen":
        """A pen whose [-1, 1]² is the square of half-side `scale` around local (x, y)."""
        (cx, cy), = self._xy([(x, y)])
        return _Pen(self.draw, self.px, cx / self.px, cy / self.px, self.scale * scale,
                    self.mirror)

    def mirrored(self) -> "_Pen":
        return _Pen(self.draw, self.px, self.cx, self.cy, self.scale, not self.mirror)

    def _xy(self, pts: Iterable[Point]) -> list[Point]:
        sign = -1 if self.mirror else 1
        return [((self.cx + sign * x * self.scale) * self.px, (self.cy + y * self.scale) * self.px)
                for x, y in pts]

    def _px(self, length: float) -> float:
        return length * self.scale * self.px

    def disc(self, r: float, fill: tuple, x: float = 0, y: float = 0) -> None:
        (cx, cy), = self._xy([(x, y)])
        r = self._px(r)
        self.draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)

    def ring(self, r: float, width: float, fill: tuple, x: float = 0, y: float = 0) -> None:
        (cx, cy), = self._xy([(x, y)])
        r = self._px(r)
        self.draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=fill,
                          width=round(self._px(width)))

    def polygon(self, pts: Sequence[Point], fill: tuple) -> None:
        self.draw.polygon(self._xy(pts), fill=fill)

    def line(self, pts: Sequence[Point], width: float, fill: tuple) -> None:
        """A polyline with round joints and caps."""
        xy = self._xy(pts)
        self.draw.line(xy, fill=fill, width=round(self._px(width)), joint="curve")
        r = self._px(width) / 2
        for x, y in (xy[0], xy[-1]):
            self.draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)

    def arrow(self, pts: Sequence[Point], width: float, fill: tuple) -> None:
        """A polyline ending in an arrowhead at its last point."""
        (x0, y0), (x1, y1) = pts[-2], pts[-1]
        d = math.hypot(x1 - x0, y1 - y0)
        ux, uy = (x1 - x0) / d, (y1 - y0) / d
        bx, by = x1 - 2 * width * ux, y1 - 2 * width * uy
        half = 1.3 * width
        self.line([*pts[:-1], (bx, by)], width, fill)
        self.polygon([(x1, y1), (bx - half * uy, by + half * ux), (bx + half * uy, by - half * ux)],
                     fill)

    def text(self, s: str, fill: tuple, width: float, height: float) -> None:
        """`s` centred, as large as fits in `width` x `height`, bolded by a stroke."""
        left, top, right, bottom = ImageFont.load_default(size=100).getbbox(s)
        size = 100 * min(self._px(width) / (right - left), self._px(height) / (bottom - top))
        font = ImageFont.load_default(size=size)
        stroke = round(size * 0.05)
        left, top, right, bottom = font.getbbox(s, stroke_width=stroke)
        (cx, cy), = self._xy([(0, 0)])
        self.draw.text((cx - (left + right) / 2, cy - (top + bottom) / 2), s, fill=fill,
                       font=font, stroke_width=stroke, stroke_fill=fill)


def _box(x0: float, y0: float, x1: float, y1: float) -> list[Point]:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _shrunk(pts: Sequence[Point], k: float) -> list[Point]:
    cx, cy = sum(x for x, _ in pts) / len(pts), sum(y for _, y in pts) / len(pts)
    return [(cx + (x - cx) * k, cy + (y - cy) * k) for x, y in pts]


def _regular(n: int, r: float, phase: float) -> list[Point]:
    return [(r * math.cos(phase + 2 * math.pi * k / n), r * math.sin(phase + 2 * math.pi * k / n))
            for k in range(n)]


# Sign bodies, drawn with the full-canvas pen.

def _prohibitory(p: _Pen) -> None:
    p.disc(0.96, _RED)
    p.disc(0.72, _WHITE)


def _end_of(p: _Pen, glyph: Callable[[_Pen, tuple], None] | None, bars: int = 4) -> None:
    """White disc with the cancelled restriction in grey under a band of diagonal black bars."""
    p.disc(0.96, (70, 70, 70))
    p.disc(0.9, _WHITE)
    if glyph is not None:
        glyph(p, _GREY)
    for k in range(bars):
        o = (k - (bars - 1) / 2) * 0.075
        p.line([(-0.6 + o, 0.6 + o), (0.6 + o, -0.6 + o)], 0.045, _BLACK)


_TRIANGLE_UP = [(0.0, -0.92), (0.98, 0.8), (-0.98, 0.8)]


def _danger(glyph: Callable[[_Pen], None]) -> Callable[[_Pen], None]:
    def draw(p: _Pen) -> None:
        p.polygon(_TRIANGLE_UP, _RED)
        p.polygon(_shrunk(_TRIANGLE_UP, 0.72), _WHITE)
        glyph(p.at(0, 0.2, 0.38))
    return draw


def _mandatory(glyph: Callable[[_Pen], None], mirror: bool = False) -> Callable[[_Pen], None]:
    def draw(p: _Pen) -> None:
        p.disc(0.96, _WHITE)
        p.disc(0.9, _BLUE)
        glyph(p.mirrored() if mirror else p)
    return draw


def _speed(limit: str) -> Callable[[_Pen], None]:
    def draw(p: _Pen) -> None:
        _prohibitory(p)
        p.text(limit, _BLACK, 1.25 if len(limit) > 2 else 1.05, 0.7)
    return draw


def _yield(p: _Pen) -> None:
    pts = [(-0.98, -0.8), (0.98, -0.8), (0.0, 0.92)]
    p.polygon(pts, _RED)
    p.polygon(_shrunk(pts, 0.55), _WHITE)


def _stop(p: _Pen) -> None:
    p.polygon(_regular(8, 0.98, math.pi / 8), _WHITE)
    p.polygon(_regular(8, 0.9, math.pi / 8), _RED)
    p.text("STOP", _WHITE, 1.3, 0.42)


def _priority(p: _Pen) -> None:
    pts = [(0.0, -0.98), (0.98, 0.0), (0.0, 0.98), (-0.98, 0.0)]
    p.polygon(pts, (60, 60, 60))
    p.polygon(_shrunk(pts, 0.94), _WHITE)
    p.polygon(_shrunk(pts, 0.66), _YELLOW)


def _no_entry(p: _Pen) -> None:
    p.disc(0.96, _RED)
    p.polygon(_box(-0.7, -0.17, 0.7, 0.17), _WHITE)


# Glyphs, in their own [-1, 1]² frame.

def _car(p: _Pen, fill: tuple) -> None:
    """Seen from behind."""
    p.polygon([(-0.55, -0.1), (-0.4, -0.6), (0.4, -0.6), (0.55, -0.1)], fill)
    p.polygon(_box(-0.85, -0.1, 0.85, 0.55), fill)
    p.polygon(_box(-0.8, 0.5, -0.45, 0.85), fill)
    p.polygon(_box(0.45, 0.5, 0.8, 0.85), fill)


def _truck(p: _Pen, fill: tuple) -> None:
    """Seen from the side."""
    p.polygon(_box(-1, -0.6, 0.35, 0.45), fill)
    p.polygon([(0.45, -0.2), (0.8, -0.2), (1, 0.1), (1, 0.45), (0.45, 0.45)], fill)
    p.disc(0.22, fill, -0.6, 0.6)
    p.disc(0.22, fill, 0.7, 0.6)


def _overtaking(p: _Pen, grey: tuple | None = None) -> None:
    _car(p.at(-0.33, 0.05, 0.3), grey or _RED)
    _car(p.at(0.33, 0.05, 0.3), grey or _BLACK)


def _overtaking_trucks(p: _Pen, grey: tuple | None = None) -> None:
    _car(p.at(-0.4, 0.05, 0.25), grey or _RED)
    _truck(p.at(0.3, 0.05, 0.3), grey or _BLACK)


def _person(p: _Pen, fill: tuple = _BLACK) -> None:
    p.disc(0.18, fill, 0, -0.75)
    p.line([(0, -0.5), (0, 0.2)], 0.24, fill)
    p.line([(-0.35, 0.95), (0, 0.2), (0.3, 0.95)], 0.2, fill)
    p.line([(-0.35, 0.05), (0, -0.4), (0.35, 0.0)], 0.16, fill)


def _intersection(p: _Pen) -> None:
    p.line([(0, -0.95), (0, 0.95)], 0.3, _BLACK)
    p.line([(-0.7, -0.15), (0.7, -0.15)], 0.22, _BLACK)


def _caution(p: _Pen) -> None:
    p.polygon([(-0.17, -0.95), (0.17, -0.95), (0.08, 0.35), (-0.08, 0.35)], _BLACK)
    p.disc(0.17, _BLACK, 0, 0.75)


def _curve(p: _Pen) -> None:
    p.arrow([(0.35, 0.95), (0.35, 0.2), (0.15, -0.3), (-0.25, -0.6), (-0.6, -0.7)], 0.25, _BLACK)


def _double_curve(p: _Pen) -> None:
    p.line([(-0.35, 0.95), (-0.35, 0.45), (0.3, 0.05), (0.3, -0.25), (-0.1, -0.55),
            (-0.1, -0.95)], 0.25, _BLACK)


def _bumps(p: _Pen) -> None:
    xs = np.linspace(-0.95, 0.95, 25)
    top = [(float(x), 0.55 - 0.7 * abs(math.sin(math.pi * x / 0.95))) for x in xs]
    p.polygon([*top, (0.95, 0.85), (-0.95, 0.85)], _BLACK)


def _slippery(p: _Pen) -> None:
    _car(p.at(0, -0.45, 0.45), _BLACK)
    p.line([(-0.3, 0.1), (-0.1, 0.35), (-0.4, 0.6), (-0.2, 0.9)], 0.12, _BLACK)
    p.line([(0.3, 0.1), (0.5, 0.35), (0.2, 0.6), (0.4, 0.9)], 0.12, _BLACK)


def _narrows(p: _Pen) -> None:
    p.line([(-0.45, -0.95), (-0.45, 0.95)], 0.2, _BLACK)
    p.line([(0.5, 0.95), (0.5, 0.25), (0.12, -0.2), (0.12, -0.95)], 0.2, _BLACK)


def _road_work(p: _Pen) -> None:
    p.disc(0.17, _BLACK, 0.05, -0.7)
    p.line([(-0.05, -0.45), (-0.25, 0.25)], 0.22, _BLACK)
    p.line([(-0.55, 0.9), (-0.25, 0.25), (0.05, 0.9)], 0.17, _BLACK)
    p.line([(-0.1, -0.3), (0.5, 0.3)], 0.1, _BLACK)
    p.polygon([(0.2, 0.95), (0.6, 0.5), (0.98, 0.95)], _BLACK)


def _signals(p: _Pen) -> None:
    p.polygon(_box(-0.38, -1, 0.38, 1), _BLACK)
    for y, colour in ((-0.62, _RED), (0, _YELLOW), (0.62, _GREEN)):
        p.disc(0.24, colour, 0, y)


def _children(p: _Pen) -> None:
    _person(p.at(-0.4, 0, 0.75))
    _person(p.at(0.45, 0.2, 0.6))


def _bicycle(p: _Pen) -> None:
    p.ring(0.38, 0.12, _BLACK, -0.55, 0.45)
    p.ring(0.38, 0.12, _BLACK, 0.55, 0.45)
    p.line([(-0.55, 0.45), (-0.1, 0.45), (0.3, -0.15), (-0.3, -0.15), (-0.55, 0.45)], 0.1, _BLACK)
    p.line([(0.55, 0.45), (0.3, -0.15), (0.25, -0.45), (0.45, -0.45)], 0.1, _BLACK)
    p.line([(-0.45, -0.3), (-0.15, -0.3)], 0.12, _BLACK)


def _snow(p: _Pen) -> None:
    for a in (90, 30, 150):
        dx, dy = 0.9 * math.cos(math.radians(a)), 0.9 * math.sin(math.radians(a))
        p.line([(-dx, -dy), (dx, dy)], 0.14, _BLACK)
    p.disc(0.22, _BLACK)


def _deer(p: _Pen) -> None:
    p.polygon([(-0.6, 0.0), (0.3, -0.3), (0.55, -0.25), (0.3, 0.2), (-0.5, 0.3)], _BLACK)
    p.polygon([(0.3, -0.3), (0.6, -0.75), (0.85, -0.7), (0.55, -0.2)], _BLACK)
    for leg in (((-0.5, 0.2), (-0.9, 0.6)), ((-0.4, 0.25), (-0.7, 0.85)),
                ((0.3, 0.1), (0.6, 0.6)), ((0.2, 0.15), (0.35, 0.85))):
        p.line(leg, 0.1, _BLACK)
    p.line([(0.65, -0.75), (0.55, -0.97)], 0.07, _BLACK)
    p.line([(0.75, -0.72), (0.88, -0.95)], 0.07, _BLACK)


def _turn(p: _Pen) -> None:
    p.arrow([(-0.3, 0.7), (-0.3, 0.0), (-0.2, -0.25), (0.05, -0.35), (0.5, -0.35)], 0.2, _WHITE)


def _ahead(p: _Pen) -> None:
    p.arrow([(0, 0.7), (0, -0.65)], 0.22, _WHITE)


def _ahead_or_turn(p: _Pen) -> None:
    p.arrow([(-0.15, 0.72), (-0.15, -0.65)], 0.18, _WHITE)
    p.arrow([(-0.15, 0.3), (0.05, 0.05), (0.62, 0.05)], 0.18, _WHITE)


def _keep(p: _Pen) -> None:
    p.arrow([(-0.45, -0.45), (0.45, 0.45)], 0.22, _WHITE)


def _roundabout(p: _Pen) -> None:
    for k in range(3):
        a0 = math.radians(90 + 120 * k)
        arc = [(0.5 * math.cos(a0 - t), 0.5 * math.sin(a0 - t)) for t in np.linspace(0, 1.45, 8)]
        p.arrow(arc, 0.15, _WHITE)


class _Sign(NamedTuple):
    shape: int  # GTSRB Meta.csv ShapeId: 0 triangle, 1 circle, 2 diamond, 3 inverted triangle,
    colour: int  # 4 octagon; ColorId: 0 red, 1 blue, 2 yellow, 3 white
    draw: Callable[[_Pen], None]


_SIGNS: tuple[_Sign, ...] = (
    *(_Sign(1, 0, _speed(v)) for v in ("20", "30", "50", "60", "70", "80")),
    _Sign(1, 3, lambda p: _end_of(p, lambda q, grey: q.text("80", grey, 1.05, 0.7))),
    _Sign(1, 0, _speed("100")),
    _Sign(1, 0, _speed("120")),
    _Sign(1, 0, lambda p: (_prohibitory(p), _overtaking(p))),
    _Sign(1, 0, lambda p: (_prohibitory(p), _overtaking_trucks(p))),
    _Sign(0, 0, _danger(_intersection)),
    _Sign(2, 2, _priority),
    _Sign(3, 0, _yield),
    _Sign(4, 0, _stop),
    _Sign(1, 0, _prohibitory),
    _Sign(1, 0, lambda p: (_prohibitory(p), _truck(p.at(0, 0.05, 0.5), _BLACK))),
    _Sign(1, 0, _no_entry),
    _Sign(0, 0, _danger(_caution)),
    _Sign(0, 0, _danger(_curve)),
    _Sign(0, 0, _danger(lambda p: _curve(p.mirrored()))),
    _Sign(0, 0, _danger(_double_curve)),
    _Sign(0, 0, _danger(_bumps)),
    _Sign(0, 0, _danger(_slippery)),
    _Sign(0, 0, _danger(_narrows)),
    _Sign(0, 0, _danger(_road_work)),
    _Sign(0, 0, _danger(_signals)),
    _Sign(0, 0, _danger(_person)),
    _Sign(0, 0, _danger(_children)),
    _Sign(0, 0, _danger(_bicycle)),
    _Sign(0, 0, _danger(_snow)),
    _Sign(0, 0, _danger(_deer)),
    _Sign(1, 3, lambda p: _end_of(p, None, bars=5)),
    _Sign(1, 1, _mandatory(_turn)),
    _Sign(1, 1, _mandatory(_turn, mirror=True)),
    _Sign(1, 1, _mandatory(_ahead)),
    _Sign(1, 1, _mandatory(_ahead_or_turn)),
    _Sign(1, 1, _mandatory(_ahead_or_turn, mirror=True)),
    _Sign(1, 1, _mandatory(_keep)),
    _Sign(1, 1, _mandatory(_keep, mirror=True)),
    _Sign(1, 1, _mandatory(_roundabout)),
    _Sign(1, 3, lambda p: _end_of(p, _overtaking)),
    _Sign(1, 3, lambda p: _end_of(p, _overtaking_trucks)),
)
assert len(_SIGNS) == N_CLASSES


def _meta_ids() -> list[tuple[int, int, str]]:
    """(ShapeId, ColorId, SignId) per class; SignId numbers signs within danger (1.x), priority
    (2.x), prohibitory (3.x) and mandatory (4.x) groups."""
    counts: dict[int, int] = {}
    ids = []
    for sign in _SIGNS:
        group = {0: 1, 2: 2, 3: 2, 4: 2}.get(sign.shape, 4 if sign.colour == 1 else 3)
        counts[group] = counts.get(group, 0) + 1
        ids.append((sign.shape, sign.colour, f"{group}.{counts[group]}"))
    return ids


@cache
def _templates(class_id: int) -> tuple[Image.Image, ...]:
    """The clean RGBA pictogram of a class at every size of `_PYRAMID`, smallest first."""
    px = _TEMPLATE_SIZE * _SUPERSAMPLING
    image = Image.new("RGBA", (px, px), (0, 0, 0, 0))
    _SIGNS[class_id].draw(_Pen(ImageDraw.Draw(image), px))
    return tuple(image.resize((s, s), Image.Resampling.LANCZOS) for s in _PYRAMID)
