"""The :class:`Context` of a session: dataset, ancestries and learngenes, all loaded on first use and kept."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hf_learngene import CondenseConfig, LearngeneModel
from hf_learngene.data import ImageTransform, format_class_spec, load_image_dataset
from hf_learngene.experiments.tasks import MINI_IMAGENET_SPLIT, default_dataset_path

from .learngenes import get_learngene, learngene_fingerprint, load_precomputed_learngene
from .methods import ALL_METHODS, CONDENSE_EXTRA, CONDENSE_METHOD, DEFAULT_METHODS, MANUAL_METHODS, METHOD_REGISTRY
from .profiles import (
    ANCESTRY_ENV_VARS,
    DEFAULT_ANCESTRIES,
    DEFAULT_OUTPUT,
    DEFAULT_WORK_DIR,
    FAMILIES,
    FAMILY_IMAGE_SIZE,
    HOME_FAMILIES,
    SMOKE_DATASET,
    Profile,
)
from .smoke import synthetic_dataset, tiny_ancestry
from .utils import _hash, file_fingerprint


@dataclass
class Context:
    """Everything the runs of one session share; heavy objects are loaded on first use and kept.

    Args:
        profile: a :class:`Profile`.
        output: results folder (``<output>/runs`` holds the per-run JSON cache).
        work_dir: folder for large generated artefacts (learngene weights, trainer scratch), not committed.
        dataset: local path or Hub id (default :func:`hf_learngene.data.default_dataset_path`); ignored by ``smoke``.
        ancestries: ``{"vit": dir, "resnet": dir, "dinov2": dir}`` (default :data:`DEFAULT_ANCESTRIES`, for
            ``dinov2`` overridable by ``$LEARNGENE_DINOV2``); ignored by ``smoke``.
        progress: show progress bars (also while condensing).
        methods: the methods of Table 2 / Fig. 3 / Fig. 5 (default: :data:`DEFAULT_METHODS` of each family for
            Table 2, the profile's ``fig5_methods`` for Fig. 5); Fig. 4 keeps the profile's ``fig4_methods``.
        num_tasks: overrides the profile's task counts (Table 2, Fig. 4 and Fig. 5).
        epochs: overrides the profile's epochs (part of every run's cache key).
        learngene_paths: ``{(family, method): learngene folder}`` for condensed methods (``auto``, ``auto_paper``,
            ``heur``): load that learngene instead of condensing; runs are keyed by its
            :func:`learngene_fingerprint`.
        random_k_draw_per_task: Random-k trains one run per task, with draw = the task seed (distinct draws across
            tasks), instead of ``Profile.random_k_draws`` runs per task.
        fig5_samples: overrides the profile's Fig. 5 samples per class (e.g. ``(20, 100)``).
        fig4_methods: overrides the profile's Fig. 4 methods.
    """

    profile: Profile
    output: Path = DEFAULT_OUTPUT
    work_dir: Path = DEFAULT_WORK_DIR
    dataset: str | None = None
    ancestries: dict[str, str | Path] = field(default_factory=dict)
    progress: bool = True
    methods: Sequence[str] | None = None
    num_tasks: int | None = None
    epochs: int | None = None
    learngene_paths: dict[tuple[str, str], str | Path] = field(default_factory=dict)
    random_k_draw_per_task: bool = False
    fig5_samples: Sequence[int] | None = None
    fig4_methods: Sequence[str] | None = None
    _raw: Any = field(default=None, init=False, repr=False)
    _ancestry_models: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _ancestry_fp: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _learngenes: dict[tuple[str, str, int | None], LearngeneModel] = field(default_factory=dict, init=False,
                                                                           repr=False)
    _learngene_fp: dict[tuple[str, str], str] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.output = Path(self.output)
        self.work_dir = Path(self.work_dir)
        if self.methods is not None:
            self.methods = tuple(self.methods)
            unknown = [m for m in self.methods if m not in ALL_METHODS]
            if unknown or not self.methods:
                raise ValueError(f"Unknown method(s) {unknown}; choose from {', '.join(ALL_METHODS)}")
        for (family, method), path in self.learngene_paths.items():
            if family not in FAMILIES:
                raise ValueError(f"Unknown family {family!r} for a precomputed learngene; choose from {FAMILIES}")
            if method not in CONDENSE_METHOD:
                raise ValueError(f"A precomputed learngene replaces a condensed one ({', '.join(CONDENSE_METHOD)}), "
                                 f"not {method!r}")
            if not (Path(path) / "config.json").is_file():
                raise FileNotFoundError(f"No learngene folder at {path} (for {family}:{method}): no config.json")
        overrides: dict[str, Any] = {}
        if self.num_tasks is not None:
            if self.num_tasks < 1:
                raise ValueError(f"num_tasks must be >= 1, got {self.num_tasks}")
            overrides.update(num_tasks=self.num_tasks, fig4_num_tasks=self.num_tasks, fig5_num_tasks=self.num_tasks)
        if self.epochs is not None:
            if self.epochs < 1:
                raise ValueError(f"epochs must be >= 1, got {self.epochs}")
            overrides["epochs"] = self.epochs
        if self.fig5_samples is not None:
            if not self.fig5_samples or min(self.fig5_samples) < 1:
                raise ValueError(f"fig5_samples must be positive sample counts, got {self.fig5_samples}")
            overrides["fig5_samples"] = self.fig5_samples = tuple(int(n) for n in self.fig5_samples)
        if self.fig4_methods is not None:
            unknown = [m for m in self.fig4_methods if m not in ALL_METHODS]
            if unknown or not self.fig4_methods:
                raise ValueError(f"Unknown Fig. 4 method(s) {unknown}; choose from {', '.join(ALL_METHODS)}")
            overrides["fig4_methods"] = self.fig4_methods = tuple(self.fig4_methods)
        if overrides:
            self.profile = replace(self.profile, **overrides)

    # ---- paths
    @property
    def runs_dir(self) -> Path:
        return self.output / "runs"

    @property
    def profile_dir(self) -> Path:
        return self.output / self.profile.name

    def summary_dir(self, families: Sequence[str]) -> Path:
        """Where the summaries of ``families`` go: ``<profile>/`` for the home-trained families, else
        ``<profile>/<family>/`` (``dinov2``)."""
        others = [f for f in families if f not in HOME_FAMILIES]
        return self.profile_dir / "-".join(others) if others else self.profile_dir

    def overrides(self) -> dict[str, Any]:
        """The session's settings beyond the profile (recorded in every summary, e.g. to rebuild its command)."""
        return {"methods": list(self.methods) if self.methods is not None else None, "num_tasks": self.num_tasks,
                "epochs": self.epochs, "random_k_draw_per_task": self.random_k_draw_per_task,
                "fig5_samples": list(self.fig5_samples) if self.fig5_samples is not None else None,
                "fig4_methods": list(self.fig4_methods) if self.fig4_methods is not None else None,
                "learngenes": {f"{f}:{m}": self.learngene_key(f, m) for f, m in sorted(self.learngene_paths)}}

    # ---- methods
    def methods_for(self, family: str) -> tuple[str, ...]:
        """Table 2 / Fig. 3 methods of ``family``: ``methods`` if given, else :data:`DEFAULT_METHODS`."""
        return tuple(self.methods) if self.methods is not None else DEFAULT_METHODS[family]

    def fig5_methods(self, family: str) -> tuple[str, ...]:
        """Fig. 5 methods: ``methods`` if given, else the profile's ``fig5_methods``."""
        return tuple(self.methods) if self.methods is not None else tuple(self.profile.fig5_methods)

    def condensed_methods(self, family: str) -> list[str]:
        """The learngenes ``family`` needs: ``auto`` (it fixes every descendant's architecture) and any other
        condensed method among its Table 2 / Fig. 4 / Fig. 5 methods."""
        wanted = {*self.methods_for(family), *self.fig5_methods(family), *self.profile.fig4_methods}
        return ["auto"] + [m for m in CONDENSE_METHOD if m != "auto" and m in wanted]

    # ---- dataset
    @property
    def dataset_id(self) -> str:
        """Stable identifier of the dataset (used in cache keys)."""
        if self.profile.synthetic:
            return SMOKE_DATASET
        if self.dataset is None:
            return "default:" + Path(default_dataset_path()).name
        return Path(self.dataset).name if Path(self.dataset).is_dir() else str(self.dataset)

    @property
    def raw(self) -> Any:
        if self._raw is None:
            self._raw = synthetic_dataset() if self.profile.synthetic else load_image_dataset(self.dataset)
        return self._raw

    # ---- ancestries
    def ancestry_path(self, family: str) -> Path:
        """The ancestry folder of ``family``: ``ancestries[family]``, else its environment variable
        (:data:`ANCESTRY_ENV_VARS`), else :data:`DEFAULT_ANCESTRIES`; the smoke profile builds a tiny one."""
        if self.profile.synthetic:
            path = self.work_dir / "smoke" / "ancestry" / family
            if not (path / "config.json").exists():
                tiny_ancestry(family, image_size=self.profile.image_size or 16).save_pretrained(path)
            return path
        env = ANCESTRY_ENV_VARS.get(family)
        path = Path(self.ancestries.get(family) or (os.environ.get(env) if env else None)
                    or DEFAULT_ANCESTRIES[family])
        if not (path / "config.json").exists():
            hint = (f"train one with examples/train_ancestry.py or pass --ancestry_{family} DIR" if family in
                    HOME_FAMILIES else f"pass --ancestry_{family} DIR or set ${env}")
            raise FileNotFoundError(f"No {family} ancestry at {path}: {hint}.")
        return path

    def ancestry_fingerprint(self, family: str) -> str:
        if family not in self._ancestry_fp:
            path = self.ancestry_path(family)
            weights = sorted(path.glob("*.safetensors"))
            self._ancestry_fp[family] = "+".join(file_fingerprint(w) for w in weights) or _hash(str(path))
        return self._ancestry_fp[family]

    def ancestry(self, family: str) -> Any:
        if family not in self._ancestry_models:
            from hf_learngene.hub import load_ancestry

            self._ancestry_models[family] = load_ancestry(self.ancestry_path(family)).model.eval()
        return self._ancestry_models[family]

    def image_size(self, family: str) -> int:
        """Input side of descendants and condensing: the profile's, else :data:`FAMILY_IMAGE_SIZE`, else the
        ancestry's (ViT) or 84."""
        if self.profile.image_size is not None:
            return self.profile.image_size
        if family in FAMILY_IMAGE_SIZE:
            return FAMILY_IMAGE_SIZE[family]
        size = getattr(self.ancestry(family).config, "image_size", None) if family == "vit" else None
        return int(size[0] if isinstance(size, (list, tuple)) else size) if size else 84

    def transform(self, family: str) -> ImageTransform:
        """Training transform: the ancestry's image processor when it has one, else ImageNet statistics."""
        path = self.ancestry_path(family)
        size = self.image_size(family)
        if (path / "preprocessor_config.json").exists():
            tf = ImageTransform.from_processor(path, train=True)
            if tf.size == (size, size):
                return tf
        return ImageTransform(size=size, train=True)

    # ---- learngenes
    def condense_extra(self, family: str, method: str) -> dict[str, Any]:
        """CondenseConfig fields of ``method`` beyond the profile's ``condense`` settings (part of its key).

        ``auto_paper`` sets ``objective="paper"``. For families without a home-trained ancestry (``dinov2``) the
        objective of ``auto`` is recorded explicitly (so a change of the default re-keys it) and so is the image
        size of :data:`FAMILY_IMAGE_SIZE`; the home-trained families keep the keys they had.
        """
        extra = dict(CONDENSE_EXTRA.get(method, {}))
        if family not in HOME_FAMILIES:
            if CONDENSE_METHOD[method] == "auto":
                extra.setdefault("objective", CondenseConfig.__dataclass_fields__["objective"].default)
            if self.profile.image_size is None and family in FAMILY_IMAGE_SIZE:
                extra["image_size"] = FAMILY_IMAGE_SIZE[family]
        return extra

    def condense_settings(self, family: str, method: str) -> dict[str, Any]:
        return {"method": CONDENSE_METHOD[method], "seed": 0,
                "classes": format_class_spec(MINI_IMAGENET_SPLIT.condense), "dataset": self.dataset_id,
                "ancestry": self.ancestry_fingerprint(family), **self.profile.condense,
                **self.condense_extra(family, method)}

    def precomputed(self, family: str, method: str) -> Path | None:
        """The precomputed learngene folder of ``(family, method)``, if one was given."""
        path = self.learngene_paths.get((family, method))
        return Path(path) if path is not None else None

    def learngene_key(self, family: str, method: str) -> str:
        """Key of a condensed learngene: a hash of its condense settings, or ``<family>-<method>-file-<fp>`` for a
        precomputed folder (:func:`learngene_fingerprint`)."""
        folder = self.precomputed(family, method)
        if folder is not None:
            if (family, method) not in self._learngene_fp:
                self._learngene_fp[(family, method)] = learngene_fingerprint(folder)
            return f"{family}-{method}-file-{self._learngene_fp[(family, method)]}"
        return f"{family}-{method}-{_hash(self.condense_settings(family, method), 12)}"

    def learngene(self, family: str, method: str, draw: int | None = None) -> LearngeneModel:
        """The learngene of ``method``: condensed (or precomputed) for ``auto`` / ``auto_paper`` / ``heur``,
        built with :meth:`LearngeneModel.from_ancestry` for ``first_k`` (layers ``0..k-1``) and ``random_k``
        (:func:`random_layer_indices` of ``draw``), with k = the size of the Auto learngene."""
        entry = METHOD_REGISTRY.get(method)
        key = (family, method, draw if entry is not None and entry.draws else None)
        if key not in self._learngenes:
            if method in CONDENSE_METHOD:
                folder = self.precomputed(family, method)
                self._learngenes[key] = (get_learngene(method, family, self) if folder is None
                                         else load_precomputed_learngene(self, family, method, folder))
            elif method in MANUAL_METHODS:  # the paper's form: layers only
                self._learngenes[key] = LearngeneModel.from_ancestry(
                    str(self.ancestry_path(family)), layer_indices=self.manual_layers(family, method, draw),
                    include_embeddings=False)
            elif method == "default_path":
                auto = self.learngene(family, "auto")
                self._learngenes[key] = self.carrying_learngene(family, list(auto.config.layer_indices))
            else:
                raise ValueError(f"Method {method!r} has no learngene")
        return self._learngenes[key]

    def carrying_learngene(self, family: str, layer_indices: list[int]) -> LearngeneModel:
        """The ancestry's ``layer_indices`` plus its input embedding (``include_embeddings=True``, the library's
        default form), written once under the work dir and loaded back from that folder alone: what a user of the Hub
        learngene has (``default_path`` runs, the width runs' ``default_path``)."""
        from .runs import claim_run

        folder = self.work_dir / "learngenes" / f"carrying-{family}-{'-'.join(map(str, layer_indices))}"
        if not (folder / "config.json").exists():
            with claim_run(folder.with_suffix(".json"), wait=True):
                if not (folder / "config.json").exists():
                    LearngeneModel.from_ancestry(str(self.ancestry_path(family)), layer_indices=list(layer_indices),
                                                 include_embeddings=True).save_pretrained(folder)
        return LearngeneModel.from_pretrained(folder)

    def manual_layers(self, family: str, method: str, draw: int | None = None) -> list[int]:
        """The ancestry layers of ``first_k`` / ``random_k`` (k = the size of the Auto learngene): the method's
        ``layers`` rule (:class:`~harness.methods.Method`)."""
        auto = self.learngene(family, "auto")
        if method not in MANUAL_METHODS:
            raise ValueError(f"{method!r} is not a manual learngene method ({MANUAL_METHODS})")
        return METHOD_REGISTRY[method].layers(auto, draw)

    def condense_meta(self, family: str, method: str) -> dict[str, Any] | None:
        if self.precomputed(family, method) is not None:
            return None
        path = self.runs_dir / f"condense-{self.learngene_key(family, method)}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def learngene_source(self, family: str, method: str) -> dict[str, Any] | None:
        """Where a precomputed learngene came from (folder name + fingerprint, no path); ``None`` if condensed."""
        folder = self.precomputed(family, method)
        if folder is None:
            return None
        return {"precomputed": True, "folder": Path(folder).resolve().name,
                "fingerprint": self.learngene_key(family, method).rsplit("-", 1)[-1]}

