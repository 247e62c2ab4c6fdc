#!/usr/bin/env bash
# Reproduce masklet-nano's packaged weights from nothing: generate the data, train from a
# random initialisation in two stages, export the weights into the package, and evaluate
# them against the baselines on the held-out split. Usage: scripts/train_nano.sh [WORKDIR]
# (about 95 minutes on a 2-core CPU; see the model card in README.md).
set -euo pipefail
WORK=${1:-nano-run}
masklet generate "$WORK/train" --split train -n 400
masklet generate "$WORK/val" --split val -n 40
# Stage 1: 6-frame clips, any object.
masklet train "$WORK/train" "$WORK/stage1" --model masklet-nano --steps 2400 --lr 8e-4 --warmup 150 --clip-len 6 --seed 0
# Stage 2: 4-frame clips, three in four starting where several objects are visible, so the
# memory must tell the prompted object from the others.
masklet train "$WORK/train" "$WORK/stage2" --model masklet-nano --init "$WORK/stage1/last.pt" \
    --steps 3000 --lr 5e-4 --warmup 50 --clip-len 4 --multi-object 0.75 --seed 1
masklet export "$WORK/stage2/last.pt" src/masklet/weights/masklet-nano.safetensors --model masklet-nano
masklet eval "$WORK/val" --model masklet-nano --baseline copy --baseline no-memory --clicks --csv "$WORK/val_scores.csv" -q
