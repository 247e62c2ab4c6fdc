#!/usr/bin/env bash
# Reproduce masklet-nano's packaged weights from nothing: generate the data, train from a
# random initialisation in six stages, export the weights into the package, and evaluate
# them against the baselines on the held-out split. Usage: scripts/train_nano.sh [WORKDIR]
# (about four hours on a 2-core CPU; see the model card in README.md).
set -euo pipefail
WORK=${1:-nano-run}
masklet generate "$WORK/train" --split train -n 400
masklet generate "$WORK/val" --split val -n 40
# Crowded scenes (more objects, unannotated look-alikes) for the prompt stages, linked in
# beside the plain ones under other names.
masklet generate "$WORK/crowd" --split train -n 300 --objects 2-4 --distractors 3
mkdir -p "$WORK/mix/JPEGImages" "$WORK/mix/Annotations"
for d in JPEGImages Annotations; do
  for s in "$WORK"/train/$d/*; do ln -sfn "$(realpath "$s")" "$WORK/mix/$d/$(basename "$s")"; done
  for s in "$WORK"/crowd/$d/*; do ln -sfn "$(realpath "$s")" "$WORK/mix/$d/crowd_$(basename "$s")"; done
done
# Stage 1: 6-frame clips, any object.
masklet train "$WORK/train" "$WORK/stage1" --model masklet-nano --steps 2400 --lr 8e-4 --warmup 150 --clip-len 6 --seed 0
# Stage 2: 4-frame clips, three in four starting where several objects are visible, so the
# memory must tell the prompted object from the others.
masklet train "$WORK/train" "$WORK/stage2" --model masklet-nano --init "$WORK/stage1/last.pt" \
    --steps 3000 --lr 5e-4 --warmup 50 --clip-len 4 --multi-object 0.75 --seed 1
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
masklet export "$WORK/stage6/last.pt" src/masklet/weights/masklet-nano.safetensors --model masklet-nano
masklet eval "$WORK/val" --model masklet-nano --baseline copy --baseline no-memory --clicks --csv "$WORK/val_scores.csv" -q
