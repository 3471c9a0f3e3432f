"""Learngenes of the harness: condensed once per configuration and cached (:func:`get_learngene`), or precomputed
folders keyed by their content (:func:`learngene_fingerprint`, :func:`load_precomputed_learngene`)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hf_learngene import CondenseConfig, LearngeneModel, condense
from hf_learngene.experiments.tasks import MINI_IMAGENET_SPLIT
from hf_learngene.utils import count_parameters

from .methods import CONDENSE_METHOD
from .profiles import HOME_FAMILIES
from .runs import claim_run
from .utils import _now, _write_json, portable_path, versions

if TYPE_CHECKING:
    from .context import Context

logger = logging.getLogger("paper_harness")


def learngene_fingerprint(folder: str | os.PathLike) -> str:
    """sha256 (16 hex) of a learngene folder's ``config.json`` and ``model.safetensors`` (names and bytes).

    Copies of the same folder get the same fingerprint wherever they are, so runs keyed by it stay valid across
    machines.
    """
    from hf_learngene.constants import CONFIG_NAME, SAFETENSORS_WEIGHTS_NAME

    root = Path(folder)
    digest = hashlib.sha256()
    for name in (CONFIG_NAME, SAFETENSORS_WEIGHTS_NAME):
        path = root / name
        if not path.is_file():
            raise FileNotFoundError(f"{root} is not a learngene folder: it has no {name}.")
        if name == CONFIG_NAME:
            data = fingerprinted_config(path)
            digest.update(f"{name}\0{len(data)}\0".encode())
            digest.update(data)
            continue
        digest.update(f"{name}\0{path.stat().st_size}\0".encode())
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


#: ``config.json`` keys added after runs were keyed by learngene fingerprints, with the value that leaves a learngene
#: what it was (``None``: provenance that never changes a descendant, always left out of the fingerprint).
LATER_CONFIG_KEYS: dict[str, Any] = {"include_embeddings": False, "image_processor": None}
#: The ``transformers_version`` every fingerprint is computed with: the version that wrote the learngenes of the
#: committed runs. The `transformers` release that saves a learngene changes neither its layers nor its descendants,
#: so it must not change the runs' keys (it did: 5.24 -> 5.25 re-keyed every run of a precomputed learngene).
FINGERPRINT_TRANSFORMERS_VERSION = "5.24.0"


def fingerprinted_config(path: Path) -> bytes:
    """The bytes of a learngene ``config.json`` that its fingerprint covers: the file as `transformers` writes it
    (sorted keys, 2-space indent) without the :data:`LATER_CONFIG_KEYS` at their neutral values and with every
    ``transformers_version`` set to :data:`FINGERPRINT_TRANSFORMERS_VERSION`, so a learngene of the paper's form gets
    the fingerprint it had when the committed runs were keyed, whichever `transformers` 5.x saved it."""
    config = json.loads(path.read_text(encoding="utf-8"))
    for key, neutral in LATER_CONFIG_KEYS.items():
        if key in config and (neutral is None or config[key] == neutral):
            del config[key]
    for section in (config, config.get("ancestry_config")):
        if isinstance(section, dict) and "transformers_version" in section:
            section["transformers_version"] = FINGERPRINT_TRANSFORMERS_VERSION
    return (json.dumps(config, indent=2, sort_keys=True) + "\n").encode()


def load_precomputed_learngene(ctx: Context, family: str, method: str, folder: str | os.PathLike) -> LearngeneModel:
    """``LearngeneModel.from_pretrained(folder)``, checked against the session's ancestry.

    Raises ``ValueError`` when its family or ancestry depth differs from ``family``'s ancestry; warns when its
    recorded ancestry fingerprint differs from that of the ancestry folder in use.
    """
    from hf_learngene.families import get_family
    from hf_learngene.provenance import MODEL_FILE_PATTERNS, source_reference

    learngene = LearngeneModel.from_pretrained(folder)
    config = learngene.config
    if config.family != family:
        raise ValueError(f"The learngene at {folder} is a {config.family!r} learngene, not {family!r}")
    ancestry_layers = get_family(family).num_layers(ctx.ancestry(family).config)
    if config.ancestry_num_layers is not None and int(config.ancestry_num_layers) != ancestry_layers:
        raise ValueError(f"The learngene at {folder} comes from an ancestry with {config.ancestry_num_layers} layers; "
                         f"the {family} ancestry in use has {ancestry_layers}")
    mine = source_reference(ctx.ancestry_path(family), patterns=MODEL_FILE_PATTERNS, record_local_paths=False)
    theirs = config.ancestry_name_or_path
    if theirs and mine and "@sha256:" in str(theirs) and str(theirs).split("@")[-1] != mine.split("@")[-1]:
        warnings.warn(f"The learngene at {folder} records ancestry {theirs}, the {family} ancestry in use is {mine}: "
                      "Feature Distillation, First-k and Random-k use the latter.", stacklevel=2)
    logger.info("Using the precomputed %s learngene of %s at %s (layers %s)", method, family, folder,
                list(config.layer_indices))
    return learngene


def get_learngene(method: str, family: str, ctx: Context) -> LearngeneModel:
    """The ``method`` (``"auto"`` / ``"auto_paper"`` / ``"heur"``) learngene of ``family``, condensed once and cached.

    Calls :func:`hf_learngene.condense` with the profile's condense settings (plus :meth:`Context.condense_extra`)
    and saves the result (learngene, scores, plots) in ``<work_dir>/learngenes/<key>`` and its metadata (selected
    layers, scores, condensing wall time, settings) in ``<output>/runs/condense-<key>.json``; the key hashes the
    ancestry's weights, the dataset, the condense classes and the condense settings.
    """
    key = ctx.learngene_key(family, method)
    folder = ctx.work_dir / "learngenes" / key
    meta_path = ctx.runs_dir / f"condense-{key}.json"
    # parallel processes of one plan condense once: the others wait for it, then load it
    with claim_run(meta_path, wait=True):
        if (folder / "config.json").exists() and meta_path.exists():
            return LearngeneModel.from_pretrained(folder)
        return _condense_learngene(method, family, ctx, key, folder, meta_path)


def _condense_learngene(method: str, family: str, ctx: Context, key: str, folder: Path, meta_path: Path
                        ) -> LearngeneModel:
    """:func:`get_learngene`'s condensing, under its claim."""
    settings: dict[str, Any] = {"method": CONDENSE_METHOD[method], "seed": 0, "progress": ctx.progress,
                                **ctx.profile.condense, **ctx.condense_extra(family, method)}
    if ctx.profile.image_size is not None:
        settings["image_size"] = ctx.profile.image_size
    if family in HOME_FAMILIES and CONDENSE_METHOD[method] == "auto":
        # The cached home-ancestry learngenes were condensed before objectives existed, i.e. with the paper's
        # literal Algorithm 1; a re-condense under the same key must do the same (the key predates the field).
        settings.setdefault("objective", "paper")
    # The cached and committed learngenes were condensed before size rules and the image budget existed, i.e. with
    # the paper's 1/L rule and every image: a re-condense under the same key must do the same. Pinned here, not in
    # Context.condense_settings, so no key changes (the key predates the fields); at these values the fields also
    # leave CondenseConfig.to_dict(), so the recorded condense_config and the learngene's selection_arguments (and its
    # fingerprint, fingerprinted_config) are what they were. A profile or method that sets them keys them itself.
    settings.setdefault("size_rule", "threshold")
    settings.setdefault("max_images_per_class", None)
    # Checkpoints let a killed condense resume (they do not change the result, so they are not part of the key).
    settings["checkpoint_dir"] = str(ctx.work_dir / "learngenes" / f"{key}.checkpoints")
    config = CondenseConfig(**settings)
    logger.info("Condensing the %s learngene (%s) of %s ...", method, CONDENSE_METHOD[method], family)
    result = condense(str(ctx.ancestry_path(family)), ctx.raw, config, image_column="image", label_column="label",
                      classes=list(MINI_IMAGENET_SPLIT.condense), split="train")
    result.save(folder)  # learngene + scores.json + score plots
    # The small reports (scores, plots, per-step log, model card) are committed beside the results.
    report = ctx.summary_dir([family]) / "condense" / f"{family}-{method}"
    report.mkdir(parents=True, exist_ok=True)
    for name in ("scores.json", "condense_config.json", "condense_log.json", "pair_scores.png", "layer_scores.png",
                 "README.md", "config.json"):
        if (folder / name).exists():
            shutil.copy2(folder / name, report / name)
    scores = result.scores_dict()
    _write_json(meta_path, {
        "selected_layers": scores["selected_layers"],
        "layer_scores": scores["layer_scores"],
        "pair_scores": scores["pair_scores"],
        "wall_time_s": result.wall_time,
        # the checkpoint folder as a portable path: no absolute path of this machine in committed results
        "condense_config": {**config.to_dict(), "checkpoint_dir": portable_path(settings["checkpoint_dir"])},
        "key": key, "family": family, "method": method, "settings": ctx.condense_settings(family, method),
        "num_parameters": count_parameters(result.learngene),
        "ancestry_num_parameters": count_parameters(ctx.ancestry(family)),
        "ancestry_path": portable_path(ctx.ancestry_path(family)),
        "versions": versions(), "created": _now(),
    })
    return LearngeneModel.from_pretrained(folder)
