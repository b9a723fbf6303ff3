"""The 43 classes' clean pictograms, part of the synthetic GTSRB generator.

Each class is a sign-like pictogram, distinct in grayscale too, drawn once per process with a
`_Pen` (sign bodies, then glyphs in their own frame) and kept as a small pyramid of sizes that
the views are warped from; the largest level is the class's Meta image.
"""

import math
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

N_CLASSES = 43
_TEMPLATE_SIZE = 96  # the Meta pictograms; the largest level of the per-class pyramid
_SUPERSAMPLING = 4
_PYRAMID = (16, 24, 32, 48, 64, 96)  # a sign is warped from the smallest level at least its size


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


def meta_ids() -> list[tuple[int, int, str]]:
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
def pictogram_pyramid(class_id: int) -> tuple[Image.Image, ...]:
    """The clean RGBA pictogram of a class at every size of `_PYRAMID`, smallest first."""
    px = _TEMPLATE_SIZE * _SUPERSAMPLING
    image = Image.new("RGBA", (px, px), (0, 0, 0, 0))
    _SIGNS[class_id].draw(_Pen(ImageDraw.Draw(image), px))
    return tuple(image.resize((s, s), Image.Resampling.LANCZOS) for s in _PYRAMID)
