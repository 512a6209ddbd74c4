"""Image data sets kept on disk in the formats of the Hugging Face `datasets` library (`hf:DIR`).

DIR is either
- a data set saved with `save_to_disk`: a `DatasetDict` (`DIR/dataset_dict.json`, a folder per
  split) whose split is read, or a single `Dataset` (`DIR/state.json`), which serves every split;
- or Parquet files: `DIR/<split>/*.parquet`, else `DIR/<split>-*.parquet` or `DIR/<split>_*.parquet`
  (the Hub's layout), else every `DIR/*.parquet` for any split.

Nothing downloads: the files are read where they are (Arrow files memory-mapped by `datasets`,
Parquet by pyarrow).

Columns, found by their features or names, or named with options (`hf:DIR[image=img, label=fine]`):
- the image: the column whose feature is `datasets.Image`, else one named `image` or `img`
  (`image=`); encoded images (PNG, JPEG, ...), decoded with Pillow as `folder:DIR` does: one grey
  channel if every image is grey, else RGB; all must have one size;
- labels: `label` or `labels` (`label=`), integers; their names from a `ClassLabel` feature;
- a caption: `caption` or `text` (`caption=`), becoming the `text` field of text-to-image;
- attributes: `attribute_columns=Smiling/Male` takes those boolean or ±1 / 0-1 columns as the
  binary `attributes` field (StarGAN's), in that order.

The pixels go to memory or, for a set larger than memory, to the memory-mapped cache
(`storage=`, as for folders: `genmodels.data.storage`).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from genmodels.data.dataset import DataError, ImageSet
from genmodels.data.formats import _GREY_MODES
from genmodels.data.storage import stored_images

IMAGE_NAMES = ("image", "img")
LABEL_NAMES = ("label", "labels")
CAPTION_NAMES = ("caption", "text")


def _open(root: Path, split: str) -> tuple[Any, list[Path]]:
    """The split as a `datasets.Dataset`, and the files that hold it (for the cache key)."""
    import datasets

    if (root / "dataset_dict.json").is_file():
        available = sorted(p.name for p in root.iterdir() if (p / "state.json").is_file())
        if split not in available:
            raise DataError(f"hf:{root}: no split {split!r}; it has {', '.join(available)}")
        return datasets.load_from_disk(str(root / split)), sorted((root / split).glob("*.arrow"))
    if (root / "state.json").is_file():
        return datasets.load_from_disk(str(root)), sorted(root.glob("*.arrow"))
    files = _parquet_files(root, split)
    import pyarrow.parquet as pq

    try:
        table = pq.read_table([str(f) for f in files]) if len(files) > 1 else pq.read_table(str(files[0]))
    except Exception as error:  # pyarrow's errors for a file that is not Parquet
        raise DataError(f"hf:{root}: not readable Parquet ({type(error).__name__}: {error})") from error
    return datasets.Dataset(datasets.table.InMemoryTable(table)), files


def _parquet_files(root: Path, split: str) -> list[Path]:
    for pattern in (f"{split}/*.parquet", f"{split}-*.parquet", f"{split}_*.parquet"):
        files = sorted(root.glob(pattern))
        if files:
            return files
    files = sorted(root.glob("*.parquet"))
    if not files:
        raise DataError(
            f"hf:{root}: neither a data set saved with save_to_disk (dataset_dict.json or state.json) "
            "nor Parquet files (*.parquet)"
        )
    return files


def _column(dataset: Any, given: str | None, names: tuple[str, ...], what: str, root: Path) -> str | None:
    if given is not None:
        if given not in dataset.column_names:
            raise DataError(
                f"hf:{root}: no column {given!r} for the {what}; it has {', '.join(dataset.column_names)}"
            )
        return given
    return next((name for name in names if name in dataset.column_names), None)


def _image_column(dataset: Any, given: str | None, root: Path) -> str:
    import datasets

    if given is None:
        typed = [name for name, feature in dataset.features.items() if isinstance(feature, datasets.Image)]
        if typed:
            return typed[0]
    column = _column(dataset, given, IMAGE_NAMES, "images", root)
    if column is None:
        raise DataError(
            f"hf:{root}: no image column (a datasets.Image feature, or one named image or img); "
            f"name it with [image=COLUMN] (columns: {', '.join(dataset.column_names)})"
        )
    return column


def _encoded(dataset: Any, column: str, start: int, stop: int, root: Path) -> list[bytes]:
    """The encoded bytes of rows start..stop of the image column."""
    import datasets

    feature = dataset.features[column]
    if isinstance(feature, datasets.Image):
        values = dataset.cast_column(column, datasets.Image(decode=False))[start:stop][column]
        return [_bytes_of(value, root) for value in values]
    values = dataset[start:stop][column]
    if not all(isinstance(value, bytes | bytearray) for value in values):
        raise DataError(f"hf:{root}: column {column!r} does not hold encoded images (PNG, JPEG, ...)")
    return list(values)


def _bytes_of(value: dict[str, Any], root: Path) -> bytes:
    if value.get("bytes") is not None:
        return value["bytes"]
    path = value.get("path")
    if path and Path(path).is_file():  # an Image feature that points at a file beside the data
        return Path(path).read_bytes()
    raise DataError(f"hf:{root}: an image holds neither bytes nor a readable path ({path!r})")


def _decode(data: bytes, row: int, root: Path, channels: int) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            array = np.asarray(image.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise DataError(f"hf:{root}: row {row} is not a readable image ({error})") from error
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _shape(dataset: Any, column: str, root: Path) -> tuple[int, int, int, int]:
    """[N, C, H, W] from the images' headers (nothing decoded); one size for all."""
    channels, first = 1, None
    for start in range(0, len(dataset), 1000):
        for offset, data in enumerate(_encoded(dataset, column, start, start + 1000, root)):
            try:
                with Image.open(io.BytesIO(data)) as image:
                    mode, size = image.mode, image.size
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
                raise DataError(
                    f"hf:{root}: row {start + offset} is not a readable image ({error})"
                ) from error
            channels = 3 if mode not in _GREY_MODES else channels
            first = first or size
            if size != first:
                raise DataError(
                    f"hf:{root}: row {start + offset} is {size[0]}x{size[1]} pixels but row 0 is "
                    f"{first[0]}x{first[1]}; all images must be the same size"
                )
    if first is None:
        raise DataError(f"hf:{root}: the split holds no rows")
    return len(dataset), channels, first[1], first[0]


def load_hf(
    directory: str | Path,
    split: str,
    image: str | None = None,
    label: str | None = None,
    caption: str | None = None,
    attribute_columns: str | None = None,
    storage: str = "auto",
) -> ImageSet:
    """One split of a `datasets` data set on disk, or of Parquet files (see the module)."""
    import datasets

    root = Path(directory)
    if not root.is_dir():
        raise DataError(f"hf:{directory}: not a folder")
    dataset, files = _open(root, split)
    image_column = _image_column(dataset, image, root)
    shape = _shape(dataset, image_column, root)

    def read_rows(start: int, stop: int) -> np.ndarray:
        encoded = _encoded(dataset, image_column, start, stop, root)
        return np.stack([_decode(data, start + i, root, shape[1]) for i, data in enumerate(encoded)])

    name = f"hf:{root}/{split}"
    images = stored_images(
        name, files, shape, read_rows, storage, str(root.resolve()), split, image_column, "hf"
    )
    labels, class_names, fields, field_names = None, None, {}, {}
    label_column = _column(dataset, label, LABEL_NAMES, "labels", root)
    if label_column is not None:
        values = np.asarray(dataset[label_column])
        if not np.issubdtype(values.dtype, np.integer) or (len(values) and values.min() < 0):
            raise DataError(f"hf:{root}: labels ({label_column!r}) must be integers >= 0")
        labels = torch.from_numpy(values.astype(np.int64))
        feature = dataset.features[label_column]
        if isinstance(feature, datasets.ClassLabel):
            class_names = tuple(feature.names)
    caption_column = _column(dataset, caption, CAPTION_NAMES, "captions", root)
    if caption_column is not None:
        from genmodels.data.captions import encode_texts

        fields["text"] = encode_texts([str(text) for text in dataset[caption_column]])
    if attribute_columns:
        wanted = [column.strip() for column in attribute_columns.split("/")]
        missing = [column for column in wanted if column not in dataset.column_names]
        if missing:
            raise DataError(f"hf:{root}: no attribute column(s) {', '.join(missing)}")
        values = np.stack([np.asarray(dataset[column], dtype=np.float32) for column in wanted], 1)
        fields["attributes"] = torch.from_numpy((values > 0).astype(np.float32))
        field_names["attributes"] = tuple(wanted)
    return ImageSet(images, labels, name, class_names, fields=fields, field_names=field_names)
