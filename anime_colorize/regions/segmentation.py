"""Segmentation of a drawing into regions: the areas a colourist fills with one flat colour.

:func:`segment` takes a picture (line art, pencil sketch, gray or screentoned manga page),
prepares its drawing with :func:`anime_colorize.data.lineart.to_line_art` and calls
:func:`segment_lines`, which takes an already-prepared drawing (float (H, W) in [0, 1],
1 = paper), e.g. the lines the training pipeline extracted. Both return :class:`Regions`: an
int32 label map in which EVERY pixel (ink included) belongs to one of ``count`` regions,
plus per-region statistics (area, centroid, bounding box, mean ink, adjacency).

The method ("balls": multi-scale trapped balls, vectorised; chosen by measurement against
plain connected components, closing + components and marker watershed, see
``experiments/regions_gaps.py``):

1. Ink = drawing darker than ``ink_threshold`` (by default halfway between the paper and
   the drawing's darkest strokes, so light pencil counts). Ink blobs smaller than ``speck_area``
   (screentone dots, dust, JPEG specks) are dropped from the ink first, so toned areas join
   the area around them.
2. A ball of radius ``R = ceil(gap / 2)`` cannot pass a gap of up to ``gap`` px in a line:
   the components of ``{distance to ink > R}`` are the cores of the large regions. This is
   the trapped-ball fill of LineFiller / style2paints, done for all balls at once with one
   distance transform and one connected-components pass instead of a flood fill per seed.
3. Smaller balls (radius R // 2, then 0) find the regions too narrow for the big ball: a
   component of ``{distance > r}`` becomes a new region when it holds no core found
   before and has at least ``min_area`` pixels. A component that already holds a core is
   the corners and narrow ends of that region, not a new region.
4. Solid ink (ink farther than ``2 R + 1`` px from paper, e.g. black hair) gets cores of
   its own the same way, so a black fill is a region and not shared out to its neighbours.
5. Every core claims the pixels within its ball radius (a ball that fits there reaches
   them without crossing ink). Unclaimed paper (corners, narrow ends, gap channels) joins,
   component by component, the region it touches most along paper. The rest (ink, and
   paper touching no region) goes to the nearest claimed pixel (Euclidean distance
   transform), so lines are split down their middle and flats have no holes under them.
6. Regions still under ``min_area`` are merged into the neighbour they share the longest
   boundary with.

Everything is OpenCV / SciPy / numpy array work (no per-pixel Python loops) and
deterministic: the same drawing and parameters give the same labels. Label ids follow the
order in which the cores were found; they carry no other meaning.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from anime_colorize.data.lineart import _check_gray, to_line_art

log = logging.getLogger(__name__)

# Default gap (px) = max(MIN_GAP, round(GAP_SCALE * long_side ** 0.25)): 2 px at 64 px,
# 3 at 128, 4 at 300-600, 5 at 1000, 6 on a 1414x2000 page. Measured on OpenMoji line
# art (experiments/regions_gaps.py, DEV split): 2 px is best at 64 px and 3 px at 128 px;
# on manga pages 5-7 px keep faces apart from the background while 10 px starts cutting
# speech balloons at their text (checked by eye). Bigger pages draw more detail at a
# similar line width, hence the slow growth.
MIN_GAP = 2
GAP_SCALE = 0.85
# Ink = drawing darker than halfway between the paper (1) and the drawing's dark strokes
# (its INK_PERCENTILE-th percentile), within INK_THRESHOLD_RANGE: 0.5 for inked line art
# and manga, up to ~0.87 for a light pencil sketch whose darkest strokes are at 0.75
# (to_line_art keeps pencil strokes as light as drawn; a fixed 0.5 sees no lines there).
INK_PERCENTILE = 1.0
INK_THRESHOLD_RANGE = (0.5, 0.9)
_SAMPLE_PIXELS = 250_000  # the percentile is taken on a strided sample of about this many
# A region may reach at most this many merge rounds of small regions (each round is one
# vectorised pass; chains of small regions need a few).
_MERGE_ROUNDS = 4


def ink_threshold_for(lines: np.ndarray) -> float:
    """The automatic ink threshold of a drawing (float (H, W), 1 = paper); see
    :data:`INK_PERCENTILE`."""
    step = max(1, int(np.sqrt(lines.size / _SAMPLE_PIXELS)))
    dark = float(np.percentile(lines[::step, ::step], INK_PERCENTILE))
    return float(np.clip((1.0 + dark) / 2.0, *INK_THRESHOLD_RANGE))


def default_gap(height: int, width: int) -> int:
    """The gap (px) closed by default for a picture of this size (see :data:`GAP_SCALE`)."""
    return max(MIN_GAP, int(round(GAP_SCALE * max(height, width) ** 0.25)))


@dataclass(frozen=True, eq=False)
class Regions:
    """A drawing cut into regions. Arrays are read-only.

    labels    int32 (H, W), values 0 .. count-1; every pixel (ink included) has a region.
    count     number of regions (>= 1).
    lines     float32 (H, W) in [0, 1]: the drawing that was segmented, 1 = paper, 0 = ink.
    ink       bool (H, W): the pixels taken as ink (after specks were dropped).

    Per-region statistics are computed on first use and kept (properties): ``area``,
    ``centroid``, ``bbox``, ``mean_ink``, ``adjacency``, ``contact``. A caller that needs only
    the label map (the training pipeline) never pays for them.
    """

    labels: np.ndarray
    count: int
    lines: np.ndarray
    ink: np.ndarray

    def __post_init__(self) -> None:
        for name in ("labels", "lines", "ink"):
            view = getattr(self, name).view()  # read-only view; the caller's array stays writeable
            view.flags.writeable = False
            object.__setattr__(self, name, view)

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the label map."""
        return self.labels.shape

    @cached_property
    def area(self) -> np.ndarray:
        """int64 (count,): pixels per region (> 0)."""
        return _readonly(np.bincount(self.labels.ravel(), minlength=self.count))

    @cached_property
    def centroid(self) -> np.ndarray:
        """float32 (count, 2): mean (y, x) of the region's pixels."""
        h, w = self.shape
        flat = self.labels.ravel()
        ys = np.bincount(flat, weights=np.repeat(np.arange(h, dtype=np.float64), w), minlength=self.count)
        xs = np.bincount(flat, weights=np.tile(np.arange(w, dtype=np.float64), h), minlength=self.count)
        return _readonly((np.stack([ys, xs], axis=1) / self.area[:, None]).astype(np.float32))

    @cached_property
    def bbox(self) -> np.ndarray:
        """int32 (count, 4): (y0, x0, y1, x1) of each region, y1 and x1 exclusive."""
        boxes = [(s[0].start, s[1].start, s[0].stop, s[1].stop)
                 for s in ndimage.find_objects(self.labels + 1)]
        return _readonly(np.array(boxes, np.int32).reshape(self.count, 4))

    @cached_property
    def mean_ink(self) -> np.ndarray:
        """float32 (count,): mean of ``1 - lines`` over the region (0 = paper, 1 = black)."""
        dark = np.bincount(self.labels.ravel(), weights=1.0 - self.lines.ravel().astype(np.float64),
                           minlength=self.count)
        return _readonly((dark / self.area).astype(np.float32))

    @cached_property
    def _pairs(self) -> tuple[np.ndarray, np.ndarray]:
        pairs, contact = _boundary_pairs(self.labels, self.count)
        return _readonly(pairs.astype(np.int32)), _readonly(contact.astype(np.int32))

    @property
    def adjacency(self) -> np.ndarray:
        """int32 (E, 2): pairs (i, j), i < j, of regions that touch (4-neighbourhood), sorted."""
        return self._pairs[0]

    @property
    def contact(self) -> np.ndarray:
        """int32 (E,): per adjacency pair, the number of 4-neighbour pixel pairs across the
        boundary (its length in px)."""
        return self._pairs[1]

    def neighbours(self, region: int) -> np.ndarray:
        """int32 ids of the regions touching ``region``, ascending."""
        a, b = self.adjacency[:, 0], self.adjacency[:, 1]
        return np.sort(np.concatenate([b[a == region], a[b == region]]))

    @classmethod
    def from_labels(cls, labels: np.ndarray, lines: np.ndarray, ink_threshold: float | None = None) -> "Regions":
        """Regions of a given label map (e.g. one resized or edited by the caller).

        ``labels``: int (H, W) >= 0; ids are compacted to 0..count-1 in ascending order of
        the given ids. ``lines``: the drawing, float (H, W) in [0, 1] (1 = paper) or uint8;
        ``ink`` is taken as ``lines < ink_threshold`` (None: :func:`ink_threshold_for`).
        """
        lines = _check_gray(lines, "lines")
        labels = np.asarray(labels)
        if labels.shape != lines.shape:
            raise ValueError(f"labels shape {labels.shape} differs from lines shape {lines.shape}")
        if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
            raise ValueError("labels must be integers >= 0")
        ids, compact = np.unique(labels, return_inverse=True)
        threshold = ink_threshold_for(lines) if ink_threshold is None else _check_threshold(ink_threshold)
        return cls(compact.reshape(labels.shape).astype(np.int32), len(ids), lines,
                   lines < np.float32(threshold))


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


def segment(picture: np.ndarray, gap: int | None = None, min_area: int | None = None,
            speck_area: int | None = None, ink_threshold: float | None = None,
            solid_ink: bool = True) -> Regions:
    """Regions of a real drawing: :func:`segment_lines` of ``to_line_art(picture)``.

    ``picture``: float (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA in [0, 1], or uint8
    (as :func:`anime_colorize.data.lineart.to_line_art`: alpha composited onto white, colour
    reduced to its gray, paper whitened). Other arguments as in :func:`segment_lines`.
    """
    return segment_lines(to_line_art(picture), gap=gap, min_area=min_area, speck_area=speck_area,
                         ink_threshold=ink_threshold, solid_ink=solid_ink)


def segment_lines(lines: np.ndarray, gap: int | None = None, min_area: int | None = None,
                  speck_area: int | None = None, ink_threshold: float | None = None,
                  solid_ink: bool = True) -> Regions:
    """Regions of a prepared drawing (see the module docstring for the method).

    ``lines``: float (H, W) in [0, 1], 1 = paper, 0 = ink (uint8 is scaled by 1/255), e.g.
    ``to_line_art(picture)`` or lines extracted by the training pipeline.
    ``gap``: the widest gap in a line (px) that still closes its region; None =
    :func:`default_gap` (2 px at 64 px, 3 at 128, 6 on a 2000 px page). 0 = no gap closing
    (plain connected components of the paper).
    ``min_area``: regions smaller than this (px, ink included) are merged into a neighbour;
    None = ``max(4, gap ** 2)``.
    ``speck_area``: ink blobs (8-connected) of fewer pixels are not ink (screentone dots,
    dust); None = ``max(2, gap ** 2 // 2)``; 0 keeps all ink.
    ``ink_threshold``: pixels of ``lines`` below it are ink, in (0, 1]; None =
    :func:`ink_threshold_for` (halfway between the paper and the drawing's dark strokes:
    0.5 for inked line art, higher for light pencil).
    ``solid_ink``: thick ink areas (black fills) become regions of their own.

    Returns :class:`Regions`. Any picture gives at least one region: an all-white or
    all-black page is one region, a 1x1 picture too.
    """
    lines = _check_gray(lines, "lines")
    h, w = lines.shape
    gap = default_gap(h, w) if gap is None else _check_count("gap", gap)
    min_area = max(4, gap * gap) if min_area is None else _check_count("min_area", min_area)
    speck_area = max(2, gap * gap // 2) if speck_area is None else _check_count("speck_area", speck_area)
    threshold = ink_threshold_for(lines) if ink_threshold is None else _check_threshold(ink_threshold)
    ink = lines < np.float32(threshold)
    if speck_area > 1:
        ink = _drop_specks(ink, speck_area)
    labels = label_regions(ink, gap, min_area, solid_ink)
    count = int(labels.max()) + 1
    log.debug("segmented %dx%d: gap %d px, ink below %.2f, %d regions", w, h, gap, threshold, count)
    return Regions(labels, count, lines, ink)


def label_regions(ink: np.ndarray, gap: int, min_area: int, solid_ink: bool = True) -> np.ndarray:
    """The label map of :func:`segment_lines` from a bool ink mask (H, W): int32, 0..count-1.

    The building block for callers that make their own ink mask; no statistics.
    """
    cores, reach = find_cores(ink, gap, min_area, solid_ink)
    if len(reach) == 1:  # no paper and no solid ink (all-black page, 1x1, all specks)
        return np.zeros(ink.shape, np.int32)
    labels = _claim_within_reach(cores, reach, ink)
    labels = _join_leftover_paper(labels, ink)
    labels = _fill_nearest(labels)
    return _merge_small(labels - 1, len(reach) - 1, min_area)


def find_cores(ink: np.ndarray, gap: int, min_area: int, solid_ink: bool = True
               ) -> tuple[np.ndarray, np.ndarray]:
    """Steps 2-4 of the method: the trapped-ball cores of a bool ink mask (H, W).

    Returns (cores int32 (H, W): 0 = no core, 1..n = core id; reach float32 (n + 1,): the
    ball radius of each core id, reach[0] = 0). Exposed for experiments that grow the same
    cores in other ways (``experiments/regions_gaps.py``).
    """
    h, w = ink.shape
    free = (~ink).astype(np.uint8)
    big = math.ceil(gap / 2)
    cores = np.zeros((h, w), np.int32)
    reach = [0.0]
    if free.any():
        dist = cv2.distanceTransform(free, cv2.DIST_L2, cv2.DIST_MASK_5)
        for i, r in enumerate(_ball_radii(big)):
            # The big ball keeps every core; smaller balls only add regions the big one
            # missed. Without gap closing (gap 0) the paper's components are all regions.
            _add_cores(cores, reach, dist > r, r, min_area if i else 1, only_new=i > 0)
    if solid_ink and ink.any():
        solid = 2 * big + 1
        dist_ink = cv2.distanceTransform(ink.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
        _add_cores(cores, reach, dist_ink > solid, solid, min_area, only_new=False)
    return cores, np.asarray(reach, np.float32)


# ------------------------------------------------------------------------------ steps


def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _check_threshold(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
            or not 0.0 < float(value) <= 1.0:
        raise ValueError(f"ink_threshold must be a number in (0, 1], got {value!r}")
    return float(value)


def _drop_specks(ink: np.ndarray, speck_area: int) -> np.ndarray:
    """ink without its 8-connected blobs of fewer than ``speck_area`` pixels."""
    n, comp, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8,
                                                         ltype=cv2.CV_32S)
    keep = stats[:, cv2.CC_STAT_AREA] >= speck_area
    keep[0] = False  # background (paper)
    return keep[comp]


def _ball_radii(big: int) -> list[float]:
    """Ball radii big, big // 2 and 0: three connected-components passes at most, whatever
    the gap (each pass costs ~20 ms on a 1414x2000 page)."""
    if big == 0:
        return [0.0]
    return [float(r) for r in sorted({big, big // 2, 0}, reverse=True)]


def _add_cores(cores: np.ndarray, reach: list, inside: np.ndarray, radius: float,
               min_area: int, only_new: bool) -> None:
    """Adds the 4-connected components of ``inside`` with >= min_area pixels as new cores
    (ids continue ``reach``); with ``only_new``, components holding an existing core are
    skipped. New cores never overlap old ones: the first stage starts from no cores, later
    stages add only components without a core, and solid ink never overlaps paper."""
    n, comp = cv2.connectedComponents(inside.astype(np.uint8), connectivity=4, ltype=cv2.CV_32S)
    if n <= 1:
        return
    new = np.bincount(comp.ravel(), minlength=n) >= min_area
    new[0] = False
    if only_new and new.any():
        # A core found with a bigger ball lies inside one component of a smaller ball's
        # area, so one pixel of each core tells which components hold one.
        new[comp.ravel()[_core_pixels(cores, len(reach))]] = False
    if not new.any():
        return
    ids = np.zeros(n, np.int32)
    ids[new] = np.arange(len(reach), len(reach) + int(new.sum()), dtype=np.int32)
    cores += ids[comp]
    reach.extend([radius] * int(new.sum()))


def _core_pixels(cores: np.ndarray, count: int) -> np.ndarray:
    """One flat pixel index per core id 1..count-1 (its last pixel in raster order)."""
    flat = cores.ravel()
    where = np.zeros(count, np.int64)
    where[flat] = np.arange(flat.size)  # later pixels overwrite earlier ones: deterministic
    return where[1:]


def _nearest(assigned: np.ndarray):
    """For every pixel, (distance to, flat index of) the nearest pixel where ``assigned``."""
    dist, nearest = cv2.distanceTransformWithLabels((~assigned).astype(np.uint8), cv2.DIST_L2,
                                                    cv2.DIST_MASK_5, labelType=cv2.DIST_LABEL_PIXEL)
    # DIST_LABEL_PIXEL numbers the zero pixels 1, 2, ... in raster order.
    return dist, np.flatnonzero(assigned.ravel())[nearest.ravel() - 1]


def _claim_within_reach(cores: np.ndarray, reach: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """Each core takes the pixels of its own kind (paper or ink) within its ball radius,
    nearest core first; other pixels stay 0."""
    dist, source = _nearest(cores > 0)
    owner = cores.ravel()[source]
    flat_ink = ink.ravel()
    take = (dist.ravel() <= reach[owner]) & (flat_ink == flat_ink[source])
    return np.where(take, owner, 0).astype(np.int32).reshape(cores.shape)


def _join_leftover_paper(labels: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """Unclaimed paper (corners a ball could not reach, narrow ends, gap channels) joins
    the claimed paper region it touches most, component by component: the paper path does
    not cross ink, where a nearest-pixel rule would reach across a thin line."""
    left = (labels == 0) & ~ink
    n, comp = cv2.connectedComponents(left.astype(np.uint8), connectivity=4, ltype=cv2.CV_32S)
    if n <= 1:
        return labels
    h, w = labels.shape
    idx = np.flatnonzero(left.ravel())
    y, x = np.divmod(idx, w)
    flat_labels, flat_ink, flat_comp = labels.ravel(), ink.ravel(), comp.ravel()
    srcs, dsts = [], []
    for step, inside in ((-1, x > 0), (1, x < w - 1), (-w, y > 0), (w, y < h - 1)):
        nb = idx[inside] + step
        touch = (flat_labels[nb] > 0) & ~flat_ink[nb]
        srcs.append(flat_comp[idx[inside][touch]])
        dsts.append(flat_labels[nb[touch]])
    src = np.concatenate(srcs).astype(np.int64)
    dst = np.concatenate(dsts).astype(np.int64)
    if len(src) == 0:
        return labels
    # Per leftover component: the region with the most touching pixel pairs, then the lowest id.
    span = int(dst.max()) + 1
    pairs, contact = np.unique(src * span + dst, return_counts=True)
    comp_of, label_of = np.divmod(pairs, span)
    order = np.lexsort((label_of, -contact, comp_of))
    first = np.ones(len(order), bool)
    first[1:] = comp_of[order][1:] != comp_of[order][:-1]
    best = np.zeros(n, np.int32)
    best[comp_of[order][first]] = label_of[order][first]
    out = labels.copy()
    out[left] = best[comp[left]]
    return out


def _fill_nearest(labels: np.ndarray) -> np.ndarray:
    """Pixels labelled 0 take the label of the nearest labelled pixel."""
    empty = labels == 0
    if not empty.any():
        return labels
    _, source = _nearest(~empty)
    return labels.ravel()[source].reshape(labels.shape)


def _boundary_pairs(labels: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(pairs int64 (E, 2) with i < j, contact int64 (E,)) over 4-neighbour pixel pairs."""
    parts = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        differ = a != b
        parts.append((a[differ], b[differ]))
    a = np.concatenate([p[0] for p in parts]).astype(np.int64)
    b = np.concatenate([p[1] for p in parts]).astype(np.int64)
    key = np.minimum(a, b) * count + np.maximum(a, b)
    key, contact = np.unique(key, return_counts=True)
    return np.stack([key // count, key % count], axis=1), contact


def _merge_small(labels: np.ndarray, count: int, min_area: int) -> np.ndarray:
    """Regions under ``min_area`` px join the neighbour with the longest shared boundary (a
    neighbour that is not small itself when there is one); ids compacted to 0..n-1."""
    area = np.bincount(labels.ravel(), minlength=count)
    for _ in range(_MERGE_ROUNDS):
        small = area < min_area
        if count == 1 or not small.any():
            break
        pairs, contact = _boundary_pairs(labels, count)
        src = np.concatenate([pairs[:, 0], pairs[:, 1]])
        dst = np.concatenate([pairs[:, 1], pairs[:, 0]])
        c = np.concatenate([contact, contact])
        keep = small[src] & (area[src] > 0)
        if not keep.any():
            break
        src, dst, c = src[keep], dst[keep], c[keep]
        # Per small region: a big neighbour before a small one, then the longest contact,
        # then the lowest id (deterministic).
        order = np.lexsort((dst, -c, small[dst], src))
        src, dst = src[order], dst[order]
        first = np.ones(len(src), bool)
        first[1:] = src[1:] != src[:-1]
        src, dst = src[first], dst[first]
        graph = coo_matrix((np.ones(len(src)), (src, dst)), shape=(count, count))
        _, group = connected_components(graph, directed=True, connection="weak")
        labels = group.astype(np.int32)[labels]
        count = int(group.max()) + 1
        area = np.bincount(group, weights=area, minlength=count).astype(np.int64)
    return _compact(labels, area > 0)


def _compact(labels: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Ids renumbered 0..n-1 in ascending order of the old ids, unused ids dropped."""
    if used.all():
        return labels
    return (np.cumsum(used).astype(np.int32) - 1)[labels]
