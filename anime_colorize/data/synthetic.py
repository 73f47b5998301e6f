"""Procedural anime-style "cel" pictures: the built-in training data.

Every picture shows one character (face, hair, eyes, mouth, neck, clothes) in front of
a flat background, drawn as flat colour regions with dark anti-aliased outlines.

The colours come from two deliberately different sources:

* **Shape-determined parts** always get (nearly) the same colour: skin of face and neck
  (Lab about (80..88, 10..16, 14..22)), whites of the eyes (near white), the mouth
  (a pinkish red), pupils and outlines (near black). A colorizer can and should learn
  these from shape alone.
* **Palette parts** (hair, irises, clothes, background, background element) get a random
  colour picked in CIE Lab: lightness from a few fixed levels, hue angle uniform over
  360 degrees, chroma 35..70 (less only where the sRGB gamut has no room). Every hue is
  available at every lightness level, so the grayscale image carries no information
  about these hues: the task is genuinely multimodal, and the network's noise input z
  is what must decide them (a deterministic regressor can only fall back to grey).

Geometry is built in a canonical face frame (face half-width 1, face centre at the
origin, y pointing down) and mapped to pixels by one similarity transform, so the
random draws do not depend on ``size``: the same (seed, index) gives the same character
at every resolution. Shapes are drawn on a canvas several times larger (about 256 px
for small outputs) and reduced with ``cv2.INTER_AREA``, which keeps thin features
(pupils, 1 px outlines) clean at 64 px.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import cv2
import numpy as np

from anime_colorize import color
from anime_colorize.data.checks import check_int

log = logging.getLogger(__name__)

# Palette lightness levels: from dark to light, yet low enough that nearly every hue has
# room for chroma 35 in sRGB (cyans at L 45 only reach ~27), and well below skin and
# eye-white lightness so those stay recognisable.
_L_LEVELS = np.array([45.0, 58.0, 72.0])
_CHROMA_RANGE = (35.0, 70.0)
_SHIFT = 4  # cv2 sub-pixel bits: coordinates are passed as fixed point * 16
_TAU = 2.0 * np.pi


@functools.lru_cache(maxsize=1)
def _max_chroma() -> np.ndarray:
    """(len(_L_LEVELS), 360) float: largest in-gamut chroma per level and whole-degree hue.

    Computed once by a Lab -> sRGB -> Lab round trip; clipping shows up as a mismatch.
    Keeping palette colours inside the gamut matters because clipping shifts their
    lightness in a hue-dependent way, which would leak hue into L.
    """
    chroma = np.arange(0.0, 101.0)
    hue = np.deg2rad(np.arange(360.0))
    lab = np.empty((len(_L_LEVELS), 360, chroma.size, 3))
    lab[..., 0] = _L_LEVELS[:, None, None]
    lab[..., 1] = np.cos(hue)[:, None] * chroma
    lab[..., 2] = np.sin(hue)[:, None] * chroma
    back = color.rgb_to_lab_np(color.lab_to_rgb_np(lab))
    ok = np.linalg.norm(back - lab, axis=-1) < 1.0
    return np.cumprod(ok, axis=-1).sum(axis=-1) - 1.0


def _colours(rng: np.random.Generator) -> dict[str, tuple[int, ...]]:
    """Draws this picture's colours; returns name -> RGB uint8 triple (as ints for cv2)."""
    names = ["hair", "iris", "clothes", "background", "element"]
    n = len(names)
    level = rng.integers(len(_L_LEVELS), size=n)
    hue = rng.uniform(0.0, 360.0, n)
    room = 0.95 * _max_chroma()[level, hue.astype(int) % 360]
    chroma = np.minimum(rng.uniform(*_CHROMA_RANGE, n), room)
    rad = np.deg2rad(hue)
    lab = [np.stack([_L_LEVELS[level], chroma * np.cos(rad), chroma * np.sin(rad)], 1)]
    fixed = {  # shape-determined colours: narrow Lab ranges so they stay learnable
        "skin": ((80, 88), (10, 16), (14, 22)), "white": ((96, 99), (-1, 1), (-2, 1)),
        "mouth": ((48, 56), (40, 50), (18, 28)), "ink": ((8, 14), (-2, 2), (-3, 1))}
    for lo_hi in fixed.values():
        lab.append(np.array([[rng.uniform(*r) for r in lo_hi]]))
    names += list(fixed)
    rgb = np.round(color.lab_to_rgb_np(np.concatenate(lab)) * 255.0).astype(int)
    return {k: tuple(map(int, c)) for k, c in zip(names, rgb)}


def _ellipse(cx, cy, rx, ry, t0: float = 0.0, t1=_TAU, n: int = 36) -> np.ndarray:
    t = np.linspace(t0, t1, n)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _zigzag(x0, x1, y_root, y_tip, n_tips) -> np.ndarray:
    """Points from x0 to x1 alternating root / tip heights: spiky hair edges."""
    pts = np.stack([np.linspace(x0, x1, 2 * n_tips + 1), np.full(2 * n_tips + 1, y_root)], 1)
    pts[1::2, 1] = y_tip
    return pts


class _Painter:
    """Fills and outlines polygons given in canonical face units on the canvas.

    ``turn``: None, or (angle, pivot) turning canonical points about the pivot first (the
    head of :func:`make_cel_variant`); None leaves the arithmetic exactly as it was.
    """

    def __init__(self, canvas, scale, angle, centre, ink, width) -> None:
        c, s = np.cos(angle) * scale, np.sin(angle) * scale
        self.canvas, self.ink, self.width = canvas, ink, width
        self.matrix, self.centre = np.array([[c, -s], [s, c]]), np.asarray(centre)
        # (angle, pivot) that turns what is drawn, or None: see the class docstring
        self.turn: tuple[float, np.ndarray] | None = None

    def _fixed(self, pts, canonical):
        pts = np.asarray(pts, float)
        if canonical:
            if self.turn is not None:
                angle, pivot = self.turn
                c, s = np.cos(angle), np.sin(angle)
                pts = (pts - pivot) @ np.array([[c, -s], [s, c]]).T + pivot
            pts = pts @ self.matrix.T + self.centre
        return np.round(pts * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)

    def fill(self, pts, colour, outline: bool = True, canonical: bool = True) -> None:
        p = self._fixed(pts, canonical)
        cv2.fillPoly(self.canvas, [p], colour, cv2.LINE_AA, _SHIFT)
        if outline:
            cv2.polylines(self.canvas, [p], True, self.ink, self.width, cv2.LINE_AA, _SHIFT)

    def line(self, pts, width_factor: float = 1.0) -> None:
        width = max(1, round(self.width * width_factor))
        cv2.polylines(self.canvas, [self._fixed(pts, True)], False, self.ink, width, cv2.LINE_AA,
                      _SHIFT)


@dataclass(frozen=True)
class Pose:
    """A change of pose or expression for :func:`make_cel_variant`.

    ``head_angle``: the head (face, hair, eyes, mouth) turned by this many radians about the
    neck, clockwise on the picture for positive angles. ``mouth_open``: True / False draws an
    open / closed mouth, None the character's own. ``eyes_closed``: eyes drawn as closed
    arcs (no whites, irises or pupils), as in a smile or a giggle.
    """

    head_angle: float = 0.0
    mouth_open: bool | None = None
    eyes_closed: bool = False


_NO_CHANGE = Pose()


def _character(p: _Painter, rng: np.random.Generator, col: dict, pose: Pose = _NO_CHANGE) -> None:
    """Draws back to front, so each part's outline is hidden where a nearer part covers it.
    A ``pose`` changes what is drawn, never the random draws: the character stays the same."""
    u = rng.uniform
    b, c, pointy = u(1.0, 1.15), u(1.1, 1.35), u(0.25, 0.45)  # face top, chin, jaw taper
    ex, ey, ew, eh = u(0.42, 0.5), u(0.15, 0.3), u(0.22, 0.28), u(0.26, 0.36)
    rx, ry, hy = u(1.15, 1.3), b * u(1.15, 1.3), -0.1  # hair cap around the skull
    y0 = c + u(0.3, 0.5)  # shoulder line
    head = (pose.head_angle, np.array([0.0, c])) if pose.head_angle else None

    if rng.random() < 0.5:  # long hair falls behind the body, so it is drawn first
        length, spread = u(1.8, 3.5), u(1.1, 1.45)
        cap = _ellipse(0, hy, rx * 0.98, ry * 0.98, np.pi, _TAU, 24)
        ends = _zigzag(rx * spread, -rx * spread, hy + length, hy + length + u(0.1, 0.4),
                       rng.integers(2, 5))
        p.turn = head
        p.fill(np.concatenate([cap, ends]), col["hair"])
        p.turn = None

    p.fill([[-0.33, 0.3 * c], [0.33, 0.3 * c], [0.33, y0 + 0.1], [-0.33, y0 + 0.1]],
           col["skin"], outline=False)
    for side in (-1, 1):  # only the sides: the face and collar cover the neck's ends
        p.line([[side * 0.33, 0.3 * c], [side * 0.33, y0]])

    sw, r = u(1.5, 2.1), u(0.4, 0.7)  # shoulder half-width and roundness
    left = _ellipse(-(sw - r), y0 + r, r, r, 1.5 * np.pi, np.pi, 8)
    torso = np.concatenate([left, [[-sw - 0.1, y0 + 6], [sw + 0.1, y0 + 6]], left[::-1] * [-1, 1]])
    p.fill(torso, col["clothes"])
    if rng.random() < 0.5:  # V neckline: a skin triangle inside the clothes
        depth = y0 + u(0.3, 0.8)
        p.fill([[-0.4, y0 - 0.1], [0.4, y0 - 0.1], [0, depth]], col["skin"], outline=False)
        p.line([[-0.4, y0], [0, depth], [0.4, y0]])

    t = np.linspace(0, _TAU, 64)
    lower = np.sin(t) > 0  # jaw: narrows towards a pointed chin
    face = np.stack([np.cos(t) * np.where(lower, 1 - pointy * np.sin(t), 1),
                     np.sin(t) * np.where(lower, c, b)], axis=1)
    p.turn = head  # from here on everything is the head
    p.fill(face, col["skin"])

    for side in (-1, 1):
        x = side * ex
        if pose.eyes_closed:  # a closed eye: the lashes' arc, lowered to the eye's middle
            p.line(_ellipse(x, ey + 0.3 * eh, ew * 1.05, 0.5 * eh, 1.05 * np.pi, 1.95 * np.pi, 16), 2.0)
            continue
        p.fill(_ellipse(x, ey, ew, eh), col["white"], outline=False)
        ix, iy = x - side * 0.03, ey + 0.1 * eh
        p.fill(_ellipse(ix, iy, 0.68 * ew, 0.88 * eh), col["iris"], outline=False)
        p.fill(_ellipse(ix, iy + 0.08 * eh, 0.3 * ew, 0.4 * eh, n=16), col["ink"], outline=False)
        p.fill(_ellipse(ix - 0.28 * ew, iy - 0.38 * eh, 0.2 * ew, 0.2 * ew, n=12), col["white"],
               outline=False)
        p.line(np.concatenate([_ellipse(x, ey, ew, eh), [[x + ew, ey]]]))
        p.line(_ellipse(x, ey, ew * 1.05, eh, 1.05 * np.pi, 1.95 * np.pi, 16), 2.0)  # lashes

    my, mw = c * u(0.55, 0.65), u(0.12, 0.22)
    drawn_open = rng.random() < 0.7
    mouth_height = u(0.07, 0.15) if drawn_open else 0.11  # drawn only if the character has one
    if drawn_open if pose.mouth_open is None else pose.mouth_open:  # open: lower half-ellipse
        p.fill(_ellipse(0, my, mw, mouth_height, 0, np.pi, 16), col["mouth"])
    else:
        p.line(_ellipse(0, my - 0.05, mw, 0.06, 0.15 * np.pi, 0.85 * np.pi, 12))

    n_spikes = rng.integers(4, 10)  # crown: radial spikes over the top of the head
    th = np.linspace(np.pi, _TAU, 2 * n_spikes + 1)
    rad = np.ones_like(th)
    rad[1::2] += u(0.03, 0.25, n_spikes)
    crown = np.stack([rx * rad * np.cos(th), hy + ry * rad * np.sin(th)], axis=1)
    locks = u(-0.2, 1.3, 2) if rng.random() < 0.7 else u(-0.4, 0.0, 2)
    root = u(-0.75, -0.55)
    # Bang tips stop above the eyes so the eyes, the most telling shape, stay whole.
    bangs = _zigzag(0.84, -0.84, root, u(-0.4, ey - eh - 0.05), rng.integers(3, 7))
    bangs[1:-1, 0] += u(-0.06, 0.06, len(bangs) - 2)  # uneven, leaning strands
    bangs[1::2, 1] += u(-0.15, 0.0, len(bangs) // 2)
    hair = np.concatenate([
        [[-0.86, root], [-0.88, hy + locks[0]], [-1.02, hy + locks[0] + 0.25],
         [-rx - 0.02, hy + 0.5 * locks[0]]],
        crown,
        [[rx + 0.02, hy + 0.5 * locks[1]], [1.02, hy + locks[1] + 0.25],
         [0.88, hy + locks[1]], [0.86, root]],
        bangs,
    ])
    p.fill(hair, col["hair"])
    p.turn = None


def make_cel_image(index: int, size: int = 64, seed: int = 0) -> np.ndarray:
    """One picture: uint8 RGB, shape (size, size, 3), values 0..255.

    ``index`` and ``seed`` are integers >= 0, ``size`` an integer >= 16 (any value, not
    only powers of two); anything else raises ValueError. The result depends only on
    (seed, index, size) through ``np.random.default_rng([seed, index])``; the random
    draws do not depend on ``size``, so other sizes show the same character.
    """
    return make_cel_variant(index, size, seed)


def make_cel_variant(index: int, size: int = 64, seed: int = 0, pose: Pose = _NO_CHANGE,
                     plain: bool = False) -> np.ndarray:
    """The character of ``make_cel_image(index, size, seed)`` (same palette, shapes,
    background and placement) in another pose or with another expression: a pair of
    pictures of one character, as a coloured key and a page to colour like it (issue #13).

    ``pose``: a :class:`Pose`; the default is no change, so
    ``make_cel_variant(i, s, seed) == make_cel_image(i, s, seed)``. ``plain``: the
    character alone on white paper (no background colour or element), like a sprite or a
    character sheet. Returns uint8 RGB (size, size, 3). The part of the picture a pose
    changes (the head) keeps its colours.
    """
    index = check_int("index", index, 0)
    size, seed = check_int("size", size, 16), check_int("seed", seed, 0)
    if not isinstance(pose, Pose):
        raise ValueError(f"pose must be a synthetic.Pose, got {type(pose).__name__}")
    rng = np.random.default_rng([seed, index])
    col = _colours(rng)

    ss = max(2, -(-256 // size))  # supersampling factor: canvas of about 256 px or more
    big = size * ss
    # Broadcasting a whole row is ~30x faster than broadcasting one 3-byte pixel.
    canvas = np.empty((big, big, 3), np.uint8)
    paper = (255, 255, 255) if plain else col["background"]
    canvas[:] = np.tile(np.array(paper, np.uint8), (big, 1))
    # About 1 px at 64 px, growing a little slower than the picture above that.
    width = max(1, round(ss * max(1.0, size / 64.0) ** 0.8))
    u = rng.uniform
    p = _Painter(canvas, big * u(0.17, 0.23), u(-0.2, 0.2) if rng.random() < 0.6 else 0.0,
                 (big * u(0.38, 0.62), big * u(0.36, 0.48)), col["ink"], width)

    element = rng.random()
    if element < 0.35:  # a disc (sun / moon / bubble)
        cx, cy = big * u(0.0, 1.0, 2)
        radius = big * u(0.08, 0.25)
        disc = _ellipse(cx, cy, radius, radius, n=48)
        if not plain:
            p.fill(disc, col["element"], canonical=False)
    elif element < 0.7:  # a band (floor / wall stripe), slightly tilted
        y = big * u(0.3, 0.9, 2) + [0, big * u(0.08, 0.3)]
        tilt = big * u(-0.1, 0.1)
        band = [[-8, y[0] - tilt], [big + 8, y[0] + tilt],
                [big + 8, y[1] + tilt], [-8, y[1] - tilt]]
        if not plain:
            p.fill(band, col["element"], canonical=False)

    _character(p, rng, col, pose)
    image = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        image = image[:, ::-1]
    return np.ascontiguousarray(image)


def make_cel_images(num_images: int, size: int = 64, seed: int = 0,
                    progress: bool = False) -> np.ndarray:
    """A batch: uint8 RGB, shape (num_images, size, size, 3), values 0..255.

    ``num_images`` is an integer >= 1, ``size`` >= 16, ``seed`` >= 0 (else ValueError).
    Image ``i`` equals ``make_cel_image(i, size, seed)``, so asking for more images
    never changes the first ones. ``progress=True`` shows a tqdm bar.
    """
    num_images = check_int("num_images", num_images, 1)
    size, seed = check_int("size", size, 16), check_int("seed", seed, 0)
    out = np.empty((num_images, size, size, 3), np.uint8)
    indices = range(num_images)
    if progress:
        from tqdm.auto import tqdm  # imported lazily: only the bar needs it
        indices = tqdm(indices, desc=f"cel images {size}px", unit="img")
    for i in indices:
        out[i] = make_cel_image(i, size, seed)
    log.debug("drew %d cel images of %d px (seed %d)", num_images, size, seed)
    return out
