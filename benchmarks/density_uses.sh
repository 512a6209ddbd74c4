#!/usr/bin/env bash
# The density-uses rows of BENCHMARKS.md: anomaly detection (AUROC per score per out-of-distribution
# set) and the Bayes classifier, with NADE (cpu preset, 600 of its 1,500 steps, to fit three models in
# half an hour on 2 cores) as the density. Run from the repository root:
#     bash benchmarks/density_uses.sh [OUT]        (default OUT=runs/bench-density)
# JSON reports are written to benchmarks/results/density_uses/.
set -euo pipefail
OUT=${1:-runs/bench-density}
G=.venv/bin/genmodels
RESULTS=benchmarks/results/density_uses
mkdir -p "$RESULTS"
# In-distribution model: digits 0-8 (the 9s are held out as one out-of-distribution set).
$G train nade --data 'mnist[classes=0-8]' --preset cpu --steps 600 --out "$OUT/nade-0to8" --no-progress --overwrite
# Background model for the likelihood ratio (Ren et al. 2019): the same, on inputs with 20% of pixels noised.
$G train nade --data 'mnist[classes=0-8]' --preset cpu --steps 600 --perturb 0.2 --out "$OUT/nade-0to8-background" --no-progress --overwrite
$G detect "$OUT/nade-0to8" --in-data 'mnist[classes=0-8]' \
    --out-data 'mnist[classes=9]' --out-data 'mnist[invert]' --out-data 'noise' --out-data 'photos' \
    --background "$OUT/nade-0to8-background" --json > "$RESULTS/detect.json"
# Bayes classifier: one class-conditional NADE, p(x | y) for the ten digits.
$G train nade --preset cpu --steps 600 --set num_classes=10 --out "$OUT/nade-conditional" --no-progress --overwrite
$G classify "$OUT/nade-conditional" --data mnist --split test --json > "$RESULTS/classify.json"
