"""Tiled inference (src.infer.tiling): exactness, seam hiding, split/merge parity, batching."""

import json

import numpy as np
import pytest

from src.infer.tiling import (
    TileMerger,
    axis_starts,
    blend_profiles,
    make_manifest,
    merge_tiles,
    split_tiles,
    tile_apply,
    tile_grid,
    tile_weight,
)


def pointwise(x):
    return x * 0.5 + 0.1


def box_blur(x, r=2):
    """(2r+1)^2 box blur of an NCHW batch with per-image reflect padding (receptive field r)."""
    h, w = x.shape[2:]
    p = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (r, r), (r, r)), mode="reflect")
    out = np.zeros(x.shape, np.float64)
    for dy in range(2 * r + 1):
        for dx in range(2 * r + 1):
            out += p[:, :, dy : dy + h, dx : dx + w]
    return (out / (2 * r + 1) ** 2).astype(np.float32)


def whole(fn, img):
    """fn applied to the whole HxWxC image at once (the reference)."""
    return fn(np.ascontiguousarray(img.transpose(2, 0, 1))[None])[0].transpose(1, 2, 0)


def smooth_image(h, w):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = [
        0.5 + 0.25 * np.sin(2 * np.pi * y / 97 + c) * np.cos(2 * np.pi * x / 131 - c) + 0.1 * x / w for c in range(3)
    ]
    return np.stack(chans, -1).astype(np.float32)


def coverage(h, w, tile, overlap):
    """How many tiles cover each pixel of the original image."""
    cov = np.zeros((max(h, tile), max(w, tile)), np.int64)
    for y, x in tile_grid(h, w, tile, overlap):
        cov[y : y + tile, x : x + tile] += 1
    return cov[:h, :w]


def all_weights(manifest):
    """Every tile's 2-D blending weight, from the per-axis profiles TileMerger uses."""
    wy, wx = blend_profiles(manifest)
    ncols = len(manifest["xs"])
    weights = [np.outer(wy[i // ncols], wx[i % ncols]) for i in range(manifest["num_tiles"])]
    for i in (0, len(weights) // 2, len(weights) - 1):  # the public per-tile helper agrees
        assert np.array_equal(tile_weight(manifest, i), weights[i])
    return weights


def weight_sum(manifest, weights):
    total = np.zeros((manifest["padded_height"], manifest["padded_width"]))
    t = manifest["tile"]
    for wt, (y, x) in zip(weights, manifest["positions"]):
        total[y : y + t, x : x + t] += wt
    return total


# --------------------------------------------------------------------------- grid
def test_tile_grid_layout():
    assert axis_starts(300, 64, 16) == [0, 48, 96, 144, 192, 236]  # last tile shifted to end at 300
    assert axis_starts(64, 64, 16) == [0] and axis_starts(65, 64, 16) == [0, 1]
    assert axis_starts(20, 64, 16) == [0] and axis_starts(1, 64, 0) == [0]
    assert axis_starts(128, 64, 0) == [0, 64]
    g = tile_grid(300, 500, 64, 16)
    assert g.shape == (6 * 11, 2) and g[0].tolist() == [0, 0] and g[-1].tolist() == [236, 436]
    assert g[:11, 0].tolist() == [0] * 11 and g[1, 1] == 48 and g[11].tolist() == [48, 0]
    for length in (64, 65, 111, 300, 501):
        s = axis_starts(length, 64, 16)
        assert s[-1] + 64 == length and all(b - a <= 48 for a, b in zip(s, s[1:]))
        assert all(a + 64 - b >= 16 for a, b in zip(s, s[1:]))  # overlap is never below nominal


@pytest.mark.parametrize(
    "kwargs,msg",
    [
        (dict(tile=0, overlap=0), "tile"),
        (dict(tile=32, overlap=32), "overlap"),
        (dict(tile=32, overlap=-1), "overlap"),
        (dict(tile=32, overlap=8, margin=5), "margin"),
        (dict(tile=32, overlap=8, window="gauss"), "window"),
        (dict(tile=32.0, overlap=8), "tile"),
    ],
)
def test_bad_parameters_raise(kwargs, msg):
    img = np.zeros((40, 40, 3), np.float32)
    with pytest.raises(ValueError, match=msg):
        split_tiles(img, **kwargs)


# --------------------------------------------------------------------------- exactness
@pytest.mark.parametrize(
    "h,w,tile,overlap",
    [
        (300, 500, 64, 16),
        (67, 101, 64, 16),
        (1, 1, 64, 16),
        (20, 30, 64, 16),
        (64, 64, 64, 16),
        (65, 200, 64, 16),
        (2, 130, 32, 8),
        (67, 101, 16, 10),
        (50, 33, 8, 0),
    ],
)
@pytest.mark.parametrize("layout", ["HWC", "NCHW"])
def test_pointwise_fn_tiled_equals_whole(h, w, tile, overlap, layout):
    img = np.random.default_rng(h * w).random((h, w, 3), dtype=np.float32)
    x = img if layout == "HWC" else np.ascontiguousarray(img.transpose(2, 0, 1))[None]
    out = tile_apply(x, pointwise, tile, overlap, tile_batch=4)
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, pointwise(x), rtol=0, atol=1e-6)


def test_receptive_field_difference_only_at_tile_borders_hidden_by_blending():
    h, w, tile, overlap, r = 300, 500, 64, 16, 2
    img = smooth_image(h, w)
    ref = whole(box_blur, img)
    single = coverage(h, w, tile, overlap) == 1

    # a tile's own output is wrong near its interior borders (it cannot see past them) ...
    tiles, man = split_tiles(img, tile, overlap)
    k = 7  # an interior tile
    y, x = man["positions"][k]
    tile_err = np.abs(box_blur(tiles[k : k + 1])[0].transpose(1, 2, 0) - ref[y : y + tile, x : x + tile])
    assert tile_err[r:-r, r:-r].max() < 1e-6 and tile_err.max() > 1e-2
    # ... so butting tiles together without overlap leaves visible seams
    seams = np.abs(tile_apply(img, box_blur, tile, 0) - ref)
    assert seams.max() > 1e-2

    # blended with a ramp starting right at the tile edge (margin 0): hidden to <= 1e-3 and the
    # difference lives only where tiles overlap
    diff = np.abs(tile_apply(img, box_blur, tile, overlap, margin=0, tile_batch=8) - ref)
    assert diff.max() <= 1e-3
    assert diff[single].max() <= 1e-6 and diff[~single].max() > 1e-6

    # with a zero-weight margin >= the receptive-field radius the result is exact
    for margin in (r, overlap // 4, overlap // 2):
        out = tile_apply(img, box_blur, tile, overlap, margin=margin, tile_batch=8)
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-6)
    out = tile_apply(img, box_blur, tile, overlap, margin=r, window="linear")
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("h,w", [(3, 3), (20, 30), (62, 5), (67, 101)])
def test_receptive_field_small_images_padded_consistently(h, w):
    """Reflect-padding a small image matches a reflect-padding network's own view of the border,
    so results stay exact when the pad is at least the receptive-field radius (here 2)."""
    img = np.random.default_rng(h + w).random((h, w, 3), dtype=np.float32)
    out = tile_apply(img, box_blur, 64, 16, margin=4)
    np.testing.assert_allclose(out, whole(box_blur, img), rtol=0, atol=1e-6)


def test_padding_is_reflect_or_edge():
    img = np.random.default_rng(1).random((20, 30, 3), dtype=np.float32)
    tiles, man = split_tiles(img, 64, 16)
    assert tiles.shape == (1, 3, 64, 64) and man["pad_mode_y"] == man["pad_mode_x"] == "reflect"
    expect = np.pad(img, ((0, 44), (0, 34), (0, 0)), mode="reflect").transpose(2, 0, 1)
    assert np.array_equal(tiles[0], expect)
    line = np.random.default_rng(2).random((1, 7, 3), dtype=np.float32)
    tiles, man = split_tiles(line, 8, 2)
    assert man["pad_mode_y"] == "edge" and man["pad_mode_x"] == "reflect"
    expect = np.pad(np.pad(line, ((0, 7), (0, 0), (0, 0)), mode="edge"), ((0, 0), (0, 1), (0, 0)), mode="reflect")
    assert np.array_equal(tiles[0], expect.transpose(2, 0, 1))


# --------------------------------------------------------------------------- split / merge
@pytest.mark.parametrize(
    "h,w,tile,overlap",
    [
        (300, 500, 64, 16),
        (67, 101, 32, 12),
        (1, 1, 16, 4),
        (20, 30, 64, 16),
        (65, 65, 64, 40),
    ],
)
def test_split_merge_identity_is_exact(h, w, tile, overlap):
    img = np.random.default_rng(7).random((h, w, 3), dtype=np.float32)
    for x in (img, np.ascontiguousarray(img.transpose(2, 0, 1))[None]):
        tiles, man = split_tiles(x, tile, overlap)
        assert tiles.shape == (man["num_tiles"], 3, tile, tile) and tiles.dtype == np.float32
        merged = merge_tiles(tiles, json.loads(json.dumps(man)))  # manifest survives JSON
        assert merged.dtype == np.float32 and np.array_equal(merged, x)


def test_split_merge_matches_tile_apply_bitwise():
    """The .bin path (split -> model per tile -> merge) equals the in-process path exactly."""
    img = np.random.default_rng(3).random((130, 170, 3), dtype=np.float32)

    def fn(b):
        return box_blur(b), b.mean(axis=(2, 3))

    tiles, man = split_tiles(img, 48, 16, margin=2, window="linear")
    per_tile = [fn(tiles[i : i + 1]) for i in range(len(tiles))]  # one "model run" per .bin file
    merged = merge_tiles((np.concatenate([p[0] for p in per_tile]), np.concatenate([p[1] for p in per_tile])), man)
    direct = tile_apply(img, fn, 48, 16, margin=2, window="linear", tile_batch=5)
    assert np.array_equal(merged[0], direct[0]) and np.array_equal(merged[1], direct[1])


@pytest.mark.parametrize(
    "h,w,tile,overlap,margin,window",
    [
        (300, 500, 64, 16, 0, "cosine"),
        (300, 500, 64, 16, 4, "linear"),
        (97, 65, 32, 24, 3, "cosine"),
        (67, 101, 16, 12, 6, "cosine"),
        (10, 200, 32, 8, 4, "linear"),
        (129, 129, 64, 0, 0, "cosine"),
    ],
)
def test_blend_weights_sum_to_one(h, w, tile, overlap, margin, window):
    man = make_manifest(h, w, 3, tile, overlap, margin=margin, window=window)
    weights = all_weights(man)
    total = weight_sum(man, weights)
    np.testing.assert_allclose(total, 1.0, rtol=0, atol=1e-12)
    cov = np.zeros_like(total)
    for wt, (y, x) in zip(weights, man["positions"]):
        assert wt.min() >= 0 and wt.max() <= 1 + 1e-12
        cov[y : y + tile, x : x + tile] += 1
        if margin and y > 0:  # interior edge: the first `margin` rows get no weight
            assert np.all(wt[:margin] == 0)
        if margin and x + tile < man["padded_width"]:
            assert np.all(wt[:, -margin:] == 0)
    # pixels seen by one tile only keep that tile's output unchanged
    only = cov == 1
    singles = np.zeros_like(total)
    for wt, (y, x) in zip(weights, man["positions"]):
        singles[y : y + tile, x : x + tile] += np.where(only[y : y + tile, x : x + tile], wt, 0)
    assert np.all(singles[only] == 1.0)


def test_blend_window_is_smooth():
    """No hard seam: weights change by a small step per pixel. A regular overlap follows the
    sin^2 ramp (slope <= pi/2 / width); near the shifted last tile three tiles share pixels and
    the normalisation at most doubles that."""
    man = make_manifest(300, 500, 3, 64, 16, margin=0)
    regular = np.pi / 2 / 16 + 1e-9
    steps = []
    for i, wt in enumerate(all_weights(man)):
        steps.append(max(np.abs(np.diff(wt, axis=0)).max(), np.abs(np.diff(wt, axis=1)).max()))
        y, x = man["positions"][i]
        if y < 192 and x < 384:  # tiles whose neighbours are all regularly spaced
            assert steps[-1] <= regular
    assert max(steps) <= 2 * regular


# --------------------------------------------------------------------------- non-image outputs
def test_non_image_outputs_area_weighted():
    h, w, tile, overlap = 100, 150, 48, 16
    img = np.random.default_rng(4).random((h, w, 3), dtype=np.float32)

    def fn(b):
        logits = np.stack([b.mean(axis=(1, 2, 3)), np.full(len(b), 2.5, np.float32)], 1)
        return pointwise(b), logits

    out, logits = tile_apply(img, fn, tile, overlap)
    np.testing.assert_allclose(out, pointwise(img), atol=1e-6)
    assert logits.shape == (2,) and logits.dtype == np.float32
    assert logits[1] == pytest.approx(2.5, abs=1e-6)  # a constant stays that constant
    # documented rule: weight = the tile's blending weight summed over the original image
    tiles, man = split_tiles(img, tile, overlap)
    shares = np.array(
        [wt[: max(0, h - y), : max(0, w - x)].sum() for wt, (y, x) in zip(all_weights(man), man["positions"])]
    )
    assert shares.sum() == pytest.approx(h * w, rel=1e-12)
    expect = (shares * tiles.mean(axis=(1, 2, 3))).sum() / shares.sum()
    assert logits[0] == pytest.approx(expect, abs=1e-6)
    assert abs(logits[0] - tiles.mean()) > 1e-5  # differs from a plain mean over tiles

    # NCHW input: batch axis kept; one tile (small, padded image): that tile's own vector
    small = img[:20, :30]
    out1, logit1 = tile_apply(np.ascontiguousarray(small.transpose(2, 0, 1))[None], fn, 48, 16)
    assert out1.shape == (1, 3, 20, 30) and logit1.shape == (1, 2)
    padded = split_tiles(small, 48, 16)[0]
    assert logit1[0, 0] == pytest.approx(padded.mean(), abs=1e-6)


def test_single_output_structure_preserved():
    img = np.ones((40, 40, 3), np.float32)
    assert isinstance(tile_apply(img, pointwise, 16, 4), np.ndarray)
    res = tile_apply(img, lambda b: (pointwise(b),), 16, 4)
    assert isinstance(res, tuple) and len(res) == 1


# --------------------------------------------------------------------------- batching
def test_tile_batch_does_not_change_result_and_bounds_memory():
    img = smooth_image(150, 170)
    results, batches = {}, {}
    for tb, fixed in [(1, False), (3, False), (7, False), (1000, False), (4, True)]:
        seen = []

        def fn(b):
            seen.append(b.shape[0])
            return box_blur(b), b[:, :, 0, 0]

        results[(tb, fixed)] = tile_apply(img, fn, 48, 16, tile_batch=tb, fixed_batch=fixed)
        batches[(tb, fixed)] = seen
    n = make_manifest(150, 170, 3, 48, 16)["num_tiles"]
    assert n % 4 != 0
    ref = results[(1, False)]
    for key, res in results.items():
        assert np.array_equal(res[0], ref[0]) and np.array_equal(res[1], ref[1]), key
        tb, fixed = key
        assert max(batches[key]) <= tb  # never more than tile_batch tiles at once
        if fixed:
            assert set(batches[key]) == {tb} and len(batches[key]) == -(-n // tb)
        else:
            assert sum(batches[key]) == n


def test_merger_accepts_chunks_in_any_sizes():
    img = np.random.default_rng(5).random((90, 120, 3), dtype=np.float32)
    tiles, man = split_tiles(img, 32, 8)
    merger = TileMerger(man)
    cuts = [0, 1, 4, 5, 11, len(tiles)]
    for a, b in zip(cuts, cuts[1:]):
        assert not merger.done
        merger.add(box_blur(tiles[a:b]))
    assert np.array_equal(merger.result(), merge_tiles(box_blur(tiles), man))


# --------------------------------------------------------------------------- errors
def test_errors_are_clear():
    img = np.random.default_rng(6).random((40, 50, 3), dtype=np.float32)
    with pytest.raises(TypeError, match="float"):
        tile_apply((img * 255).astype(np.uint8), pointwise, 16, 4)
    with pytest.raises(ValueError, match="HxWxC"):
        tile_apply(img[None, None], pointwise, 16, 4)
    with pytest.raises(ValueError, match="tile size"):
        tile_apply(img, lambda b: b[:, :, ::2, ::2], 16, 4)
    tiles, man = split_tiles(img, 16, 4)
    with pytest.raises(ValueError, match="manifest has"):
        merge_tiles(np.concatenate([tiles, tiles[:1]]), man)
    with pytest.raises(ValueError, match="incomplete"):
        merge_tiles(tiles[:-1], man)
    with pytest.raises(ValueError, match="leading"):
        merge_tiles((tiles, tiles[:2, :, 0, 0]), man)
    bad = dict(man, positions=man["positions"][::-1])
    with pytest.raises(ValueError, match="inconsistent"):
        merge_tiles(tiles, bad)
    with pytest.raises(ValueError, match="missing"):
        merge_tiles(tiles, {k: v for k, v in man.items() if k != "tile"})
