#!/usr/bin/env bash
# Train the two mini-ImageNet ancestry models (classes 0-63) one after the other, 1 CPU thread each.
#
#   nohup bash examples/paper/train_ancestries.sh > outputs/ancestry/train_ancestries.log 2>&1 &
#
# Outputs: outputs/ancestry/{resnet18,vit}/  (Hub-format model + preprocessor + ancestry_metrics.json)
# Logs:    outputs/ancestry/{resnet18,vit}.log
# Resume:  run the same command again; each run resumes from the last checkpoint-* in its output dir, and a run
#          whose ancestry_metrics.json exists is skipped (FORCE=1 to rerun it, i.e. re-evaluate / extend).
# Env:     PY (python, default $PYTHON or python3), OUT_ROOT (default outputs/ancestry),
#          THREADS (default 1), ONLY (resnet18 | vit: run just one), LEARNGENE_DATASET (dataset location).
set -euo pipefail
cd "$(dirname "$0")/../.."

PY=${PY:-${PYTHON:-python3}}
OUT_ROOT=${OUT_ROOT:-outputs/ancestry}
THREADS=${THREADS:-1}
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS TOKENIZERS_PARALLELISM=false
mkdir -p "$OUT_ROOT"

run() {  # run NAME ARGS...
  local name=$1; shift
  if [[ -n "${ONLY:-}" && "$ONLY" != "$name" ]]; then return 0; fi
  if [[ -f "$OUT_ROOT/$name/ancestry_metrics.json" && -z "${FORCE:-}" ]]; then
    echo "[$(date +%T)] $name: already finished ($OUT_ROOT/$name/ancestry_metrics.json), skipping"; return 0
  fi
  echo "[$(date +%T)] $name: start (log: $OUT_ROOT/$name.log)"
  "$PY" examples/train_ancestry.py --output_dir "$OUT_ROOT/$name" --num_threads "$THREADS" \
    --disable_tqdm true --logging_steps 25 "$@" >> "$OUT_ROOT/$name.log" 2>&1
  echo "[$(date +%T)] $name: done: $(grep -m1 '"test_accuracy"' "$OUT_ROOT/$name/ancestry_metrics.json")"
}

# ResNet-18 layout (basic blocks, depths 2-2-2-2) at 1/2 width: ~2.8M parameters, ~125 s/epoch on 1 thread.
run resnet18 --arch resnet --image_size 84 --layer_type basic --depths 2 2 2 2 \
  --embedding_size 32 --hidden_sizes 32 64 128 256 \
  --num_train_epochs 16 --per_device_train_batch_size 64 --per_device_eval_batch_size 256 \
  --optim sgd --optim_args "momentum=0.9,nesterov=True" --learning_rate 0.1 --weight_decay 5e-4 \
  --lr_scheduler_type cosine --max_grad_norm 0 --seed 42

# ViT, 12 layers (the learngene is the lower 6), hidden 96, 3 heads, MLP 384, patch 12 on 84x84 (7x7 tokens):
# ~1.4M parameters, ~120 s/epoch on 1 thread (ViT-Tiny width 192 would be ~370 s/epoch).
run vit --arch vit --image_size 84 --patch_size 12 \
  --hidden_size 96 --num_hidden_layers 12 --num_attention_heads 3 --intermediate_size 384 \
  --num_train_epochs 18 --per_device_train_batch_size 64 --per_device_eval_batch_size 256 \
  --optim adamw_torch --learning_rate 1e-3 --weight_decay 0.05 --warmup_steps 0.05 \
  --lr_scheduler_type cosine --label_smoothing_factor 0.1 --max_grad_norm 1.0 --seed 42

echo "[$(date +%T)] all done"
