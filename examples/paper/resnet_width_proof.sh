#!/usr/bin/env bash
# Half-width ResNet descendants from the home-trained ResNet-18 ancestry (issue "Descendants of any size"), resumable:
# 1. the ancestry (examples/paper/train_ancestries.sh, ONLY=resnet18; skipped when outputs/ancestry/resnet18 is trained),
# 2. its Auto-Learngene as the harness condenses it (cached under outputs/paper/learngenes/),
# 3. learngene / From-Scratch / Weight Selection (first blocks of every stage) at half width (stage widths
#    16-32-64-128, stem 16), uniform rule, 100 and 20 images/class; the learngene with the `magnitude` rule at 100
#    images/class (the recipe option `learngene_embed` is refused here: no inherited block reads the stem's
#    channels, since the Auto learngene of this ancestry starts at stage 1, so no channel subset of the stem is
#    fixed; Weight Selection's is, by its stage-0 block),
# 4. one summary of every cached run (examples/paper/results/cpu/resnet_width/) and the README.
#   bash examples/paper/resnet_width_proof.sh [NUM_TASKS]
set -euo pipefail
# Measured on the 2-core CPU (beside another job): ~50 min for the ancestry, ~7 min condensing, ~36 s per run at
# 100 images/class, ~12 s at 20.
cd "$(dirname "$0")/../.."
TASKS=${1:-5}
PY=${PY:-${PYTHON:-python}}
ONLY=resnet18 PY="$PY" bash examples/paper/train_ancestries.sh
RUN=("$PY" examples/paper/width_reduction.py --learngene auto --family resnet --num_tasks "$TASKS" --epochs 20
     --num_threads 1)
"${RUN[@]}" --samples_per_class 100,20 --methods learngene,scratch,weight_selection
"${RUN[@]}" --samples_per_class 100 --methods learngene --width_selections magnitude
"${RUN[@]}" --samples_per_class 100,20 --summarize_only
"$PY" examples/paper/update_readme.py --profile cpu
