"""Photos re-encoded before anyone else sees them: turned upright, every piece of metadata
dropped (EXIF with its GPS position, XMP, ICC, comments), at most 1,600 px on the longest side,
plus a thumbnail of at most 320 px and about 25 KB for the thread.

`reencode` runs on a thread of its own per worker (elako/offload.py): decoding a 12-megapixel
photo takes a good part of a second, and Pillow releases the GIL while it does.
"""

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from .offload import Lane

try:  # iPhone photos (HEIC/HEIF); without pillow-heif they are refused as corrupt
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover
    pillow_heif = None

MAX_SIDE = 1600
THUMB_SIDE = 320
THUMB_TARGET_BYTES = 25 * 1024
JPEG_QUALITY = 82

_lane = Lane()


class BadImage(Exception):
    """The image is corrupt, or would decode to too many pixels (a decompression bomb)."""


@dataclass
class Reencoded:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int
    thumbnail: bytes
    thumb_width: int
    thumb_height: int


def reencode(data, *, max_pixels):
    """The image in `data`, made safe and light (BadImage if it cannot be)."""
    return _lane.run(_reencode, data, max_pixels)


def _reencode(data, max_pixels):
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels or width < 1 or height < 1:
                raise BadImage(f"This image is too large to open ({width:,} × {height:,} pixels).")
            keep_png = image.format == "PNG" or _has_alpha(image)
            image.seek(0)  # an animation's first frame
            # Decoded straight to about the size kept (a JPEG at 1/2, 1/4 or 1/8 scale: a 12 MP
            # photo costs a quarter of the work), then resampled; the EXIF stays in `info`.
            image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS, reducing_gap=1.0)
            image = ImageOps.exif_transpose(image)
        except BadImage:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise BadImage("This image is too large to open.") from exc
        except Exception as exc:  # Pillow raises many kinds (OSError, SyntaxError, ValueError…)
            raise BadImage("This image is damaged or incomplete and can’t be opened.") from exc
    image = _clean(image, keep_alpha=keep_png)
    if keep_png:
        full, content_type, extension = _save(image, "PNG", optimize=True), "image/png", ".png"
    else:
        full, content_type = _save(image, "JPEG", quality=JPEG_QUALITY, optimize=True), "image/jpeg"
        extension = ".jpg"
    thumb = _flatten(image)
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    return Reencoded(full, content_type, extension, image.width, image.height,
                     _small_jpeg(thumb), thumb.width, thumb.height)


def _has_alpha(image):
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def _clean(image, *, keep_alpha):
    """The pixels alone, in a fresh image: no info dictionary, EXIF, ICC profile or comment can
    ride along into what is saved."""
    mode = "RGBA" if keep_alpha and _has_alpha(image) else "RGB"
    pixels = image.convert(mode)
    return Image.frombytes(mode, pixels.size, pixels.tobytes())


def _flatten(image):
    if image.mode == "RGB":
        return image.copy()
    background = Image.new("RGB", image.size, "white")
    background.paste(image, mask=image.getchannel("A"))
    return background


def _save(image, image_format, **options):
    out = io.BytesIO()
    image.save(out, image_format, **options)
    return out.getvalue()


def _small_jpeg(image):
    """A JPEG of the thumbnail, at the best quality that fits THUMB_TARGET_BYTES (or the lowest)."""
    for quality in (75, 65, 55, 45, 35):
        data = _save(image, "JPEG", quality=quality, optimize=True, progressive=True)
        if len(data) <= THUMB_TARGET_BYTES:
            break
    return data
