"""Photos re-encoded before anyone else sees them: turned upright, their colours converted to sRGB
from any ICC profile they carry (a Display P3 iPhone photo shown without its profile looks dull),
every piece of metadata dropped (EXIF with its GPS position, XMP, ICC, comments), at most 1,600 px
on the longest side, plus a thumbnail of at most 320 px and about 25 KB for the thread.

An animated GIF or WebP stays animated, in its own format: each frame is treated as a photo is,
and its duration and loop count are kept. Its frames count against ATTACHMENT_MAX_PIXELS together
(frames × width × height), so a few kilobytes of many large frames (a decompression bomb) are
refused as a single huge image is. Its thumbnail is its first frame.

`reencode` runs on a thread of its own per worker (elako/offload.py): decoding a 12-megapixel
photo takes a good part of a second, and Pillow releases the GIL while it does.
"""

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, ImageSequence

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
# Each frame costs a pass through the Python loop whatever its size: a 10 MB GIF of 1-pixel frames
# would be 400,000 of them. A thousand is over a minute of a 15-fps sticker.
MAX_FRAMES = 1000
# What browsers assume of an image without a profile, so nothing needs to be embedded.
SRGB = ImageCms.createProfile("sRGB")
ANIMATED_FORMATS = ("GIF", "WEBP")  # an animation in one of these stays one, in its format
STILL_OPTIONS = {"PNG": {"optimize": True}, "JPEG": {"quality": JPEG_QUALITY, "optimize": True}}
SAVED_AS = {"JPEG": ("image/jpeg", ".jpg"), "PNG": ("image/png", ".png"),
            "GIF": ("image/gif", ".gif"), "WEBP": ("image/webp", ".webp")}

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
            profile = _embedded_profile(image)
            if image.format in ANIMATED_FORMATS and getattr(image, "is_animated", False):
                image_format = image.format
                first, options = _animation(image, profile, max_pixels)
            else:
                image_format = "PNG" if image.format == "PNG" or _has_alpha(image) else "JPEG"
                image.seek(0)  # an animation's first frame (an animated PNG or HEIF)
                # Decoded straight to about the size kept (a JPEG at 1/2, 1/4 or 1/8 scale: a 12 MP
                # photo costs a quarter of the work), then resampled; the EXIF stays in `info`.
                image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS, reducing_gap=1.0)
                first = _prepared(image, profile, keep_alpha=image_format == "PNG")
                options = STILL_OPTIONS[image_format]
        except BadImage:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise BadImage("This image is too large to open.") from exc
        except Exception as exc:  # Pillow raises many kinds (OSError, SyntaxError, ValueError…)
            raise BadImage("This image is damaged or incomplete and can’t be opened.") from exc
    full = _save(first, image_format, **options)
    content_type, extension = SAVED_AS[image_format]
    thumb = _flatten(first)
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    return Reencoded(full, content_type, extension, first.width, first.height,
                     _small_jpeg(thumb), thumb.width, thumb.height)


def _animation(image, profile, max_pixels):
    """An animated GIF's or WebP's first frame, and the options that save all of them: every frame
    prepared as a photo is, all of one size at most MAX_SIDE, with its duration, and the loop
    count. BadImage past MAX_FRAMES frames or `max_pixels` in all, checked before each decodes."""
    frames, durations, decoded = [], [], 0
    for index, frame in enumerate(ImageSequence.Iterator(image)):
        decoded += frame.width * frame.height
        if index == MAX_FRAMES or decoded > max_pixels:
            raise BadImage(f"This image is too large to open (more than {index:,} frames of "
                           f"{frame.width:,} × {frame.height:,} pixels).")
        prepared = _prepared(frame, profile, keep_alpha=True)
        size = frames[0].size if frames else _fitted(prepared.size)
        if prepared.size != size:  # a GIF frame may also grow the canvas: all must match
            prepared = prepared.resize(size, Image.Resampling.LANCZOS)
        frames.append(prepared)
        durations.append(frame.info.get("duration", 0))  # once decoded: WebP sets it then
    options = {"save_all": True, "append_images": frames[1:], "duration": durations}
    if "loop" in image.info:  # a GIF without a loop count plays once
        options["loop"] = image.info["loop"]
    if image.format == "GIF" and any(frame.mode == "RGBA" for frame in frames):
        # Frames are whole pictures: each must replace the last, or where one turns transparent
        # the frame before would still show.
        options["disposal"] = 2
    return frames[0], options


def _fitted(size):
    """`size` shrunk, keeping its shape, to at most MAX_SIDE on its longest side."""
    scale = min(1, MAX_SIDE / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _prepared(image, profile, *, keep_alpha):
    """`image` upright, in sRGB, and as pixels alone (RGB, or RGBA if `keep_alpha` and it has
    transparency)."""
    return _clean(_in_srgb(ImageOps.exif_transpose(image), profile), keep_alpha=keep_alpha)


def _embedded_profile(image):
    """The ICC profile `image` carries; None without one, or if it cannot be read (the pixels are
    then taken as they are, as browsers do)."""
    icc_profile = image.info.get("icc_profile")
    if not icc_profile:
        return None
    try:
        return ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
    except OSError:
        return None


def _in_srgb(image, profile):
    """`image` converted from `profile` to sRGB; as it is without a profile, or with one its pixels
    do not fit (an RGB profile on a CMYK JPEG)."""
    if profile is None:
        return image
    source_mode = {"CMYK": "CMYK", "L": "L", "LA": "L"}.get(image.mode, "RGB")
    try:
        converted = ImageCms.profileToProfile(image.convert(source_mode), profile, SRGB,
                                              outputMode="RGB")
    except ImageCms.PyCMSError:
        return image
    if _has_alpha(image):  # colour management leaves transparency as it was
        converted.putalpha(image.convert("RGBA").getchannel("A"))
    return converted


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
