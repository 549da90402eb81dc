#!/usr/bin/env bash
# The digits comparison of issue 6: FLOAT, OAT and four PGD-AT models (lambda 0, 0.2, 0.7, 1),
# 3 seeds each, at eps 0.1 and 0.2, 15 epochs; best-checkpoint selection on 300 held-out training
# images (never the test set); then CA / RA of the last and the best checkpoints, and the report.
#
#   bash examples/digits_seeds.sh [OUT_ROOT] [DEVICE] [PARALLEL] [EPOCHS]
#
# On a CPU (2 cores) this takes hours; on one GPU about five minutes with PARALLEL=12.
set -euo pipefail
root=${1:-reports/digits-seeds}
device=${2:-cpu}
parallel=${3:-2}
epochs=${4:-15}
hw="${HWSIM:-hwsim}"
jobs=$(mktemp)
for eps in 0.1 0.2; do
  for seed in 0 1 2; do
    common="--epochs $epochs --batch-size 128 --eps $eps --val-split 300 --eval-limit 300 --seed $seed --device $device -q --out-dir $root/eps$eps"
    echo "$hw train models/resnet20-digits-float.yaml --name float-seed$seed $common" >>"$jobs"
    echo "$hw train models/resnet20-digits-oat.yaml --name oat-seed$seed --preset paper $common" >>"$jobs"
    for lam in 0 0.2 0.7 1; do
      echo "$hw train models/resnet20-digits-pgdat.yaml --name pgdat-l$lam-seed$seed --pgdat-lambda $lam $common" >>"$jobs"
    done
  done
done
xargs -P "$parallel" -I{} sh -c '{}' <"$jobs"
: >"$jobs"
for eps in 0.1 0.2; do
  for run in "$root"/eps$eps/*/; do
    ev="$hw evaluate $run --lambdas 0,0.2,0.7,1 --attacks pgd7,pgd20,fgsm --device $device -q -f csv"
    # last and best merge into the same results.json: one after the other within a run
    echo "$ev --checkpoint last && $ev --checkpoint best" >>"$jobs"
  done
done
xargs -P "$parallel" -I{} sh -c '{}' <"$jobs" >/dev/null
rm -f "$jobs"
