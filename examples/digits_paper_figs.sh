#!/usr/bin/env bash
# The digits runs behind the paper's Fig. 3, Fig. 4 and Fig. 10 (AutoAttack) (issue 11): ResNet20 at
# 16x16 on scikit-learn's bundled digits, 15 epochs, batch 128, eps 0.2, seed 0, best checkpoints on
# 300 held-out training images, as in digits_seeds.sh.
#   Fig. 3: OAT trained with four S_lambda sets, tested at the paper's S_lambda = {0, 0.2, 0.7, 1}
#   (last epoch's weights and best checkpoints; the figure draws the last).
#   Fig. 4 / Fig. 6: one FLOAT run, its last epoch's weights, evaluated over lambda_n = 0, 0.1, ..., 1
#   (Eq. 6 rescaling after training) at lambda_th = 0 (Fig. 4) and 0.5 (Fig. 6: both thresholds); best
#   checkpoints exist only for the training-time lambdas.
#   Fig. 1: a FLOATS-i run (d = 0.3) trained as digits_seeds.sh's runs, for the memory-accuracy plot.
#   Fig. 10(c): FLOAT against PGD-AT at lambda 0 / 0.2 / 0.7 / 1 (and the S_lambda = {0, 0.2, 0.7, 1}
#   OAT run) under AutoAttack ('rand': APGD-CE + APGD-DLR, EOT 20) on the first AA_LIMIT test images.
#
#   bash examples/digits_paper_figs.sh [OUT_DIR] [DEVICE] [PARALLEL] [AA_LIMIT]
set -euo pipefail
OUT=${1:-reports/runs/digits-paper-figs}
DEVICE=${2:-cpu}
PARALLEL=${3:-2}
AA_LIMIT=${4:-50}
HWSIM=${HWSIM:-hwsim}
common="--epochs 15 --batch-size 128 --eps 0.2 --val-split 300 --eval-limit 300 --seed 0 --device $DEVICE -q --out-dir $OUT"
jobs=$(mktemp)
for s in 0,1 0,0.5,1 0,0.2,0.7,1 0,0.1,0.2,0.3,0.4,1; do
  echo "$HWSIM train models/resnet20-digits-oat.yaml --name oat-S${s//,/_} --oat-lambdas $s $common" >>"$jobs"
done
# seed 0 of S_lambda = {0, 0.5, 1} collapsed at lambda 1 here (chance all 15 epochs; issue 18): a second
# seed shows the set learns (the figures cross the collapsed run out, paper-check leaves it out)
echo "$HWSIM train models/resnet20-digits-oat.yaml --name oat-S0_0.5_1-s1 --oat-lambdas 0,0.5,1 $common --seed 1" >>"$jobs"
echo "$HWSIM train models/resnet20-digits-float.yaml --name float $common" >>"$jobs"
for lam in 0 0.2 0.7 1; do
  echo "$HWSIM train models/resnet20-digits-pgdat.yaml --name pgdat-l$lam --pgdat-lambda $lam $common" >>"$jobs"
done
echo "$HWSIM train models/resnet20-digits-floats.yaml --name floats-i $common" >>"$jobs"
xargs -P "$PARALLEL" -I{} sh -c '{}' <"$jobs"
: >"$jobs"
ev="--attacks pgd7 --device $DEVICE -q -f csv"
for run in "$OUT"/oat-S*/ "$OUT"/floats-i/; do
  # last and best merge into the same results.json: one after the other within a run
  echo "$HWSIM evaluate $run --lambdas 0,0.2,0.7,1 --checkpoint last $ev && $HWSIM evaluate $run --lambdas 0,0.2,0.7,1 --checkpoint best $ev" >>"$jobs"
done
grid=0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1
echo "$HWSIM evaluate $OUT/float --lambdas $grid --checkpoint last $ev && $HWSIM evaluate $OUT/float --lambdas $grid --lambda-th 0.5 --checkpoint last $ev" >>"$jobs"
for run in "$OUT"/pgdat-l*/; do
  echo "$HWSIM evaluate $run --checkpoint best $ev" >>"$jobs"
done
xargs -P "$PARALLEL" -I{} sh -c '{}' <"$jobs" >/dev/null
: >"$jobs"
aa="--lambdas 0,0.2,0.7,1 --attacks autoattack --limit $AA_LIMIT --checkpoint best --device $DEVICE -q -f csv"
echo "$HWSIM evaluate $OUT/float $aa" >>"$jobs"
echo "$HWSIM evaluate $OUT/oat-S0_0.2_0.7_1 $aa" >>"$jobs"
for run in "$OUT"/pgdat-l*/; do
  echo "$HWSIM evaluate $run $aa" >>"$jobs"  # PGD-AT is evaluated at its one trained lambda
done
xargs -P "$PARALLEL" -I{} sh -c '{}' <"$jobs" >/dev/null
rm -f "$jobs"
