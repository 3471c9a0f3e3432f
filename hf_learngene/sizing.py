"""Descendants of any size: narrower layers by element selection, fresh layers anywhere in the depth.

**Width.** A descendant may be narrower than the ancestry (ViT / DINOv2: ``hidden_size``, ``num_attention_heads``,
``intermediate_size``; ResNet: ``hidden_sizes``, ``embedding_size``). Each inherited layer is then reduced by
*element selection*, the rule of Weight Selection (Xu et al., "Initializing Models with Larger Ones", ICLR 2024):
every tensor keeps a subset of its elements along each axis, and one index set is used wherever the same quantity
flows, so the reduced layers still compute with consistent features:

- ``channels`` (ViT / DINOv2): the residual stream; the same indices in every inherited layer, LayerNorm and layer
  scale. ResNet: ``embedding`` (stem output) and ``stage<s>`` (the residual stream of stage ``s``; the shortcut
  projections map one to the next).
- ``attention`` (per layer): the query / key / value dimensions (all heads side by side) and the input of the
  attention output projection; ``mlp`` (per layer): the MLP units. ResNet: ``inner0`` / ``inner1`` (per block), the
  channels inside a residual block.

How the indices are chosen is a registered **width selection rule** (:func:`register_width_selection`):
``"uniform"`` (the paper's rule: evenly spaced indices), ``"heads"`` (whole attention heads, evenly spaced, so the
head dimension is kept; other roles evenly spaced) and ``"magnitude"`` (the elements whose weights have the largest
L1 norm; whole heads when the head dimension is kept). Families describe their layers to this module with
``family.width_axes``-style tables: for each tensor of a layer, the role of each of its axes (:data:`AxisRoles`), so
that a new family (e.g. a timm one) reuses :func:`select_width_indices` and :func:`select_elements` as they are.

**Depth.** ViT / DINOv2 descendants place their ``num_random_layers`` fresh layers with ``layout=``: ``"after"`` (the
default), ``"before"``, ``"interleave"`` or an explicit list of the encoder positions of the inherited layers
(:func:`inherited_positions`).

**Record.** ``config.learngene["width"]`` records the rule, the ancestry's and the descendant's sizes, the index
sets shared by all layers (``indices``) and the role of each axis of each tensor (``axes``); a layer's own index
sets / axes sit in its ``layer_map`` entry (with ``learngene_layer``, its position in the learngene). Every inherited
tensor equals :func:`select_elements` of the learngene tensor with those indices, bit for bit; the check needs only
``torch`` (see :func:`check_width_record`).

Example:
    >>> evenly_spaced(12, 4), evenly_spaced(10, 4)
    ([0, 3, 6, 9], [0, 3, 6, 9])
    >>> import torch
    >>> select_elements(torch.arange(12).reshape(3, 4), ("rows", "cols"), {"rows": [0, 2], "cols": [1]}).tolist()
    [[1], [9]]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .errors import LearngeneError

#: The role of each axis of a tensor: ``None`` (kept whole), ``"role"`` or ``"role:n"`` (``n`` stacked chunks, each
#: indexed by the role's indices, e.g. a fused ``qkv`` weight is ``("attention:3", "channels")``).
AxisRoles = tuple[str | None, ...]
#: ``rule(role, tensors) -> indices``: ``tensors`` are ``(tensor, axis, chunks)`` for every tensor axis of the role.
WidthRule = Callable[["WidthRole", Sequence[tuple[torch.Tensor, int, int]]], list[int]]

LAYOUTS = ("after", "before", "interleave")


# ---------------------------------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class WidthRole:
    """One index set of a width reduction: ``size`` of the ancestry's ``ancestry_size`` elements.

    Attributes:
        name: ``"channels"``, ``"attention"``, ``"mlp"``, ``"stage0"``, ...
        ancestry_size: elements in the ancestry's layers.
        size: elements kept in the descendant's.
        shared: one index set for every inherited layer that has the role (a residual stream).
        group_size: ancestry elements per indivisible group (the attention head dimension), if any.
        descendant_group_size: the descendant's group size (its head dimension).
    """

    name: str
    ancestry_size: int
    size: int
    shared: bool = False
    group_size: int | None = None
    descendant_group_size: int | None = None


@dataclass
class LayerWidth:
    """How one inherited layer is reduced: the roles of its tensors' axes and the roles it uses."""

    axes: dict[str, AxisRoles]
    roles: dict[str, WidthRole]


@dataclass
class WidthSpec:
    """A width reduction planned by a family: per inherited layer (by descendant prefix) its :class:`LayerWidth`,
    and the ancestry's and the descendant's size fields (for the record)."""

    layers: dict[str, LayerWidth]
    ancestry: dict[str, Any] = field(default_factory=dict)
    descendant: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------- element selection
def evenly_spaced(total: int, count: int) -> list[int]:
    """``count`` evenly spaced indices of ``range(total)``, Weight Selection's uniform rule: every
    ``total // count``-th index when ``count`` divides ``total``, else ``round(linspace(0, total - 1, count))``.

    Example:
        >>> evenly_spaced(384, 192)[:3], evenly_spaced(6, 3)
        ([0, 2, 4], [0, 2, 4])
    """
    if not 1 <= count <= total:
        raise LearngeneError(f"Cannot keep {count} of {total} elements: keep between 1 and {total}.")
    if total % count == 0:
        return list(range(0, total, total // count))
    return [int(i) for i in torch.round(torch.linspace(0, total - 1, count)).long().tolist()]


def _role_and_chunks(entry: str) -> tuple[str, int]:
    name, _, chunks = entry.partition(":")
    return name, int(chunks) if chunks else 1


def select_elements(tensor: torch.Tensor, axes: Sequence[str | None], indices: Mapping[str, Sequence[int]]
                    ) -> torch.Tensor:
    """``tensor`` reduced to ``indices[role]`` along each axis that has a role (``axes``, one entry per axis).

    An axis ``"role:n"`` holds ``n`` stacked chunks; each keeps the role's indices. The result is a new contiguous
    tensor whose elements are ``tensor``'s, bit for bit.

    Example:
        >>> select_elements(torch.arange(6), ("qkv:3",), {"qkv": [1]}).tolist()
        [1, 3, 5]
    """
    if len(axes) != tensor.dim():
        raise LearngeneError(f"Axis roles {tuple(axes)} do not fit a tensor of shape {tuple(tensor.shape)}.")
    for dim, entry in enumerate(axes):
        if entry is None:
            continue
        name, chunks = _role_and_chunks(entry)
        chunk = tensor.shape[dim] // chunks
        picked = torch.as_tensor(list(indices[name]), dtype=torch.long)
        if chunks > 1:
            picked = torch.cat([picked + c * chunk for c in range(chunks)])
        tensor = torch.index_select(tensor, dim, picked.to(tensor.device))
    return tensor.contiguous()


def reduce_layer_state(state: Mapping[str, torch.Tensor], axes: Mapping[str, Sequence[str | None]],
                       indices: Mapping[str, Sequence[int]]) -> dict[str, torch.Tensor]:
    """Every tensor of a layer's ``state`` reduced with :func:`select_elements` (``axes[key]`` its axis roles).

    Example:
        >>> reduce_layer_state({"w": torch.ones(4, 2)}, {"w": ("c", None)}, {"c": [0, 3]})["w"].shape
        torch.Size([2, 2])
    """
    unknown = sorted(set(state) - set(axes))
    if unknown:
        raise LearngeneError(f"No axis roles for {unknown}: this layer cannot be reduced in width.")
    return {key: select_elements(tensor, axes[key], indices) for key, tensor in state.items()}


# ---------------------------------------------------------------------------------------------------- selection rules
@dataclass(frozen=True)
class WidthSelection:
    """A registered width selection rule (:func:`register_width_selection`)."""

    name: str
    rule: WidthRule
    description: str = ""


_RULES: dict[str, WidthSelection] = {}


def register_width_selection(name: str, rule: WidthRule, *, description: str = "") -> WidthSelection:
    """Register a width selection rule under ``name`` (``from_learngene(..., width_selection=name)``).

    ``rule(role, tensors)`` returns ``role.size`` distinct indices in ``range(role.ancestry_size)`` for one
    :class:`WidthRole`; ``tensors`` are the ``(tensor, axis, chunks)`` of the inherited layers along which the role
    runs (all inherited layers for a shared role, the one layer otherwise), for rules that look at the weights.

    Example:
        >>> def first(role, tensors):
        ...     return list(range(role.size))
        >>> register_width_selection("first", first, description="the lowest indices").name
        'first'
    """
    if not callable(rule):
        raise LearngeneError(f"Width selection {name!r}: rule must be callable, got {rule!r}.")
    _RULES[name] = WidthSelection(name, rule, description)
    return _RULES[name]


def available_width_selections() -> tuple[str, ...]:
    """Names of the registered width selection rules, e.g. ``("uniform", "heads", "magnitude")``."""
    return tuple(_RULES)


def get_width_selection(name: str) -> WidthSelection:
    """The width selection rule registered as ``name``."""
    try:
        return _RULES[name]
    except KeyError:
        raise LearngeneError(f"Unknown width_selection {name!r}; registered: {', '.join(_RULES)} "
                             "(add one with hf_learngene.sizing.register_width_selection).") from None


def _whole_groups_kept(role: WidthRole) -> bool:
    return bool(role.group_size) and role.group_size == role.descendant_group_size


def _expand_groups(groups: Iterable[int], size: int) -> list[int]:
    return [group * size + offset for group in groups for offset in range(size)]


def uniform_rule(role: WidthRole, tensors: Sequence[tuple[torch.Tensor, int, int]]) -> list[int]:
    """Weight Selection's uniform selection: evenly spaced indices (:func:`evenly_spaced`) on every role."""
    return evenly_spaced(role.ancestry_size, role.size)


def heads_rule(role: WidthRole, tensors: Sequence[tuple[torch.Tensor, int, int]]) -> list[int]:
    """Whole attention heads, evenly spaced (the head dimension is kept); other roles evenly spaced."""
    if not role.group_size:
        return evenly_spaced(role.ancestry_size, role.size)
    if not _whole_groups_kept(role):
        raise LearngeneError(
            f"width_selection='heads' keeps whole attention heads, so the descendant's head dimension must be the "
            f"ancestry's ({role.group_size}), but it is {role.descendant_group_size} (hidden_size / "
            f"num_attention_heads). Ask for num_attention_heads = hidden_size / {role.group_size}, or use "
            "width_selection='uniform' (any head dimension).")
    groups = evenly_spaced(role.ancestry_size // role.group_size, role.size // role.group_size)
    return _expand_groups(groups, role.group_size)


def element_magnitudes(role: WidthRole, tensors: Sequence[tuple[torch.Tensor, int, int]]) -> torch.Tensor:
    """Per element of ``role``: the L1 norm of every weight along it (running statistics excluded), summed over
    ``tensors``; shape ``(role.ancestry_size,)``, float64."""
    scores = torch.zeros(role.ancestry_size, dtype=torch.float64)
    for tensor, axis, chunks in tensors:
        values = tensor.detach().abs().to(torch.float64).movedim(axis, 0)
        scores += values.reshape(chunks, role.ancestry_size, -1).sum(dim=(0, 2)).cpu()
    return scores


def _top(scores: torch.Tensor, count: int) -> list[int]:
    order = torch.argsort(-scores, stable=True)[:count]
    return sorted(int(i) for i in order)


def magnitude_rule(role: WidthRole, tensors: Sequence[tuple[torch.Tensor, int, int]]) -> list[int]:
    """The elements with the largest L1 weight norm (:func:`element_magnitudes`), in index order; whole heads
    (ranked by their summed norm) when the head dimension is kept."""
    scores = element_magnitudes(role, tensors)
    if _whole_groups_kept(role):
        groups = _top(scores.reshape(-1, role.group_size).sum(dim=1), role.size // role.group_size)
        return _expand_groups(groups, role.group_size)
    return _top(scores, role.size)


register_width_selection("uniform", uniform_rule, description="evenly spaced elements (Weight Selection)")
register_width_selection("heads", heads_rule, description="whole attention heads, evenly spaced")
register_width_selection("magnitude", magnitude_rule, description="the elements with the largest weights")


# ---------------------------------------------------------------------------------------------------- driver
def _check_indices(role: WidthRole, values: Any, what: str) -> list[int]:
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                       for v in values):
        raise LearngeneError(f"{what} for {role.name!r} must be a list of ints, got {values!r}.")
    values = list(values)
    if len(values) != role.size:
        raise LearngeneError(f"{what} for {role.name!r} has {len(values)} indices but the descendant keeps "
                             f"{role.size} of the ancestry's {role.ancestry_size}: give exactly {role.size}.")
    bad = [v for v in values if not 0 <= v < role.ancestry_size]
    if bad or len(set(values)) != len(values):
        raise LearngeneError(f"{what} for {role.name!r} must be distinct indices in 0..{role.ancestry_size - 1}; "
                             f"got {'out of range ' + str(bad[:5]) if bad else 'repeated ones'}.")
    return values


def _role_tensors(layer: LayerWidth, state: Mapping[str, torch.Tensor], name: str
                  ) -> list[tuple[torch.Tensor, int, int]]:
    found = []
    for key, axes in layer.axes.items():
        if key.endswith(("running_mean", "running_var")) or key not in state:
            continue
        for axis, entry in enumerate(axes):
            if entry is not None and _role_and_chunks(entry)[0] == name:
                found.append((state[key], axis, _role_and_chunks(entry)[1]))
    return found


def select_width_indices(spec: WidthSpec, states: Mapping[str, Mapping[str, torch.Tensor]],
                         selection: str = "uniform", explicit: Mapping[str, Sequence[int]] | None = None,
                         ) -> dict[str, dict[str, list[int]]]:
    """The index sets of every inherited layer (by prefix): ``{prefix: {role: indices}}``.

    ``states`` are the (full-width) learngene layers by descendant prefix. Shared roles get one index set from
    ``selection``'s rule over all layers; the others one per layer. ``explicit`` (``{role: indices}``) fixes roles
    by hand, the same indices in every layer that has the role.

    Example:
        >>> role = WidthRole("c", 4, 2, shared=True)
        >>> spec = WidthSpec({"l.": LayerWidth({"w": ("c",)}, {"c": role})})
        >>> select_width_indices(spec, {"l.": {"w": torch.tensor([1., 9., 0., 5.])}}, "magnitude")
        {'l.': {'c': [1, 3]}}
    """
    rule = get_width_selection(selection).rule
    explicit = dict(explicit or {})
    known = {name for layer in spec.layers.values() for name in layer.roles}
    unknown = sorted(set(explicit) - known)
    if unknown:
        raise LearngeneError(f"width_indices names {unknown}, which this descendant does not reduce; its roles are "
                             f"{sorted(known)}.")
    chosen: dict[str, dict[str, list[int]]] = {prefix: {} for prefix in spec.layers}
    shared: dict[str, list[int]] = {}
    for prefix, layer in spec.layers.items():
        for name, role in layer.roles.items():
            if name in explicit:
                chosen[prefix][name] = _check_indices(role, explicit[name], "width_indices")
            elif role.shared:
                if name not in shared:
                    tensors = [t for p, lw in spec.layers.items() if name in lw.roles
                               for t in _role_tensors(lw, states[p], name)]
                    shared[name] = _check_indices(role, rule(role, tensors), f"width_selection {selection!r}")
                chosen[prefix][name] = shared[name]
            else:
                tensors = _role_tensors(layer, states[prefix], name)
                chosen[prefix][name] = _check_indices(role, rule(role, tensors), f"width_selection {selection!r}")
    return chosen


def width_record(spec: WidthSpec, chosen: Mapping[str, Mapping[str, list[int]]], selection: str,
                 explicit: Mapping[str, Sequence[int]] | None = None,
                 ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The compact record of a width reduction: ``(width, per_layer)``.

    ``width`` holds the rule, the sizes, every index set that is the same in all layers having its role
    (``indices``) and the axis roles when all layers have the same (``axes``); ``per_layer[prefix]`` holds the rest
    (``indices`` / ``axes`` of that layer), to be merged into its ``layer_map`` entry.
    """
    names = {name for roles in chosen.values() for name in roles}
    common: dict[str, list[int]] = {}
    for name in sorted(names):
        values = [roles[name] for roles in chosen.values() if name in roles]
        if all(v == values[0] for v in values):
            common[name] = list(values[0])
    axes = [{key: list(value) for key, value in layer.axes.items()} for layer in spec.layers.values()]
    same_axes = all(a == axes[0] for a in axes)
    per_layer: dict[str, dict[str, Any]] = {}
    for (prefix, roles), layer_axes in zip(chosen.items(), axes):
        own = {name: list(v) for name, v in roles.items() if name not in common}
        entry: dict[str, Any] = {}
        if own:
            entry["indices"] = own
        if not same_axes:
            entry["axes"] = layer_axes
        per_layer[prefix] = entry
    width: dict[str, Any] = {"selection": "explicit" if explicit and set(explicit) >= names else selection,
                             "ancestry": dict(spec.ancestry), "descendant": dict(spec.descendant),
                             "indices": common}
    if explicit:
        width["explicit_roles"] = sorted(explicit)
    if same_axes:
        width["axes"] = axes[0] if axes else {}
    return width, per_layer


def check_width_record(descendant_state: Mapping[str, torch.Tensor], learngene_state: Mapping[str, torch.Tensor],
                       origin: Mapping[str, Any]) -> int:
    """Check, from a descendant's ``config.learngene`` (``origin``) alone, that every inherited tensor equals the
    learngene's at the recorded indices bit for bit; returns the number of tensors checked.

    ``learngene_state`` is the learngene's state dict (``layers.<position>.<key>``, as in its
    ``model.safetensors``); full-width descendants compare tensors as they are.

    Example:
        >>> check_width_record(child.state_dict(), learngene.state_dict(), child.config.learngene)  # doctest: +SKIP
        36
    """
    width = origin.get("width") or {}
    checked = 0
    for position, entry in enumerate(origin["layer_map"]):
        source = f"layers.{entry.get('learngene_layer', position)}."
        axes = entry.get("axes") or width.get("axes")
        indices = {**width.get("indices", {}), **entry.get("indices", {})}
        for key, tensor in learngene_state.items():
            if not key.startswith(source):
                continue
            name = key[len(source):]
            expected = select_elements(tensor, axes[name], indices) if width else tensor
            actual = descendant_state[entry["descendant"] + name]
            if actual.dtype != expected.dtype or not torch.equal(actual, expected):
                raise LearngeneError(f"{entry['descendant']}{name} differs from learngene tensor {key} at the "
                                     "recorded indices.")
            checked += 1
    return checked


# ---------------------------------------------------------------------------------------------------- depth layout
def inherited_positions(layout: str | Sequence[int] | None, num_inherited: int, depth: int | None) -> list[int]:
    """Encoder positions of the inherited layers (in learngene order) in a descendant of ``depth`` layers.

    ``"after"`` (default): the inherited layers first, fresh layers after them; ``"before"``: fresh layers first;
    ``"interleave"``: inherited layer ``i`` at ``ceil(i * depth / num_inherited)``, so the fresh layers sit between
    them (``L F L F ...`` when ``depth = 2 * num_inherited``); a list: the positions themselves (increasing; with
    ``depth=None`` the depth is ``max(positions) + 1``).

    Example:
        >>> inherited_positions("interleave", 3, 6), inherited_positions("before", 2, 4), inherited_positions([0, 3], 2, None)
        ([0, 2, 4], [2, 3], [0, 3])
    """
    if layout is None or layout == "after":
        return list(range(num_inherited))
    if isinstance(layout, str):
        if layout == "before":
            return list(range(depth - num_inherited, depth))
        if layout == "interleave":
            return [-(-i * depth // num_inherited) for i in range(num_inherited)]
        raise LearngeneError(f"Unknown layout {layout!r}: use one of {', '.join(LAYOUTS)} or a list of the encoder "
                             "positions of the inherited layers.")
    positions = list(layout)
    if not all(isinstance(p, int) and not isinstance(p, bool) for p in positions):
        raise LearngeneError(f"layout must be one of {', '.join(LAYOUTS)} or a list of ints, got {layout!r}.")
    if len(positions) != num_inherited:
        raise LearngeneError(f"layout lists {len(positions)} positions but the learngene has {num_inherited} layers: "
                             "give one encoder position per learngene layer, in learngene order.")
    limit = max(positions) + 1 if depth is None else depth
    if positions != sorted(set(positions)) or positions[0] < 0 or positions[-1] >= limit:
        raise LearngeneError(f"layout {positions} must be increasing positions in 0..{limit - 1} (the descendant has "
                             f"{limit} layers: the learngene's plus num_random_layers).")
    return positions


def layout_name(layout: str | Sequence[int] | None) -> str:
    """How ``config.learngene["layout"]`` names a layout: ``"after"``, ``"before"``, ``"interleave"`` or
    ``"explicit"``."""
    if layout is None:
        return "after"
    return layout if isinstance(layout, str) else "explicit"
