"""Single image files: read any of them the same way, write PNG, TIFF (8 or 16 bits) and OpenEXR.

Every image comes out as RGB (or one channel) composited over white: a transparent ink layer
is lines on paper, not lines on black. Samples are uint8, or uint16 when a caller asks for
16 bits (8-bit files are then scaled by 257, which is exact both ways).

OpenEXR holds scene-linear light in half floats. tcvc works on display-referred sRGB values,
as the line art and the model see them, so an EXR is read by clipping to [0, 1] and applying
the sRGB curve, and written by undoing the curve into linear half floats; with an alpha
channel EXR colour is premultiplied, as the format expects. PNG and TIFF alpha is straight.
TGA and DPX are read through ffmpeg's decoders, PNGs of up to 8 bits through Pillow (libpng,
under OpenCV, prints its own warnings about ordinary files on stderr: "sRGB: out of place"),
and OpenCV reads the rest, its own log silenced: tcvc says what is wrong in its own words.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError, OutputError, UsageError

# Folder outputs keep the input's format when tcvc can write it; anything else becomes PNG.
WRITABLE_IMAGE_EXTENSIONS = {".png", ".tif", ".tiff", ".exr"}
DEEP_EXTENSIONS = {".png", ".tif", ".tiff"}  # 16 bits per channel possible
_FFMPEG_ONLY = {".tga", ".dpx"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] -> sRGB-encoded values (IEC 61966-2-1)."""
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1 / 2.4) - 0.055)


def srgb_decode(encoded: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] -> linear light."""
    encoded = np.clip(encoded, 0.0, 1.0)
    return np.where(encoded <= 0.04045, encoded / 12.92, np.power((encoded + 0.055) / 1.055, 2.4))


def to_depth(image: np.ndarray, bits: int) -> np.ndarray:
    """uint8 <-> uint16 samples (x257 up, rounded down); other dtypes are taken as [0, 1] floats."""
    if bits == 8:
        if image.dtype == np.uint8:
            return image
        if image.dtype == np.uint16:
            return ((image.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
        return (np.clip(np.nan_to_num(image.astype(np.float32)), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if bits == 16:
        if image.dtype == np.uint16:
            return image
        if image.dtype == np.uint8:
            return image.astype(np.uint16) * 257
        return (np.clip(np.nan_to_num(image.astype(np.float32)), 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)
    raise ValueError(f"unsupported bit depth {bits}")


def to_unit(image: np.ndarray) -> np.ndarray:
    """Samples as float32 in [0, 1]."""
    if np.issubdtype(image.dtype, np.integer):
        return image.astype(np.float32) / np.iinfo(image.dtype).max
    return np.clip(np.nan_to_num(image.astype(np.float32)), 0.0, 1.0)


def alpha_of(image: np.ndarray, bits: int = 8) -> np.ndarray | None:
    """The alpha channel of a decoded image at `bits`, or None when it has none."""
    channels = 1 if image.ndim == 2 else image.shape[2]
    return to_depth(image[:, :, -1], bits) if channels in (2, 4) else None


def over_white(image: np.ndarray, *, bgr: bool = False, bits: int = 8) -> np.ndarray:
    """Any decoded image (H, W), (H, W, 1-4) -> (H, W, 3) RGB at `bits`, transparency over white."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    channels = 1 if image.ndim == 2 else image.shape[2]
    target = np.uint8 if bits == 8 else np.uint16
    if image.dtype != target or channels in (2, 4):
        if channels in (2, 4):  # grey+alpha or colour+alpha, over white
            values = to_unit(image)
            alpha = values[:, :, -1:]
            values = values[:, :, :-1] * alpha + (1.0 - alpha)
            image = to_depth(values[:, :, 0] if channels == 2 else values, bits)
        else:
            image = to_depth(image, bits)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if bgr else np.ascontiguousarray(image)


def _read_exr(path: Path) -> np.ndarray:
    """An EXR as sRGB-encoded float32 (H, W, 3 or 4), alpha unpremultiplied."""
    try:
        import OpenEXR
    except ImportError:  # pragma: no cover - a declared dependency
        raise InputError(f"{path}: reading OpenEXR needs the OpenEXR package", hint="pip install OpenEXR") from None
    try:
        with OpenEXR.File(str(path)) as exr:
            channels = exr.channels()
            if "RGBA" in channels or "RGB" in channels:
                pixels = np.asarray(channels["RGBA" if "RGBA" in channels else "RGB"].pixels, dtype=np.float32)
            elif "Y" in channels:
                grey = np.asarray(channels["Y"].pixels, dtype=np.float32)
                pixels = np.repeat(grey[:, :, None], 3, axis=2)
                if "A" in channels:
                    pixels = np.concatenate([pixels, np.asarray(channels["A"].pixels, dtype=np.float32)[:, :, None]], axis=2)
            else:
                raise InputError(f"{path}: the EXR holds no RGB or Y channels (it has {', '.join(sorted(channels))})")
    except InputError:
        raise
    except Exception as exc:  # the library raises plain RuntimeErrors for damaged files
        raise InputError(f"{path}: not a readable OpenEXR image ({exc})") from None
    pixels = np.nan_to_num(pixels)
    if pixels.shape[2] == 4:
        alpha = np.clip(pixels[:, :, 3:], 0.0, 1.0)
        colour = np.where(alpha > 0, pixels[:, :, :3] / np.maximum(alpha, 1e-6), 0.0)
        return np.concatenate([srgb_encode(colour), alpha], axis=2).astype(np.float32)
    return srgb_encode(pixels).astype(np.float32)


def _read_with_ffmpeg(path: Path) -> np.ndarray:
    """TGA, DPX: decode one picture with ffmpeg as 16-bit RGBA."""
    from .ffmpeg import ffmpeg_exe
    from .probing import probe_picture

    width, height = probe_picture(path)[:2]
    done = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path),
                           "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgba64le", "pipe:1"],
                          stdin=subprocess.DEVNULL, capture_output=True, check=False)
    expected = width * height * 8
    if done.returncode != 0 or len(done.stdout) != expected:
        raise InputError(f"{path}: not a readable image", hint="the file is missing, empty or corrupt")
    return np.frombuffer(done.stdout, dtype="<u2").reshape(height, width, 4).astype(np.uint16)


def read_raw(path: Path) -> tuple[np.ndarray, bool]:
    """The samples as the file holds them, and whether they are BGR-ordered (OpenCV)."""
    path = Path(path)
    extension = path.suffix.lower()
    if not path.is_file():
        raise InputError(f"{path}: not a readable image", hint="the file is missing")
    if extension == ".exr":
        return _read_exr(path), False
    if extension in _FFMPEG_ONLY:
        return _read_with_ffmpeg(path), False
    data = np.fromfile(str(path), dtype=np.uint8)  # handles non-ASCII paths
    if data[:8].tobytes() == _PNG_SIGNATURE and data.size > 24 and data[24] <= 8:  # IHDR bit depth
        image = _read_png(path, data)
        if image.ndim == 3 and image.shape[2] >= 3:  # OpenCV's channel order, as for every other file
            image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR)
        return image, True
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise InputError(f"{path}: not a readable image", hint="the file is missing, empty or corrupt")
    return image, True


def _read_png(path: Path, data: np.ndarray) -> np.ndarray:
    """An 8-bit (or palette, or 1-bit) PNG as RGB(A) or grey(+alpha) samples, decoded by Pillow."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data.tobytes())) as picture:
            picture.load()
            if picture.mode == "P":
                picture = picture.convert("RGBA" if "transparency" in picture.info else "RGB")
            elif picture.mode == "1":
                picture = picture.convert("L")
            elif picture.mode not in ("L", "LA", "RGB", "RGBA"):
                picture = picture.convert("RGBA" if "A" in picture.mode else "RGB")
            return np.asarray(picture).copy()
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        raise InputError(f"{path}: not a readable image", hint="the file is truncated or corrupt") from None


def read_image(path: Path, mode: int = cv2.IMREAD_COLOR, bits: int = 8, keep_alpha: bool = False,
               straight: bool = False) -> np.ndarray:
    """Read an image as RGB (or one channel with IMREAD_GRAYSCALE) at `bits` per sample.

    Whatever the file holds - palette, grey, grey+alpha, RGBA, 16 bits, half floats - comes
    out the same way: transparency composited over white, samples at the requested depth.
    With `keep_alpha`, an image that has alpha comes with it as one more channel; with
    `straight` too, its colour is left as stored instead of composited (for copying it).
    """
    raw, bgr = read_raw(Path(path))
    if keep_alpha and straight and alpha_of(raw) is not None and mode != cv2.IMREAD_GRAYSCALE:
        colour = over_white(raw[:, :, :-1] if raw.shape[2] == 4 else raw[:, :, 0], bgr=bgr, bits=bits)
        return np.dstack([colour, alpha_of(raw, bits)])
    image = over_white(raw, bgr=bgr, bits=bits)
    if mode == cv2.IMREAD_GRAYSCALE:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    alpha = alpha_of(raw, bits) if keep_alpha else None
    return image if alpha is None else np.dstack([image, alpha])


def looks_complete(path: Path) -> bool:
    """A cheap check of one frame file's structure, without decoding it: a PNG ends with its
    IEND chunk, a JPEG with its end-of-image marker; other formats have their header's magic."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 12))
            tail = handle.read()
    except OSError:
        return False
    extension = Path(path).suffix.lower()
    if extension == ".png":
        return head.startswith(_PNG_SIGNATURE) and tail[-8:-4] == b"IEND"
    if extension in (".jpg", ".jpeg"):
        return head.startswith(b"\xff\xd8") and b"\xff\xd9" in tail
    magic = {".tif": (b"II*\x00", b"MM\x00*"), ".tiff": (b"II*\x00", b"MM\x00*"), ".exr": (b"v/1\x01",),
             ".dpx": (b"SDPX", b"XPDS"), ".bmp": (b"BM",)}
    if extension in magic:
        return any(head.startswith(mark) for mark in magic[extension]) and size > 64
    return size > 0


def describe_image(path: Path) -> dict:
    """What a hand-off check needs of one frame file: size, channels, bit depth, alpha."""
    if Path(path).suffix.lower() in _FFMPEG_ONLY:  # as ffmpeg's decoder reports it
        from .probing import probe_picture

        width, height, pixel_format, depth, alpha = probe_picture(Path(path))
        return {"width": width, "height": height, "channels": "rgba" if alpha else "rgb", "bit_depth": depth,
                "sample_format": "uint", "alpha": alpha, "pixel_format": pixel_format}
    raw, _ = read_raw(Path(path))
    channels = 1 if raw.ndim == 2 else raw.shape[2]
    extension = Path(path).suffix.lower()
    if extension == ".exr":
        depth, sample = 16, "half"
    else:
        depth = 8 * raw.dtype.itemsize
        sample = "float" if raw.dtype.kind == "f" else "uint"
    layout = {1: "grey", 2: "grey+alpha", 3: "rgb", 4: "rgba"}[channels]
    return {"width": int(raw.shape[1]), "height": int(raw.shape[0]), "channels": layout, "bit_depth": depth,
            "sample_format": sample, "alpha": channels in (2, 4),
            "pixel_format": f"{layout}{depth}" + ("f" if sample != "uint" else "")}


def _write_exr(path: Path, image: np.ndarray) -> None:
    import OpenEXR

    values = to_unit(image)
    if values.ndim == 2:
        values = np.repeat(values[:, :, None], 3, axis=2)
    if values.shape[2] == 4:
        alpha = values[:, :, 3:]
        colour = srgb_decode(values[:, :, :3]) * alpha  # EXR colour is premultiplied
        pixels = np.concatenate([colour, alpha], axis=2)
        name = "RGBA"
    else:
        pixels = srgb_decode(values)
        name = "RGB"
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, {name: np.ascontiguousarray(pixels.astype(np.float16))}) as exr:
        exr.write(str(path))


def write_image(path: Path, image: np.ndarray, bits: int | None = None) -> None:
    """Write RGB, RGBA or one-channel samples by extension (PNG unless the name says otherwise).

    `bits` (8 or 16) converts the samples first; None keeps them. EXR is always half float.
    """
    path = Path(path)
    extension = path.suffix.lower() or ".png"
    if extension == ".exr":
        try:
            _write_exr(path, image)
        except OSError as exc:
            raise OutputError(f"{path}: could not write the image ({exc})") from None
        return
    if bits is not None:
        image = to_depth(image, bits)
    if image.dtype == np.uint16 and extension not in DEEP_EXTENSIONS:
        raise UsageError(f"{path}: {extension} cannot hold 16-bit samples", hint="write .png or .tif, or pass --bit-depth 8")
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_PNG_COMPRESSION, 3] if extension == ".png" else []
    if extension in (".tif", ".tiff"):
        params = [cv2.IMWRITE_TIFF_COMPRESSION, 5]  # LZW: lossless, read everywhere
    ok, data = cv2.imencode(extension, image, params)
    if not ok:
        raise OutputError(f"{path}: could not encode the image")
    data.tofile(str(path))
