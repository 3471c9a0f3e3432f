"""`LearngeneModel`: the inherited layers of an ancestry, and nothing else."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import CommitInfo
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput

from .cards import learngene_card
from .configuration_learngene import LearngeneConfig
from .constants import CONFIG_NAME, MODEL_CARD_NAME
from .errors import LearngeneError
from .families import get_family
from .hub import (
    check_safetensors,
    check_weights_match,
    load_ancestry,
    push_with_card,
    resolve_repo,
    safetensors_shapes,
)
from .provenance import MODEL_FILE_PATTERNS, source_reference
from .utils import atomic_directory, count_parameters
from .version import __version__

#: Arguments of ``LearngeneModel.from_pretrained`` handed to ``PreTrainedModel.from_pretrained`` as they are (besides
#: ``config``, ``cache_dir``, ``force_download``, ``local_files_only``, ``token``, ``revision`` and ``subfolder``,
#: which find the files). ``_from_auto`` / ``_from_pipeline`` come from ``AutoModel`` and ``pipeline``.
FORWARDED_LOAD_ARGUMENTS = ("dtype", "torch_dtype", "device_map", "output_loading_info", "disable_mmap",
                            "_from_auto", "_from_pipeline")
#: Arguments accepted and ignored: hf_learngene always loads safetensors (never unpickles) and runs no repo code.
_NO_OP_ARGUMENTS = ("use_safetensors", "weights_only")


def _load_arguments(model_args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The ``kwargs`` of ``LearngeneModel.from_pretrained`` to forward; refuse the ones a learngene cannot honour.

    Unsupported arguments given as ``None`` / ``False`` (their "off" value) are dropped; ``adapter_kwargs`` (which
    ``AutoModel`` always passes) only when no adapter was found.
    """
    supported = ("config, cache_dir, force_download, local_files_only, token, revision, subfolder, "
                 + ", ".join(name for name in FORWARDED_LOAD_ARGUMENTS if not name.startswith("_")))
    if model_args:
        raise LearngeneError(f"LearngeneModel.from_pretrained takes no positional model arguments (got "
                             f"{len(model_args)}); it supports {supported}.")
    forwarded, refused = {}, []
    for name, value in kwargs.items():
        if name in FORWARDED_LOAD_ARGUMENTS:
            forwarded[name] = value
        elif name == "adapter_kwargs":
            if value and "_adapter_model_path" in value:
                refused.append(name)  # an adapter (PEFT) was found: a learngene has none
        elif name not in _NO_OP_ARGUMENTS and value is not None and value is not False:
            refused.append(name)
    if refused:
        raise LearngeneError(f"LearngeneModel.from_pretrained does not support {', '.join(sorted(refused))}: it "
                             f"supports {supported}.")
    return forwarded


def _read_learngene_config(resolved: Any) -> LearngeneConfig:
    """The :class:`LearngeneConfig` in the ``config.json`` of a resolved folder, refusing other checkpoints."""
    config_file = resolved.path / CONFIG_NAME
    if not config_file.exists():
        raise LearngeneError(f"{resolved.name_or_path} has no {CONFIG_NAME}: it is not a saved learngene.")
    try:
        raw = json.loads(config_file.read_text(encoding="utf-8"))
    except ValueError as err:
        raise LearngeneError(f"{resolved.name_or_path}/{CONFIG_NAME} is not valid JSON ({err}); re-save the "
                             "learngene with LearngeneModel.save_pretrained.") from err
    model_type = raw.get("model_type") if isinstance(raw, dict) else None
    if model_type not in (None, LearngeneConfig.model_type):
        raise LearngeneError(
            f"{resolved.name_or_path} holds a {model_type!r} checkpoint, not a learngene. To condense it into one, "
            f"use LearngeneModel.from_ancestry({resolved.name_or_path!r}, layer_indices=[...])."
        )
    return LearngeneConfig.from_pretrained(resolved.path)


class LearngenePreTrainedModel(PreTrainedModel):
    """Base class wiring :class:`LearngeneConfig` into `transformers`' loading machinery."""

    config_class = LearngeneConfig
    base_model_prefix = "learngene"
    main_input_name = "hidden_states"
    supports_gradient_checkpointing = False
    _supports_sdpa = True

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # Learngene layers always receive inherited weights; fresh ones use PyTorch's defaults.
        if hasattr(module, "reset_parameters") and not any(True for _ in module.children()):
            module.reset_parameters()


class LearngeneModel(LearngenePreTrainedModel):
    """A learngene: the integral layers of an ancestry model that descendants inherit.

    It holds those layers and, when ``config.include_embeddings`` (the default of :meth:`from_ancestry` for families
    that can), the ancestry's input embedding (``embeddings``: ViT / DINOv2 patch embedding, [CLS] / register tokens
    and position table; ResNet: the stem), never a final norm or a head. ``forward`` runs the layers on hidden
    states (ViT/DINOv2 tokens ``(batch, tokens, width)``) or feature maps (ResNet ``(batch, channels, height,
    width)``).

    Example:
        >>> from transformers import ViTConfig, ViTModel
        >>> ancestry = ViTModel(ViTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
        ...                               intermediate_size=64, image_size=32, patch_size=8))
        >>> learngene = LearngeneModel.from_ancestry(ancestry, layer_indices=[0, 1])
        >>> learngene.config.layer_indices
        [0, 1]
        >>> learngene(torch.zeros(2, 17, 32)).last_hidden_state.shape
        torch.Size([2, 17, 32])
    """

    def __init__(self, config: LearngeneConfig) -> None:
        super().__init__(config)
        if config.family is None:
            raise LearngeneError("LearngeneModel needs a LearngeneConfig describing a learngene (family, "
                                 "layer_indices, ancestry_config); use LearngeneModel.from_ancestry(...).")
        family = get_family(config.family)
        ancestry_config = config.ancestry_transformers_config()
        self.layers = nn.ModuleList([family.build_layer(ancestry_config, i) for i in config.layer_indices])
        self.embeddings = family.build_embeddings(ancestry_config) if config.include_embeddings else None
        self.post_init()

    @property
    def family(self):
        """The :class:`~hf_learngene.families.ArchitectureFamily` of this learngene."""
        return get_family(self.config.family)

    @property
    def carries_embeddings(self) -> bool:
        """Whether this learngene holds the ancestry's input embedding (``config.include_embeddings``)."""
        return self.embeddings is not None

    def forward(
        self,
        hidden_states: torch.Tensor,
        start: int = 0,
        end: int | None = None,
        output_hidden_states: bool = False,
        return_dict: bool = True,
        **kwargs: Any,
    ) -> BaseModelOutput | tuple:
        """Run learngene layers ``start:end`` (default: all) in order.

        For a ResNet learngene whose blocks come from different stages, run one contiguous span at a time
        (channel widths change between stages).
        """
        all_hidden = [hidden_states] if output_hidden_states else None
        for position, layer in enumerate(self.layers[start:end], start=start):
            try:
                hidden_states = self.family.layer_forward(layer, hidden_states)
            except RuntimeError as err:
                raise LearngeneError(
                    f"Learngene layer {position} (ancestry layer {self.config.layer_indices[position]}) cannot take "
                    f"an input of shape {tuple(hidden_states.shape)}: {err}. Run a contiguous span with start=/end=."
                ) from err
            if all_hidden is not None:
                all_hidden.append(hidden_states)
        if not return_dict:
            return (hidden_states, tuple(all_hidden)) if all_hidden is not None else (hidden_states,)
        return BaseModelOutput(last_hidden_state=hidden_states,
                               hidden_states=tuple(all_hidden) if all_hidden is not None else None)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_ancestry(
        cls,
        ancestry: PreTrainedModel | str | os.PathLike,
        layer_indices: list[int],
        *,
        revision: str | None = None,
        token: str | bool | None = None,
        selection_method: str = "manual",
        selection_arguments: dict[str, Any] | None = None,
        layer_scores: list[float] | None = None,
        pair_scores: list[list[float]] | None = None,
        condense_data: dict[str, Any] | None = None,
        record_local_paths: bool | None = None,
        include_embeddings: bool | None = None,
    ) -> LearngeneModel:
        """Condense ``ancestry`` into the layers ``layer_indices`` (copied bit for bit), plus its input embedding.

        Args:
            ancestry: a `transformers` model, a local directory or a Hub id.
            layer_indices: the integral layers to keep, 0-based (sorted).
            revision: branch, tag or commit sha when ``ancestry`` is a Hub id (the resolved commit sha is
                recorded in the config).
            token: Hub token for private repos.
            selection_method, selection_arguments, layer_scores, pair_scores, condense_data: provenance,
                filled in by :func:`hf_learngene.condense`.
            record_local_paths: record a local ancestry folder by its full path; by default (unless
                ``$LEARNGENE_RECORD_LOCAL_PATHS=1``) ``ancestry_name_or_path`` is its folder name plus a content
                fingerprint, ``"<name>@sha256:<16 hex digits>"`` (see :mod:`hf_learngene.provenance`). Hub ids are
                recorded as they are.
            include_embeddings: also carry the ancestry's input embedding (copied bit for bit), which
                :func:`~hf_learngene.from_learngene` then gives every descendant. ``None`` (default): yes when the
                family can (ViT, DINOv2, ResNet; measured: +31.6 points over the layers only on the shared DINOv2,
                README "What a learngene carries"); ``False``: the layers only, the paper's form (not a working model,
                the safest to share from a proprietary ancestry); ``True`` on a family that cannot carry it is an error.

        Example:
            >>> learngene = LearngeneModel.from_ancestry("google/vit-base-patch16-224", [0, 1, 2, 3, 4, 5])  # doctest: +SKIP
        """
        loaded = load_ancestry(ancestry, revision=revision, token=token)
        family = loaded.family
        layers = family.integral_layers(loaded.model)
        if not isinstance(layer_indices, (list, tuple)):
            raise LearngeneError(f"layer_indices must be a list of ints, got {type(layer_indices).__name__}.")
        ancestry_ref = source_reference(loaded.name_or_path, patterns=MODEL_FILE_PATTERNS,
                                        record_local_paths=record_local_paths)
        reason = family.embeddings_unsupported(loaded.model.config)
        if include_embeddings is None:
            include_embeddings = reason is None
        elif include_embeddings and reason:
            raise LearngeneError(f"include_embeddings=True but {reason}.")
        ancestry_config = loaded.model.config.to_dict()
        if ancestry_config.get("_name_or_path"):  # where transformers loaded it from: recorded like the ancestry
            ancestry_config["_name_or_path"] = ancestry_ref
        config = LearngeneConfig(
            family=family.name,
            layer_indices=list(layer_indices),
            ancestry_name_or_path=ancestry_ref,
            ancestry_revision=loaded.revision,
            ancestry_config=ancestry_config,
            ancestry_num_parameters=count_parameters(loaded.model),
            selection_method=selection_method,
            selection_arguments=selection_arguments,
            layer_scores=layer_scores,
            pair_scores=pair_scores,
            condense_data=condense_data,
            include_embeddings=bool(include_embeddings),
            image_processor=read_image_processor(loaded.folder),
            license=loaded.license,
            hf_learngene_version=__version__,
        )
        learngene = cls(config)
        with torch.no_grad():
            for target, index in zip(learngene.layers, config.layer_indices):
                target.load_state_dict(layers[index].state_dict(), strict=True)
            if learngene.embeddings is not None:
                copy_module_state(getattr(family.backbone(loaded.model), family.embedding_attribute),
                                  learngene.embeddings, "The ancestry's input embedding")
        learngene.config.num_parameters = count_parameters(learngene)
        learngene.config.parameter_fraction = learngene.config.num_parameters / max(1, config.ancestry_num_parameters)
        learngene.config.layer_parameter_fraction = layer_parameter_fraction(layers, config.layer_indices)
        learngene.eval()
        return learngene

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *model_args: Any,
        config: LearngeneConfig | str | os.PathLike | None = None,
        cache_dir: str | os.PathLike | None = None,
        force_download: bool = False,
        local_files_only: bool = False,
        token: str | bool | None = None,
        revision: str | None = None,
        subfolder: str | None = None,
        **kwargs: Any,
    ) -> LearngeneModel:
        """Load a learngene from a local directory or a Hub id (safetensors only).

        Takes the arguments of ``PreTrainedModel.from_pretrained`` that apply to a learngene: ``config`` (a
        :class:`LearngeneConfig` or where to read one), ``cache_dir``, ``force_download``, ``local_files_only``,
        ``token``, ``revision``, ``subfolder`` (where to find it) and ``dtype`` / ``torch_dtype``, ``device_map``,
        ``output_loading_info``, ``disable_mmap`` (how to load it). Anything else (``variant``, ``state_dict``,
        ``ignore_mismatched_sizes=True``, quantization, ...) is refused with a :class:`LearngeneError`, as are
        ``use_safetensors=False`` and ``trust_remote_code=True``.

        Example:
            >>> learngene = LearngeneModel.from_pretrained("user/vit-learngene", revision="main")  # doctest: +SKIP
            >>> learngene = LearngeneModel.from_pretrained("user/vit-learngene", local_files_only=True)  # doctest: +SKIP
        """
        if kwargs.get("use_safetensors") is False:
            raise LearngeneError("hf_learngene loads safetensors only; drop use_safetensors=False.")
        if kwargs.pop("trust_remote_code", False):
            raise LearngeneError("hf_learngene never executes code from a repository; drop trust_remote_code=True.")
        load_kwargs = _load_arguments(model_args, kwargs)
        hub = {"cache_dir": cache_dir, "force_download": force_download, "local_files_only": local_files_only}
        resolved = resolve_repo(pretrained_model_name_or_path, revision=revision, token=token, subfolder=subfolder,
                                **hub)
        if config is None:
            config = _read_learngene_config(resolved)
        elif isinstance(config, (str, os.PathLike)):
            config = LearngeneConfig.from_pretrained(config, token=token, **hub)
        elif not isinstance(config, LearngeneConfig):
            raise LearngeneError(f"config must be a LearngeneConfig (or where to read one), got "
                                 f"{type(config).__name__}.")
        if config.family is None:
            raise LearngeneError(f"{resolved.name_or_path}/{CONFIG_NAME} lacks the learngene fields (family, "
                                 "layer_indices, ancestry_config); was it saved by LearngeneModel.save_pretrained?")
        what = f"Learngene {resolved.name_or_path!r}"
        weights = check_safetensors(resolved.path, what)
        with torch.device("meta"):
            skeleton = cls(config)
        expected = {key: tuple(tensor.shape) for key, tensor in skeleton.state_dict().items()}
        check_weights_match(safetensors_shapes(weights), expected, what)
        loaded = super().from_pretrained(resolved.path, config=config, use_safetensors=True, **load_kwargs)
        model, loading_info = loaded if isinstance(loaded, tuple) else (loaded, None)
        model.name_or_path = resolved.name_or_path
        model.config._name_or_path = resolved.name_or_path
        model.config.commit_sha = resolved.revision
        model.eval()
        return (model, loading_info) if loading_info is not None else model

    @property
    def commit_sha(self) -> str | None:
        """The Hub commit this learngene was loaded from (``None`` for local folders)."""
        return getattr(self.config, "commit_sha", None)

    # ------------------------------------------------------------------ saving
    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        *args: Any,
        repo_id: str | None = None,
        extra_files: dict[str, str | os.PathLike] | None = None,
        **kwargs: Any,
    ) -> None:
        """Save weights (safetensors), config and model card, atomically.

        A failure in the middle leaves an earlier save in ``save_directory`` intact. Text a user added to an
        existing ``README.md`` outside the generated block is kept.

        Args:
            save_directory: target folder.
            repo_id: Hub id used in the card's usage snippet.
            extra_files: more files to save beside the learngene ({name in folder: source path}), e.g. plots.
        """
        if kwargs.pop("push_to_hub", False):
            raise LearngeneError("Use learngene.push_to_hub(repo_id) to upload.")
        kwargs.pop("safe_serialization", None)
        target = Path(save_directory)
        readme = target / MODEL_CARD_NAME
        existing = readme.read_text(encoding="utf-8") if readme.exists() else None
        with atomic_directory(target) as tmp:
            sha = getattr(self.config, "commit_sha", None)
            try:
                if hasattr(self.config, "commit_sha"):
                    del self.config.commit_sha
                super().save_pretrained(tmp, *args, **kwargs)
            finally:
                if sha is not None:
                    self.config.commit_sha = sha
            plots = []
            for name, source in (extra_files or {}).items():
                (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                (tmp / name).write_bytes(Path(source).read_bytes())
                if name.endswith(".png"):
                    plots.append(name)
            plots += [p.name for p in sorted(target.glob("*.png")) if p.name not in plots] if target.exists() else []
            card = learngene_card(self.config, repo_id=repo_id, existing_text=existing, plots=plots)
            card.save(tmp / MODEL_CARD_NAME)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        commit_message: str | None = None,
        private: bool | None = None,
        token: str | bool | None = None,
        revision: str | None = None,
        create_pr: bool = False,
        extra_files: dict[str, str | os.PathLike] | None = None,
        **kwargs: Any,
    ) -> CommitInfo:
        """Upload the learngene (weights, config, card and ``extra_files``) to the Hub; returns the commit.

        Text a user added to the repo's existing card is kept. Pin the returned ``commit.oid`` to reload
        exactly this version: ``LearngeneModel.from_pretrained(repo_id, revision=commit.oid)``.

        Example:
            >>> commit = learngene.push_to_hub("user/vit-learngene", private=True)  # doctest: +SKIP
        """
        return push_with_card(
            repo_id,
            lambda folder, repo: self.save_pretrained(folder, repo_id=repo, extra_files=extra_files),
            commit_message=commit_message or "Upload learngene with hf_learngene",
            private=private,
            token=token,
            revision=revision,
            create_pr=create_pr,
        )


def read_image_processor(folder: Path | None) -> dict[str, Any] | None:
    """The ``preprocessor_config.json`` of a checkpoint folder as a dict (``None`` when there is none)."""
    path = None if folder is None else Path(folder) / "preprocessor_config.json"
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def copy_module_state(source: nn.Module, target: nn.Module, what: str) -> None:
    """Copy every tensor of ``target`` from the same key of ``source`` (which may hold more, e.g. a mask token),
    bit for bit; a missing key or another shape is a :class:`LearngeneError` naming ``what``."""
    available = source.state_dict()
    with torch.no_grad():
        for key, tensor in target.state_dict().items():
            value = available.get(key)
            if value is None or value.shape != tensor.shape:
                raise LearngeneError(f"{what} does not fit at {key!r} "
                                     f"({'missing' if value is None else tuple(value.shape)} vs {tuple(tensor.shape)}).")
            tensor.copy_(value)


def layer_parameter_fraction(layers: list[nn.Module], layer_indices: list[int]) -> float:
    """Share of the parameters of all integral ``layers`` held by ``layers[i]`` for ``i`` in ``layer_indices``.

    Example:
        >>> from torch import nn
        >>> layer_parameter_fraction([nn.Linear(2, 2), nn.Linear(2, 2)], [1])
        0.5
    """
    sizes = layer_parameter_counts(layers)
    return sum(sizes[i] for i in layer_indices) / max(1, sum(sizes))


def layer_parameter_counts(layers: list[nn.Module]) -> list[int]:
    """The parameter count of each of ``layers`` (what ``max_parameter_fraction`` weighs layers by).

    Example:
        >>> from torch import nn
        >>> layer_parameter_counts([nn.Linear(2, 2), nn.Linear(2, 3)])
        [6, 9]
    """
    return [sum(p.numel() for p in layer.parameters()) for layer in layers]
