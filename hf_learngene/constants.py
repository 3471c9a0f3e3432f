"""File names and environment variables of hf_learngene, in one place.

A learngene folder holds :data:`CONFIG_NAME`, :data:`SAFETENSORS_WEIGHTS_NAME` and :data:`MODEL_CARD_NAME`;
``CondenseResult.save`` adds :data:`SCORES_NAME`, :data:`CONDENSE_CONFIG_NAME`, :data:`CONDENSE_LOG_NAME` and
the plots :data:`PAIR_SCORES_PLOT_NAME`, :data:`LAYER_SCORES_PLOT_NAME` and :data:`SCORE_TRAJECTORY_PLOT_NAME` (see
``docs/guide/formats.md``).
"""

from __future__ import annotations

#: ``PreTrainedConfig`` file of every checkpoint (learngene, ancestry, descendant).
CONFIG_NAME = "config.json"
#: The weights of a (single-file) checkpoint; hf_learngene reads and writes safetensors only.
SAFETENSORS_WEIGHTS_NAME = "model.safetensors"
#: The model card of a learngene or a descendant.
MODEL_CARD_NAME = "README.md"
#: The image processor config of a checkpoint (used to preprocess condense images).
PREPROCESSOR_CONFIG_NAME = "preprocessor_config.json"

#: Condensing reports written beside a learngene by ``CondenseResult.save`` / ``learngene condense``.
SCORES_NAME = "scores.json"
CONDENSE_CONFIG_NAME = "condense_config.json"
CONDENSE_LOG_NAME = "condense_log.json"
PAIR_SCORES_PLOT_NAME = "pair_scores.png"
LAYER_SCORES_PLOT_NAME = "layer_scores.png"
SCORE_TRAJECTORY_PLOT_NAME = "score_trajectory.png"

#: Folder of the model card templates (``hub_cards/`` in the repository, ``hf_learngene/hub_cards/`` when installed).
CARD_TEMPLATES_DIR = "hub_cards"
LEARNGENE_CARD_TEMPLATE = "learngene_card.md"
DESCENDANT_CARD_TEMPLATE = "descendant_card.md"

#: Files of ``learngene demo``: its results, the learning-curve plot and the record of a cached ancestry.
DEMO_RESULTS_NAME = "demo_results.json"
LEARNING_CURVES_PLOT_NAME = "learning_curves.png"
DEMO_ANCESTRY_NAME = "demo_ancestry.json"
#: Results of ``examples/finetune_descendant.py`` (default ``<output_dir>/finetune_results.json``).
FINETUNE_RESULTS_NAME = "finetune_results.json"

#: Environment variable with the dataset location (a local folder or a Hub id), see ``default_dataset_path``.
DATASET_ENV_VAR = "LEARNGENE_DATASET"
#: Environment variable with the ancestry of ``learngene demo`` (a local folder or a Hub id).
ANCESTRY_ENV_VAR = "LEARNGENE_ANCESTRY"
#: Environment variable with the ancestry cache of ``learngene demo``.
DEMO_CACHE_ENV_VAR = "LEARNGENE_CACHE"
#: Set to ``1`` to record full local paths in provenance (default: folder name + content fingerprint).
RECORD_LOCAL_PATHS_ENV_VAR = "LEARNGENE_RECORD_LOCAL_PATHS"
