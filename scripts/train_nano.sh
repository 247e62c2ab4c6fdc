#!/usr/bin/env bash
# Reproduce masklet-nano's packaged weights from nothing: generate the data, train from a
# random initialisation in nine stages, blend the last with the sixth, export the weights
# into the package, and evaluate them against the baselines on the held-out split.
# Usage: scripts/train_nano.sh [WORKDIR] (about six hours on a 2-core CPU; see the model
# card in README.md). Run from the repository's root.
#
# APPEARANCE=W scripts/train_nano.sh WORKDIR: the same stages with the features taught to
# match frame to frame as the pixels do wherever the image encoder learns (stages 1, 2 and
# 7-9, `--appearance-weight W`), stages 1-2 also on 600 sequences of zoomed photo cut-outs
# over Debian wallpapers (scripts/fetch_backgrounds.py), and the blend written to
# WORKDIR/masklet-nano.safetensors rather than into the package (issue 22, not shipped).
# Every step is safe to run again: data already made is kept, and an interrupted stage
# resumes from its last checkpoint (every 100 steps), so the recipe can span sessions.
set -euo pipefail
WORK=${1:-nano-run}
APPEARANCE=${APPEARANCE:-}
# Options of the stages whose image encoder learns, and the data of stages 1-2.
LEARNS=()
FIRST=train
PACKAGED=src/masklet/weights/masklet-nano.safetensors
if [ -n "$APPEARANCE" ]; then
  LEARNS=(--appearance-weight "$APPEARANCE")
  FIRST=first
  PACKAGED=$WORK/masklet-nano.safetensors
fi
source "$(dirname "$0")/recipe_data.sh"
generate_once "$WORK/train" --split train -n 400
generate_once "$WORK/val" --split val -n 40
# Crowded scenes (more objects, unannotated look-alikes) for the prompt stages, linked in
# beside the plain ones under other names.
generate_once "$WORK/crowd" --split train -n 300 --objects 2-4 --distractors 3
link "$WORK/mix" ":$WORK/train" "crowd_:$WORK/crowd"
if [ -n "$APPEARANCE" ]; then
  zoomed_cutouts "$WORK"
  link "$WORK/first" ":$WORK/train" "z_:$WORK/z"
fi
# Stage 1: 6-frame clips, any object.
masklet train "$WORK/$FIRST" "$WORK/stage1" --model masklet-nano --steps 2400 --lr 8e-4 --warmup 150 --clip-len 6 --seed 0 \
    "${LEARNS[@]}"
# Stage 2: 4-frame clips, three in four starting where several objects are visible, so the
# memory must tell the prompted object from the others.
masklet train "$WORK/$FIRST" "$WORK/stage2" --model masklet-nano --init "$WORK/stage1/last.pt" \
    --steps 3000 --lr 5e-4 --warmup 50 --clip-len 4 --multi-object 0.75 --seed 1 "${LEARNS[@]}"
# Stage 3: the embedding had grown to a mean token norm of ~900 against the position
# encoding's 8, so the decoder could not see where a click is. Rescale it to 8 (memories
# unchanged) and train a fresh prompt encoder and decoder, query/key projections tied at
# the start, on single crowded frames with clicks, boxes and corrective clicks.
masklet train "$WORK/mix" "$WORK/stage3" --model masklet-nano --init "$WORK/stage2/last.pt" \
    --reinit sam_mask_decoder --reinit sam_prompt_encoder --embedding-norm 8 --freeze-image-encoder \
    --steps 4000 --lr 5e-4 --warmup 100 --clip-len 1 --multi-object 0.5 --mask-prompt 0 --box-prompt 0.5 \
    --refine-clicks 2 --seed 3
# Stage 4: the new decoder with the memory path, on 4-frame clips, every prompt kind.
masklet train "$WORK/mix" "$WORK/stage4" --model masklet-nano --init "$WORK/stage3/last.pt" --freeze-image-encoder \
    --steps 1500 --lr 3e-4 --warmup 50 --clip-len 4 --multi-object 0.5 --mask-prompt 0.3 --box-prompt 0.3 \
    --refine-clicks 1 --seed 4
# Stage 5: the memory path trained in stages 1-2 on the huge embedding makes memory tokens
# of norm ~4,000, a hard argmax that passes no gradient: give the memory encoder and memory
# attention fresh weights and train them with the decoder on batches of 8-frame clips.
masklet train "$WORK/mix" "$WORK/stage5" --model masklet-nano --init "$WORK/stage4/last.pt" \
    --reinit memory_encoder --reinit memory_attention --freeze-image-encoder \
    --steps 240 --batch-size 8 --lr 1.5e-3 --warmup 20 --clip-len 8 --multi-object 0.5 --mask-prompt 0.3 --box-prompt 0.3 \
    --refine-clicks 1 --seed 31
# Stage 6: on from there with a fresh schedule and two corrective clicks per prompted frame.
masklet train "$WORK/mix" "$WORK/stage6" --model masklet-nano --init "$WORK/stage5/last.pt" --freeze-image-encoder \
    --steps 200 --batch-size 8 --lr 8e-4 --warmup 10 --clip-len 8 --multi-object 0.5 --mask-prompt 0.3 --box-prompt 0.3 \
    --refine-clicks 2 --seed 34
# Stage 6's weights (the packaged ones until 2026-12-03): the start of stages 7-9, the
# anchor of stage 9 and the other end of the final blend.
masklet export "$WORK/stage6/last.pt" "$WORK/stage6.safetensors" --model masklet-nano
# Data for stages 7-9: sequences rich in photo cut-outs (seven objects in ten) with up to
# three unannotated objects of their own look, and 200 of the wide generator (objects of
# ~1-30% of the frame, faster motion, camouflage, changing light), linked in together.
generate_once "$WORK/clut" --split train -n 300 --cutouts 0.7 --clutter 3
generate_once "$WORK/wclut" --split train -n 200 --wide --cutouts 0.7 --clutter 3
link "$WORK/cmix" "clut_:$WORK/clut" "wclut_:$WORK/wclut"
# Stages 7-9: the trunk's fine stages (patch embedding, blocks 0-2: the decoder's stride-4
# and stride-8 features) and its neck stay as they are; its coarse stages learn at 5e-5,
# the rest at 4e-4, on batches of 8 clips.
COARSE=(--model masklet-nano --image-encoder-lr 5e-5 --freeze image_encoder.neck --freeze image_encoder.trunk.patch_embed
        --freeze image_encoder.trunk.blocks.0 --freeze image_encoder.trunk.blocks.1 --freeze image_encoder.trunk.blocks.2
        --batch-size 8 --lr 4e-4 --multi-object 0.5 --box-prompt 0.25 "${LEARNS[@]}")
# Stage 7: 4-frame clips of the cut-out-rich sequences, so that memory attention learns to
# carry a photo cut-out from one frame to the next.
masklet train "$WORK/clut" "$WORK/stage7" "${COARSE[@]}" --clip-len 4 --mask-prompt 0.5 --refine-clicks 1 \
    --init "$WORK/stage6.safetensors" --steps 500 --warmup 30 --seed 42
# Stage 8: 6-frame clips of both sets (faster, wider motion).
masklet train "$WORK/cmix" "$WORK/stage8" "${COARSE[@]}" --clip-len 6 --mask-prompt 0.5 --refine-clicks 1 \
    --init "$WORK/stage7/last.pt" --steps 400 --warmup 10 --seed 45
# Stage 9: on, with answers to prompts on frames without memory anchored to stage 6's
# (learning without forgetting) and every candidate's predicted IoU supervised.
masklet train "$WORK/cmix" "$WORK/stage9" "${COARSE[@]}" --anchor "$WORK/stage6.safetensors" --anchor-weight 3 \
    --supervise-all-iou --clip-len 6 --mask-prompt 0.3 --refine-clicks 2 --init "$WORK/stage8/last.pt" --steps 350 \
    --warmup 10 --seed 54
# The packaged weights: 0.8 x stage 9 + 0.2 x stage 6, weight by weight, the prompt encoder
# and mask decoder half and half (one click back where stage 6 had it).
masklet export "$WORK/stage9/last.pt" "$PACKAGED" --model masklet-nano \
    --blend-with "$WORK/stage6.safetensors" --blend 0.8 --blend-module sam_mask_decoder=0.5 \
    --blend-module sam_prompt_encoder=0.5
masklet eval "$WORK/val" --checkpoint "$PACKAGED" --baseline copy --baseline no-memory --clicks --csv "$WORK/val_scores.csv" -q
