"""The ``learngene`` command line: ``learngene condense ...``, ``learngene inherit ...`` and ``learngene demo``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from collections.abc import Sequence
from typing import Any, NoReturn

from .condensation.base import DEFAULT_CONDENSE_METHOD
from .condensation.config import BaseCondenseConfig
from .condensation.methods import available_methods, config_class_for, get_condense_method
from .condensation.size_rules import available_size_rules, get_size_rule
from .errors import LearngeneError
from .experiments.demo import add_demo_parser
from .utils import check_output_folder

#: Config fields without a generic option: their own flags below (``--method``, ``--layer-indices``, ...) or none.
_SKIP_FIELDS = {"extra", "progress", "resume", "layer_indices", "pair_set", "image_mean", "image_std", "method",
                "include_embeddings"}


def _option_groups() -> list[tuple[str, type[BaseCondenseConfig], list[dataclasses.Field]]]:
    """The generic ``learngene condense`` options: ``(group title, config class, fields)``, the fields every method
    shares first, then each registered method's own (a field two methods share is listed once)."""
    seen = set(_SKIP_FIELDS)
    groups = []
    for title, cls in [("options of every method", BaseCondenseConfig),
                       *((f"{m.label} (--method {m.name})", m.config_class)
                         for m in map(get_condense_method, available_methods()))]:
        own = [f for f in dataclasses.fields(cls) if f.name not in seen]
        seen.update(f.name for f in own)
        if own:
            groups.append((title, cls, own))
    return groups


class _OneLineErrorParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line (the error and where the options are), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (options: {self.prog} --help)\n")


def _float_list(value: str) -> list[float]:
    try:
        return [float(v) for v in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, e.g. 0.5,0.5,0.5; got {value!r}") from None


def _int_list(value: str) -> list[int]:
    from .data import parse_class_spec

    try:
        return parse_class_spec(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _pair_set(value: str) -> str | list[list[int]]:
    if value == "all":
        return value
    try:
        return json.loads(value)
    except ValueError as err:
        raise LearngeneError(f"--pair-set {value!r} is not valid JSON ({err}): pass 'all' or a JSON list of [l, k] "
                             "pairs, e.g. '[[0,0],[1,0]]'.") from None


def _add_condense_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "condense",
        help="Condense an ancestry into a learngene (Auto-Learngene, Heur-Learngene, manual or a layer-selection "
        "method such as first_k).",
        description="Condense an ancestry (a local checkpoint folder or a Hub id) into a learngene and write it, "
        "with its scores, plots and log, to --output (ready for the Hub).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--ancestry", required=True, help="ancestry: a local checkpoint folder or a Hub model id")
    parser.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit sha) of the ancestry")
    methods = [get_condense_method(name) for name in available_methods()]
    parser.add_argument("--dataset", default=None,
                        help="condense data: a local dataset folder or a Hub dataset id (default: "
                        "$LEARNGENE_DATASET or ../shared/datasets/mini-imagenet); not needed for --method "
                        + ", ".join(m.name + (" (the default method)" if m.name == DEFAULT_CONDENSE_METHOD else "")
                                    for m in methods if not m.needs_data))
    parser.add_argument("--dataset-revision", default=None, help="Hub revision of the dataset")
    parser.add_argument("--split", default="train", help="dataset split to condense on")
    parser.add_argument("--classes", default=None, help="labels to condense on, e.g. '64-79' or '1,2,5-9'")
    parser.add_argument("--image-column", default="image", help="name of the image column")
    parser.add_argument("--label-column", default="label", help="name of the label column")
    parser.add_argument("--output", required=True, help="output folder for the learngene and its reports")
    parser.add_argument("--method", default=DEFAULT_CONDENSE_METHOD, choices=[m.name for m in methods],
                        help=f"the default, {DEFAULT_CONDENSE_METHOD}, is the cheapest of the methods tied on the "
                        "shared DINOv2 (none beat First-k: docs/results/which_layers.md); auto is the paper's "
                        "Auto-Learngene. " + "; ".join(f"{m.name}: {m.description or m.label}" for m in methods))
    parser.add_argument("--layer-indices", type=_int_list, default=None,
                        help="layers to keep with --method manual, e.g. '0-5' or '0,1,6,7'")
    parser.add_argument("--pair-set", default="all",
                        help="candidate pairs R: 'all' or a JSON list of [l, k] pairs, e.g. '[[0,0],[1,0]]'")
    parser.add_argument("--image-mean", type=_float_list, default=None, help="normalisation mean, e.g. 0.5,0.5,0.5")
    parser.add_argument("--image-std", type=_float_list, default=None, help="normalisation std, e.g. 0.5,0.5,0.5")
    parser.add_argument("--no-resume", action="store_true", help="ignore checkpoints in --checkpoint-dir")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument("--include-embeddings", action=argparse.BooleanOptionalAction, default=None,
                        help="carry the ancestry's input embedding in the learngene (default: yes where the family "
                        "can: ViT, DINOv2, ResNet; measured on the shared DINOv2: descendants reach 85.7 %% vs 54.1 %% "
                        "with the layers only); --no-include-embeddings: the layers only, the paper's form and the "
                        "safest to share")
    for title, cls, fields in _option_groups():
        group = parser.add_argument_group(title)
        hints = typing.get_type_hints(cls)
        for f in fields:
            hint = hints[f.name]
            args = typing.get_args(hint)
            base = next((a for a in args if a is not type(None)), hint) if args else hint
            kind = {int: int, float: float, str: str, bool: bool}.get(base, str)
            flag = "--" + f.name.replace("_", "-")
            help_text = f.metadata.get("help", "").replace("%", "%%")  # argparse formats help with %
            if kind is bool:
                group.add_argument(flag, type=lambda v: v.lower() in ("1", "true", "yes"), default=f.default,
                                   help=help_text)
            elif f.name == "size_rule":  # the registered rules, each with what it keeps
                rules = [get_size_rule(name) for name in available_size_rules()]
                group.add_argument(flag, default=f.default, choices=[rule.name for rule in rules], help=(
                    help_text + " Rules: " + "; ".join(f"{rule.name}: {rule.description}" for rule in rules)
                    + "."))
            else:
                group.add_argument(flag, type=kind, default=f.default, help=help_text)
    parser.add_argument("--push-to-hub", default=None, metavar="REPO", help="also upload the learngene to this repo")
    parser.add_argument("--private", action="store_true", help="create the Hub repo as private")
    parser.add_argument("--token", default=None, help="Hub token (default: the logged-in token / $HF_TOKEN)")
    parser.set_defaults(func=_run_condense)


def config_from_args(args: argparse.Namespace) -> BaseCondenseConfig:
    """The config of a parsed ``learngene condense`` command line: a :class:`CondenseConfig` for a built-in
    ``--method``, the method's own config class otherwise. An option the method has no field for is an error."""
    cls = config_class_for(args.method)
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for _, _, fields in _option_groups():
        for f in fields:
            value = getattr(args, f.name)
            if f.name in names:
                values[f.name] = value
            elif value != f.default:
                raise LearngeneError(f"--{f.name.replace('_', '-')} is not an option of --method {args.method} "
                                     f"(configured with {cls.__name__}); drop it.")
    special = {"method": args.method, "layer_indices": args.layer_indices, "pair_set": _pair_set(args.pair_set),
               "image_mean": args.image_mean, "image_std": args.image_std, "resume": not args.no_resume,
               "progress": not args.no_progress, "include_embeddings": args.include_embeddings}
    for name, value in special.items():
        if name in names:
            values[name] = value
        elif value is not None and name in ("layer_indices", "image_mean", "image_std"):
            raise LearngeneError(f"--{name.replace('_', '-')} is not an option of --method {args.method} "
                                 f"(configured with {cls.__name__}); drop it.")
    return cls(**values)


def _run_condense(args: argparse.Namespace) -> int:
    from .condensation import condense
    from .data import default_dataset_path

    check_output_folder(args.output, "--output")  # before any work: the learngene must be writable there
    config = config_from_args(args)
    dataset = args.dataset
    needs_data = get_condense_method(config.method).needs_data
    if dataset is not None and not needs_data:  # one line, not Python's warning with its source line
        print(f"learngene condense: warning: --method {config.method} reads no condense data: --dataset is not used "
              "(--method auto, Auto-Learngene, condenses on it)", file=sys.stderr)
        dataset = None
    if dataset is None and needs_data:
        try:
            dataset = default_dataset_path()
        except FileNotFoundError as err:
            raise LearngeneError(str(err)) from None
    result = condense(args.ancestry, dataset, config, image_column=args.image_column, label_column=args.label_column,
                      classes=args.classes, split=args.split, revision=args.revision,
                      dataset_revision=args.dataset_revision, token=args.token)
    output = result.save(args.output, repo_id=args.push_to_hub)
    print(result.summary())
    if result.images_per_second:
        print(f"\nThroughput: {result.images_per_second:.1f} images/s; wall time {result.wall_time:.1f} s")
    print(f"\nLearngene written to {output.resolve()}")
    if args.push_to_hub:
        commit = result.push_to_hub(args.push_to_hub, private=args.private, token=args.token)
        print(f"Pushed to {args.push_to_hub} at commit {commit.oid}")
    else:
        print(f"Share it: learngene condense ... --push-to-hub user/name, or in Python "
              f"LearngeneModel.from_pretrained({str(output)!r}).push_to_hub('user/name')")
    return 0


def _layout(value: str) -> str | list[int]:
    if value in ("after", "before", "interleave"):
        return value
    try:
        return [int(v) for v in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected after, before, interleave or comma-separated positions (e.g. "
                                         f"0,2,4); got {value!r}") from None


def _stage_widths(value: str) -> list[int]:
    """``"32,64,128,256"`` as ``[32, 64, 128, 256]`` (``--hidden-sizes``); anything else is an argparse error that
    says what is expected.

    Example:
        >>> _stage_widths("8,16")
        [8, 16]
    """
    try:
        return [int(v) for v in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, one per ResNet stage (e.g. "
                                         f"32,64,128,256); got {value!r}") from None


def _add_inherit_parser(sub: argparse._SubParsersAction) -> None:
    from .sizing import available_width_selections

    parser = sub.add_parser(
        "inherit",
        help="Build a descendant that inherits a learngene (optionally narrower or deeper) and save it.",
        description="Build a descendant (a plain transformers model) around a learngene's layers and save it with "
        "its model card to --output. Widths smaller than the ancestry's narrow the inherited layers by element "
        "selection; --num-random-layers and --layout add fresh layers.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--learngene", required=True, help="learngene: a local folder or a Hub id")
    parser.add_argument("--revision", default=None, help="Hub revision of the learngene")
    parser.add_argument("--num-labels", type=int, required=True, help="classes of the descendant's head")
    parser.add_argument("--output", required=True, help="folder to save the descendant (weights, config, card)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fresh weights")
    parser.add_argument("--image-size", type=int, default=None, help="input size (ViT / DINOv2)")
    parser.add_argument("--num-random-layers", type=int, default=None, help="fresh layers to add")
    parser.add_argument("--layout", type=_layout, default=None,
                        help="where fresh layers sit (ViT / DINOv2): after, before, interleave or the inherited "
                        "layers' positions, e.g. 0,2,4")
    group = parser.add_argument_group("width (at most the ancestry's; smaller narrows the inherited layers)")
    group.add_argument("--hidden-size", type=int, default=None, help="ViT / DINOv2 width")
    group.add_argument("--num-attention-heads", type=int, default=None, help="ViT / DINOv2 attention heads")
    group.add_argument("--intermediate-size", type=int, default=None, help="ViT / DINOv2 MLP width")
    group.add_argument("--hidden-sizes", type=_stage_widths, default=None,
                       help="ResNet stage widths, e.g. 32,64,128,256")
    group.add_argument("--embedding-size", type=int, default=None, help="ResNet stem width")
    group.add_argument("--width-selection", default="uniform", choices=list(available_width_selections()),
                       help="element selection rule")
    parser.add_argument("--inherit-embeddings", action=argparse.BooleanOptionalAction, default=None,
                        help="copy the input embedding the learngene carries (default: when it carries one); "
                        "--no-inherit-embeddings: a fresh embedding, the paper's descendant")
    parser.add_argument("--inherited-lr-scale", type=float, default=None,
                        help="record this learning-rate multiple for the inherited weights (DescendantTrainer applies "
                        "it; default: 0.1 for a full-width descendant with the inherited embedding, else 1.0)")
    parser.add_argument("--embeddings-from", default=None, metavar="ANCESTRY",
                        help="for a learngene of the layers only: copy this ancestry's input embedding (the one the "
                        "learngene was condensed from; folder or Hub id), element-selected for a narrower "
                        "descendant (hf_learngene.inherit_embeddings)")
    parser.add_argument("--token", default=None, help="Hub token (default: the logged-in token / $HF_TOKEN)")
    parser.set_defaults(func=_run_inherit)


def _run_inherit(args: argparse.Namespace) -> int:
    from .inherit import from_learngene, save_descendant

    check_output_folder(args.output, "--output")
    options = {name: getattr(args, name) for name in ("image_size", "num_random_layers", "layout", "hidden_size",
                                                       "num_attention_heads", "intermediate_size", "hidden_sizes",
                                                       "embedding_size") if getattr(args, name) is not None}
    child = from_learngene(args.learngene, args.num_labels, seed=args.seed, revision=args.revision, token=args.token,
                           width_selection=args.width_selection, inherit_embeddings=args.inherit_embeddings,
                           inherited_lr_scale=args.inherited_lr_scale, **options)
    if args.embeddings_from is not None:
        from .recipes import inherit_embeddings

        inherit_embeddings(child, args.embeddings_from, token=args.token)
    output = save_descendant(child, args.output)
    origin = child.config.learngene
    sizes = dict(origin.get("sizes") or {})
    count, full = sizes.pop("num_parameters", None), sizes.pop("full_width_num_parameters", None)
    print(f"{type(child).__name__}: " + ", ".join(f"{key}={value}" for key, value in sizes.items()))
    if count is not None:
        print(f"parameters: {count:,} ({count / full:.1%} of {full:,} at the ancestry's width)")
    print(f"inherited {len(origin['layer_map'])} layers, {len(origin['fresh_layers'])} fresh (layout "
          f"{origin['layout']}); width selection: {(origin.get('width') or {}).get('selection', 'none (full width)')}")
    if origin.get("embeddings"):
        print(f"input embedding {origin['embeddings']['module']} from {origin['embeddings']['from']} "
              f"({len(origin['embeddings']['tensors'])} tensors)")
    print(f"recommended inherited_lr_scale: {origin['inherited_lr_scale']:g} (DescendantTrainer applies it)")
    print(f"Descendant written to {output.resolve()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``learngene`` argument parser."""
    parser = _OneLineErrorParser(
        prog="learngene",
        description="Learngene for Hugging Face: condense an ancestry model into a learngene, inherit it into "
        "descendants, and reproduce the paper.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_condense_parser(sub)
    _add_inherit_parser(sub)
    add_demo_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``learngene`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LearngeneError as err:
        message = " ".join(str(err).split())  # one line, whatever the message
        print(f"learngene {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

