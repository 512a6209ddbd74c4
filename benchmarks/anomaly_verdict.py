"""How often the web app's anomaly verdict fires: the share of each out-of-distribution set that a
run's thresholds flag, through the app's own path (`RunCatalog.thresholds`: each score's 99th
percentile on held-out in-distribution images, so about 1% of those are flagged by construction).

    python benchmarks/anomaly_verdict.py [RUN]     # default runs/bench-density/nade-0to8
    python benchmarks/tables.py verdict

RUN is a density run (benchmarks/density_uses.sh trains the default: NADE on the digits 0-8).
The result is written to benchmarks/results/anomaly_verdict.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import genmodels
from genmodels.app import RunCatalog
from genmodels.evaluation.anomaly import anomaly_scores

RESULTS = Path(__file__).parent / "results" / "anomaly_verdict.json"
OUT_SETS = ["mnist[classes=9]", "mnist[invert]", "noise", "photos"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", nargs="?", default="runs/bench-density/nade-0to8")
    args = parser.parse_args()
    run = Path(args.run)
    catalog = RunCatalog(run.parent)
    measured = catalog.thresholds(run.name)
    model = catalog.model(run.name)
    view = genmodels.evaluation_view_of(run, model)
    rows = []
    for name in OUT_SETS:
        data = genmodels.load_dataset(name, "test")
        scores = anomaly_scores(model, data, view)
        flagged = {
            key: float((scores[key] > limit).double().mean()) for key, limit in measured["thresholds"].items()
        }
        rows.append({"out_data": data.name, "n": len(data), "flagged": flagged})
        print(data.name, flagged)
    result = {
        "command": f"python benchmarks/anomaly_verdict.py {args.run}",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
        "model": model.name,
        "thresholds": measured,
        "rows": rows,
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
