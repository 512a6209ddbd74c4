"""Loaders for data a user brings: MNIST-style IDX files and folders of image files.

Both return an `ImageSet` (uint8 [N, C, H, W]) and report every problem as a `DataError` whose message
starts with the file or folder at fault, so that a bad download or a stray file is found at once
rather than surfacing later as a shape error inside a model.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genmodels.data.dataset import DataError, ImageSet
from genmodels.data.storage import stored_images

IDX_SPLITS = ("train", "test")
# The file stems MNIST and Fashion-MNIST ship under, per split; `_idx_candidates` adds the dotted
# spelling (`train-images.idx3-ubyte`) that some mirrors use, and the `.gz` forms of both.
_IDX_STEMS = {
    "train": ("train-images", "train-labels"),
    "test": ("t10k-images", "t10k-labels"),
}
# Type codes from the IDX specification, named so that an unsupported file says what it holds.
_IDX_TYPE_NAMES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "short",
    0x0C: "int",
    0x0D: "float",
    0x0E: "double",
}
_IDX_UBYTE = 0x08

_SPLIT_NAMES = ("train", "test", "val", "valid", "validation", "fit")
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
# Modes kept as one grey channel; every other mode (RGB, RGBA, P, LA, CMYK, ...) becomes RGB.
_GREY_MODES = ("L", "1")


# ----------------------------------------------------------------------------------------------
# Errors shared by both loaders


def _error(path: Path, problem: str) -> DataError:
    """A `DataError` whose message starts with the path at fault, as every message in this module does."""
    return DataError(f"{path}: {problem}")


def _require_directory(path: Path) -> Path:
    if not path.exists():
        raise _error(path, "no such directory")
    if not path.is_dir():
        raise _error(path, "is not a directory")
    return path


# ----------------------------------------------------------------------------------------------
# IDX (MNIST, Fashion-MNIST)


def load_idx(directory: str | Path, split: str) -> ImageSet:
    """MNIST-format IDX files in `directory`: `train-*` files for split "train", `t10k-*` for "test".

    The images file (`train-images-idx3-ubyte`, or `train-images.idx3-ubyte`, either optionally
    gzipped as `.gz`) must exist; the matching labels file is optional, and without it the set
    has no labels. Images come back as [N, 1, H, W] uint8, labels as int64 [N].
    """
    root = Path(directory)
    if split not in IDX_SPLITS:
        raise _error(root, f"unknown IDX split {split!r}; choose one of {', '.join(IDX_SPLITS)}")
    _require_directory(root)
    images_stem, labels_stem = _IDX_STEMS[split]
    images_path = _find_idx_file(root, images_stem, "idx3")
    if images_path is None:
        looked_for = ", ".join(_idx_candidates(images_stem, "idx3"))
        raise _error(root, f"no IDX images file for split {split!r}; looked for {looked_for}")
    images = _read_idx(images_path, ndim=3)
    labels_path = _find_idx_file(root, labels_stem, "idx1")
    labels = None
    if labels_path is not None:
        labels = _read_idx(labels_path, ndim=1)
        if len(labels) != len(images):
            raise _error(
                images_path,
                f"holds {len(images)} images but {labels_path} holds {len(labels)} labels; they must match",
            )
    return ImageSet(
        torch.from_numpy(images[:, None]),  # a single grey channel
        None if labels is None else torch.from_numpy(labels.astype(np.int64)),
        f"idx:{root}/{split}",
    )


def _idx_candidates(stem: str, kind: str) -> list[str]:
    """File names tried for one IDX file, in order of preference (plain before gzipped)."""
    names = [f"{stem}-{kind}-ubyte", f"{stem}.{kind}-ubyte"]
    return [name + suffix for name in names for suffix in ("", ".gz")]


def _find_idx_file(directory: Path, stem: str, kind: str) -> Path | None:
    for name in _idx_candidates(stem, kind):
        if (directory / name).is_file():
            return directory / name
    return None


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as stream:
                return stream.read()
        return path.read_bytes()
    # A corrupt gzip raises BadGzipFile (an OSError), EOFError when cut short, or zlib.error for bad
    # deflate data; all mean the same to the user.
    except (OSError, EOFError, zlib.error) as exc:
        what = "a readable gzip file" if path.suffix == ".gz" else "readable"
        raise _error(path, f"is not {what} ({exc})") from exc


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Parse one IDX file holding unsigned bytes in `ndim` dimensions, checking every header field.

    Layout: two zero bytes, a type code byte, a dimension-count byte (together the "magic number",
    0x00000803 for images and 0x00000801 for labels), `ndim` big-endian uint32 sizes, then the data.
    """
    data = _read_bytes(path)
    expected_magic = f"0x{_IDX_UBYTE:06x}{ndim:02x}"
    if len(data) < 4:
        raise _error(path, f"is truncated: {len(data)} bytes, too short for the 4-byte IDX magic number")
    found_magic = f"0x{data[:4].hex()}"
    if data[0] != 0 or data[1] != 0:
        raise _error(path, f"is not an IDX file: magic number {found_magic}, expected {expected_magic}")
    if data[2] != _IDX_UBYTE:
        type_name = _IDX_TYPE_NAMES.get(data[2], "unknown")
        raise _error(
            path,
            f"IDX type code 0x{data[2]:02x} ({type_name}) is not supported, only 0x08 (unsigned byte); "
            f"magic number {found_magic}, expected {expected_magic}",
        )
    if data[3] != ndim:
        raise _error(
            path,
            f"is {data[3]}-dimensional, expected {ndim}-dimensional; "
            f"magic number {found_magic}, expected {expected_magic}",
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise _error(path, f"is truncated: {len(data)} bytes, shorter than its {header_size}-byte header")
    shape = tuple(int(size) for size in np.frombuffer(data, ">u4", count=ndim, offset=4))
    if 0 in shape:  # an empty set, and numpy cannot even shape it when another size is huge
        raise _error(path, f"holds nothing: its header gives the sizes {shape}")
    expected_size = header_size + math.prod(shape)
    if len(data) < expected_size:
        raise _error(path, f"is truncated: {len(data)} bytes, but its header {shape} needs {expected_size}")
    if len(data) > expected_size:
        raise _error(
            path,
            f"has {len(data) - expected_size} extra bytes after the data its header {shape} describes",
        )
    # Copied so that the tensor owns writable memory (a buffer over `bytes` is read-only).
    return np.frombuffer(data, np.uint8, offset=header_size).reshape(shape).copy()


# ----------------------------------------------------------------------------------------------
# Image folders


def load_image_folder(directory: str | Path, split: str | None = None, storage: str = "auto") -> ImageSet:
    """A folder of image files (png, jpg, jpeg, bmp, gif, webp, tif, tiff; any case), read with Pillow.

    If `split` is given and `directory/<split>/` exists, that subfolder is read; otherwise
    `directory` itself is, whatever the split (so a plain folder serves every split). The folder
    either holds the images directly (no labels) or holds one subfolder per class, whose sorted
    names are `class_names` and whose indices are the labels; not both. Hidden entries (names
    starting with ".") and files with other extensions are ignored. Images are one grey channel
    if every image is mode "L" or "1", else all are converted to RGB (alpha dropped); all must
    have the same size (checked from the headers before anything is decoded).

    `storage` ("auto", "memory", "cache"; `folder:DIR[storage=cache]`): decode into memory, or once
    into a memory-mapped cache file for a folder larger than memory (`genmodels.data.storage`).
    """
    root = _require_directory(Path(directory))
    folder, name = root, f"folder:{root}"
    if split is not None and (root / split).is_dir():
        folder, name = root / split, f"folder:{root}/{split}"
    elif split is not None:
        # A folder laid out by split but missing the one asked for would otherwise be read whole,
        # its split folders taken for classes.
        split_folders = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name in _SPLIT_NAMES)
        if split_folders:
            raise _error(root, f"has split folders {', '.join(split_folders)} but no {split!r} folder")
    files, labels, class_names = _list_images(folder)
    shape = _header_shape(files)
    images = stored_images(
        name,
        files,
        shape,
        lambda start, stop: _stack_images(files[start:stop], shape[1]),
        storage,
        str(folder.resolve()),
        "folder",
    )
    return ImageSet(
        images,
        None if labels is None else torch.from_numpy(labels),
        name,
        class_names,
    )


def _visible(path: Path) -> bool:
    # Hidden entries are editor, OS or notebook debris (macOS "._x.png" files are not images at all).
    return not path.name.startswith(".")


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.iterdir()
        if _visible(path) and path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS
    )


def _list_images(folder: Path) -> tuple[list[Path], np.ndarray | None, tuple[str, ...] | None]:
    """The image files to read, in order, with their labels and class names when there are classes."""
    extensions = ", ".join(IMAGE_EXTENSIONS)
    files = _image_files(folder)
    class_dirs = sorted(path for path in folder.iterdir() if _visible(path) and path.is_dir())
    if files and class_dirs:
        raise _error(
            folder,
            f"holds both image files (e.g. {files[0].name}) and subfolders (e.g. {class_dirs[0].name}); "
            "put every image in a class subfolder, or none",
        )
    if files:
        return files, None, None
    if not class_dirs:
        raise _error(folder, f"holds no images (looked for {extensions})")
    per_class = [_image_files(class_dir) for class_dir in class_dirs]
    for class_dir, class_files in zip(class_dirs, per_class, strict=True):
        if not class_files:
            raise _error(class_dir, f"class subfolder holds no images (looked for {extensions})")
    files = [file for class_files in per_class for file in class_files]
    labels = np.repeat(np.arange(len(class_dirs), dtype=np.int64), [len(f) for f in per_class])
    return files, labels, tuple(class_dir.name for class_dir in class_dirs)


def _read_image(path: Path) -> np.ndarray:
    """One image as uint8 [C, H, W]: C = 1 for grey modes, else 3 (RGB)."""
    try:
        with Image.open(path) as image:
            image.load()
            converted = image.convert("L" if image.mode in _GREY_MODES else "RGB")
    # UnidentifiedImageError is an OSError, as is a truncated file; some Pillow plugins raise
    # SyntaxError or ValueError for a malformed header; a header claiming a gigantic size raises
    # DecompressionBombError before anything is decoded.
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise _error(path, f"is not a readable image ({exc})") from exc
    array = np.asarray(converted, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _header_shape(files: list[Path]) -> tuple[int, int, int, int]:
    """[N, C, H, W] of the folder from the files' headers (nothing decoded): C = 3 if any image is
    colour; every image must have the first one's size."""
    channels, first = 1, None
    for path in files:
        try:
            with Image.open(path) as image:
                mode, size = image.mode, image.size
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise _error(path, f"is not a readable image ({exc})") from exc
        if mode not in _GREY_MODES:
            channels = 3
        if first is None:
            first = size
        elif size != first:
            raise _error(
                path,
                f"is {size[0]}x{size[1]} pixels (width x height) but the first image, {files[0]}, is "
                f"{first[0]}x{first[1]}; all images must be the same size",
            )
    assert first is not None  # _list_images refuses a folder without images
    return len(files), channels, first[1], first[0]


def _stack_images(files: list[Path], channels: int | None = None) -> np.ndarray:
    """Read the files into one uint8 [N, C, H, W] array, greyscale widened to RGB if any is colour
    (or to `channels`, what the whole folder has, when reading it in chunks)."""
    arrays = []
    for path in files:
        array = _read_image(path)
        if arrays and array.shape[1:] != arrays[0].shape[1:]:
            (height, width), (first_height, first_width) = array.shape[1:], arrays[0].shape[1:]
            raise _error(
                path,
                f"is {width}x{height} pixels (width x height) but the first image, {files[0]}, is "
                f"{first_width}x{first_height}; all images must be the same size",
            )
        arrays.append(array)
    channels = channels or max(array.shape[0] for array in arrays)
    # Pillow's L -> RGB conversion repeats the grey level in every channel; broadcasting does the same.
    return np.stack([np.broadcast_to(array, (channels, *array.shape[1:])) for array in arrays])
