"""Image decoding to 8-bit RGB and atomic image writing (OpenCV).

Every reader in the project goes through :func:`read_rgb` / :func:`decode_rgb`, so one rule set
applies everywhere:

- grayscale is replicated to three channels;
- an alpha channel (RGBA, grey+alpha, palette with transparency) is **dropped**: the stored colour
  values are kept, as ``cv2.imread``'s default does, so numbers match the benchmarks' own loaders;
- 16-bit images are scaled to 8 bits (``round(v * 255 / 65535)``); float images are taken as 0..1;
- palette images are expanded to their colours;
- EXIF orientation: see below; off by default.

EXIF orientation (``apply_exif``). A phone stores a portrait photo as landscape pixels plus an EXIF
``Orientation`` tag (1-8) that every viewer applies. ``apply_exif=False`` (the default, used for
training and evaluation data: ``data.readers``, ``data.mindrecord``, ``eval.py``, 310 targets)
keeps the **stored** pixels, so a pair stays aligned as it was written (OpenCV's
``IMREAD_UNCHANGED``, which ignores the tag). ``apply_exif=True`` (used where users' own photos
are read: ``infer.py`` and ``preprocess.py`` without targets) returns the image as viewers show it:
OpenCV applies the tag for JPEG and PNG (``IMREAD_ANYCOLOR | IMREAD_ANYDEPTH`` without
``IMREAD_IGNORE_ORIENTATION``, the same pixels otherwise); for WebP, whose EXIF OpenCV does not
read, Pillow reads the tag (:func:`exif_orientation`) and :func:`apply_orientation` applies it.
TIFF is the exception either way: OpenCV's TIFF decoder (libtiff) always applies the TIFF
``Orientation`` tag, even with ``IMREAD_UNCHANGED``, as ``cv2.imread`` does.

HEIC/HEIF (what phones save by default), which OpenCV cannot read, is decoded by pillow-heif
(libheif) to 8 bits, always as viewers show it: libheif applies the file's rotation and mirror and
pillow-heif then resets the EXIF tag, so ``apply_exif`` makes no difference for it either.

Unreadable files (missing, zero bytes, not an image, truncated) raise :class:`ImageReadError`,
whose message names the file and the reason. Truncated JPEGs (which OpenCV decodes with a grey
bottom and only a warning) are caught by checking for the end-of-image marker.
"""

import io
import os
import tempfile

import cv2
import numpy as np
from ..errors import UsageError

_UMASK = os.umask(0o022)
os.umask(_UMASK)
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".heic", ".heif")
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1")


class ImageReadError(UsageError):
    """A file that cannot be decoded as an image; ``path`` and ``reason`` say which and why."""

    def __init__(self, path, reason):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def is_image_file(name):
    """True when ``name`` has one of the supported image extensions (case-insensitive)."""
    return os.path.splitext(str(name))[1].lower() in IMAGE_EXTS


def sniff_format(buf):
    """The container format from the first bytes: 'jpeg', 'png', 'tiff', 'bmp', 'webp', 'heif',
    'gif' (recognised only to say it is not supported) or ''."""
    head = bytes(buf[:12])
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head.startswith(b"BM"):
        return "bmp"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return "heif"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return ""


EXIF_ORIENTATION = 0x0112


def _webp_exif(data):
    """The raw EXIF chunk of a WebP (RIFF) stream, or None."""
    data = bytes(data)
    pos, end = 12, min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    while pos + 8 <= end:
        fourcc, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if fourcc == b"EXIF":
            return data[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)  # chunks are padded to an even size
    return None


def exif_orientation(buf):
    """The EXIF Orientation tag (1-8) of an encoded WebP image; 1 when absent or not WebP.

    JPEG and PNG need no such step (OpenCV applies their tag when asked, see the module notes);
    WebP's EXIF chunk is found here and its TIFF structure parsed by Pillow's ``Image.Exif``
    (no pixels are decoded).
    """
    data = _as_uint8(buf)
    if sniff_format(data) != "webp":
        return 1
    blob = _webp_exif(data)
    if not blob:
        return 1
    from PIL import Image  # only for WebP photos that carry EXIF

    exif = Image.Exif()
    try:
        exif.load(blob)
        value = int(exif.get(EXIF_ORIENTATION, 1))
    except Exception:  # a malformed EXIF block: keep the stored pixels, as viewers do
        return 1
    return value if 1 <= value <= 8 else 1


def apply_orientation(img, orientation):
    """``img`` (H x W[ x C]) as shown by a viewer honouring EXIF Orientation ``orientation``:
    2 mirror, 3 rotate 180, 4 flip vertically, 5 transpose, 6 rotate 90 clockwise,
    7 transverse, 8 rotate 90 counter-clockwise; 1 (or anything else) unchanged."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: a.swapaxes(0, 1)[:, ::-1],
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
        8: lambda a: a.swapaxes(0, 1)[::-1],
    }
    op = ops.get(int(orientation))
    return img if op is None else np.ascontiguousarray(op(img))


def _truncation(buf, fmt):
    """A reason string when the encoded stream is visibly cut short, else ''."""
    data = bytes(buf)
    if fmt == "jpeg":
        # Entropy-coded data never holds FF D9, so the main image is complete only when an
        # end-of-image marker follows its last start-of-scan marker.
        if data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):
            return "truncated JPEG (no end-of-image marker after the image data)"
    elif fmt == "png" and b"IEND" not in data[-4096:]:
        return "truncated PNG (no IEND chunk at the end)"
    return ""


def to_rgb_uint8(raw):
    """Convert an OpenCV-decoded array (BGR/BGRA/gray, 8/16-bit or float) to uint8 RGB.

    Returns ``(rgb, notes)``; ``notes`` lists the conversions applied (e.g. ``'16-bit'``).
    """
    notes = []
    arr = raw
    if arr.dtype == np.uint16:
        arr = ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
        notes.append("16-bit")
    elif arr.dtype in (np.float32, np.float64):
        arr = np.rint(np.clip(np.nan_to_num(arr, nan=0.0), 0.0, 1.0) * 255.0).astype(np.uint8)
        notes.append("float")
    elif arr.dtype != np.uint8:
        raise ValueError(f"unsupported pixel type {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        notes.append("grayscale")
        return np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2)), notes
    if arr.ndim != 3 or arr.shape[2] not in (2, 3, 4):
        raise ValueError(f"unsupported image shape {arr.shape}")
    if arr.shape[2] == 2:  # grey + alpha
        notes += ["grayscale", "alpha dropped"]
        return np.ascontiguousarray(np.repeat(arr[:, :, :1], 3, axis=2)), notes
    if arr.shape[2] == 4:
        notes.append("alpha dropped")
        arr = arr[:, :, :3]
    return np.ascontiguousarray(arr[:, :, ::-1]), notes


def _as_uint8(buf):
    """Encoded bytes as a flat uint8 array (bytes, memoryview or numpy uint8/bytes scalar)."""
    if isinstance(buf, np.ndarray):
        if buf.dtype.kind == "S":  # a bytes scalar, as MindSpore's pipeline hands bytes columns to Python
            return np.frombuffer(buf.tobytes(), np.uint8)
        return buf.reshape(-1).view(np.uint8)
    return np.frombuffer(buf, np.uint8)


def _decode_heif(data, name):
    """A HEIC/HEIF stream decoded by pillow-heif, in OpenCV's channel order (BGR[A] or grey), or
    None when libheif cannot decode it; a one-line error when pillow-heif is not installed."""
    try:
        import pillow_heif
    except ImportError as exc:
        raise ImageReadError(
            name, "HEIC/HEIF images need the pillow-heif package: pip install pillow-heif, or convert the photo to JPEG"
        ) from exc
    try:
        arr = np.asarray(pillow_heif.open_heif(io.BytesIO(data.tobytes())))
    except (ValueError, RuntimeError, OSError):
        return None
    return arr[:, :, [2, 1, 0, 3][: arr.shape[2]]] if arr.ndim == 3 else arr


def decode_rgb(buf, name="<bytes>", strict=True, apply_exif=False, with_notes=False):
    """Decode encoded image bytes to uint8 RGB (H, W, 3).

    ``strict`` also rejects truncated JPEG/PNG streams. ``apply_exif`` returns the image oriented
    as viewers show it (EXIF Orientation applied; for users' photos), else the stored pixels (for
    training/evaluation pairs; TIFF excepted, see the module notes). With ``with_notes`` returns
    ``(rgb, notes)`` where notes list the conversions (grayscale, alpha dropped, 16-bit, palette).
    """
    data = _as_uint8(buf)
    if data.size == 0:
        raise ImageReadError(name, "empty file (0 bytes)")
    fmt = sniff_format(data)
    if strict:
        reason = _truncation(data, fmt)
        if reason:
            raise ImageReadError(name, reason)
    if fmt == "gif":
        raise ImageReadError(name, "GIF images are not supported (OpenCV cannot read them); " "convert to PNG or JPEG")
    # IMREAD_UNCHANGED never applies EXIF orientation (TIFF aside); any other flag set without
    # IMREAD_IGNORE_ORIENTATION makes OpenCV apply it (JPEG, PNG). The pixels are the same.
    flags = (cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR) if apply_exif else cv2.IMREAD_UNCHANGED
    raw = _decode_heif(data, name) if fmt == "heif" else cv2.imdecode(data, flags)
    if raw is None or raw.size == 0:
        if fmt:
            raise ImageReadError(name, f"cannot decode ({fmt.upper()} data; the file is corrupt or " "truncated)")
        raise ImageReadError(
            name, "cannot decode (the content is not an image OpenCV can read: " "another kind of file, or corrupt)"
        )
    if apply_exif and fmt == "webp":
        raw = apply_orientation(raw, exif_orientation(data))
    try:
        rgb, notes = to_rgb_uint8(raw)
    except ValueError as exc:
        raise ImageReadError(name, str(exc)) from exc
    if fmt == "png" and len(data) > 25 and data[25] == 3:  # IHDR colour type 3 = palette
        notes.append("palette")
    return (rgb, notes) if with_notes else rgb


def read_bytes(path):
    """The file's bytes, with ImageReadError for a missing or unreadable file."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError as exc:
        raise ImageReadError(path, "file not found") from exc
    except OSError as exc:
        raise ImageReadError(path, f"cannot read ({exc.strerror})") from exc


def read_rgb(path, strict=True, apply_exif=False, with_notes=False):
    """Read an image file (JPEG/PNG/TIFF/BMP/WebP/PNM/HEIC, any depth) as uint8 RGB (H, W, 3).

    ``apply_exif=True`` for users' photos (oriented as viewers show them); the default keeps the
    stored pixels, as training and evaluation data need (see :func:`decode_rgb`)."""
    return decode_rgb(read_bytes(path), name=str(path), strict=strict, apply_exif=apply_exif, with_notes=with_notes)


def encode(rgb, ext=".png", quality=95, png_compression=1):
    """Encode a uint8 RGB (or grayscale) array to bytes in the format of ``ext``."""
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8:
        raise ValueError(f"encode expects uint8 pixels, got {arr.dtype}")
    bgr = arr[:, :, ::-1] if arr.ndim == 3 else arr
    ext = ext.lower()
    params = []
    if ext in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    elif ext == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, int(png_compression)]
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(bgr), params)
    if not ok:
        raise ValueError(f"OpenCV cannot encode {ext} images")
    return buf.tobytes()


def write_bytes_atomic(path, data):
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.splitext(path)[1], dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_rgb(path, rgb, quality=95, png_compression=1):
    """Atomically write a uint8 RGB image; the format follows the extension of ``path``."""
    ext = os.path.splitext(str(path))[1] or ".png"
    write_bytes_atomic(path, encode(rgb, ext, quality=quality, png_compression=png_compression))
