#!/usr/bin/env python
"""Train a Learngene *ancestry* model (ResNet or ViT) from scratch on the ancestry classes of a dataset.

transformers-examples style: ``HfArgumentParser`` over ``ModelArguments``, ``DataArguments`` and
``TrainingArguments``; ``Trainer`` through :func:`hf_learngene.experiments.train_classifier`; top-1 / top-5 accuracy
computed with numpy (no ``evaluate`` download).

The result in ``--output_dir`` is a Hub-format checkpoint: ``model.safetensors``, ``config.json`` (with
``id2label``), ``preprocessor_config.json`` (``ConvNextImageProcessor`` for ResNet, ``ViTImageProcessor`` for ViT;
loadable with ``AutoImageProcessor``) and ``ancestry_metrics.json`` (final test accuracy, epochs, wall time, command).
A run is resumed automatically from the last ``checkpoint-*`` in ``--output_dir`` (``--fresh_start`` to ignore it).

Examples (from the repository root)::

    # ResNet-18 layout at reduced width, 84x84 mini-ImageNet ancestry classes 0-63
    python examples/train_ancestry.py --arch resnet --output_dir outputs/ancestry/resnet18 \\
        --embedding_size 32 --hidden_sizes 32 64 128 256 --num_train_epochs 15 \\
        --optim sgd --optim_args "momentum=0.9,nesterov=True" --learning_rate 0.1 --weight_decay 5e-4 \\
        --lr_scheduler_type cosine

    # ViT (patch 12 on 84x84 -> 7x7 tokens)
    python examples/train_ancestry.py --arch vit --output_dir outputs/ancestry/vit --hidden_size 192 \\
        --num_hidden_layers 12 --num_attention_heads 3 --intermediate_size 768 --patch_size 12 \\
        --learning_rate 1e-3 --weight_decay 0.05 --warmup_steps 0.05 --lr_scheduler_type cosine

    # quick sanity run
    python examples/train_ancestry.py --output_dir /tmp/anc --max_steps 20 --max_train_samples 640 \\
        --max_eval_samples 256
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import torch
import transformers
from transformers import (
    ConvNextImageProcessor,
    HfArgumentParser,
    ResNetConfig,
    ResNetForImageClassification,
    TrainingArguments,
    ViTConfig,
    ViTForImageClassification,
    ViTImageProcessor,
    set_seed,
)
from transformers.trainer_utils import get_last_checkpoint

from hf_learngene.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageTransform,
    format_class_spec,
    load_image_dataset,
    parse_class_spec,
    select_classes,
)
from hf_learngene.experiments.tasks import default_dataset_path
from hf_learngene.experiments.training import accuracy_metrics, train_classifier

logger = logging.getLogger("train_ancestry")


@dataclass
class ModelArguments:
    """Architecture of the ancestry model (randomly initialised)."""

    arch: str = field(default="resnet", metadata={"help": "resnet | vit", "choices": ["resnet", "vit"]})
    image_size: int = field(default=84, metadata={"help": "Input resolution (square)."})
    image_mean: list[float] = field(default_factory=lambda: list(IMAGENET_MEAN), metadata={"help": "RGB mean."})
    image_std: list[float] = field(default_factory=lambda: list(IMAGENET_STD), metadata={"help": "RGB std."})
    # ResNet (transformers ResNetForImageClassification); defaults = ResNet-18
    layer_type: str = field(default="basic", metadata={"help": "ResNet block type: basic | bottleneck"})
    depths: list[int] = field(default_factory=lambda: [2, 2, 2, 2], metadata={"help": "ResNet blocks per stage."})
    hidden_sizes: list[int] = field(
        default_factory=lambda: [64, 128, 256, 512], metadata={"help": "ResNet channels per stage."}
    )
    embedding_size: int = field(default=64, metadata={"help": "ResNet stem channels."})
    # ViT (transformers ViTForImageClassification); defaults = ViT-Tiny shape
    hidden_size: int = field(default=192, metadata={"help": "ViT hidden size."})
    num_hidden_layers: int = field(default=12, metadata={"help": "ViT encoder layers."})
    num_attention_heads: int = field(default=3, metadata={"help": "ViT attention heads."})
    intermediate_size: int = field(default=768, metadata={"help": "ViT MLP size."})
    patch_size: int = field(default=12, metadata={"help": "ViT patch size (image_size must be divisible by it)."})
    hidden_dropout_prob: float = field(default=0.0, metadata={"help": "ViT dropout."})
    attention_probs_dropout_prob: float = field(default=0.0, metadata={"help": "ViT attention dropout."})


@dataclass
class DataArguments:
    """Data, augmentation and runtime options."""

    dataset: str | None = field(
        default=None,
        metadata={"help": "Local dataset folder or Hub id (default: $LEARNGENE_DATASET or ../shared mini-ImageNet)."},
    )
    dataset_revision: str | None = field(default=None, metadata={"help": "Hub revision of --dataset."})
    classes: str = field(default="0-63", metadata={"help": "Ancestry classes, e.g. '0-63' or '0-9,20-29'."})
    train_split: str = field(default="train", metadata={"help": "Split to train on."})
    eval_split: str = field(default="test", metadata={"help": "Held-out split of the same classes."})
    image_column: str = field(default="image", metadata={"help": "Image column."})
    label_column: str = field(default="label", metadata={"help": "Label column."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Subsample training rows (debug)."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Subsample evaluation rows (debug)."})
    no_augmentation: bool = field(default=False, metadata={"help": "Disable random crop + flip."})
    crop_padding: int | None = field(default=None, metadata={"help": "Random-crop padding (default size//8)."})
    num_threads: int = field(default=1, metadata={"help": "torch.set_num_threads value."})
    fresh_start: bool = field(
        default=False, metadata={"help": "Do not resume from a checkpoint found in --output_dir."}
    )


# Defaults that differ from TrainingArguments' own (all can be overridden on the command line).
TRAINING_DEFAULTS = {
    "output_dir": "outputs/ancestry/run",
    "num_train_epochs": 15,
    "per_device_train_batch_size": 64,
    "per_device_eval_batch_size": 256,
    "learning_rate": 0.1,
    "weight_decay": 5e-4,
    "lr_scheduler_type": "cosine",
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "save_total_limit": 1,
    "logging_steps": 25,
    "logging_first_step": True,
    "report_to": "none",
    "remove_unused_columns": False,
    "dataloader_num_workers": 0,
    "use_cpu": not torch.cuda.is_available(),
    "seed": 42,
}


def build_model(margs: ModelArguments, id2label: dict[int, str]):
    """Return ``(model, image_processor)`` for ``margs.arch``."""
    label2id = {v: k for k, v in id2label.items()}
    common = {"num_labels": len(id2label), "id2label": id2label, "label2id": label2id}
    if margs.arch == "resnet":
        config = ResNetConfig(
            num_channels=3,
            embedding_size=margs.embedding_size,
            hidden_sizes=list(margs.hidden_sizes),
            depths=list(margs.depths),
            layer_type=margs.layer_type,
            hidden_act="relu",
            **common,
        )
        model = ResNetForImageClassification(config)
        # ResNet checkpoints on the Hub use ConvNextImageProcessor; crop_pct=1 -> resize shortest edge + center crop
        processor = ConvNextImageProcessor(
            size={"shortest_edge": margs.image_size},
            crop_pct=1.0,
            resample=2,  # bilinear
            image_mean=list(margs.image_mean),
            image_std=list(margs.image_std),
        )
    elif margs.arch == "vit":
        if margs.image_size % margs.patch_size:
            raise ValueError(f"image_size {margs.image_size} is not divisible by patch_size {margs.patch_size}")
        config = ViTConfig(
            image_size=margs.image_size,
            patch_size=margs.patch_size,
            num_channels=3,
            hidden_size=margs.hidden_size,
            num_hidden_layers=margs.num_hidden_layers,
            num_attention_heads=margs.num_attention_heads,
            intermediate_size=margs.intermediate_size,
            hidden_dropout_prob=margs.hidden_dropout_prob,
            attention_probs_dropout_prob=margs.attention_probs_dropout_prob,
            qkv_bias=True,
            **common,
        )
        model = ViTForImageClassification(config)
        processor = ViTImageProcessor(
            size={"height": margs.image_size, "width": margs.image_size},
            resample=2,
            image_mean=list(margs.image_mean),
            image_std=list(margs.image_std),
        )
    else:
        raise ValueError(f"Unknown --arch {margs.arch!r} (resnet | vit)")
    return model, processor


def main(argv: list[str] | None = None) -> dict:
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))
    parser.set_defaults(**TRAINING_DEFAULTS)
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 1 and argv[0].endswith(".json"):
        margs, dargs, targs = parser.parse_json_file(json_file=os.path.abspath(argv[0]))
    else:
        margs, dargs, targs = parser.parse_args_into_dataclasses(args=argv)
    targs.remove_unused_columns = False  # the image column is needed by the on-the-fly transform

    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", datefmt="%H:%M:%S", level=logging.INFO
    )
    transformers.utils.logging.set_verbosity_warning()
    torch.set_num_threads(dargs.num_threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    set_seed(targs.seed)
    t_start = time.time()

    # ---- data ------------------------------------------------------------------------------------
    classes = parse_class_spec(dargs.classes)
    raw = load_image_dataset(dargs.dataset, revision=dargs.dataset_revision)
    train_ds = select_classes(raw[dargs.train_split], classes, label_column=dargs.label_column)
    eval_ds = select_classes(raw[dargs.eval_split], classes, label_column=dargs.label_column)
    if dargs.max_train_samples is not None:
        train_ds = train_ds.shuffle(seed=targs.seed).select(range(min(dargs.max_train_samples, len(train_ds))))
    if dargs.max_eval_samples is not None:
        eval_ds = eval_ds.shuffle(seed=targs.seed).select(range(min(dargs.max_eval_samples, len(eval_ds))))
    names = train_ds.features[dargs.label_column].names
    id2label = {i: str(n) for i, n in enumerate(names)}
    logger.info(
        "classes %s -> %d labels; train %d rows, eval %d rows", dargs.classes, len(names), len(train_ds), len(eval_ds)
    )

    # ---- model + transforms ------------------------------------------------------------------------
    model, processor = build_model(margs, id2label)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("%s ancestry: %.2fM parameters", margs.arch, n_params / 1e6)
    tf_kw = {"image_column": dargs.image_column, "label_column": dargs.label_column}
    if dargs.crop_padding is not None:
        tf_kw["crop_padding"] = dargs.crop_padding
    train_tf = ImageTransform.from_processor(processor, train=not dargs.no_augmentation, **tf_kw)
    train_ds = train_ds.with_transform(train_tf)
    eval_ds = eval_ds.with_transform(train_tf.with_train(False))

    # ---- train (auto-resume) -------------------------------------------------------------------------
    resume = targs.resume_from_checkpoint
    if resume is None and not dargs.fresh_start and os.path.isdir(targs.output_dir):
        resume = get_last_checkpoint(targs.output_dir)
        if resume is not None:
            logger.info("Resuming from %s", resume)
    result = train_classifier(model, train_ds, eval_ds, args=targs, compute_metrics=partial(accuracy_metrics, top_k=5),
                              trainer_kwargs={"processing_class": processor}, resume_from_checkpoint=resume)
    trainer, train_metrics = result.trainer, result.train_metrics
    trainer.save_model()  # model.safetensors + config.json + preprocessor_config.json
    trainer.log_metrics("train", train_metrics)
    trainer.save_metrics("train", train_metrics)
    trainer.save_state()

    # ---- final test evaluation -------------------------------------------------------------------------
    last = trainer.state.log_history[-2:] if trainer.state.log_history else []
    done = [h for h in last if "eval_accuracy" in h and h.get("step") == trainer.state.global_step]
    if done and dargs.max_eval_samples is None:  # the last epoch's evaluation is already the final one
        eval_metrics = {k: v for k, v in done[-1].items() if k.startswith("eval_") or k == "epoch"}
    else:
        eval_metrics = trainer.evaluate()
    trainer.log_metrics("eval", eval_metrics)
    trainer.save_metrics("eval", eval_metrics)

    wall = time.time() - t_start
    summary = {
        "test_accuracy": eval_metrics.get("eval_accuracy"),
        "test_top5_accuracy": eval_metrics.get("eval_top5_accuracy"),
        "test_loss": eval_metrics.get("eval_loss"),
        "epochs": trainer.state.epoch,
        "global_step": trainer.state.global_step,
        "wall_time_s": round(wall, 1),
        "train_runtime_s": train_metrics.get("train_runtime"),
        "train_samples_per_second": train_metrics.get("train_samples_per_second"),
        "resumed_from": resume,
        "arch": margs.arch,
        "num_parameters": n_params,
        "classes": format_class_spec(classes),
        "num_train_samples": len(train_ds),
        "num_test_samples": len(eval_ds),
        "dataset": dargs.dataset or default_dataset_path(),
        "num_threads": dargs.num_threads,
        "seed": targs.seed,
        "model_args": asdict(margs),
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv[:1], *argv]),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    }
    if trainer.is_world_process_zero():
        out = Path(targs.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "ancestry_metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
        logger.info(
            "test accuracy %.4f after %.1f epochs; wrote %s",
            summary["test_accuracy"],
            summary["epochs"],
            out / "ancestry_metrics.json",
        )
    return summary


if __name__ == "__main__":
    main()
