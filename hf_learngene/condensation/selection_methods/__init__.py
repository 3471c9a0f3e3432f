"""Layer-selection methods, each one module that registers itself (imported by
:mod:`hf_learngene.condensation.methods`, so they are there wherever the built-in methods are):

- ``"first_k"`` (:mod:`.first_k`): the first ``k`` layers; no data, no compute;
- ``"evenly_spaced"`` (:mod:`.evenly_spaced`): ``k`` layers ``floor(i * L / k)``; no data, no compute;
- ``"block_influence"`` (:mod:`.block_influence`): ShortGPT's block influence, ``1 - cos(input, output)``;
- ``"angular_block"`` (:mod:`.angular_block`): drop the contiguous block whose ends are closest in angle (Gromov et
  al.);
- ``"probe_greedy"`` (:mod:`.probe_greedy`): remove layers one at a time by a nearest-class-mean probe (after SLEB).

What they share (how ``k`` is read, scores that encode a pick, reading layer inputs and outputs) is in
:mod:`.common`. Each reports its wall time (``RepeatResult.wall_time``, ``CondenseResult.wall_time``).
"""

from __future__ import annotations

from .angular_block import AngularBlockConfig
from .block_influence import BlockInfluenceConfig
from .evenly_spaced import EvenlySpacedConfig
from .first_k import FirstKConfig
from .probe_greedy import ProbeGreedyConfig

#: The names of the methods this package registers.
SELECTION_METHODS = ("first_k", "evenly_spaced", "block_influence", "angular_block", "probe_greedy")

__all__ = ["SELECTION_METHODS", "AngularBlockConfig", "BlockInfluenceConfig", "EvenlySpacedConfig", "FirstKConfig", "ProbeGreedyConfig"]
