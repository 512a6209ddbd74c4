"""A training soak: train one model for a fixed wall-clock time and record the process's memory.

    OMP_NUM_THREADS=1 python benchmarks/soak.py --minutes 30            # dcgan, cpu preset
    python benchmarks/soak.py --model vae --minutes 5 --out runs/soak-vae

The run is the real CLI (`genmodels train ... --out RUN`), with checkpoints and sample grids every
500 steps so that every part of the loop that could keep memory is exercised (logging, sample
grids, TensorBoard events, checkpoint writing). Its resident memory (RSS, with its children) is
read every `--every` seconds; after `--minutes` the run is stopped with SIGKILL (the way a job is
lost), and the last checkpoint is checked to load. The result, with the memory series, the growth
after the first 10% of the time (least-squares slope, MB per hour) and the steps done, is written to
benchmarks/results/soak.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

RESULTS = Path(__file__).parent / "results" / "soak.json"


def resident_mb(process: psutil.Process) -> float:
    processes = [process, *process.children(recursive=True)]
    total = 0
    for p in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total / 2**20


def slope_mb_per_hour(series: list[tuple[float, float]]) -> float:
    """Least-squares slope of memory against time, in MB per hour."""
    n = len(series)
    mean_t = sum(t for t, _ in series) / n
    mean_m = sum(m for _, m in series) / n
    covariance = sum((t - mean_t) * (m - mean_m) for t, m in series)
    variance = sum((t - mean_t) ** 2 for t, _ in series) or 1.0
    return covariance / variance * 3600


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="dcgan")
    parser.add_argument("--data", default="mnist")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=15.0, help="Seconds between memory readings.")
    parser.add_argument("--out", type=Path, default=Path("runs/soak"))
    args = parser.parse_args()
    command = [
        sys.executable, "-m", "genmodels.cli", "train", args.model, "--data", args.data, "--preset", "cpu",
        "--steps", "10000000", "--checkpoint-every", "500", "--sample-every", "500", "--no-progress",
        "--out", str(args.out), "--overwrite",
    ]  # fmt: skip
    started = time.monotonic()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    process = psutil.Process(child.pid)
    series: list[tuple[float, float]] = []
    while time.monotonic() - started < args.minutes * 60:
        if child.poll() is not None:
            raise SystemExit(f"the run ended early: {child.stderr.read().decode()[-2000:]}")
        series.append((round(time.monotonic() - started, 1), round(resident_mb(process), 1)))
        time.sleep(args.every)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    rows = [
        json.loads(line) for line in (args.out / "metrics.jsonl").read_text().splitlines() if line.strip()
    ]
    import genmodels  # the last good checkpoint must load after the kill

    genmodels.load(args.out)
    settled = [point for point in series if point[0] >= 0.1 * args.minutes * 60]
    result = {
        "model": args.model,
        "data": args.data,
        "minutes": args.minutes,
        "steps": rows[-1]["step"],
        "rss_mb_first": series[0][1],
        "rss_mb_after_10_percent": settled[0][1],
        "rss_mb_last": series[-1][1],
        "rss_mb_max": max(m for _, m in series),
        "growth_mb_per_hour_after_10_percent": round(slope_mb_per_hour(settled), 2),
        "series": series,
        "command": "OMP_NUM_THREADS=1 python benchmarks/soak.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "series"}))


if __name__ == "__main__":
    main()
