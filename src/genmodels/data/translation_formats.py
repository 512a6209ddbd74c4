"""Loaders for the image-to-image translation data a user brings: CycleGAN folders and CelebA.

- `unpaired:DIR` (`load_unpaired`): the CycleGAN layout, DIR/trainA, trainB, testA, testB, each a
  flat folder of images of one size. Split "train" reads trainA then trainB, "test" testA then
  testB; field `domain` is 0 for A and 1 for B (`field_names["domain"] = ("A", "B")`).
- `celeba:DIR` (`load_celeba`): CelebA's aligned faces with `list_attr_celeba.txt` (and optionally
  `list_eval_partition.txt`); field `attributes` float32 {0, 1} [N, 40] with the attribute names.
  Faces are centre-cropped to a square and resized to `size` (default 64), RGB.

Image reading and the size checks are `formats`' own, so every problem is a `DataError` that names
the file or folder at fault.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from genmodels.data.dataset import ImageSet
from genmodels.data.formats import (
    IMAGE_EXTENSIONS,
    _error,
    _header_shape,
    _image_files,
    _require_directory,
    _stack_images,
)
from genmodels.data.storage import stored_images

UNPAIRED_SPLITS = {"train": ("trainA", "trainB"), "test": ("testA", "testB")}
CELEBA_ATTRIBUTES_FILE = "list_attr_celeba.txt"
CELEBA_PARTITION_FILE = "list_eval_partition.txt"
CELEBA_IMAGE_FOLDER = "img_align_celeba"
CELEBA_SPLITS = {"train": 0, "val": 1, "test": 2}
CELEBA_SIZE = 64


# ----------------------------------------------------------------------------------------------
# unpaired:DIR


def load_unpaired(directory: str | Path, split: str, storage: str = "auto") -> ImageSet:
    """Images of domains A and B for `split` ("train" or "test"), alternating, with field `domain`;
    in memory or in the memory-mapped cache (`storage`, as for `folder:DIR`)."""
    root = _require_directory(Path(directory))
    if split not in UNPAIRED_SPLITS:
        raise _error(
            root,
            f"unknown split {split!r} for an unpaired folder; choose one of {', '.join(UNPAIRED_SPLITS)}",
        )
    per_domain = []
    for folder_name in UNPAIRED_SPLITS[split]:
        folder = root / folder_name
        if not folder.is_dir():
            raise _error(
                folder, f"no such folder; an unpaired set needs {', '.join(UNPAIRED_SPLITS[split])} in {root}"
            )
        files = _image_files(folder)
        if not files:
            raise _error(folder, f"holds no images (looked for {', '.join(IMAGE_EXTENSIONS)})")
        per_domain.append(files)
    domain = torch.repeat_interleave(torch.arange(2), torch.tensor([len(files) for files in per_domain]))
    # Rows alternate A, B, A, B, ... (the longer domain's rest at the end), so that the first rows,
    # which sample grids and figures translate, hold both domains.
    rank = torch.cat([torch.arange(len(files)) for files in per_domain])
    order = torch.argsort(rank * 2 + domain, stable=True)
    everything = [file for files in per_domain for file in files]
    ordered = [everything[row] for row in order.tolist()]
    shape = _header_shape(ordered)  # one size and one channel count across A and B
    images = stored_images(
        f"unpaired:{root}/{split}",
        ordered,
        shape,
        lambda start, stop: _stack_images(ordered[start:stop], shape[1]),
        storage,
        str(root.resolve()),
        split,
        "unpaired",
    )
    return ImageSet(
        images,
        None,
        f"unpaired:{root}/{split}",
        fields={"domain": domain[order]},
        field_names={"domain": ("A", "B")},
    )


# ----------------------------------------------------------------------------------------------
# celeba:DIR


def load_celeba(
    directory: str | Path, split: str, size: int = CELEBA_SIZE, storage: str = "auto"
) -> ImageSet:
    """CelebA faces of `split` ("train", "val", "test" from `list_eval_partition.txt`, or "all"),
    centre-cropped and resized to `size` x `size`, with their 40 binary attributes; in memory or, for
    the 202,599 faces at 128 or 256 pixels, in the memory-mapped cache (`storage`)."""
    root = _require_directory(Path(directory))
    if size < 1:
        raise _error(root, f"size={size}; the faces need a size of at least 1 pixel")
    names, files, values = read_celeba_attributes(root / CELEBA_ATTRIBUTES_FILE)
    keep = _celeba_split(root, files, split)
    if not keep:
        raise _error(root, f"split {split!r} holds no images")
    image_folder = root / CELEBA_IMAGE_FOLDER if (root / CELEBA_IMAGE_FOLDER).is_dir() else root
    faces = [image_folder / files[row] for row in keep]
    images = stored_images(
        f"celeba:{root}/{split}",
        faces,
        (len(faces), 3, size, size),
        lambda start, stop: np.stack([_read_face(face, size) for face in faces[start:stop]]),
        storage,
        str(root.resolve()),
        split,
        str(size),
        "celeba",
    )
    return ImageSet(
        images,
        None,
        f"celeba:{root}/{split}",
        fields={"attributes": torch.from_numpy((values[keep] > 0).astype(np.float32))},
        field_names={"attributes": names},
    )


def read_celeba_attributes(path: Path) -> tuple[tuple[str, ...], list[str], np.ndarray]:
    """`list_attr_celeba.txt`: line 1 the count, line 2 the attribute names, then one line per image,
    "filename v1 ... vK" with −1 or 1. Returns (names, files, values int8 [N, K])."""
    if not path.is_file():
        raise _error(path, f"no such file; a CelebA folder needs {CELEBA_ATTRIBUTES_FILE} beside its images")
    try:
        lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(path, f"is not a readable text file ({exc})") from exc
    if len(lines) < 2 or len(lines[0]) != 1 or not lines[0][0].isdigit():
        raise _error(path, "line 1 must be the number of images and line 2 the attribute names")
    count, names, rows = int(lines[0][0]), tuple(lines[1]), lines[2:]
    if count != len(rows):
        raise _error(path, f"line 1 says {count} images but the file lists {len(rows)}")
    values = np.zeros((len(rows), len(names)), dtype=np.int8)
    for i, row in enumerate(rows):
        if len(row) != len(names) + 1:
            raise _error(
                path,
                f"line {i + 3} ({row[0]}) has {len(row) - 1} values but line 2 names {len(names)} attributes",
            )
        if any(value not in ("-1", "1") for value in row[1:]):
            raise _error(path, f"line {i + 3} ({row[0]}) has values other than -1 and 1")
        values[i] = [int(value) for value in row[1:]]
    files = [row[0] for row in rows]
    return names, files, values


def _celeba_split(root: Path, files: list[str], split: str) -> list[int]:
    """The rows of `split`: from `list_eval_partition.txt` when present, else every row is train."""
    known = (*CELEBA_SPLITS, "all")
    if split not in known:
        raise _error(root, f"unknown CelebA split {split!r}; choose one of {', '.join(known)}")
    if split == "all":
        return list(range(len(files)))
    partition_file = root / CELEBA_PARTITION_FILE
    if not partition_file.is_file():
        if split != "train":
            raise _error(
                root,
                f"split {split!r} needs {CELEBA_PARTITION_FILE} (filename 0|1|2 per line); "
                "without it every image is in 'train'",
            )
        return list(range(len(files)))
    partition: dict[str, int] = {}
    for number, line in enumerate(partition_file.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise _error(partition_file, f"line {number} must be 'filename 0|1|2', got {line.strip()!r}")
        partition[parts[0]] = int(parts[1])
    missing = [file for file in files if file not in partition]
    if missing:
        raise _error(partition_file, f"has no split for {len(missing)} listed image(s), e.g. {missing[0]}")
    return [row for row, file in enumerate(files) if partition[file] == CELEBA_SPLITS[split]]


def _read_face(path: Path, size: int) -> np.ndarray:
    """One face as uint8 [3, size, size]: the largest centred square, resized with Lanczos."""
    if not path.is_file():
        raise _error(path, f"is listed in {CELEBA_ATTRIBUTES_FILE} but missing")
    try:
        with Image.open(path) as image:
            face = ImageOps.fit(image.convert("RGB"), (size, size), Image.Resampling.LANCZOS)
    except (OSError, SyntaxError) as exc:
        raise _error(path, f"is not a readable image ({exc})") from exc
    return np.asarray(face, dtype=np.uint8).transpose(2, 0, 1)
