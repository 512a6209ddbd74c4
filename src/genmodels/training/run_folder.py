"""What a run folder holds, and the lock that lets one training at a time write it.

A run folder is never silently overwritten: training into a folder that holds a run is refused
unless the caller resumes it or asks to overwrite it, and overwriting clears every file a run
writes first, so no checkpoint, snapshot, figure, metric or threshold of the old run survives
beside the new one.

The lock is `RUN/.lock`, held with `flock` for as long as a training writes the folder, and holding
the holder's PID for the message the next writer gets. The kernel releases the lock when its
process dies, however it dies (SIGKILL included), so a lock left behind by a dead run is stale by
construction: no PID check, which PID reuse and other machines' PIDs would fool.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

LOCK_FILE = ".lock"

# Everything a run writes into its folder: the trainer (model and run description, weights,
# checkpoints, metrics, TensorBoard events, sample grids, snapshots), `genmodels figures` (figures/)
# and the web app (its measured anomaly thresholds). Anything else in the folder is the user's and
# is left alone.
RUN_ENTRIES = (
    "checkpoints",  # first: a clear cut short never leaves weights that a newer config.json names
    "config.json",
    "train.json",
    "model.safetensors",
    "ema.safetensors",
    "metrics.jsonl",
    "tensorboard",
    "samples",
    "snapshots",
    "figures",
    "anomaly_thresholds.json",
)
# The files whose presence makes a folder a run (or a saved model) that training would replace.
_MARKERS = ("config.json", "train.json", "checkpoints", "metrics.jsonl", "model.safetensors")


class RunFolderError(ValueError):
    """A run folder cannot be written as asked (it holds a run, another training holds it, ...)."""


class RunLocked(RunFolderError):
    """Another process is training into the run folder."""


def holds_run(folder: str | Path) -> bool:
    return any((Path(folder) / name).exists() for name in _MARKERS)


def refuse_existing_run(folder: str | Path) -> None:
    """Training afresh into a folder that holds a run needs the user's word for it."""
    if holds_run(folder):
        raise RunFolderError(
            f"{folder} already holds a run ({_describe(Path(folder))}): continue it with --resume, "
            "or replace it with --overwrite"
        )


def clear_run(folder: str | Path) -> None:
    """Remove everything a run wrote into `folder` (see RUN_ENTRIES), and the temporary files of
    writes that a killed run left half done."""
    folder = Path(folder)
    for name in RUN_ENTRIES:
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    for name in RUN_ENTRIES:  # io.atomic_write's temporary files: `.NAME.*.tmp`
        for leftover in folder.glob(f".{name}.*.tmp"):
            leftover.unlink(missing_ok=True)


def _describe(folder: Path) -> str:
    """A few words on the run in `folder` for the refusal: its model and how far it got."""
    import json

    from genmodels.training.checkpoint import latest_checkpoint

    words = []
    with suppress(OSError, ValueError, KeyError, TypeError):  # a broken config.json: no model named
        words.append(str(json.loads((folder / "config.json").read_text())["model"]))
    checkpoint = latest_checkpoint(folder)
    words.append(f"checkpoint {checkpoint.name}" if checkpoint else "no checkpoint")
    return ", ".join(words)


@contextmanager
def run_lock(folder: str | Path) -> Iterator[None]:
    """Hold `folder`'s lock for the duration, or raise RunLocked naming the process that holds it."""
    path = Path(folder) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = _acquire(path)
    try:
        yield
    finally:
        if descriptor is not None:
            # Unlinked while still held: a writer that opened this file meanwhile gets the lock of a
            # file no longer in the folder, sees that, and tries again on a fresh one (`_acquire`).
            path.unlink(missing_ok=True)
            os.close(descriptor)


def _acquire(path: Path) -> int | None:
    try:
        import fcntl
    except ImportError:  # no flock on this platform: the folder is written unlocked, as before locks
        return None
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise RunLocked(
                f"{path.parent} is being written by another training ({_holder(path)}); "
                "wait for it to finish or stop it first"
            ) from None
        except OSError:  # a file system without locks (some network mounts): train unlocked
            os.close(descriptor)
            return None
        try:
            current = os.stat(path).st_ino == os.fstat(descriptor).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(descriptor)  # the previous holder removed this file as we locked it: again
    os.ftruncate(descriptor, 0)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    os.write(descriptor, f"{os.getpid()} {socket.gethostname()} {stamp}\n".encode())
    return descriptor


def _holder(path: Path) -> str:
    """ "PID 123 on HOST since TIME", from the lock file (written just after the lock is taken)."""
    for _ in range(20):
        try:
            fields = path.read_text().split(maxsplit=2)
        except OSError:
            fields = []
        if len(fields) == 3:
            pid, host, since = fields
            return f"PID {pid} on {host}, since {since.strip()}"
        time.sleep(0.05)
    return "PID unknown"
