"""Public names that load their module on first use (PEP 562), for ``__init__`` modules that must import light."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_attributes(module: str, attributes: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``module``: each name of ``attributes`` (``{name: module that defines it}``,
    relative to ``module``'s package or absolute) is imported on first use and then cached in ``module``.

    Example (in a package's ``__init__.py``)::

        __getattr__, __dir__ = lazy_attributes(__name__, {"condense": ".condensation"})
    """
    namespace = sys.modules[module].__dict__
    package = module if hasattr(sys.modules[module], "__path__") else module.rpartition(".")[0]

    def __getattr__(name: str) -> Any:
        source = attributes.get(name)
        if source is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(attributes))

    return __getattr__, __dir__
