# Data steps shared by scripts/train_nano.sh and scripts/train_nano_variants.sh (sourced).
# Each one is safe to run again: what is already made is kept, and what is being made is
# written under another name and moved into place once whole, so an interrupted run
# leaves no half of it.
RECIPE_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# `masklet generate OUT ARGS...`, kept if OUT is there.
generate_once() {
  local out=$1
  shift
  [ -d "$out" ] && return 0
  rm -rf "$out.tmp"
  masklet generate "$out.tmp" "$@"
  mv "$out.tmp" "$out"
}

# A DAVIS-layout folder DEST linking every sequence of each PART folder as PREFIXNAME
# (arguments PREFIX:PART; an empty prefix keeps the names), kept if DEST is there.
link() {
  local dest=$1 arg d s
  shift
  [ -d "$dest" ] && return 0
  rm -rf "$dest.tmp"
  mkdir -p "$dest.tmp/JPEGImages" "$dest.tmp/Annotations"
  for arg in "$@"; do
    for d in JPEGImages Annotations; do
      for s in "${arg#*:}"/$d/*; do ln -sfn "$(realpath "$s")" "$dest.tmp/$d/${arg%%:*}$(basename "$s")"; done
    done
  done
  mv "$dest.tmp" "$dest"
}

# WORK/z: 600 sequences of zoomed photo cut-outs over the Debian wallpapers (WORK/walls,
# fetched by scripts/fetch_backgrounds.py when missing), the data of issue 22's appearance trials.
zoomed_cutouts() {
  local work=$1
  [ -d "$work/walls" ] || python "$RECIPE_SCRIPTS/fetch_backgrounds.py" "$work/walls"
  generate_once "$work/z" --split train -n 600 --first 8000 --wide --cutouts 0.8 --clutter 3 --cutout-zoom 1-8 \
      --background-zoom 0.4-1 --backgrounds "$work/walls"
}
