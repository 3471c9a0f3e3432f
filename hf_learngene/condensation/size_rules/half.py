"""``"half"`` (the default size rule): the top ``k = max(1, L // 2)`` layers by score.

Why half: on the shared DINOv2 ViT-S/14 (12 layers; the library's default descendant path, 5-way tasks) descendants
reached 50.2 % from the 1 layer the paper's 1/L rule keeps, 64.7 % from 3 layers, 85.7 % from 6 and 89.5 % from 7,
against 91.1 % from the whole ancestry (docs/results/mainpath.md): half the layers gets most of the way at half the
size. It gives ``k``, so the methods that pick a set of ``k`` layers (``first_k`` ...) need no ``--num-layers``.
"""

from __future__ import annotations

from .registry import register_size_rule


def half_of(total: int) -> int:
    """``max(1, L // 2)``: 6 of 12 layers, 4 of 8, 1 of 1 or 2.

    Example:
        >>> [half_of(total) for total in (1, 2, 5, 8, 12)]
        [1, 1, 2, 4, 6]
    """
    return max(1, total // 2)


register_size_rule("half", num_layers=half_of,
                   description="the top L // 2 layers by score (at least one): 6 of 12")
