"""Render the measured rows of benchmarks/results/*.jsonl as the Markdown tables of BENCHMARKS.md,
so that no number there is typed by hand. The latest row of each model wins.

    python benchmarks/tables.py explicit
    python benchmarks/tables.py quality
    python benchmarks/tables.py quality-full
    python benchmarks/tables.py codes-full  # InfoGAN's and the AAEs' codes on mnist-full, beside the papers
    python benchmarks/tables.py density     # anomaly detection and the Bayes classifier
    python benchmarks/tables.py structured  # text-to-image, Puzzle-GAN, ProGAN (structured-full: mnist-full)
    python benchmarks/tables.py translation # CycleGAN, StarGAN (translation-full: on mnist-full)
    python benchmarks/tables.py soak        # memory over a 30-minute training run
    python benchmarks/tables.py verdict     # the web app's anomaly verdict on out-of-distribution sets
    python benchmarks/tables.py reproduction  # mnist-full, the literature's protocol, beside the papers
    python benchmarks/tables.py parzen        # the Parzen-window log-likelihood of the GAN and AAE papers
    python benchmarks/tables.py aae-balance   # issue 15's AAE variants beside the VAE, same minutes
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

from rows import snapshot_step

from genmodels.io import EMA_FILE, WEIGHTS_FILE

RESULTS = Path(__file__).parent / "results"


def latest_rows(file: str) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    for line in (RESULTS / file).read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            # A reused run of another variant (e.g. runs/bench-codes/aae-supervised) gets its own row.
            run = Path(row.get("run", ""))
            label = row["model"] if run.name in ("", row["model"]) else f"{row['model']} ({run.name})"
            if row.get("ema"):  # the run's averaged weights (--ema-decay): a row beside its raw weights'
                label += ", EMA"
            if "selected_on" in row:  # the run's snapshot chosen on val: a row beside its final weights'
                label += ", best snapshot on val"
            rows[label] = row
    return rows


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} s"


def _small(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2g}" if value < 0.01 else f"{value:.3f}" if value < 1 else f"{value:.2f}"


def explicit_table() -> str:
    lines = [
        "| model | free parameters | steps (epochs), training view | train time | train NLL | test NLL "
        "| sampling s/image, naive | own sampler | speed-up |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    order = ["independent", "markov", "fvsbn", "nade", "made", "pixelcnn", "pixelrnn", "vae"]
    rows = latest_rows("explicit_models.jsonl")
    for name, row in sorted(rows.items(), key=lambda item: order.index(item[0]) if item[0] in order else 99):
        naive, own = row.get("sample_seconds_per_image_naive"), row.get("sample_seconds_per_image")
        speedup = f"{naive / own:.0f}×" if naive and own else "n/a"
        view = row["training_view"].split(" (")[0]
        lines.append(
            f"| {name} | {row['parameters']:,} | {row['steps']:,} ({row['epochs']:g}), {view} "
            f"| {_seconds(row['train_seconds'])} | {row['train_nll']:.2f} | {row['test_nll']:.2f} "
            f"| {_small(naive)} | {_small(own)} | {speedup} |"
        )
    return "\n".join(lines)


def _on_full_mnist(row: dict) -> bool:
    """Whether a sample-quality row was measured against mnist-full's test digits (issue 15)."""
    return row.get("real", "").startswith("mnist-full/")


def quality_table() -> str:
    """Issue 4's table: the cpu recipes on the 4,000 `mnist` digits, 1,000 samples."""
    lines = [
        "| model | steps | train time | FD-digits | KID (± sd) | precision | recall | density | coverage "
        "| classes covered |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in latest_rows("sample_quality.jsonl").items():
        if _on_full_mnist(row):
            continue
        lines.append(
            f"| {name} | {row['steps']:,} | {_seconds(row['train_seconds'])} | {row['fd']:.2f} "
            f"| {row['kid']:.3f} ± {row['kid_std']:.3f} | {row['precision']:.3f} | {row['recall']:.3f} "
            f"| {row['density']:.3f} | {row['coverage']:.3f} | {row.get('classes_covered', 'n/a')} / 10 |"
        )
    return "\n".join(lines)


def _real(row: dict) -> str:
    """The real digits a sample-quality row compared with, without the likelihood tables' caveat
    about thresholding (a caveat about NLLs, not about the samplers' reference set)."""
    caveat = "thresholded (pixel > 127; the easier test, not the literature's)"
    return row["real"].replace(caveat, "pixel > 127")


def _chosen(row: dict) -> str:
    """Which weights were measured, when a snapshot was chosen on val (sample_quality.py --select-on-val)."""
    if "selected_on" not in row:
        return ""
    weights = row["weights"]
    step = "the final weights" if weights in (WEIGHTS_FILE, EMA_FILE) else f"step {snapshot_step(weights):,}"
    return f"; measured: {step}, of {len(row['selection_fd'])} by FD on val"


def quality_full_table() -> str:
    """Issue 15's table: the `full` runs on mnist-full, 10,000 samples against the 10,000 test
    digits, in the feature space of the classifier trained on mnist-full."""
    lines = [
        "| model (run) | steps, train time | compared with | FD-digits | KID (± sd) | precision "
        "| recall | density | coverage | classes covered |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in latest_rows("sample_quality.jsonl").items():
        if not _on_full_mnist(row):
            continue
        lines.append(
            f"| {name} ({row['run']}) | {row['steps']:,}, {_seconds(row['train_seconds'])}{_chosen(row)} "
            f"| {row['n_fake']:,} samples vs {_real(row)}, n = {row['n_real']:,} | {row['fd']:.1f} "
            f"| {row['kid']:.1f} ± {row['kid_std']:.1f} | {row['precision']:.3f} | {row['recall']:.3f} "
            f"| {row['density']:.3f} | {row['coverage']:.3f} | {row.get('classes_covered', 'n/a')} / 10 |"
        )
    return "\n".join(lines)


def density_tables() -> str:
    detect = json.loads((RESULTS / "density_uses" / "detect.json").read_text())
    lines = [
        f"In-distribution: {detect['in_data']} ({detect['view']}), model {detect['model']}.",
        "",
        "| out-of-distribution set | n in / out | mean NLL in / out | AUROC raw NLL | AUROC likelihood ratio "
        "| AUROC complexity-corrected | AUPRC (raw / ratio / complexity) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in detect["results"]:
        auprc = " / ".join(f"{r[k]['auprc']:.3f}" for k in ("nll", "likelihood_ratio", "complexity"))
        auroc = " | ".join(f"{r[k]['auroc']:.3f}" for k in ("nll", "likelihood_ratio", "complexity"))
        nll = f"{r['mean_nll_in']:.1f} / {r['mean_nll_out']:.1f}"
        lines.append(f"| {r['out_data']} | {r['n_in']} / {r['n_out']} | {nll} | {auroc} | {auprc} |")
        lines += [f"|  | warning: {w} |  |  |  |  |  |" for w in r.get("warnings", [])]
    classify = json.loads((RESULTS / "density_uses" / "classify.json").read_text())
    per_class = " ".join(f"{a:.2f}" for a in classify["per_class_accuracy"])
    lines += [
        "",
        f"Bayes classifier ({classify['model']}, {classify['data']}, n = {classify['n']}, "
        f"{classify['view']}): accuracy **{classify['accuracy']:.3f}**; per class 0-9: {per_class}.",
    ]
    return "\n".join(lines)


def _structured_rows(full: bool) -> list[dict]:
    """structured.jsonl's latest rows measured on mnist (issue 5) or on mnist-full (issue 15)."""
    return [
        r for r in latest_rows("structured.jsonl").values() if _data_of(r).startswith("mnist-full") == full
    ]


def _data_of(row: dict) -> str:
    return row.get("data") or row["held_out_phrasings"]["data"]


def structured_tables(full: bool = False) -> str:
    """Text-to-image, Puzzle-GAN and Progressive GAN on mnist (issue 5), or on mnist-full."""
    rows = {row["model"]: row for row in _structured_rows(full)}  # latest per model
    lines: list[str] = []
    if "text2image" in rows:
        r = rows["text2image"]
        lines += [
            f"Text-to-image ({r['run']}, {r['steps']:,} steps, {_seconds(r.get('train_seconds'))}):",
            "",
            "| captions | digit accuracy | thickness: exact (baseline) | slant: exact (baseline) "
            "| size: exact (baseline) | attributes on the named side of the median | FD-digits | recall |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name in ("held_out_phrasings", "training_phrasings"):
            c = r[name]
            a = c["attributes"]
            cells = " | ".join(
                f"{a[k]['exact']:.3f} ({a[k].get('baseline_exact', float('nan')):.3f}; n = {a[k]['named']})"
                for k in ("thickness", "slant", "size")
            )
            lines.append(
                f"| {name.replace('_', ' ')} ({c['data']}) | **{c['digit_accuracy']:.3f}** | {cells} "
                f"| {a['all']['side']:.3f} | {c['fd']:.1f} | {_small(c.get('recall'))} |"
            )
        lines.append("")
    puzzles = [r for r in _structured_rows(full) if r["model"] == "puzzlegan"]
    if puzzles:
        lines += [
            f"Puzzle-GAN ({puzzles[-1]['images']:,} {puzzles[-1]['data']} digits, "
            f"{puzzles[-1]['patches']:,} patches):",
            "",
            "| run | steps | train time | FD-digits | recall | placement: mean IoU (centre baseline) "
            "| IoU ≥ 0.5 (centre baseline) | appearance L1 | completion shows the source digit |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in puzzles:
            lines.append(
                f"| {r['run']} | {r['steps']:,} | {_seconds(r.get('train_seconds'))} | {r['fd']:.1f} "
                f"| {_small(r.get('recall'))} "
                f"| **{r['mean_iou']:.3f}** ({r['centre_baseline_mean_iou']:.3f}) "
                f"| {r['share_iou_50']:.3f} ({r['centre_baseline_share_iou_50']:.3f}) "
                f"| {r['appearance_l1']:.3f} | {r.get('same_digit', float('nan')):.3f} |"
            )
        lines.append("")
    if "progan" in rows:
        r = rows["progan"]
        lines += [
            f"Progressive GAN ({r['run']}, {r['steps']:,} steps, {_seconds(r.get('train_seconds'))}; "
            f"1,000 samples against {r['data']}):",
            "",
            "| generator | FD-digits | precision | recall | coverage | classes |",
            "|---|---|---|---|---|---|",
        ]
        for weights in ("ema", "raw"):
            q = r[weights]
            lines.append(
                f"| {weights} | **{q['fd']:.1f}** | {_small(q.get('precision'))} | {_small(q.get('recall'))} "
                f"| {_small(q.get('coverage'))} | {q.get('classes_covered', 'n/a')} |"
            )
    return "\n".join(lines)


def translation_table(full: bool = False) -> str:
    """CycleGAN and StarGAN on styled mnist (issue 6), or on styled mnist-full (issue 15, the zoo)."""
    rows = {
        label: r
        for label, r in latest_rows("translation.jsonl").items()
        if r["data"].startswith("mnist-full") == full
    }
    lines = [
        "| model | data (test) | steps | train time | target-domain accuracy | digit kept (ceiling) "
        "| cycle / reconstruction L1 | translations |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, r in rows.items():
        l1 = r.get("cycle_l1", r.get("reconstruction_l1"))
        kind = "cycle" if "cycle_l1" in r else "reconstruction"
        n = r.get("n", r.get("n_translations"))
        lines.append(
            f"| {label} | {r['data']} | {r['steps']:,} | {_seconds(r.get('train_seconds'))} "
            f"| **{r['target_accuracy']:.3f}** | {r['content_accuracy']:.3f} "
            f"({r['content_accuracy_untranslated']:.3f}) | {kind} {l1:.3f} | {n:,} |"
        )
        details = r.get("per_direction") or r.get("per_attribute") or {}
        for name, d in details.items():
            cycle = f"{d['cycle_l1']:.3f}" if "cycle_l1" in d else ""
            lines.append(
                f"|  | {name} |  |  | {d['target_accuracy']:.3f} | {d['content_accuracy']:.3f} "
                f"| {cycle} | {d['n']:,} |"
            )
    return "\n".join(lines)


def soak_table() -> str:
    """The training soak's memory (issue 7)."""
    r = json.loads((RESULTS / "soak.json").read_text())
    return "\n".join(
        [
            f"`{r['command']}` ({r['machine']}, {r['date']}): {r['model']} on {r['data']}, "
            f"{r['minutes']:g} minutes, {r['steps']:,} steps, then SIGKILL; the last checkpoint loaded.",
            "",
            "| resident memory | MB |",
            "|---|---|",
            f"| first reading | {r['rss_mb_first']:.0f} |",
            f"| after 10% of the time | {r['rss_mb_after_10_percent']:.0f} |",
            f"| last reading | {r['rss_mb_last']:.0f} |",
            f"| largest | {r['rss_mb_max']:.0f} |",
            f"| growth after 10% of the time (least squares) "
            f"| {r['growth_mb_per_hour_after_10_percent']:+.1f} per hour |",
        ]
    )


def verdict_table() -> str:
    """The share of each out-of-distribution set the app's anomaly verdict flags (issue 7)."""
    r = json.loads((RESULTS / "anomaly_verdict.json").read_text())
    t = r["thresholds"]
    lines = [
        f"`{r['command']}` ({r['machine']}, {r['date']}): {r['model']}; thresholds are the 99th "
        f"percentiles on {t['note']} ({t['n']} images, {t['view']}): −log p(x) > "
        f"{t['thresholds']['nll']:.1f} nats, complexity-corrected > {t['thresholds']['complexity']:.1f}.",
        "",
        "| out-of-distribution set | n | flagged by −log p(x) | flagged by the complexity-corrected score |",
        "|---|---|---|---|",
    ]
    for row in r["rows"]:
        flagged = row["flagged"]
        lines.append(
            f"| {row['out_data']} | {row['n']:,} | {flagged['nll']:.1%} | {flagged['complexity']:.1%} |"
        )
    return "\n".join(lines)


REPRODUCTION_ORDER = ["independent", "markov", "fvsbn", "nade", "made", "vae", "pixelcnn", "pixelrnn"]


def reproduction_tables() -> str:
    """The likelihood models on mnist-full by the literature's protocol (issue 13); also draws the
    learning curves to benchmarks/results/reproduction_curves.png."""
    rows = sorted(
        latest_rows("reproduction.jsonl").items(),
        key=lambda item: (
            REPRODUCTION_ORDER.index(item[1]["model"]) if item[1]["model"] in REPRODUCTION_ORDER else 99
        ),
    )
    lines = [
        "| model | paper (nats) | its source and protocol | ours: test NLL | train NLL | parameters "
        "| training: steps (epochs), view | time (2 cores) | command |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, row in rows:
        paper = "n/a" if row["paper_nll"] is None else f"{row['paper_nll']:.2f}"
        estimate = "exact" if row["exact"] else f"IW bound, k = {row['k']:,}"
        view = row["training_view"].split(" (")[0]
        lines.append(
            f"| {label} | {paper} | {row['paper_protocol']} | **{row['test_nll']:.2f}** ({estimate}) "
            f"| {row['train_nll']:.2f} | {row['parameters']:,} "
            f"| {row['steps']:,} ({row['epochs']:g}), {view} "
            f"| {_duration(row['train_seconds'])} | `{row['command']}` |"
        )
    curves = [
        "",
        "Learning curves: test NLL (nats, same protocol) of the weight snapshots against training minutes"
        " (at most 12 points each here; every snapshot in the figure).",
        "",
        "| model | minutes: test NLL |",
        "|---|---|",
    ]
    for label, row in rows:
        curve = row["curve"]
        shown = curve[:: max(1, -(-len(curve) // 12))]
        shown += [] if shown[-1] is curve[-1] else curve[-1:]
        points = ", ".join(f"{_minutes(minutes)}: {nll:.2f}" for minutes, nll, *_ in shown)
        curves.append(f"| {label} | {points} |")
    _plot_curves(rows)
    return "\n".join(lines + curves)


def _minutes(minutes: float) -> str:
    """Two significant figures below 10 minutes, whole minutes above (never 1.1e+02)."""
    return f"{minutes:.2g}" if minutes < 10 else f"{minutes:.0f}"


def parzen_table() -> str:
    """The Parzen-window log-likelihood on mnist-full's test digits beside the papers' (issue 15)."""
    lines = [
        "| model | paper (nats) | ours: test log-likelihood (nats) | σ (chosen on val) | kernels on "
        "| training: steps, time | command |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, row in latest_rows("parzen.jsonl").items():
        paper = row["paper"]
        shown = "n/a" if paper is None else f"{paper['value']:.0f} ± {paper['error']:.0f} ({paper['source']})"
        ours = f"**{row['parzen_log_likelihood']:.1f}** ± {row['parzen_standard_error']:.1f}"
        lines.append(
            f"| {label} | {shown} | {ours} | {row['parzen_sigma']:.3f} "
            f"| {row['n_samples']:,} {row['kernels_on'].replace('|', '&#124;')} "
            f"| {row['steps']:,}, {_duration(row['train_seconds'])} | `{row['command']}` |"
        )
    return "\n".join(lines)


# The papers' numbers for the codes measured on mnist-full (test error, %).
CODES_PAPERS = {
    ("aae-categorical", "semi", 100): "1.90 ± 0.10 (Makhzani et al. 2015, Table 2)",
    ("aae-categorical", "semi", 1000): "1.60 ± 0.08 (Table 2)",
    ("aae-categorical", "unsupervised", 16): "9.55 ± 2.15 (Table 3)",
    ("aae-categorical", "unsupervised", 30): "4.10 ± 1.13 (Table 3)",
    ("infogan", "categorical code", 10): "about 5 (Chen et al. 2016, section 7.2)",
}


def _rates(row: dict) -> str:
    """An AAE's three Adam rates: the reconstruction step, D's, the encoder's adversarial step."""
    return "rates (reconstruction, D, E) " + ", ".join(f"{rate:g}" for rate in row.get("rates", []))


def codes_full_table() -> str:
    """Issue 15: what the structured codes recover on mnist-full's test digits, beside the papers."""
    lines = [
        "| model | setting | measure | ours: test error | paper: test error (%) | training: steps, time "
        "| run |",
        "|---|---|---|---|---|---|---|",
    ]
    rows: dict[str, dict] = {}
    for line in (RESULTS / "codes_and_labels.jsonl").read_text().splitlines():
        row = json.loads(line) if line.strip() else None
        if row and row.get("data") == "mnist-full/test":
            rows[row["run"]] = row  # the latest row of each run wins
    for row in rows.values():
        norm = ", batch norm" if row.get("batch_norm") else ""
        if row["model"] == "infogan":
            key, setting = ("infogan", "categorical code", 10), "10-way categorical code, Q's guess"
        elif "semi" in row["measure"]:
            labelled = int(row["trained_on"].split("labelled=")[1].rstrip("]"))
            key, setting = ("aae-categorical", "semi", labelled), f"{labelled:,} labels, {_rates(row)}{norm}"
        elif row["model"] == "aae-categorical":
            key = ("aae-categorical", "unsupervised", row["classes"])
            setting = f"unsupervised, {row['classes']} clusters, {_rates(row)}{norm}"
        else:  # the label-regularised AAE of Fig. 4: its error is the share outside their part
            key = (row["model"], row.get("labels", ""), 0)
            setting = (
                f"{row.get('prior')} prior, {row.get('latent_dim')}-d code, labels={row.get('labels')}, "
                f"{row.get('encoder')} encoder, {_rates(row)}"
            )
        measure = row["measure"].replace(
            "test codes in their class's component", "test codes outside their class's part"
        )
        if "kept_step" in row:
            setting += f", early stopping on {row['validated_on']} (kept step {row['kept_step']:,})"
        if row.get("train_seed") is not None:
            setting += f", seed {row['train_seed']}"
        lines.append(
            f"| {row['model']} | {setting} | {measure} | **{100 * row['test_error']:.2f}%** "
            f"| {CODES_PAPERS.get(key, 'n/a')} | {row['steps']:,}, {_duration(row['train_seconds'])} "
            f"| {row['run']} |"
        )
    return "\n".join(lines)


def aae_balance_table() -> str:
    """Issue 15's AAE variants beside the VAE, each trained for the same minutes on mnist-full."""
    lines = [
        "| variant | model, settings | minutes (steps) | FD-digits | KID (± sd) | precision | recall "
        "| classes covered |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows: dict[str, dict] = {}
    for line in (RESULTS / "aae_balance.jsonl").read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            rows[f"{row['variant']}@{row['minutes']:g}"] = row  # the latest row of each wins
    for row in rows.values():
        settings = ", ".join(f"{k}={v}" for k, v in row["config"].items() if k not in ("hidden",))
        lines.append(
            f"| {row['variant']} | {row['model']}: {settings} | {row['minutes']:g} ({row['steps']:,}) "
            f"| {row['fd']:.1f} | {row['kid']:.3f} ± {row['kid_std']:.3f} | {row['precision']:.3f} "
            f"| {row['recall']:.3f} | {row.get('classes_covered', 'n/a')} / 10 |"
        )
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _plot_curves(rows: list[tuple[str, dict]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    top = 112  # the baselines (independent pixels, the Markov chain) sit far above: named, not drawn
    for label, row in rows:
        if row["curve"]:
            minutes, nll = zip(*[(m, v) for m, v, *_ in row["curve"]], strict=True)
            if min(nll) > top:
                axis.plot([], [], " ", label=f"{label}: {row['test_nll']:.1f} (above)")
                continue
            axis.plot(minutes, nll, marker="o", markersize=3, label=f"{label}: {row['test_nll']:.2f}")
    axis.set(xlabel="training minutes (2-core CPU)", ylabel="test NLL, nats (stochastic binarisation)")
    axis.set_ylim(top=top)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(RESULTS / "reproduction_curves.png", dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "table",
        choices=[
            "explicit",
            "quality",
            "quality-full",
            "density",
            "structured",
            "structured-full",
            "translation",
            "translation-full",
            "soak",
            "verdict",
            "reproduction",
            "parzen",
            "aae-balance",
            "codes-full",
        ],
    )
    args = parser.parse_args()
    tables = {
        "explicit": explicit_table,
        "quality": quality_table,
        "quality-full": quality_full_table,
        "density": density_tables,
        "structured": structured_tables,
        "structured-full": partial(structured_tables, full=True),
        "translation": translation_table,
        "translation-full": partial(translation_table, full=True),
        "soak": soak_table,
        "verdict": verdict_table,
        "reproduction": reproduction_tables,
        "parzen": parzen_table,
        "aae-balance": aae_balance_table,
        "codes-full": codes_full_table,
    }
    print(tables[args.table]())


if __name__ == "__main__":
    main()
