"""Model cards for learngenes and descendants, rendered from the templates in ``hub_cards/``.

Cards are rendered with :class:`huggingface_hub.ModelCard`. The generated part of the body sits between two
HTML comment markers; when a card already exists, only that part and the metadata keys hf_learngene owns are
replaced, so text and metadata a user added survive a re-save.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from .constants import CARD_TEMPLATES_DIR, DESCENDANT_CARD_TEMPLATE, LEARNGENE_CARD_TEMPLATE, MODEL_CARD_NAME
from .errors import LearngeneError
from .version import __version__

START = "<!-- hf_learngene:generated:start -->"
END = "<!-- hf_learngene:generated:end -->"
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def template_path(name: str) -> Path:
    """Path of a card template (``learngene_card.md`` or ``descendant_card.md``)."""
    package, checkout = Path(__file__).parent, Path(__file__).resolve().parents[1]
    for folder in (package / CARD_TEMPLATES_DIR, checkout / CARD_TEMPLATES_DIR):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(f"Model card template {name} not found; reinstall hf_learngene.")


def hub_id_or_none(name: str | None) -> str | None:
    """``name`` if it looks like a Hub repo id (``user/name``) and is not a local path, else ``None``."""
    if not name or os.path.exists(name) or not _REPO_ID.match(name):
        return None
    return name


def _ref(name: str | None) -> str:
    hub_id = hub_id_or_none(name)
    if hub_id:
        return f"[`{hub_id}`](https://huggingface.co/{hub_id})"
    return f"`{name}`" if name else "(unknown)"


def _title(text: str) -> str | None:
    """The first Markdown H1 line of ``text`` before the generated block, if any."""
    head = text.split(START, 1)[0]
    return next((line for line in head.splitlines() if line.startswith("# ")), None)


def merge_card(new: ModelCard, existing_text: str | None, title_prefix: str | None = None) -> ModelCard:
    """Put the generated part of ``new`` into an existing card, keeping what the user wrote.

    The generated block, the metadata keys hf_learngene sets and (when it still starts with ``title_prefix``,
    i.e. the user did not rewrite it) the generated title are updated; every other line and metadata key is
    kept. Tags the user added are kept next to the generated ones.
    """
    if not existing_text:
        return new
    try:
        old = ModelCard(existing_text, ignore_metadata_errors=True)
    except (ValueError, TypeError, AttributeError, yaml.YAMLError) as err:
        # Replacing the card would destroy what the user wrote: stop the save (an earlier save stays intact).
        detail = " ".join(str(err).split())
        raise LearngeneError(
            f"The existing {MODEL_CARD_NAME} has a metadata block hf_learngene cannot read ({detail}). Fix its YAML "
            f"header (between the leading '---' lines) or delete {MODEL_CARD_NAME}, then save again."
        ) from err
    data = old.data.to_dict()
    generated_data = {k: v for k, v in new.data.to_dict().items() if v is not None}
    old_tags = data.get("tags")
    data.update(generated_data)
    if isinstance(old_tags, list) and isinstance(data.get("tags"), list):
        data["tags"] = list(dict.fromkeys([*data["tags"], *old_tags]))
    text = old.text
    generated = new.text[new.text.index(START): new.text.index(END) + len(END)]
    if START in text and END in text and text.index(START) < text.index(END):
        text = text[: text.index(START)] + generated + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n" + generated + "\n"
    old_title, new_title = _title(text), _title(new.text)
    if title_prefix and old_title and new_title and old_title.startswith(title_prefix):
        text = text.replace(old_title, new_title, 1)
    return ModelCard(f"---\n{ModelCardData(**data).to_yaml()}\n---\n{text}")


def _fmt_int(value: int | None) -> str:
    return f"{value:,}" if isinstance(value, int) else "unknown"


def selection_size_text(config: Any) -> str:
    """How the learngene's size was chosen, from its recorded condense config (``selection_arguments``): the layers
    given (``manual``), the top ``num_layers``, or the size rule (a config recorded before size rules has none: the
    paper's ``"threshold"``), plus the ``max_parameter_fraction`` cap; ``"-"`` when nothing was recorded.

    Example:
        >>> from types import SimpleNamespace
        >>> selection_size_text(SimpleNamespace(selection_method="auto", selection_arguments={"num_layers": 6}))
        'the top 6 layers by score (`num_layers=6`)'
    """
    from .condensation.size_rules import PAPER_SIZE_RULE, available_size_rules, get_size_rule

    args = getattr(config, "selection_arguments", None) or {}
    if config.selection_method == "manual":
        return "the layers given (`layer_indices`)"
    if "num_layers" not in args:  # not a condense config (e.g. weight selection)
        return "-"
    if args.get("num_layers") is not None:
        text = f"the top {args['num_layers']} layers by score (`num_layers={args['num_layers']}`)"
    else:
        rule = args.get("size_rule", PAPER_SIZE_RULE)
        description = get_size_rule(rule).description if rule in available_size_rules() else ""
        text = f"size rule `{rule}`" + (f": {description}" if description else "")
    if args.get("max_parameter_fraction") is not None:
        text += (f", capped at {args['max_parameter_fraction']:.0%} of the layer parameters "
                 "(`max_parameter_fraction`)")
    return text


def image_budget_text(config: Any) -> str:
    """The condense images drawn, from the recorded condense config: ``max_images_per_class`` (a config recorded
    before it has none: every image) and ``max_images``; ``"-"`` when no condense data was read.

    Example:
        >>> from types import SimpleNamespace
        >>> image_budget_text(SimpleNamespace(condense_data={"num_images": 800},
        ...                                   selection_arguments={"max_images_per_class": 50, "max_images": None}))
        'at most 50 images per class (`max_images_per_class`), seeded'
    """
    args = getattr(config, "selection_arguments", None) or {}
    if not getattr(config, "condense_data", None):
        return "-"
    per_class, total = args.get("max_images_per_class"), args.get("max_images")
    text = (f"at most {per_class} images per class (`max_images_per_class`), seeded" if per_class
            else "every image of the condense classes")
    if total:
        text += f"; at most {total} in all (`max_images`)"
    return text


def learngene_card(config: Any, repo_id: str | None = None, existing_text: str | None = None,
                   plots: list[str] | None = None) -> ModelCard:
    """The model card of a learngene described by ``config`` (a :class:`LearngeneConfig`).

    Example:
        >>> card = learngene_card(learngene.config, repo_id="user/vit-learngene")  # doctest: +SKIP
        >>> card.save("README.md")  # doctest: +SKIP
    """
    from .families import get_family

    family = get_family(config.family)
    ancestry = config.ancestry_transformers_config()
    scores = config.layer_scores
    threshold = 1.0 / config.ancestry_num_layers
    rows = ["| ancestry layer | | score | in learngene |", "|---|---|---|---|"]
    for index in range(config.ancestry_num_layers):
        score = f"{scores[index]:.4f}" if scores is not None else "-"
        mark = "yes" if index in config.layer_indices else ""
        rows.append(f"| {index} | {family.describe_layer(ancestry, index)} | {score} | {mark} |")
    note = ""
    if scores is not None:
        from .condensation.methods import available_methods, get_condense_method

        method = config.selection_method
        own = get_condense_method(method).score_note if method in available_methods() else ""
        note = (own or "Scores come from the `{method}` selection.").format(threshold=threshold, method=method) + "\n"
    data = config.condense_data or {}
    condense = "-"
    if data:
        condense = f"{_ref(data.get('name_or_path'))}"
        if data.get("revision"):
            condense += f" @ `{data['revision']}`"
        if data.get("classes") is not None:
            condense += f", classes {data['classes']}"
        if data.get("num_images") is not None:
            condense += f", {data['num_images']} images"
    carried = bool(getattr(config, "include_embeddings", False))
    embedding_label = "stem" if config.family in ("resnet", "timm_resnet") else "input embedding (patch embedding, tokens, position table)"
    if carried:
        form_title = f"layers + the ancestry's {embedding_label}"
        form_text = (f"Besides its layers it carries the ancestry's {embedding_label}; it has no final norm and no head. "
                     "Descendants inherit both. Plainly: with a head, a descendant of it is a truncated copy of the "
                     "ancestry (its embedding and the learngene layers), so share it only where sharing that much of "
                     "the ancestry is fine. It is hf_learngene's default form because its descendants learn far "
                     "better (shared DINOv2 ViT-S/14, 6 of 12 layers, 5-way tasks: 85.7 % with the embedding and the "
                     "recorded lr scale vs 54.1 % for the layers only; hf_learngene README).")
        usage_note = " and its input embedding"
        recipe_note = ("`from_learngene(..., inherit_embeddings=False)` gives the paper's descendant (fresh embedding, "
                       "one learning rate) instead.")
    else:
        form_title = "layers only (the Learngene paper's form)"
        form_text = ("It holds the integral layers only: no input embedding, no final norm, no head. It is not a "
                     "working model on its own, and of the forms a learngene can take it reveals the least of the "
                     "ancestry (the safest to share from a proprietary ancestry). Descendants get a fresh embedding.")
        usage_note = ""
        recipe_note = ("With the ancestry at hand, `hf_learngene.inherit_embeddings(descendant, ancestry)` also copies "
                       "its input embedding, which on a real pretrained ancestry was by far the larger lever (hf_learngene "
                       "README); a learngene condensed with `include_embeddings=True` carries it itself.")
    lr_scale_note = ("0.1 for a full-width descendant that inherits the embedding, 1.0 otherwise" if carried
                     else "1.0: one learning rate, as in the paper")
    card_data = ModelCardData(
        library_name="hf_learngene",
        license=config.license,
        tags=["learngene", config.family, "image-classification"],
        base_model=hub_id_or_none(config.ancestry_name_or_path),
        datasets=[d] if (d := hub_id_or_none(data.get("name_or_path"))) else None,
    )
    card = ModelCard.from_template(
        card_data,
        template_path=str(template_path(LEARNGENE_CARD_TEMPLATE)),
        title=f"Learngene: {repo_id.split('/')[-1] if repo_id else config.family} ({len(config.layer_indices)} layers)",
        num_layers=len(config.layer_indices),
        family=config.family,
        family_label=family.label,
        ancestry_ref=_ref(config.ancestry_name_or_path),
        ancestry_revision=f"`{config.ancestry_revision}`" if config.ancestry_revision else "-",
        method=config.selection_method,
        layer_table="\n".join(rows),
        selection_note=note,
        plots="".join(f"![{Path(p).stem}]({p})\n\n" for p in plots or []),
        num_parameters=_fmt_int(config.num_parameters),
        ancestry_num_parameters=_fmt_int(config.ancestry_num_parameters),
        parameter_fraction=f"{config.parameter_fraction:.1%}" if config.parameter_fraction else "unknown",
        layer_parameter_fraction=(f"{config.layer_parameter_fraction:.1%}" if config.layer_parameter_fraction
                                  else "unknown"),
        condense_data=condense,
        selection_size=selection_size_text(config),
        image_budget=image_budget_text(config),
        version=config.hf_learngene_version or __version__,
        repo_ref=repo_id or "path/to/learngene",
        descendant_class=family.descendant_class.__name__,
        form_title=form_title,
        form_text=form_text,
        usage_note=usage_note,
        recipe_note=recipe_note,
        lr_scale_note=lr_scale_note,
    )
    return merge_card(card, existing_text, title_prefix="# Learngene: ")


#: How the size fields of ``config.learngene["sizes"]`` are named on a descendant card.
SIZE_LABELS = {"hidden_size": "width (hidden_size)", "num_attention_heads": "attention heads",
               "intermediate_size": "MLP width", "num_hidden_layers": "layers", "embedding_size": "stem width",
               "hidden_sizes": "stage widths", "depths": "blocks per stage"}


def size_section(origin: dict[str, Any]) -> str:
    """The "Size" section of a descendant card: its sizes next to the ancestry's width, its parameter count next to
    the same descendant at full width, how the inherited layers were narrowed and where fresh layers sit."""
    sizes = origin.get("sizes")
    if not sizes:
        return ""
    width = origin.get("width") or {}
    ancestry = width.get("ancestry", {})
    rows = ["", "## Size", "", "| | this descendant | at the ancestry's width |", "|---|---|---|"]
    keys = [k for k in SIZE_LABELS if k in sizes] + sorted(set(sizes) - set(SIZE_LABELS))  # reloads sort keys
    for key in keys:
        if key in ("num_parameters", "full_width_num_parameters"):
            continue
        value = sizes[key]
        rows.append(f"| {SIZE_LABELS.get(key, key)} | {value} | {ancestry.get(key, value)} |")
    count, full = sizes.get("num_parameters"), sizes.get("full_width_num_parameters")
    if isinstance(count, int) and isinstance(full, int) and full:
        rows.append(f"| parameters | {count:,} ({count / full:.1%}) | {full:,} |")
    rows.append("")
    if width:
        rows.append(f"The inherited layers were narrowed by element selection (rule `{width.get('selection')}`, as in "
                    "Weight Selection, Xu et al., ICLR 2024): each inherited tensor is the learngene's at the indices "
                    "recorded in `config.json` (`learngene.width` and `learngene.layer_map`), bit for bit.")
    layout = origin.get("layout")
    if layout and layout != "after":
        rows.append(f"Fresh layers are placed with layout `{layout}` (see the layer table and `fresh_layers`).")
    return "\n".join(rows) + "\n"


#: ``Trainer`` evaluation keys that are bookkeeping, not results (left out of ``model-index``).
_NOT_RESULTS = ("epoch", "runtime", "samples_per_second", "steps_per_second", "loss")


def eval_results_from_metrics(metrics: dict[str, Any], *, dataset_name: str, dataset_type: str | None = None,
                              dataset_split: str | None = None, task_type: str = "image-classification"
                              ) -> list[EvalResult]:
    """``model-index`` results (:class:`huggingface_hub.EvalResult`) from ``Trainer.evaluate()`` metrics: every numeric
    ``eval_<name>`` except bookkeeping (runtime, samples per second, loss, epoch).

    Example:
        >>> [r.metric_type for r in eval_results_from_metrics({"eval_accuracy": 0.8, "eval_runtime": 1.0},
        ...                                                   dataset_name="imagefolder")]
        ['accuracy']
    """
    results = []
    for key, value in metrics.items():
        name = key.removeprefix("eval_")
        if name in _NOT_RESULTS or not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        results.append(EvalResult(task_type=task_type, dataset_type=dataset_type or dataset_name,
                                  dataset_name=dataset_name, dataset_split=dataset_split, metric_type=name,
                                  metric_name=name.replace("_", " ").capitalize(), metric_value=float(value)))
    return results


def descendant_card(config: Any, model_class: str, repo_id: str | None = None,
                    existing_text: str | None = None, eval_results: list[EvalResult] | None = None) -> ModelCard:
    """The model card of a descendant whose ``config.learngene`` records its origin; ``eval_results`` (e.g. from
    :func:`eval_results_from_metrics`) become its ``model-index`` metadata and a results table."""
    origin = getattr(config, "learngene", None) or {}
    rows = ["| descendant layer | ancestry layer |", "|---|---|"]
    rows += [f"| `{item['descendant'].rstrip('.')}` | {item['ancestry_layer']} |" for item in origin.get("layer_map", [])]
    embeddings = origin.get("embeddings")
    embedding_note = ""
    if embeddings:  # not the paper's recipe: say so
        resampled = " (position embeddings resampled to this model's token grid)" \
            if embeddings.get("position_embeddings_resampled") else ""
        carrier = ("carried by the learngene" if embeddings.get("carried_by") == "learngene"
                   else f"copied from the ancestry {_ref(embeddings.get('from'))}")
        embedding_note = " and the ancestry's input embedding"
        rows += ["", (f"The input embedding `{embeddings['module']}` ({len(embeddings['tensors'])} tensors) is the "
                      f"ancestry's, {carrier}{resampled}. Unlike the Learngene paper's descendants (fresh embeddings), "
                      "this model is a truncated copy of the ancestry's first layers when the learngene holds them, "
                      "plus a fresh final norm and head.")]
    scale = origin.get("inherited_lr_scale")
    lr_note = ""
    if isinstance(scale, (int, float)) and scale != 1:
        lr_note = (f" Recommended fine-tuning: the inherited weights at {scale:g} x the learning rate "
                   "(`config.learngene.inherited_lr_scale`; `hf_learngene.DescendantTrainer` applies it).")
    seed = origin.get("seed")
    name = origin.get("learngene") or "a learngene"
    results_section = ""
    if eval_results:
        lines = ["", "## Evaluation", "", "| dataset | split | metric | value |", "|---|---|---|---|"]
        lines += [f"| {r.dataset_name} | {r.dataset_split or '-'} | {r.metric_type} | {r.metric_value:.4f} |"
                  for r in eval_results]
        results_section = "\n".join(lines) + "\n"
    card_data = ModelCardData(
        library_name="transformers",
        pipeline_tag="image-classification",
        license=origin.get("license"),
        tags=["learngene", "learngene-descendant", origin.get("family", "")],
        base_model=hub_id_or_none(name),
        model_name=(Path(repo_id).name if repo_id else f"descendant-of-{Path(name.split('@')[0]).name}")
        if eval_results else None,
        eval_results=eval_results or None,
    )
    card = ModelCard.from_template(
        card_data,
        template_path=str(template_path(DESCENDANT_CARD_TEMPLATE)),
        title=f"Descendant of {name}",
        model_class=model_class,
        num_inherited=len(origin.get("layer_map", [])),
        embedding_note=embedding_note,
        lr_note=lr_note,
        learngene_ref=_ref(origin.get("learngene")),
        learngene_revision=f"`{origin['revision']}`" if origin.get("revision") else "local",
        seed_note=f" with seed {seed}" if seed is not None else "",
        layer_table="\n".join(rows),
        size_section=size_section(origin),
        repo_ref=repo_id or "path/to/descendant",
        results_section=results_section,
    )
    return merge_card(card, existing_text, title_prefix="# Descendant of ")
