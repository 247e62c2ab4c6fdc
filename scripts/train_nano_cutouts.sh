#!/usr/bin/env bash
# The first masklet-nano training that tracks photo cut-outs (issue 22, not shipped yet:
# see the model card in README.md). From the packaged weights, on cut-out-rich data with
# clutter, the image encoder's trunk learns slowly beside the memory path, on batches of
# 4-frame clips. Usage: scripts/train_nano_cutouts.sh [WORKDIR] (about 50 minutes on a
# 2-core CPU; the held-out checks at the end take 12 more).
set -euo pipefail
WORK=${1:-nano-cutouts}
# Stage 6's weights, which these runs started from (packaged until 2026-12-03): the file
# scripts/train_nano.sh writes, or `git show 6dfb0c1:src/masklet/weights/masklet-nano.safetensors`.
WEIGHTS=${STAGE6:-nano-run/stage6.safetensors}
[ -f "$WEIGHTS" ] || { echo "no stage-6 weights at $WEIGHTS: set STAGE6 (see above)" >&2; exit 2; }
# Seven in ten objects cut out of the packaged photos, up to three unannotated objects of
# their own look per sequence (so that no kind of appearance means "the object").
masklet generate "$WORK/clut" --split train -n 150 --cutouts 0.7 --clutter 3 &
masklet generate "$WORK/clut" --split train -n 150 --first 150 --cutouts 0.7 --clutter 3 &
masklet generate "$WORK/val" --split val -n 40 &
masklet test-families "$WORK/families" &
for job in $(jobs -p); do wait "$job"; done  # each one's failure stops the script
# Stage 7: the trunk at lr 5e-5 (its neck frozen: stage 3's rescale made those weights too
# small for Adam's steps), everything else at 4e-4, mask- and click-prompted first frames.
RECIPE=(--model masklet-nano --image-encoder-lr 5e-5 --freeze image_encoder.neck --batch-size 8 --lr 4e-4
        --clip-len 4 --multi-object 0.5 --mask-prompt 0.5 --box-prompt 0.25 --refine-clicks 1)
masklet train "$WORK/clut" "$WORK/stage7" "${RECIPE[@]}" --init "$WEIGHTS" --steps 500 --warmup 30 --seed 42
# Stage 8: the same, on from there with a fresh schedule.
masklet train "$WORK/clut" "$WORK/stage8" "${RECIPE[@]}" --init "$WORK/stage7/last.pt" --steps 600 --warmup 10 --seed 43
masklet eval "$WORK/families" --checkpoint "$WORK/stage8/last.pt" --baseline copy --baseline no-memory -q
masklet eval "$WORK/val" --checkpoint "$WORK/stage8/last.pt" --baseline copy --clicks -q
