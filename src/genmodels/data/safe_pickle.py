"""Reading data files that are pickles, without letting them run code.

A pickle names the functions that rebuild its objects, and a plain unpickler calls whatever it names:
a data file from elsewhere could name `os.system`. `load_restricted` rebuilds only the objects of
an allow-list and refuses every other global by name, before calling anything. The allow-list for
numpy arrays (`numpy_arrays()`) is what a pickled ndarray needs: its class, its dtype, and numpy's
array reconstructor; `BYTES` adds what a protocol-2 pickle written by Python 3 needs to rebuild a
bytes object (`_codecs.encode(text, "latin1")`, accepted for that one encoding only). Dicts, lists,
strings and numbers are pickle opcodes, not globals, and need no entry.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from genmodels.data.dataset import DataError


def _numpy_reconstruct() -> Callable[..., Any]:
    try:  # numpy >= 2 keeps it in numpy._core; old pickles name numpy.core
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def numpy_arrays() -> dict[tuple[str, str], Any]:
    """The globals a pickled numpy array needs, under the names old and new numpy write."""
    reconstruct = _numpy_reconstruct()
    return {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): reconstruct,
    }


def _latin1_bytes(text: str, encoding: str = "utf-8") -> bytes:
    """`_codecs.encode` as protocol-2 pickles of bytes call it, and nothing else."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError(f"_codecs.encode is rebuilt for (str, 'latin1') only, not {encoding!r}")
    return text.encode("latin1")


BYTES: dict[tuple[str, str], Any] = {("_codecs", "encode"): _latin1_bytes}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(
        self, stream: io.BufferedIOBase, allowed: Mapping[tuple[str, str], Any], source: str, kinds: str
    ):
        # latin1: Python 2 pickles store numpy's raw bytes as str, which latin1 maps byte for byte.
        super().__init__(stream, encoding="latin1")
        self.allowed, self.source, self.kinds = allowed, source, kinds

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        raise DataError(
            f"{self.source}: refused to load: the pickle asks for {module}.{name}, which is not a "
            f"data type this reader rebuilds (only {self.kinds}); the file may be unsafe"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise DataError(f"{self.source}: refused to load: the pickle refers to external objects")


def load_restricted(
    data: bytes, allowed: Mapping[tuple[str, str], Any], source: str, kinds: str = "numpy arrays"
) -> Any:
    """Unpickle `data`, rebuilding only the globals in `allowed` (`kinds` names them for the error);
    any other is a DataError naming it."""
    try:
        return _RestrictedUnpickler(io.BytesIO(data), allowed, source, kinds).load()
    except DataError:
        raise
    except Exception as error:  # truncated or malformed: one line, not a traceback from pickle
        raise DataError(f"{source}: not a readable pickle ({type(error).__name__}: {error})") from error
