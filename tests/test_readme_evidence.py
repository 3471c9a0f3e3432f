"""The README's "What the evidence says" table and the result pages of ``docs/results``.

Every number in the evidence table is recomputed here from the committed JSON (independently of
``examples/paper/update_readme.py``), and the README's generated blocks and the pages are what the script writes from
the committed results today (regenerate: ``python examples/paper/update_readme.py``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import update_readme  # examples/paper/update_readme.py (pytest.ini: pythonpath = examples/paper)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "examples" / "paper" / "results" / "cpu"
DOCS = ROOT / "docs" / "results"
GUIDE = ROOT / "docs" / "guide"
#: A number standing on its own (not the 2 of "DINOv2"), with its sign.
NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?!\w)")


def readme_block(begin: str, end: str) -> str:
    text = (ROOT / "README.md").read_text()
    assert text.count(begin) == 1 and text.count(end) == 1, (begin, end)
    return text[text.index(begin): text.index(end) + len(end)]


def evidence_rows() -> list[list[str]]:
    """The cells of the evidence table's rows (not the header)."""
    block = readme_block(update_readme.EVIDENCE_BEGIN, update_readme.EVIDENCE_END)
    lines = [line for line in block.splitlines() if line.startswith("| ")][1:]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]


def numbers(text: str) -> list[float]:
    return [float(n) for n in NUMBER.findall(text)]


def load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


#: The numbers in the family names of the claims ("ResNet-18").
FAMILY_NUMBERS = {"dinov2": [], "resnet": [18], "vit": []}


def paired(mine: dict[str, float], theirs: dict[str, float]) -> tuple[float, int, int]:
    """Mean difference ``mine - theirs`` over the shared tasks of two ``{task: accuracy}`` maps, wins, tasks."""
    tasks = sorted(set(mine) & set(theirs))
    diffs = [mine[t] - theirs[t] for t in tasks]
    return sum(diffs) / len(diffs), sum(d > 0 for d in diffs), len(tasks)


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def resnet_mainpath_rows() -> list[tuple[list[float], bool, str]]:
    """The home-trained ResNet-18's main path (``mainpath.json``): the default path - From-Scratch and - the paper's
    descendant (> 0 with a majority of tasks won), the recorded lr scale - one lr (>= 0)."""
    if not (RESULTS / "mainpath.json").exists():
        return []
    main = load("mainpath.json")["rows"]
    rows = []
    default = main["default_path"]["per_task"]
    for reference in ("scratch", "auto"):
        gain, wins, n = paired(default, main[reference]["per_task"])
        rows.append(([18, 100 * gain, wins, n, 0], gain > 0 and 2 * wins > n, "mainpath.md"))
    gain, wins, n = paired(default, main["default_path_lr1"]["per_task"])
    rows.append(([18, 100 * gain, wins, n, 0], gain >= 0, "mainpath.md"))
    return rows


def which_layers_rows() -> list[tuple[list[float], bool, str]]:
    """Per setting of ``dinov2/which_layers.json``: the best selection method - First-k (not the methods with
    First-k's layers); met with +2 points and >= 4/5 wins (all on 3 tasks), the best among the methods that meet it."""
    if not (RESULTS / "dinov2" / "which_layers.json").exists():
        return []
    rows = []
    for group in load("dinov2/which_layers.json")["table"].values():
        first = group["rows"]["first_k"]
        pairs = {name: paired(row["per_task"], first["per_task"]) for name, row in group["rows"].items()
                 if name != "first_k" and row.get("per_task") and row["layers"] != first["layers"]}
        if not pairs:
            continue
        winners = [m for m, (gain, wins, n) in pairs.items() if gain >= 0.02 and wins >= (4 if n >= 5 else n)]
        best = max(winners or pairs, key=lambda m: pairs[m][0])
        gain, wins, n = pairs[best]
        rows.append(([group["setting"]["k"], 100 * gain, wins, n, 2, 4, 5], best in winners, "which_layers.md"))
    return rows


def table3_rows() -> list[tuple[list[float], str, str]]:
    """Per family of each ``table3.json``: the default path vs the best frozen-feature baseline at the largest shot
    count (informational)."""
    rows = []
    for name in ("dinov2/table3.json", "table3.json"):
        if not (RESULTS / name).exists():
            continue
        data = load(name)
        shots = str(max(data["settings"]["shots"]))
        for family, cells in data["cells"].items():
            default = cells["default_path"][shots]["per_task"]
            baselines = [cells[b][shots]["per_task"] for b in data["settings"]["baselines"]
                         if cells[b][shots]["per_task"]]
            if not default or not baselines:
                continue
            best = max(baselines, key=lambda per_task: mean(per_task.values()))
            rows.append(([3, *FAMILY_NUMBERS[family], int(shots), 100 * mean(default.values()),
                          100 * mean(best.values()), len(default), len(best)], "reported", "table3.md"))
    return rows


def fig6_rows() -> list[tuple[list[float], str, str]]:
    """The paper's descendant of the last stage's learngene - of the first stage's (``fig6.json``), paired."""
    if not (RESULTS / "fig6.json").exists():
        return []
    done = [row for row in load("fig6.json")["rows"] if row.get("methods", {}).get("auto", {}).get("num_tasks")]
    if len(done) < 2:
        return []
    first, last = done[0]["methods"]["auto"]["per_task"], done[-1]["methods"]["auto"]["per_task"]
    gain, improved, n = paired(last, first)
    return [([6, 100 * gain, improved, n, done[-1]["stage"], done[0]["stage"]], "reported", "fig6.md")]


def expected_rows() -> list[tuple[list[float], bool | str, str]]:
    """Per row of the table, recomputed from the JSON: the numbers of its claim, measured and target cells (in
    order), whether the target is met (``"reported"`` for a row without a target), and its page."""
    table2, fig4, fig5 = load("dinov2/table2.json"), load("dinov2/fig4.json"), load("dinov2/fig5.json")
    rows = []
    for pair in (table2["paired"]["dinov2"]["scratch"], table2["paired_recipes"]["dinov2"]["auto_embed_lowlr"]["scratch"]):
        rows.append(([100 * pair["mean_difference"], pair["wins"], pair["n"], 15], pair["mean_difference"] >= 0.15,
                     "dinov2.md"))
    epochs = table2["overrides"]["epochs"]
    for method in ("auto", "auto_embed_lowlr"):
        reach = table2["cost"]["dinov2"]["methods"][method]["epochs_to_reach_scratch_final"]
        rows.append(([reach, epochs, epochs // 4] if reach is not None else [epochs, epochs // 4],
                     reach is not None and reach <= epochs // 4, "dinov2.md"))
    full = table2["profile"]["samples_per_class"]
    scratch = fig5["summary"]["dinov2"]["scratch"]["by_samples"][str(full)]
    for method in ("auto", "auto_embed_lowlr"):
        few = fig5["summary"]["dinov2"][method]["by_samples"]["20"]
        rows.append(([20, full, 100 * few["final_mean"], few["n"], 100 * scratch["final_mean"], scratch["n"]],
                     few["final_mean"] >= scratch["final_mean"], "dinov2.md"))
    spreads = fig4["sensitivity"]["dinov2"]
    for method in ("auto", "auto_embed_lowlr"):
        mine, base = spreads[method], spreads["scratch"]
        rows.append(([100 * mine["max_minus_min"], 100 * base["max_minus_min"], len(mine["tasks"]), len(base["tasks"])],
                     mine["max_minus_min"] < base["max_minus_min"], "dinov2.md"))
    if (RESULTS / "dinov2" / "mainpath.json").exists():  # the library's main path (examples/paper/main_path.py)
        main = load("dinov2/mainpath.json")
        mine, recipe = main["rows"]["default_path"], main["rows"]["auto_embed_lowlr"]
        tasks = sorted(set(mine["per_task"]) & set(recipe["per_task"]))
        diffs = [mine["per_task"][t] - recipe["per_task"][t] for t in tasks]
        mean = sum(diffs) / len(diffs)
        recipe_mean = sum(recipe["per_task"].values()) / len(recipe["per_task"])
        spread = (sum((v - recipe_mean) ** 2 for v in recipe["per_task"].values()) / (len(recipe["per_task"]) - 1)) ** 0.5
        rows.append(([100 * mean, len(tasks), 100 * mine["mean"], 100 * recipe["mean"], 100 * spread],
                     abs(mean) <= spread, "mainpath.md"))
        scratch = main["rows"]["scratch"]["per_task"]
        shared = sorted(set(mine["per_task"]) & set(scratch))
        gain = sum(mine["per_task"][t] - scratch[t] for t in shared) / len(shared)
        wins = sum(mine["per_task"][t] > scratch[t] for t in shared)
        rows.append(([100 * gain, wins, len(shared), 15], gain >= 0.15, "mainpath.md"))
        options = [row for name, row in main["rows"].items() if name.startswith("default_path")
                   and row.get("parameter_fraction") is not None and row["parameter_fraction"] <= 0.60]
        best = max(options, key=lambda row: row["mean"])
        rows.append(([60, 100 * best["mean"], len(best["tasks"]), 100 * best["parameter_fraction"], 89],
                     best["mean"] >= 0.89, "mainpath.md"))
    rows += resnet_mainpath_rows() + which_layers_rows()
    for name in ("dinov2_width", "vit_width", "resnet_width"):
        if not (RESULTS / name / "results.json").exists():
            continue
        data = load(f"{name}/results.json")
        width = data["width"]
        size = [width["hidden_size"]] if width.get("hidden_size") else list(width["hidden_sizes"])
        for samples, cell in data["summary"].items():
            for reference, goal in (("scratch", 10), ("weight_selection", 0)):
                pairs = []
                for key, pair in sorted(cell["paired"].items()):  # "learngene:<rule> - <reference>[:<rule>]"
                    method, other = key.split(" - ")
                    rule = method.removeprefix("learngene:")
                    wanted = "scratch" if reference == "scratch" else f"weight_selection:{rule}"
                    if method.startswith("learngene:") and other == wanted:
                        pairs.append(pair)
                if pairs:
                    measured = [x for pair in pairs for x in (100 * pair["mean"], pair["wins"], pair["n"])]
                    rows.append(([*size, int(samples), *measured, goal], all(100 * p["mean"] >= goal for p in pairs),
                                 "widths.md"))
    if (RESULTS / "dinov2_width" / "results.json").exists():  # the default path at width 192: target 65 %
        data = load("dinov2_width/results.json")
        for samples, cell in data["summary"].items():
            for name, row in cell.items():
                if name.startswith("default_path:"):
                    rows.append(([data["width"]["hidden_size"], int(samples), 100 * row["final_mean"], row["n"], 65],
                                 row["final_mean"] >= 0.65, "widths.md"))
    return rows + table3_rows() + fig6_rows()


def test_every_number_of_the_evidence_table_matches_its_json() -> None:
    rows, expected = evidence_rows(), expected_rows()
    assert len(rows) == len(expected) >= 12
    for cells, (values, met, page) in zip(rows, expected):
        claim, measured, target, result, details = cells
        shown = numbers(claim) + numbers(measured) + numbers(target)
        assert len(shown) == len(values) and all(abs(a - b) <= 0.05 + 1e-9 for a, b in zip(shown, values)), (
            cells, values)
        assert result == (met if met == "reported" else "**met**" if met else "**missed**"), cells
        assert details == f"[{page[:-3]}](docs/results/{page})"


def test_the_readme_and_the_result_pages_are_generated_from_the_committed_results() -> None:
    pages = update_readme.pages("cpu")
    assert readme_block(update_readme.EVIDENCE_BEGIN, update_readme.EVIDENCE_END) == update_readme.evidence_section(
        "cpu", pages)
    for (begin, end), block in update_readme.evidence_links("cpu", pages).items():
        assert readme_block(begin, end) == f"{begin}\n{block}{end}"
    assert {p.name for p in DOCS.glob("*.md")} == set(pages)
    stale = [name for name, text in pages.items() if (DOCS / name).read_text() != text]
    assert not stale, f"docs/results/ is stale: {stale}; run python examples/paper/update_readme.py"
    readme = (ROOT / "README.md").read_text()
    assert update_readme.BEGIN not in readme  # the result tables of earlier versions moved to docs/results
    assert {"table2.md", "fig3.md", "fig4.md", "fig5.md", "widths.md", "dinov2.md"} <= set(pages)


def heading_anchors(path: Path) -> set[str]:
    """GitHub's anchors of the Markdown headings of ``path`` (outside code blocks)."""
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    return {update_readme._anchor(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.MULTILINE)}


@pytest.mark.parametrize("page", ["README.md", *sorted(str(p.relative_to(ROOT)) for p in DOCS.glob("*.md")),
                                  *sorted(str(p.relative_to(ROOT)) for p in GUIDE.glob("*.md"))])
def test_the_links_of_the_readme_the_result_pages_and_the_guide_resolve(page: str) -> None:
    """Every relative link names a file that exists and, into a Markdown file, a heading it has."""
    source = ROOT / page
    for target in re.findall(r"\]\(([^)\s]+)\)", source.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = source.parent / path if path else source
        assert linked.exists(), (page, target)
        if anchor and linked.suffix == ".md":
            assert anchor in heading_anchors(linked), (page, target)


def test_the_readme_links_every_guide_page() -> None:
    readme = (ROOT / "README.md").read_text()
    assert GUIDE.is_dir() and all(f"(docs/guide/{p.name})" in readme for p in GUIDE.glob("*.md"))


def test_the_readme_stays_a_short_guide() -> None:
    assert len((ROOT / "README.md").read_bytes()) < 20_000, "move detail to docs/guide/ and link it"


def test_the_numbers_the_readme_quotes_come_from_the_result_pages() -> None:
    """The table of "What a learngene carries" quotes docs/results/recipe.md, which is generated from the JSON."""
    section = (ROOT / "README.md").read_text().split("## What a learngene carries", 1)[1].split("\n## ", 1)[0]
    quoted = re.findall(r"\d+\.\d ± \d+\.\d", section)
    assert len(quoted) >= 5
    page = (DOCS / "recipe.md").read_text()
    assert all(q in page for q in quoted), [q for q in quoted if q not in page]
