#!/usr/bin/env bash
# The digits analogue of the paper's Table 1 and Fig. 9 (issue 9): ResNet20 at 16x16 on scikit-learn's
# bundled digits, 10 epochs, seed 0, eps 0.2: FLOAT, FLOATS-i (d = 0.3), FLOATS-c (d = 0.3), FLOATS slim
# (SF {1, 0.5}, d = 0.3), FLOAT slim and OAT slim; evaluated under PGD-7 at lambda 0, 0.2, 0.7, 1 on the
# 360 test images; then the report with its Table 1 view, the Fig. 9 plot and a Fig. 5(a) heatmap.
#
#   bash examples/digits_floats.sh [OUT_DIR] [DEVICE]     # about 12 minutes on a 2-core CPU
set -euo pipefail
OUT=${1:-reports/runs/digits-floats}
DEVICE=${2:-cpu}
HWSIM=${HWSIM:-hwsim}
MODELS=(float floats floats-c floats-slim float-slim oat-slim)
for m in "${MODELS[@]}"; do
  $HWSIM train "models/resnet20-digits-$m.yaml" --epochs 10 --eps 0.2 --seed 0 --out-dir "$OUT" --device "$DEVICE" --quiet
done
for m in "${MODELS[@]}"; do
  $HWSIM evaluate "$OUT/resnet20-digits-$m" --lambdas 0,0.2,0.7,1 --attacks pgd7 --limit 360 --device "$DEVICE" --quiet
done
runs=()
for m in "${MODELS[@]}"; do runs+=("$OUT/resnet20-digits-$m"); done
$HWSIM report "${runs[@]}" --out-dir "$OUT/report" --heatmap layers.2.1.conv1 -f markdown -o "$OUT/report/report.md"
