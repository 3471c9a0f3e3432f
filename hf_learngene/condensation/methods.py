"""The registry of condensing methods: a method is a name, its config class and a runner.

:func:`register_condense_method` makes a method available to :func:`~hf_learngene.condense`, to
``learngene condense --method NAME`` (its config fields become options) and to
:class:`~hf_learngene.LearngeneConfig` (``selection_method``). The three built-in methods are registered at the
bottom of this module, the only place that lists their names:

- ``"auto"``: Auto-Learngene (:class:`~hf_learngene.condensation.config.AutoLearngeneConfig`, runner
  :func:`hf_learngene.condensation.auto.run_auto_repeat`);
- ``"heuristic"``: Heur-Learngene (:class:`~hf_learngene.condensation.config.HeuristicConfig`, runner
  :func:`hf_learngene.condensation.heuristic.run_heuristic_repeat`);
- ``"manual"``: the layers given in ``layer_indices`` (:class:`~hf_learngene.condensation.config.ManualConfig`, no
  runner).

A runner scores the ancestry's layers once: ``runner(ancestry, family, data, config, accelerator, repeat)`` returns a
:class:`~hf_learngene.condensation.repeats.RepeatResult` with ``layer_scores`` (one per integral layer, summing to 1).
``condense`` runs it ``config.num_repeats`` times (resuming finished repeats from ``checkpoint_dir``), averages the
scores and selects the layers. A runner may be given as ``"package.module:function"``, imported on first use, so that
registering a method does not import what it needs to run. See CONTRIBUTING.md for a complete new method.

This module imports nothing heavy (no torch, accelerate or datasets).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import LearngeneError
from .config import AutoLearngeneConfig, BaseCondenseConfig, HeuristicConfig, ManualConfig

if TYPE_CHECKING:
    from .repeats import RepeatResult

#: ``runner(ancestry, family, data, config, accelerator, repeat) -> RepeatResult``.
Runner = Callable[..., "RepeatResult"]

_METHODS: dict[str, CondenseMethod] = {}


@dataclass(frozen=True)
class CondenseMethod:
    """A registered condensing method.

    Attributes:
        name: what ``CondenseConfig.method`` / ``--method`` / ``LearngeneConfig.selection_method`` say.
        config_class: its config, a subclass of :class:`BaseCondenseConfig` with the method's own fields.
        runner: scores the layers once (see the module docstring), or ``"module:function"`` naming it; ``None`` for a
            method that scores nothing and takes its layers from ``config.layer_indices`` (``"manual"``).
        label: display name, e.g. ``"Auto-Learngene"``.
        description: one line for ``learngene condense --help``.
        score_note: what the model card says about the layer scores; ``{threshold}`` is ``1/L``.
    """

    name: str
    config_class: type[BaseCondenseConfig]
    runner: Runner | str | None
    label: str
    description: str = ""
    score_note: str = ""

    @property
    def needs_data(self) -> bool:
        """Whether the method reads condense data (every method with a runner does)."""
        return self.runner is not None

    def load_runner(self) -> Runner:
        """The runner, imported on first use when registered as ``"module:function"``."""
        if self.runner is None:
            raise LearngeneError(f"Condensing method {self.name!r} has no runner: its layers come from "
                                 "config.layer_indices.")
        if callable(self.runner):
            return self.runner
        module, _, attribute = self.runner.partition(":")
        return getattr(importlib.import_module(module), attribute)


def register_condense_method(name: str, config_class: type[BaseCondenseConfig], runner: Runner | str | None, *,
                             label: str | None = None, description: str = "", score_note: str = "",
                             ) -> CondenseMethod:
    """Register a condensing method (call it once, in the method's module) and return its :class:`CondenseMethod`.

    Args:
        name: the method's name (``config.method``); registering a name again replaces the method.
        config_class: a dataclass subclassing :class:`BaseCondenseConfig`; its ``method`` field should default to
            ``name``, and its own fields become ``learngene condense`` options (help from ``metadata["help"]``).
        runner: ``runner(ancestry, family, data, config, accelerator, repeat) -> RepeatResult`` or
            ``"module:function"``; ``None``: the layers are ``config.layer_indices``.
        label, description, score_note: see :class:`CondenseMethod` (``label`` defaults to ``name``).

    Example:
        >>> from hf_learngene.condensation.methods import available_methods
        >>> available_methods()
        ('auto', 'heuristic', 'manual')
    """
    if not isinstance(config_class, type) or not issubclass(config_class, BaseCondenseConfig):
        raise LearngeneError(f"Condensing method {name!r}: config_class must subclass BaseCondenseConfig, got "
                             f"{config_class!r}.")
    if runner is not None and not callable(runner) and (not isinstance(runner, str) or ":" not in runner):
        raise LearngeneError(f"Condensing method {name!r}: runner must be a callable, 'module:function' or None, "
                             f"got {runner!r}.")
    method = CondenseMethod(name=name, config_class=config_class, runner=runner, label=label or name,
                            description=description, score_note=score_note)
    _METHODS[name] = method
    return method


def available_methods() -> tuple[str, ...]:
    """Names of the registered condensing methods, in registration order."""
    return tuple(_METHODS)


def get_condense_method(name: str) -> CondenseMethod:
    """The method registered as ``name``."""
    try:
        return _METHODS[name]
    except KeyError:
        raise LearngeneError(f"Unknown condensing method {name!r}; registered: {', '.join(_METHODS)}.") from None


def config_class_for(method: str) -> type[BaseCondenseConfig]:
    """The class to configure ``method`` with: :class:`CondenseConfig` for the built-in methods (it holds all their
    fields), else the method's own config class."""
    from .config import CondenseConfig

    own = get_condense_method(method).config_class
    return CondenseConfig if issubclass(CondenseConfig, own) else own


# ------------------------------------------------------------------------------------------------ built-in methods
register_condense_method(
    "auto", AutoLearngeneConfig, "hf_learngene.condensation.auto:run_auto_repeat", label="Auto-Learngene",
    description="Auto-Learngene (meta-network, paper Alg. 1)",
    score_note=("Scores are the meta-network's normalised layer scores; layers scoring above 1/L = {threshold:.4f} "
                "form the learngene (paper Eq. 10)."),
)
register_condense_method(
    "heuristic", HeuristicConfig, "hf_learngene.condensation.heuristic:run_heuristic_repeat", label="Heur-Learngene",
    description="Heur-Learngene (gradient stability)",
)
register_condense_method("manual", ManualConfig, None, label="Manual", description="keep --layer-indices")
