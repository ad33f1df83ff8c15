"""Open image files defensively: every way a file can fail becomes one clear error."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

from backend.errors import BackendError


def open_image(path: Path, label: str, error: type[BackendError], max_pixels: int) -> Image.Image:
    """The fully loaded image at ``path``; failures raise ``error`` starting with ``label``.

    The pixel count is checked from the header before decoding, so a huge or malicious
    file is refused without being decompressed.
    """
    try:
        with Image.open(path) as image:
            if image.width * image.height > max_pixels:
                raise error(
                    f"{label}: image {path} is {image.width}x{image.height}, "
                    f"more than the {max_pixels} pixels supported"
                )
            image.load()
            return image
    except UnidentifiedImageError as exc:
        raise error(f"{label}: cannot read image {path}: not an image file") from exc
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise error(f"{label}: cannot read image {path}: {exc}") from exc
