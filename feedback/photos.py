"""Photos sent with the feedback form: decoded as images (JPEG, PNG, WebP, HEIC), never trusted by name
or content type, and re-encoded as JPEG without EXIF (GPS, device), so what is stored is only pixels."""

from __future__ import annotations

import io
from enum import StrEnum

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PHOTOS = 3
MAX_PIXELS = 50_000_000  # a "decompression bomb" is refused before it is decoded
LONG_SIDE = 2048  # stored photos are scaled down to this (a phone photo is 4000 px and 3–6 MB)
FORMATS = frozenset({"JPEG", "PNG", "WEBP", "HEIF"})

_heif_registered = False


class PhotoProblem(StrEnum):
    """Why a photo was refused (h5/texts.py words it for the diner)."""

    too_large = "too_large"
    not_image = "not_image"
    too_many = "too_many"


class PhotoError(Exception):
    """A photo that cannot be taken; `problem` says why, `index` which one (0-based)."""

    def __init__(self, problem: PhotoProblem, index: int = 0) -> None:
        super().__init__(f"{problem} (photo {index + 1})")
        self.problem = problem
        self.index = index


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        from pillow_heif import register_heif_opener

        register_heif_opener()
        _heif_registered = True


def clean_photo(data: bytes, *, index: int = 0) -> bytes:
    """The photo decoded and re-encoded as a JPEG with no metadata; PhotoError when it is not a real
    JPEG/PNG/WebP/HEIC image or is over 10 MB."""
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoError(PhotoProblem.too_large, index)
    _register_heif()
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in FORMATS:
                raise PhotoError(PhotoProblem.not_image, index)
            if probe.width * probe.height > MAX_PIXELS:
                raise PhotoError(PhotoProblem.too_large, index)
            probe.verify()  # structure check (truncated or corrupt files fail here or on load below)
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)  # keep the orientation, then drop EXIF with it
            upright.thumbnail((LONG_SIDE, LONG_SIDE))
            pixels = upright.convert("RGB")
    except PhotoError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise PhotoError(PhotoProblem.not_image, index) from None
    out = io.BytesIO()
    # a fresh image has no info: no EXIF, no XMP, no ICC profile, no comment is written
    clean = Image.new("RGB", pixels.size)
    clean.paste(pixels)
    clean.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue()


def clean_photos(photos: list[bytes]) -> list[bytes]:
    """All photos cleaned, or PhotoError for the first bad one (at most three)."""
    if len(photos) > MAX_PHOTOS:
        raise PhotoError(PhotoProblem.too_many, MAX_PHOTOS)
    return [clean_photo(p, index=i) for i, p in enumerate(photos)]
