#!/usr/bin/env bash
# The masklet-nano variants of the model card's "Keeping one click, and where the masklets
# go" and "Where the gap is" (issue 22; b1 shipped). Usage: scripts/train_nano_variants.sh
# WORKDIR VARIANT... with variants k m1 m2 n1 n2 p r s1 m3 a1 b1 l8 r320 fs6 (and l8b r320b
# fs6b: each blended as b1 was), each after the one it starts from (k before n1 and n2, n1
# before p, s1 and a1, m2 before m3, a1 before b1, b1 before l8, r320 and fs6). Each one's
# held-out and family checks follow its training. u8, u8hi (the trunk's fine stages learning
# too) and u8w, c8w (on "mixw": mix and as many sequences again over 52 Debian wallpapers,
# scripts/fetch_backgrounds.py) start from b1 as well. za8 and za8hi (the features taught
# to match as pixels do, --appearance-weight, on "z": zoomed cut-outs over the wallpapers
# too) start from b1; zb (on z) and zm (on mix) re-learn the rest on za8hi's features.
# at8 (memory attention taught to carry labels, --attention-weight) starts from b1; an6
# does the same from the stage 6 of `APPEARANCE=1 scripts/train_nano.sh RUN` (set
# APPEARANCE_RUN=RUN), and anz (on RUN/z) and ans (every 1st-2nd frame) go on from an6.
# at8n (the whole image encoder, neck too, learning from the attention loss) and at8na (the
# same with --appearance-weight) go on from at8. sg1 and sg2 (b1 taught to segment the
# cut-out-rich sequences' frames one at a time, from boxes and clicks; sg2 with the neck and
# the trunk's fine stages learning too) start from b1, as does sg3 (sg1 on mixw, longer,
# mostly clicks); tr1 tracks again from sg1 (at8's settings without the anchor). sg4 goes on
# segmenting from sg3 (2,000 batches more); tr3 and tr4 track again from sg3 and sg4 as tr1 did;
# fm3 tracks from b1 the same way on clips of every 1st-3rd frame (objects three times as fast),
# fm3b goes on from fm3 (200 batches more), fm4 does as fm3 from tr4; fm3s is fm3 with
# another seed, fm5 fm3 on four-frame clips of every 1st-5th frame. mr4 gives the memory path
# fresh weights on sg4's features, held as they are, and trains it with the decoder as stage 5
# did, on clips of every 1st-3rd frame; mr4b goes on as stage 6 did, mr4c 400 batches more at
# half the rate, mr4d 400 more again; mr4cd is mr4c and mr4d averaged weight by weight.
# mr1, mr1b and mr1c do the same on b1's features. sg5 segments single frames of mixw from
# b1 in one schedule of 3,000 batches (sg1, sg3 and sg4 took 4,000 in three); mr5 gives its
# memory path fresh weights and trains it with the decoder in one schedule of 1,500 batches
# (mr4 to mr4d took 1,240 in four) on "mixp": mix and the plain and crowded sequences that
# stages 5-6 tracked (the families' shapes fell where only mix was seen); it keeps its weights
# every 250 batches and mr5avg averages the last four of them (batches 750-1,500).
# CHECKS=0 skips the checks after each variant.
# 15-40 minutes a variant on this 2-core CPU. Run from the repository's root.
set -euo pipefail
WORK=${1:?WORKDIR}
shift
# Stage 6's weights, which these runs started from (packaged until 2026-12-03): the file
# scripts/train_nano.sh writes, or `git show 6dfb0c1:src/masklet/weights/masklet-nano.safetensors`.
WEIGHTS=${STAGE6:-nano-run/stage6.safetensors}
[ -f "$WEIGHTS" ] || { echo "no stage-6 weights at $WEIGHTS: set STAGE6 (see above)" >&2; exit 2; }
# The data: the cut-out-rich sequences of scripts/train_nano_cutouts.sh, 200 more of the
# wide generator (faster motion, sizes 1-30%), "mix" holding both, plain sequences for
# click re-tuning, the held-out split and the test families.
source "$(dirname "$0")/recipe_data.sh"
if [ ! -d "$WORK/mix" ]; then
    masklet generate "$WORK/clut" --split train -n 150 --cutouts 0.7 --clutter 3 &
    masklet generate "$WORK/clut" --split train -n 150 --first 150 --cutouts 0.7 --clutter 3 &
    masklet generate "$WORK/wclut" --split train -n 200 --wide --cutouts 0.7 --clutter 3 &
    masklet generate "$WORK/plain" --split train -n 200 &
    masklet generate "$WORK/val" --split val -n 40 &
    masklet test-families "$WORK/families" &
    for job in $(jobs -p); do wait "$job"; done
    link "$WORK/mix" "clut_:$WORK/clut" "wclut_:$WORK/wclut"
fi
# The trunk's fine stages (patch embedding, blocks 0-2: strides 4 and 8) and its neck stay
# as they are; its coarse stages learn at 5e-5, the rest at 4e-4, on batches of 8 clips.
FINE_STAGES=(--freeze image_encoder.trunk.patch_embed --freeze image_encoder.trunk.blocks.0 --freeze image_encoder.trunk.blocks.1
             --freeze image_encoder.trunk.blocks.2)
BATCHED=(--model masklet-nano --batch-size 8 --multi-object 0.5 --box-prompt 0.25)
TRUNK=("${BATCHED[@]}" --image-encoder-lr 5e-5 --freeze image_encoder.neck --lr 4e-4)
COARSE=("${TRUNK[@]}" "${FINE_STAGES[@]}")
POS=(--freeze image_encoder.trunk.pos_embed --freeze image_encoder.trunk.pos_embed_window)
DECODER=(--freeze sam_mask_decoder --freeze sam_prompt_encoder)
ALL_BUT_DECODER=(--train-only sam_mask_decoder --train-only sam_prompt_encoder)
# Stage 9's settings at half its learning rate, from b1 (the packaged weights).
ANCHORED=(--lr 2e-4 --anchor "$WEIGHTS" --anchor-weight 3 --supervise-all-iou --mask-prompt 0.3 --refine-clicks 2
          --init "$WORK/b1/b1.safetensors" --warmup 10)
FROM_B1=("${COARSE[@]}" "${ANCHORED[@]}")
# The same with only the neck frozen: the trunk's fine stages learn too.
FROM_B1_ALL=("${TRUNK[@]}" "${ANCHORED[@]}" --clip-len 6 --steps 200 --preload)
case " $* " in
    *" za8 "*|*" za8hi "*|*" zb "*)
        zoomed_cutouts "$WORK" ;;
esac
# b1's settings with the neck learning too, the image encoder at 2e-4: za8hi's.
FROM_B1_HI=("${BATCHED[@]}" "${ANCHORED[@]}" --clip-len 6 --preload --image-encoder-lr 2e-4)
# On za8hi's features, held as they are: the memory path and the decoder learn again
# (ANCHORED's --lr and --init replaced: the last of an option counts).
ON_ZA8HI=("${BATCHED[@]}" "${ANCHORED[@]}" --lr 4e-4 --init "$WORK/za8hi/last.pt" --clip-len 6 --steps 250 --preload
          --freeze-image-encoder)
# From at8, the whole image encoder (neck too) learning from the attention loss at 1e-4.
FROM_AT8=("${BATCHED[@]}" "${ANCHORED[@]}" --init "$WORK/at8/last.pt" --image-encoder-lr 1e-4 --clip-len 6 --steps 200 --preload
          --attention-weight 2)
# From b1, segmenting single frames (boxes and clicks, no memory).
SEGMENT=(--lr 2e-4 --init "$WORK/b1/b1.safetensors" --clip-len 1 --mask-prompt 0 --refine-clicks 2 --warmup 10 --preload)
# Tracking again after segmenting (at8's settings without the anchor), from --init.
TRACK=("${COARSE[@]}" --lr 2e-4 --supervise-all-iou --mask-prompt 0.3 --refine-clicks 2 --clip-len 6 --steps 200 --warmup 10
       --preload --attention-weight 1)
# The same on clips of every 1st-3rd frame, so the objects move up to three times as far.
FASTER=("${TRACK[@]}" --max-frame-step 3)
# Stage 5's way on clips of every 1st-3rd frame: memory encoder and memory attention anew.
REMEMBER=(--model masklet-nano --freeze-image-encoder --batch-size 8 --clip-len 6 --max-frame-step 3 --multi-object 0.5
          --mask-prompt 0.3 --box-prompt 0.3 --preload --attention-weight 1)
FRESH_MEMORY=("${REMEMBER[@]}" --reinit memory_encoder --reinit memory_attention --lr 1.5e-3 --warmup 20 --refine-clicks 1
              --steps 240)
# Stage 6's way: on from there with a fresh schedule and two corrective clicks per prompted frame.
ON_MEMORY=("${REMEMBER[@]}" --lr 8e-4 --warmup 10 --refine-clicks 2 --steps 200)
# And on again, 400 batches at half that rate (mr4c, mr4d, mr1c).
LONGER=("${ON_MEMORY[@]}" --lr 4e-4 --steps 400)
case " $* " in
    *" u8w "*|*" c8w "*|*" sg3 "*|*" sg4 "*|*" sg5 "*)
        if [ ! -d "$WORK/mixw" ]; then
            [ -d "$WORK/walls" ] || python scripts/fetch_backgrounds.py "$WORK/walls"
            generate_once "$WORK/cw" --split train -n 300 --first 5000 --cutouts 0.7 --clutter 3 --backgrounds "$WORK/walls"
            generate_once "$WORK/wcw" --split train -n 200 --first 5000 --wide --cutouts 0.7 --clutter 3 --backgrounds "$WORK/walls"
            link "$WORK/mixw" "clut_:$WORK/clut" "wclut_:$WORK/wclut" "cw_:$WORK/cw" "wcw_:$WORK/wcw"
        fi ;;
esac
case " $* " in
    *" mr5 "*)
        generate_once "$WORK/crowd" --split train -n 200 --objects 2-4 --distractors 3
        link "$WORK/mixp" "clut_:$WORK/clut" "wclut_:$WORK/wclut" "plain_:$WORK/plain" "crowd_:$WORK/crowd" ;;
esac
# Memory attention taught to carry labels, on the APPEARANCE run's features (held as they are).
RUN=${APPEARANCE_RUN:-}
ON_RUN=(--model masklet-nano --freeze-image-encoder --batch-size 8 --warmup 10 --clip-len 8 --multi-object 0.5 --mask-prompt 0.3
        --box-prompt 0.3 --refine-clicks 2 --preload --attention-weight 1 --steps 200)
case " $* " in
    *" an6 "*|*" anz "*|*" ans "*)
        [ -f "$RUN/stage6.safetensors" ] || { echo "an6, anz, ans need APPEARANCE_RUN (see above)" >&2; exit 2; } ;;
esac
for variant in "$@"; do
    case $variant in
        k)  masklet train "$WORK/clut" "$WORK/k" "${COARSE[@]}" --clip-len 4 --mask-prompt 0.5 --refine-clicks 1 \
                --init "$WEIGHTS" --steps 500 --warmup 30 --seed 42 ;;
        m1) masklet train "$WORK/clut" "$WORK/m1" "${COARSE[@]}" "${POS[@]}" --clip-len 4 --mask-prompt 0.3 --refine-clicks 2 \
                --init "$WEIGHTS" --steps 800 --warmup 30 --seed 42 ;;
        m2) masklet train "$WORK/clut" "$WORK/m2" "${COARSE[@]}" "${POS[@]}" "${DECODER[@]}" --clip-len 4 --mask-prompt 0.3 \
                --refine-clicks 2 --init "$WEIGHTS" --steps 800 --warmup 30 --seed 42 ;;
        n1) masklet train "$WORK/mix" "$WORK/n1" "${COARSE[@]}" --clip-len 6 --mask-prompt 0.5 --refine-clicks 1 \
                --init "$WORK/k/last.pt" --steps 400 --warmup 10 --seed 45 ;;
        n2) masklet train "$WORK/clut" "$WORK/n2" "${COARSE[@]}" --clip-len 6 --mask-prompt 0.5 --refine-clicks 1 \
                --init "$WORK/k/last.pt" --steps 400 --warmup 10 --seed 45 ;;
        p)  masklet train "$WORK/plain" "$WORK/p" "${ALL_BUT_DECODER[@]}" --clip-len 1 --batch-size 8 --lr 2e-4 \
                --mask-prompt 0 --box-prompt 0.25 --refine-clicks 2 --init "$WORK/n1/last.pt" --steps 300 --warmup 10 --seed 46 ;;
        r)  masklet train "$WORK/mix" "$WORK/r" "${COARSE[@]}" --decoder-lr 4e-5 --clip-len 6 --mask-prompt 0.5 \
                --refine-clicks 1 --init "$WEIGHTS" --steps 350 --warmup 20 --seed 48 ;;
        s1) masklet train "$WORK/mix" "$WORK/s1" --train-only sam_mask_decoder.iou_prediction_head --supervise-all-iou \
                --clip-len 6 --batch-size 8 --lr 1e-3 --warmup 5 --multi-object 0.5 --mask-prompt 0.3 --box-prompt 0.25 \
                --refine-clicks 1 --init "$WORK/n1/last.pt" --steps 120 --seed 51 ;;
        m3) masklet train "$WORK/mix" "$WORK/m3" "${COARSE[@]}" "${POS[@]}" "${DECODER[@]}" --clip-len 6 --mask-prompt 0.5 \
                --init "$WORK/m2/last.pt" --steps 450 --warmup 10 --seed 53 ;;
        a1) masklet train "$WORK/mix" "$WORK/a1" "${COARSE[@]}" --anchor "$WEIGHTS" --anchor-weight 3 --supervise-all-iou \
                --clip-len 6 --mask-prompt 0.3 --refine-clicks 2 --init "$WORK/n1/last.pt" --steps 350 --warmup 10 --seed 54 ;;
        b1|l8b|r320b|fs6b)  # blended back toward stage 6's weights, the decoder more: b1 from a1, l8b from l8, ...
            source=${variant%b}
            [ "$variant" = b1 ] && source=a1
            mkdir -p "$WORK/$variant"
            masklet export "$WORK/$source/last.pt" "$WORK/$variant/$variant.safetensors" --blend-with "$WEIGHTS" --blend 0.8 \
                --blend-module sam_mask_decoder=0.5 --blend-module sam_prompt_encoder=0.5 ;;
        l8) masklet train "$WORK/mix" "$WORK/l8" "${FROM_B1[@]}" --clip-len 8 --steps 200 --seed 61 ;;
        r320) masklet train "$WORK/mix" "$WORK/r320" "${FROM_B1[@]}" --image-size 320 --clip-len 6 --steps 180 --seed 62 ;;
        fs6) masklet train "$WORK/mix" "$WORK/fs6" "${FROM_B1[@]}" --max-frame-step 3 --clip-len 6 --steps 200 --seed 63 ;;
        u8) masklet train "$WORK/mix" "$WORK/u8" "${FROM_B1_ALL[@]}" --image-encoder-lr 5e-5 --seed 81 ;;
        u8hi) masklet train "$WORK/mix" "$WORK/u8hi" "${FROM_B1_ALL[@]}" --image-encoder-lr 2e-4 --seed 82 ;;
        u8w) masklet train "$WORK/mixw" "$WORK/u8w" "${FROM_B1_ALL[@]}" --image-encoder-lr 5e-5 --seed 83 ;;
        c8w) masklet train "$WORK/mixw" "$WORK/c8w" "${FROM_B1_ALL[@]}" "${FINE_STAGES[@]}" --image-encoder-lr 5e-5 --seed 84 ;;
        za8) masklet train "$WORK/z" "$WORK/za8" "${FROM_B1_ALL[@]}" --steps 400 --appearance-weight 0.5 --seed 91 ;;
        za8hi) masklet train "$WORK/z" "$WORK/za8hi" "${FROM_B1_HI[@]}" --steps 300 --appearance-weight 2 --seed 93 ;;
        zb) masklet train "$WORK/z" "$WORK/zb" "${ON_ZA8HI[@]}" --seed 95 ;;
        zm) masklet train "$WORK/mix" "$WORK/zm" "${ON_ZA8HI[@]}" --seed 96 ;;
        at8) masklet train "$WORK/mix" "$WORK/at8" "${FROM_B1[@]}" --clip-len 6 --steps 200 --preload --attention-weight 1 --seed 101 ;;
        at8n) masklet train "$WORK/mix" "$WORK/at8n" "${FROM_AT8[@]}" --seed 105 ;;
        at8na) masklet train "$WORK/mix" "$WORK/at8na" "${FROM_AT8[@]}" --appearance-weight 0.5 --seed 106 ;;
        sg1) masklet train "$WORK/clut" "$WORK/sg1" "${COARSE[@]}" "${SEGMENT[@]}" --box-prompt 0.5 --steps 500 --seed 107 ;;
        sg2) masklet train "$WORK/clut" "$WORK/sg2" "${BATCHED[@]}" --image-encoder-lr 5e-5 "${SEGMENT[@]}" --box-prompt 0.5 --steps 500 \
                 --seed 108 ;;
        sg3) masklet train "$WORK/mixw" "$WORK/sg3" "${COARSE[@]}" "${SEGMENT[@]}" --box-prompt 0.3 --steps 1500 --seed 110 ;;
        sg4) masklet train "$WORK/mixw" "$WORK/sg4" "${COARSE[@]}" "${SEGMENT[@]}" --init "$WORK/sg3/last.pt" --box-prompt 0.3 \
                 --steps 2000 --seed 111 ;;
        tr1) masklet train "$WORK/mix" "$WORK/tr1" "${TRACK[@]}" --init "$WORK/sg1/last.pt" --seed 109 ;;
        tr3) masklet train "$WORK/mix" "$WORK/tr3" "${TRACK[@]}" --init "$WORK/sg3/last.pt" --seed 112 ;;
        tr4) masklet train "$WORK/mix" "$WORK/tr4" "${TRACK[@]}" --init "$WORK/sg4/last.pt" --seed 113 ;;
        fm3) masklet train "$WORK/mix" "$WORK/fm3" "${FASTER[@]}" --init "$WORK/b1/b1.safetensors" --seed 114 ;;
        fm3b) masklet train "$WORK/mix" "$WORK/fm3b" "${FASTER[@]}" --init "$WORK/fm3/last.pt" --seed 115 ;;
        fm4) masklet train "$WORK/mix" "$WORK/fm4" "${FASTER[@]}" --init "$WORK/tr4/last.pt" --seed 116 ;;
        fm3s) masklet train "$WORK/mix" "$WORK/fm3s" "${FASTER[@]}" --init "$WORK/b1/b1.safetensors" --seed 117 ;;
        fm5) masklet train "$WORK/mix" "$WORK/fm5" "${TRACK[@]}" --init "$WORK/b1/b1.safetensors" --clip-len 4 --max-frame-step 5 \
                 --seed 118 ;;
        mr4) masklet train "$WORK/mix" "$WORK/mr4" "${FRESH_MEMORY[@]}" --init "$WORK/sg4/last.pt" --seed 119 ;;
        mr4b) masklet train "$WORK/mix" "$WORK/mr4b" "${ON_MEMORY[@]}" --init "$WORK/mr4/last.pt" --seed 120 ;;
        mr4c) masklet train "$WORK/mix" "$WORK/mr4c" "${LONGER[@]}" --init "$WORK/mr4b/last.pt" --seed 123 ;;
        mr4d) masklet train "$WORK/mix" "$WORK/mr4d" "${LONGER[@]}" --init "$WORK/mr4c/last.pt" --seed 125 ;;
        mr4cd) mkdir -p "$WORK/mr4cd"
            masklet export "$WORK/mr4d/last.pt" "$WORK/mr4cd/mr4cd.safetensors" --model masklet-nano \
                --blend-with "$WORK/mr4c/last.pt" --blend 0.5 ;;
        sg5) masklet train "$WORK/mixw" "$WORK/sg5" "${COARSE[@]}" "${SEGMENT[@]}" --box-prompt 0.3 --steps 3000 --seed 126 ;;
        mr5) masklet train "$WORK/mixp" "$WORK/mr5" "${FRESH_MEMORY[@]}" --init "$WORK/sg5/last.pt" --refine-clicks 2 --steps 1500 \
                 --keep-every 250 --seed 127 ;;
        mr5avg) mkdir -p "$WORK/mr5avg"
            masklet export "$WORK/mr5/step-001500.pt" "$WORK/mr5avg/mr5avg.safetensors" --model masklet-nano \
                --average-with "$WORK/mr5/step-001250.pt" --average-with "$WORK/mr5/step-001000.pt" \
                --average-with "$WORK/mr5/step-000750.pt" ;;
        mr1) masklet train "$WORK/mix" "$WORK/mr1" "${FRESH_MEMORY[@]}" --init "$WORK/b1/b1.safetensors" --seed 121 ;;
        mr1b) masklet train "$WORK/mix" "$WORK/mr1b" "${ON_MEMORY[@]}" --init "$WORK/mr1/last.pt" --seed 122 ;;
        mr1c) masklet train "$WORK/mix" "$WORK/mr1c" "${LONGER[@]}" --init "$WORK/mr1b/last.pt" --seed 124 ;;
        an6) masklet train "$RUN/cmix" "$WORK/an6" "${ON_RUN[@]}" --init "$RUN/stage6.safetensors" --lr 8e-4 --seed 102 ;;
        anz) masklet train "$RUN/z" "$WORK/anz" "${ON_RUN[@]}" --init "$WORK/an6/last.pt" --lr 4e-4 --seed 103 ;;
        ans) masklet train "$RUN/cmix" "$WORK/ans" "${ON_RUN[@]}" --init "$WORK/an6/last.pt" --lr 4e-4 --max-frame-step 2 \
                 --seed 104 ;;
        *)  echo "unknown variant $variant: k m1 m2 n1 n2 p r s1 m3 a1 b1 l8 r320 fs6 l8b r320b fs6b u8 u8hi u8w c8w za8 za8hi zb zm" \
                 "at8 at8n at8na sg1 sg2 sg3 sg4 tr1 tr3 tr4 fm3 fm3b fm4 fm3s fm5 mr4 mr4b mr4c mr4d mr4cd sg5 mr5 mr5avg mr1 mr1b mr1c an6 anz ans" >&2; exit 2 ;;
    esac
    checkpoint="$WORK/$variant/last.pt"
    case $variant in b1|l8b|r320b|fs6b|mr4cd|mr5avg) checkpoint="$WORK/$variant/$variant.safetensors" ;; esac
    [ "${CHECKS:-1}" = 0 ] && continue
    size=()
    case $variant in r320*) size=(--image-size 320) ;; esac
    if [ ${#size[@]} -eq 0 ]; then  # the diagnoses run at the model's own input size
        python scripts/diagnose_by_kind.py "$WORK/val" --checkpoint "$checkpoint" -n 20
        python scripts/diagnose_drift.py "$WORK/families" --checkpoint "$checkpoint"
        python scripts/diagnose_features.py "$WORK/families" --checkpoint "$checkpoint"
        python scripts/diagnose_attention.py "$WORK/families" --checkpoint "$checkpoint"
    fi
    masklet eval "$WORK/families" --checkpoint "$checkpoint" "${size[@]}" --baseline copy -q
    masklet eval "$WORK/val" --checkpoint "$checkpoint" "${size[@]}" --baseline copy --clicks -q
done
