"""Images a user hands in one at a time (the CLI's files, the web app's uploads), read defensively
and put in a model's range.

Every failure is a `DataError` naming the file and what is wrong: too many bytes, not an image, a
header claiming more pixels than any image here needs (a decompression bomb is refused before it is
decoded), or, where the caller asks for the exact size, the wrong size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genmodels.data.dataset import DataError
from genmodels.data.transforms import View

MAX_BYTES = 20 * 2**20  # an image of the sizes these models take is kilobytes; a photo a few MB
MAX_PIXELS = 4096 * 4096


def read_image(
    path: str | Path,
    shape: tuple[int, int, int],
    *,
    resize: bool = True,
    max_bytes: int = MAX_BYTES,
) -> np.ndarray:
    """One image file as uint8 [C, H, W] of `shape`: converted to grey (C = 1) or RGB (C = 3), and
    resized to H x W when `resize`, else refused unless it already has that size."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    colours, height, width = shape
    try:
        size = path.stat().st_size
    except OSError as error:
        raise DataError(f"{path}: cannot be read ({error.strerror or error})") from None
    if size > max_bytes:
        limit = f"limit {max_bytes / 2**20:.0f} MB"
        raise DataError(f"{path}: {size / 2**20:.1f} MB is too large for an image here ({limit})")
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise DataError(
                    f"{path}: {image.width} x {image.height} pixels is too large "
                    f"(limit {MAX_PIXELS:,} pixels)"
                )
            if not resize and (image.height, image.width) != (height, width):
                raise DataError(
                    f"{path}: the image is {image.width} x {image.height} pixels; this model takes "
                    f"{width} x {height} (resize it first: a likelihood is only defined at the model's size)"
                )
            image.load()
            converted = image.convert("L" if colours == 1 else "RGB")
            if resize and converted.size != (width, height):
                converted = converted.resize((width, height))
    except DataError:
        raise
    except Image.DecompressionBombError as error:  # Pillow's own limit, checked as the header is read
        raise DataError(f"{path}: too large an image ({error})") from None
    # UnidentifiedImageError is an OSError, as is a truncated file; some Pillow plugins raise
    # SyntaxError or ValueError for a malformed header.
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError) as error:
        raise DataError(f"{path}: not a readable image ({error})") from None
    array = np.array(converted, dtype=np.uint8)  # a copy: writable, as torch wants
    return array[None] if colours == 1 else array.transpose(2, 0, 1)


def read_images(
    files: list[str | Path], shape: tuple[int, int, int], view: View, *, resize: bool = True
) -> Tensor:
    """Image files -> [N, C', H', W'] in the model's input range: `view` applied (its padding and
    binarisation included) to images of the raw `shape`."""
    arrays = [read_image(file, shape, resize=resize) for file in files]
    return view(torch.from_numpy(np.stack(arrays)))
