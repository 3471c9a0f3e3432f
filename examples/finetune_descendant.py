#!/usr/bin/env python
"""Fine-tune a Learngene *descendant* on an N-way task (transformers-examples style).

Three ways to initialise the descendant (``--init``):

* ``learngene`` (default): ``from_learngene(--learngene, ...)``: the learngene layers are inherited, and the input
  embedding when the learngene carries it (``--inherit_embeddings false``: a fresh one, the paper's descendant); the
  rest is fresh. It trains with ``hf_learngene.DescendantTrainer``: the inherited weights at ``--inherited_lr_scale``
  x ``--learning_rate`` (default: the descendant's recorded recommendation, 0.1 with the inherited embedding at full
  width, else 1.0);
* ``scratch``: the same architecture, every weight fresh (``--like_learngene DIR`` gives the architecture);
* ``distill``: like ``scratch`` and trained with Feature Distillation from the ancestry (``--teacher DIR``) at the
  learngene positions (:class:`hf_learngene.experiments.distillation.FeatureDistillationTrainer`).

The task is drawn with :func:`hf_learngene.experiments.make_task` (``--classes 80-99 --n_way 5 --samples_per_class K
--task_seed S``). Training uses :class:`~transformers.Trainer` with one cheap evaluation per epoch (optionally on the
first ``--eval_per_class`` test images of each class); test accuracy per epoch is written to ``--results_file``
(default ``<output_dir>/finetune_results.json``); the metric is ``evaluate``'s ``--metric_name`` (default accuracy;
offline: the copy hf_learngene ships). The output folder is a model others can use: weights, config, the image
processor (``pipeline("image-classification", model=output_dir)`` works) and the descendant card with the last
evaluation as ``model-index``.

Examples (from the repository root)::

    python examples/finetune_descendant.py --learngene outputs/learngenes/vit-auto --output_dir outputs/ft/auto \\
        --samples_per_class 100 --num_train_epochs 20 --learning_rate 2e-4
    python examples/finetune_descendant.py --init scratch --like_learngene outputs/learngenes/vit-auto \\
        --output_dir outputs/ft/scratch --samples_per_class 100
    python examples/finetune_descendant.py --init distill --like_learngene outputs/learngenes/vit-auto \\
        --teacher outputs/ancestry/vit --output_dir outputs/ft/distill --samples_per_class 100

The code lives in :mod:`hf_learngene.experiments.finetune` (``build_descendant`` and ``finetune`` are reused by
``examples/paper/harness.py``); this script is its command line.
"""

from __future__ import annotations

from hf_learngene.experiments.finetune import (
    INIT_CHOICES,
    TRAINING_DEFAULTS,
    DataArguments,
    ModelArguments,
    build_descendant,
    default_image_size,
    finetune,
    first_per_class,
    load_learngene,
    main,
    parse_args,
)

#: What this script defined before its code moved to hf_learngene.experiments.finetune (``ft.build_descendant``,
#: ``ft.finetune`` in examples/paper/harness.py).
__all__ = [
    "INIT_CHOICES",
    "TRAINING_DEFAULTS",
    "DataArguments",
    "ModelArguments",
    "build_descendant",
    "default_image_size",
    "finetune",
    "first_per_class",
    "load_learngene",
    "main",
    "parse_args",
]

if __name__ == "__main__":
    main()
