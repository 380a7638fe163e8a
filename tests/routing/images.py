"""Test images made with Pillow: small real files of each accepted format, and the bad inputs."""

from __future__ import annotations

import io

from PIL import Image


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (640, 480), **save: object) -> bytes:
    out = io.BytesIO()
    mode = "RGBA" if fmt == "PNG" else "RGB"
    Image.new(mode, size, (200, 30, 30, 255) if mode == "RGBA" else (200, 30, 30)).save(out, fmt, **save)
    return out.getvalue()


def jpeg_with_exif() -> bytes:
    """A JPEG carrying EXIF (a camera's make and a GPS block): what a phone photo has."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {2: (39.0, 54.0, 0.0)}  # GPSInfo: latitude
    return image_bytes("JPEG", (800, 600), exif=exif)
