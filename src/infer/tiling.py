"""Overlapping tiled inference with seamless blending, independent of the network.

Grid: along each axis of length L >= tile, tiles start at 0, s, 2s, ... (s = tile - overlap) while
they end before the border, and one last tile is shifted to end exactly at the border (so it may
overlap its neighbour by more than ``overlap``). An axis shorter than ``tile`` is padded at its end
(bottom/right) up to ``tile``: mirror padding without repeating the edge pixel, repeated
periodically if needed (numpy "reflect"), or edge padding for a 1-pixel axis; results are cropped
back. Every tile is exactly ``tile`` x ``tile``, which fits a fixed-shape exported model.

Blending window (separable, weight(y, x) = wy(y) * wx(x)): along an axis a tile's profile is 1,
except on sides that face a neighbouring tile (not the image border), where it is
``0`` for the ``margin`` pixels next to the edge (where a network sees the tile border), then rises
over ``overlap - 2*margin`` pixels with ``g(u)``, u = (d - margin + 0.5) / (overlap - 2*margin)
(d = distance to the edge, "cosine": g = sin^2(pi u / 2); "linear": g = u), then is 1. Profiles are
divided by their sum over the tiles covering each position, so the weights of all tiles add to one
at every pixel (for regularly spaced tiles the sum is already one: g(u) + g(1 - u) = 1), pixels
seen by one tile only get weight 1, and seams are invisible. Image outputs are accumulated in
float64 over a band of ``tile`` rows and written to a float32 result, so a split -> identity ->
merge round trip is exact.

Non-image outputs (e.g. N x 2 recognition logits) are averaged over tiles weighted by each
tile's area share: the sum of its blending weights over the original (unpadded) image, i.e. the
number of output pixels it accounts for (shares add up to H*W).

``split_tiles``/``merge_tiles`` (the Ascend 310 path: tiles -> .bin -> fixed-shape model ->
.bin -> image) and ``tile_apply`` (in process) share ``make_manifest``, the tile extractor and
``TileMerger``, so both give bit-identical results.
"""

from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    "WINDOWS",
    "TileMerger",
    "axis_starts",
    "blend_profiles",
    "make_manifest",
    "merge_tiles",
    "split_tiles",
    "tile_apply",
    "tile_grid",
    "tile_weight",
]

WINDOWS = ("cosine", "linear")
MANIFEST_VERSION = 1


# --------------------------------------------------------------------------- grid and weights
def _check_int(name: str, value, low: int) -> int:
    """Return ``value`` as int if it is an integer >= low, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_params(tile, overlap, margin=0, window="cosine") -> Tuple[int, int, int]:
    """Validate tiling parameters; returns (tile, overlap, margin)."""
    tile = _check_int("tile", tile, 1)
    overlap = _check_int("overlap", overlap, 0)
    margin = _check_int("margin", margin, 0)
    if overlap >= tile:
        raise ValueError(f"overlap ({overlap}) must be smaller than tile ({tile})")
    if 2 * margin > overlap:
        raise ValueError(f"2*margin ({2 * margin}) must not exceed overlap ({overlap})")
    if window not in WINDOWS:
        raise ValueError(f"window must be one of {WINDOWS}, got {window!r}")
    return tile, overlap, margin


def axis_starts(length: int, tile: int, overlap: int) -> List[int]:
    """Tile start offsets along one axis (an axis shorter than ``tile`` counts as ``tile``)."""
    tile, overlap, _ = _check_params(tile, overlap)
    length = max(_check_int("image size", length, 1), tile)
    starts = list(range(0, length - tile, tile - overlap))
    starts.append(length - tile)  # the last tile ends at the border
    return starts


def tile_grid(height: int, width: int, tile: int, overlap: int) -> np.ndarray:
    """Top-left (y, x) of every tile in row-major order, shape (n, 2), in padded coordinates."""
    ys, xs = axis_starts(height, tile, overlap), axis_starts(width, tile, overlap)
    return np.array([(y, x) for y in ys for x in xs], dtype=np.int64).reshape(-1, 2)


def _ramp(d: np.ndarray, overlap: int, margin: int, window: str) -> np.ndarray:
    """Profile next to an interior edge as a function of the distance ``d`` to that edge."""
    w = np.ones(d.shape, dtype=np.float64)
    w[d < margin] = 0.0
    mid = (d >= margin) & (d < overlap - margin)
    u = (d[mid] - margin + 0.5) / (overlap - 2 * margin)
    w[mid] = u if window == "linear" else np.sin(0.5 * np.pi * u) ** 2
    return w


def _axis_profiles(starts: Sequence[int], length: int, tile: int, overlap: int, margin: int, window: str) -> np.ndarray:
    """Normalised 1-D profiles, shape (len(starts), tile), summing to 1 at every position."""
    d = np.arange(tile)
    raw = np.ones((len(starts), tile), dtype=np.float64)
    for k, s in enumerate(starts):
        if s > 0:
            raw[k] *= _ramp(d, overlap, margin, window)
        if s + tile < length:
            raw[k] *= _ramp(tile - 1 - d, overlap, margin, window)
    total = np.zeros(length, dtype=np.float64)
    for k, s in enumerate(starts):
        total[s : s + tile] += raw[k]
    if np.any(total <= 0):  # cannot happen when 2*margin <= overlap; kept as a guard
        raise RuntimeError("tiling left a pixel with zero blending weight")
    return np.stack([raw[k] / total[s : s + tile] for k, s in enumerate(starts)])


# --------------------------------------------------------------------------- manifest
def make_manifest(
    height: int,
    width: int,
    channels: int,
    tile: int,
    overlap: int,
    *,
    margin: Optional[int] = None,
    window: str = "cosine",
    layout: str = "HWC",
) -> dict:
    """JSON-serialisable description of a tiling: sizes, padding, tile positions, blending.

    ``margin`` defaults to ``overlap // 4``; ``layout`` ("HWC" or "NCHW") is the layout the
    merged result is returned in.
    """
    if margin is None:
        margin = overlap // 4 if isinstance(overlap, (int, np.integer)) else 0
    tile, overlap, margin = _check_params(tile, overlap, margin, window)
    height = _check_int("height", height, 1)
    width = _check_int("width", width, 1)
    channels = _check_int("channels", channels, 1)
    if layout not in ("HWC", "NCHW"):
        raise ValueError(f"layout must be 'HWC' or 'NCHW', got {layout!r}")
    ys, xs = axis_starts(height, tile, overlap), axis_starts(width, tile, overlap)

    def pad_mode(n):
        return "none" if n >= tile else ("edge" if n == 1 else "reflect")

    return {
        "version": MANIFEST_VERSION,
        "layout": layout,
        "height": height,
        "width": width,
        "channels": channels,
        "tile": tile,
        "overlap": overlap,
        "margin": margin,
        "window": window,
        "padded_height": max(height, tile),
        "padded_width": max(width, tile),
        "pad_mode_y": pad_mode(height),
        "pad_mode_x": pad_mode(width),
        "ys": ys,
        "xs": xs,
        "num_tiles": len(ys) * len(xs),
        "positions": [[y, x] for y in ys for x in xs],
    }


def _check_manifest(manifest: dict) -> dict:
    """Rebuild the manifest from its parameters and make sure it matches (catches edits/mixups)."""
    try:
        ref = make_manifest(
            manifest["height"],
            manifest["width"],
            manifest["channels"],
            manifest["tile"],
            manifest["overlap"],
            margin=manifest["margin"],
            window=manifest["window"],
            layout=manifest["layout"],
        )
    except KeyError as err:
        raise ValueError(f"tiling manifest is missing key {err}") from None
    for key, value in ref.items():
        if _plain(manifest.get(key)) != value:
            raise ValueError(f"tiling manifest is inconsistent at {key!r}")
    return ref


def _plain(value):
    """numpy arrays/scalars and tuples -> plain Python lists and numbers (as after JSON)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    return value


def blend_profiles(manifest: dict) -> Tuple[np.ndarray, np.ndarray]:
    """Normalised per-row and per-column profiles (n_rows x tile, n_cols x tile), float64."""
    m = _check_manifest(manifest)
    args = (m["tile"], m["overlap"], m["margin"], m["window"])
    return (_axis_profiles(m["ys"], m["padded_height"], *args), _axis_profiles(m["xs"], m["padded_width"], *args))


def tile_weight(manifest: dict, index: int) -> np.ndarray:
    """Blending weight (tile x tile, float64) of tile ``index``; all tiles' weights add to 1."""
    wy, wx = blend_profiles(manifest)
    r, c = divmod(_check_int("index", index, 0), len(manifest["xs"]))
    if r >= len(wy):
        raise IndexError(f"tile index {index} out of range ({manifest['num_tiles']} tiles)")
    return np.outer(wy[r], wx[c])


# --------------------------------------------------------------------------- splitting
def _as_chw(img) -> Tuple[np.ndarray, str]:
    """View an HxWxC or 1xCxHxW float image as float32 CxHxW; returns (chw, layout)."""
    if hasattr(img, "asnumpy"):  # a MindSpore Tensor
        img = img.asnumpy()
    img = np.asarray(img)
    if not np.issubdtype(img.dtype, np.floating):
        raise TypeError(f"tiling expects a float image (e.g. uint8 / 255), got {img.dtype}")
    if img.ndim == 3:
        chw, layout = img.transpose(2, 0, 1), "HWC"
    elif img.ndim == 4 and img.shape[0] == 1:
        chw, layout = img[0], "NCHW"
    else:
        raise ValueError(f"expected an HxWxC or 1xCxHxW image, got shape {img.shape}")
    if min(chw.shape) < 1:
        raise ValueError(f"empty image of shape {img.shape}")
    return chw.astype(np.float32, copy=False), layout


def _pad_index(length: int, padded: int) -> np.ndarray:
    """Source index of each padded position: identity, then reflect (period 2L-2), or edge."""
    i = np.arange(padded)
    if length == 1:
        return np.zeros(padded, dtype=np.int64)
    j = i % (2 * length - 2)
    return np.where(j >= length, 2 * length - 2 - j, j)


def _pad(chw: np.ndarray, m: dict) -> np.ndarray:
    """Pad CxHxW at the bottom/right up to the manifest's padded size (no copy if not needed)."""
    if m["padded_height"] > m["height"]:
        chw = chw[:, _pad_index(m["height"], m["padded_height"]), :]
    if m["padded_width"] > m["width"]:
        chw = chw[:, :, _pad_index(m["width"], m["padded_width"])]
    return chw


def _extract(padded: np.ndarray, m: dict, indices: Sequence[int]) -> np.ndarray:
    """Tiles ``indices`` of the padded CxHpxWp image as a float32 (n, C, tile, tile) batch."""
    t = m["tile"]
    batch = np.empty((len(indices), padded.shape[0], t, t), dtype=np.float32)
    for j, i in enumerate(indices):
        y, x = m["positions"][i]
        batch[j] = padded[:, y : y + t, x : x + t]
    return batch


def split_tiles(
    img, tile: int, overlap: int, *, margin: Optional[int] = None, window: str = "cosine"
) -> Tuple[np.ndarray, dict]:
    """Cut an HxWxC or 1xCxHxW float image into (n, C, tile, tile) float32 tiles + manifest."""
    chw, layout = _as_chw(img)
    m = make_manifest(
        chw.shape[1], chw.shape[2], chw.shape[0], tile, overlap, margin=margin, window=window, layout=layout
    )
    return _extract(_pad(chw, m), m, range(m["num_tiles"])), m


# --------------------------------------------------------------------------- merging
def _outputs_tuple(outputs) -> Tuple[Tuple[np.ndarray, ...], bool]:
    """Normalise an array or a tuple/list of arrays (or Tensors) to a tuple of numpy arrays."""
    is_tuple = isinstance(outputs, (tuple, list))
    items = outputs if is_tuple else (outputs,)
    arrays = tuple(np.asarray(o.asnumpy() if hasattr(o, "asnumpy") else o) for o in items)
    if not arrays:
        raise ValueError("fn returned no outputs")
    return arrays, is_tuple


class TileMerger:
    """Accumulates tile outputs, given in manifest order in chunks, into the merged result.

    A 4-D output of shape (n, C, tile, tile) is an image and is blended; any other output of
    shape (n, ...) is a non-image output and is averaged with the tiles' area shares.
    Memory: float32 results plus a float64 band of ``tile`` rows per image output.
    """

    def __init__(self, manifest: dict):
        self.m = _check_manifest(manifest)
        self.wy, self.wx = blend_profiles(self.m)
        h, w = self.m["height"], self.m["width"]
        # area share of each tile row / column inside the original image
        self.share_y = np.array([p[: max(0, h - y)].sum() for p, y in zip(self.wy, self.m["ys"])])
        self.share_x = np.array([p[: max(0, w - x)].sum() for p, x in zip(self.wx, self.m["xs"])])
        self.count = 0
        self._kinds = None  # per output: ("image", C) or ("vector", shape)
        self._is_tuple = False
        self._results: List[np.ndarray] = []
        self._bands: List[np.ndarray] = []
        self._band_top = 0

    @property
    def done(self) -> bool:
        """True once every tile of the manifest has been added."""
        return self.count == self.m["num_tiles"]

    def _setup(self, arrays: Tuple[np.ndarray, ...], is_tuple: bool) -> None:
        """Allocate accumulators from the first chunk's output shapes."""
        t, h, w, wp = self.m["tile"], self.m["height"], self.m["width"], self.m["padded_width"]
        self._is_tuple, self._kinds = is_tuple, []
        for k, a in enumerate(arrays):
            if a.ndim == 4:
                if a.shape[2:] != (t, t):
                    raise ValueError(
                        f"output {k} has spatial size {a.shape[2]}x{a.shape[3]}, " f"expected the tile size {t}x{t}"
                    )
                c = a.shape[1]
                self._kinds.append(("image", c))
                shape = (h, w, c) if self.m["layout"] == "HWC" else (1, c, h, w)
                self._results.append(np.zeros(shape, dtype=np.float32))
                self._bands.append(np.zeros((c, t, wp), dtype=np.float64))
            else:
                self._kinds.append(("vector", a.shape[1:]))
                self._results.append(np.zeros(a.shape[1:], dtype=np.float64))
                self._bands.append(None)

    def add(self, outputs) -> None:
        """Add outputs for the next tiles: an array or tuple of arrays, each with n leading."""
        arrays, is_tuple = _outputs_tuple(outputs)
        n = arrays[0].shape[0] if arrays[0].ndim else -1
        for k, a in enumerate(arrays):
            if a.ndim == 0 or a.shape[0] != n:
                raise ValueError(
                    f"output {k} has shape {a.shape}; every output needs the same " f"leading tile count ({n})"
                )
        if self.count + n > self.m["num_tiles"]:
            raise ValueError(f"got {self.count + n} tile outputs, the manifest has " f"{self.m['num_tiles']}")
        if self._kinds is None:
            self._setup(arrays, is_tuple)
        elif is_tuple != self._is_tuple or len(arrays) != len(self._kinds):
            raise ValueError("tile outputs changed structure between chunks")
        t, ncols = self.m["tile"], len(self.m["xs"])
        for j in range(n):
            r, c = divmod(self.count, ncols)
            y, x = self.m["ys"][r], self.m["xs"][c]
            if y != self._band_top:  # first tile of a new row: rows above it are final
                self._flush(y - self._band_top)
            weight = np.outer(self.wy[r], self.wx[c])
            share = self.share_y[r] * self.share_x[c]
            for k, (kind, spec) in enumerate(self._kinds):
                a = arrays[k][j]
                if kind == "image":
                    if a.shape != (spec, t, t):
                        raise ValueError(f"output {k} changed shape to {a.shape}")
                    self._bands[k][:, :, x : x + t] += a.astype(np.float64) * weight
                else:
                    if a.shape != spec:
                        raise ValueError(f"output {k} changed shape to {a.shape}")
                    self._results[k] += share * a.astype(np.float64)
            self.count += 1
        if self.done:
            self._flush(t)

    def _flush(self, rows: int) -> None:
        """Write the band's first ``rows`` rows to the results and slide the band down."""
        top, h, w = self._band_top, self.m["height"], self.m["width"]
        valid = max(0, min(rows, h - top))
        for k, band in enumerate(self._bands):
            if band is None:
                continue
            if valid:
                block = band[:, :valid, :w]
                if self.m["layout"] == "HWC":
                    self._results[k][top : top + valid] = block.transpose(1, 2, 0)
                else:
                    self._results[k][0, :, top : top + valid] = block
            band[:, : band.shape[1] - rows] = band[:, rows:].copy()
            band[:, band.shape[1] - rows :] = 0.0
        self._band_top = top + rows

    def result(self):
        """The merged output(s), mirroring fn's structure (array or tuple)."""
        if not self.done:
            raise ValueError(f"merge incomplete: {self.count} of {self.m['num_tiles']} tiles added")
        total = float(self.share_y.sum() * self.share_x.sum())
        out = []
        for (kind, _), res in zip(self._kinds, self._results):
            if kind == "image":
                out.append(res)
            else:
                v = (res / total).astype(np.float32)
                out.append(v[None] if self.m["layout"] == "NCHW" else v)
        return tuple(out) if self._is_tuple else out[0]


def merge_tiles(outputs, manifest: dict):
    """Blend all tiles' outputs (array or tuple, n leading) back into the image (and vectors)."""
    merger = TileMerger(manifest)
    merger.add(outputs)
    return merger.result()


# --------------------------------------------------------------------------- in-process path
def tile_apply(
    img,
    fn: Callable,
    tile: int,
    overlap: int,
    *,
    tile_batch: int = 1,
    margin: Optional[int] = None,
    window: str = "cosine",
    fixed_batch: bool = False,
):
    """Run ``fn`` (NCHW float32 batch -> array or tuple) tile by tile and blend the results.

    Holds at most ``tile_batch`` input tiles at a time. With ``fixed_batch`` the last batch is
    padded (repeating its last tile) to exactly ``tile_batch`` tiles, for fixed-shape graphs; the
    extra outputs are dropped. Returns outputs in the input's layout (HxWxC or 1xCxHxW).
    """
    tile_batch = _check_int("tile_batch", tile_batch, 1)
    chw, layout = _as_chw(img)
    m = make_manifest(
        chw.shape[1], chw.shape[2], chw.shape[0], tile, overlap, margin=margin, window=window, layout=layout
    )
    padded = _pad(chw, m)
    merger = TileMerger(m)
    for start in range(0, m["num_tiles"], tile_batch):
        indices = range(start, min(start + tile_batch, m["num_tiles"]))
        batch = _extract(padded, m, indices)
        if fixed_batch and len(indices) < tile_batch:
            extra = np.repeat(batch[-1:], tile_batch - len(indices), axis=0)
            batch = np.concatenate([batch, extra])
        arrays, is_tuple = _outputs_tuple(fn(batch))
        del batch
        arrays = tuple(a[: len(indices)] if a.ndim else a for a in arrays)
        merger.add(arrays if is_tuple else arrays[0])
    return merger.result()
