"""Where a data set's pixels live: in memory, or in a memory-mapped uint8 cache on disk.

A data set is one uint8 tensor [N, C, H, W] (`ImageSet.images`); the batches index its rows. For
a set that does not fit in memory the tensor is backed by a file instead: the images are decoded
once, a chunk at a time, into `<cache>/images-<key>.npy`, and the tensor maps that file read-only.
A batch then reads its rows from the page cache, the operating system keeps the pages it can, and
the process's own memory stays small. Nothing else changes: the same rows in the same
deterministic order (`BatchStream`), so a resumed run still reproduces an uninterrupted one.

`storage` is chosen per data set: "memory", "cache", or "auto" (the default): the cache when the
decoded pixels would take more than the in-memory budget, a quarter of the machine's memory (or
`GENMODELS_IN_MEMORY_MAX_MB`). The cache's key hashes the folder, the split and every file's name,
size and modification time, so a changed folder is decoded again; the file is written under a
temporary name and renamed, so a killed build leaves no half-written cache.

What reads the whole set (derived views such as `classes=` or `styles=`, which compute new pixels)
makes an in-memory copy: those are for sets that fit.
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from genmodels.data.dataset import DataError

Storage = Literal["auto", "memory", "cache"]
STORAGES: tuple[str, ...] = ("auto", "memory", "cache")
CHUNK_BYTES = 16 * 2**20  # decoded per chunk while the cache is built (held twice while stacked)


def in_memory_budget() -> int:
    """Bytes of pixels the "auto" storage keeps in memory."""
    given = os.environ.get("GENMODELS_IN_MEMORY_MAX_MB")
    if given:
        try:
            return int(float(given) * 2**20)
        except ValueError as error:
            raise DataError(f"GENMODELS_IN_MEMORY_MAX_MB={given!r} is not a number of megabytes") from error
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4


def choose_storage(storage: str, nbytes: int, source: str) -> Literal["memory", "cache"]:
    if storage not in STORAGES:
        raise DataError(f"{source}: storage={storage!r}; choose one of {', '.join(STORAGES)}")
    if storage == "auto":
        return "cache" if nbytes > in_memory_budget() else "memory"
    return storage  # type: ignore[return-value]


def cache_key(files: Sequence[Path], *parts: str) -> str:
    """A key that changes when any file's name, size or modification time does."""
    digest = hashlib.sha256("\0".join(parts).encode())
    for path in files:
        try:
            status = path.stat()
        except FileNotFoundError:  # the reader names it when it comes to the row
            digest.update(f"\0{path}\0missing".encode())
            continue
        digest.update(f"\0{path}\0{status.st_size}\0{status.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def stored_images(
    source: str,
    files: Sequence[Path],
    shape: tuple[int, int, int, int],
    read_rows: Callable[[int, int], np.ndarray],
    storage: str,
    *key_parts: str,
) -> Tensor:
    """The images of `files` ([N, C, H, W] = `shape`, rows read by `read_rows(start, stop)`) in
    memory or in the cache, as `storage` says ("auto": by size); `key_parts` name what else decides
    the pixels (the folder, the split, a resize)."""
    if choose_storage(storage, math.prod(shape), source) == "memory":
        return torch.from_numpy(read_rows(0, shape[0]))
    return mapped_images(cache_key(files, *key_parts), shape, read_rows)


def mapped_images(
    key: str, shape: tuple[int, int, int, int], read_rows: Callable[[int, int], np.ndarray]
) -> Tensor:
    """A uint8 tensor of `shape` backed by the cache file for `key`, built (if absent) by writing
    `read_rows(start, stop)` chunk by chunk."""
    from genmodels.data.embedded import _cache_dir

    path = _cache_dir() / f"images-{key}.npy"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            # Plain writes, a chunk at a time: the process holds one chunk, never the set.
            with temporary.open("wb") as out:
                header = {"descr": "|u1", "fortran_order": False, "shape": shape}
                np.lib.format.write_array_header_1_0(out, header)
                rows_per_chunk = max(1, CHUNK_BYTES // max(1, math.prod(shape[1:])))
                for start in range(0, shape[0], rows_per_chunk):
                    stop = min(shape[0], start + rows_per_chunk)
                    block = read_rows(start, stop)
                    if block.shape != (stop - start, *shape[1:]) or block.dtype != np.uint8:
                        raise DataError(f"rows {start}-{stop} decoded to {block.dtype} {list(block.shape)}")
                    out.write(np.ascontiguousarray(block).tobytes())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    array = np.load(path, mmap_mode="r")
    if array.shape != shape or array.dtype != np.uint8:
        raise DataError(
            f"{path}: a cache of {array.dtype} {list(array.shape)}, not uint8 {list(shape)}: delete it"
        )
    with warnings.catch_warnings():
        # Read-only by design: nothing writes into a data set's pixels (views make new tensors).
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)
