"""Meta objectives of Auto-Learngene: how the pair distances ``psi-bar`` and the scores ``alpha`` are formed.

Two objectives are registered:

- ``"paper"``: Algorithm 1 taken literally. ``psi-bar^{l,k}`` is the mean squared difference of ``h(z^k)`` and
  ``Z^l`` (Eqs. 7, 11-14), ``alpha^{l,k} = ReLU6(FC(pool(Z^l)))`` (Sec. 5.1) and ``phi`` follows plain SGD on
  ``L_meta = sum alpha * psi-bar`` (Eq. 16) with the paper's learning rate 1e-4. Because ``alpha >= 0``,
  ``L_meta`` is minimised by driving every ``alpha`` to zero, and each ``alpha^{l,k}`` falls at a speed set by the
  raw size of ``psi-bar^{l,k}``: after training, ``alpha`` ranks the ancestry layers by the **magnitude of their
  features**, not by how well the pseudo-descendant matches them (the layer with the largest activations gets
  the lowest score), and the softmax of nearly equal scores keeps every layer but the outliers above ``1/L``.
- ``"scale_free"`` (the default): the same Algorithm 1 with two changes that make the ranking independent of
  feature scale. (1) ``psi-bar^{l,k}`` is divided by the variance of ``Z^l`` (per element, over images, measured
  once on condense images; the ancestry is frozen), i.e. it is the *fraction of variance of ancestry layer l that
  pseudo-descendant layer k leaves unexplained* (0 = perfect match, 1 = no better than the mean). (2) for each
  pseudo-descendant layer ``k``, ``alpha^{., k}`` is a softmax over the ancestry layers of the FC outputs (the FC
  reads the layer-normalised pooled ``Z^l``), so ``alpha`` cannot all go to zero: minimising ``L_meta`` moves
  each column's mass onto the ancestry layers the pseudo-descendant matches best. The meta learning rate is
  raised so that the scores visibly move within one epoch (see :data:`OBJECTIVE_DEFAULTS`).

A new objective is one subclass of :class:`MetaObjective` plus :func:`register_objective`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import torch
import torch.nn.functional as F

from ..errors import LearngeneError

if TYPE_CHECKING:
    from .auto import PseudoDescendant

_OBJECTIVES: dict[str, type[MetaObjective]] = {}


class MetaObjective:
    """How raw pair distances become ``psi-bar`` and raw meta-network outputs become ``alpha``.

    Attributes:
        name: the registry name (``CondenseConfig.objective``).
        default_meta_learning_rate: ``beta-hat`` when ``CondenseConfig.meta_learning_rate`` is ``None``.
        needs_feature_scale: whether :meth:`distances` needs the per-layer variance of ``Z^l``.
        normalise_meta_input: whether the meta-network reads the layer-normalised pooled ``Z^l``.
    """

    name: ClassVar[str]
    default_meta_learning_rate: ClassVar[float]
    needs_feature_scale: ClassVar[bool] = False
    normalise_meta_input: ClassVar[bool] = False

    def distances(self, student: PseudoDescendant, big: list[torch.Tensor], small: list[torch.Tensor],
                  scale: torch.Tensor | None) -> torch.Tensor:
        """``psi-bar`` of every pair, shape ``(batch, L, K)`` (zero outside R), from the ancestry's features ``big``
        (``Z^l``), the pseudo-descendant's ``small`` (``z^k``) and the per-layer variance ``scale`` of ``Z^l``."""
        return student.psi(big, small)

    def alpha(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``alpha`` of shape ``(batch, L, K)`` from the FC outputs; ``mask`` is the ``(L, K)`` indicator of R."""
        raise NotImplementedError


class PaperObjective(MetaObjective):
    """Algorithm 1 as written: raw MSE, ``alpha = ReLU6(FC(Z^l))``, meta learning rate 1e-4."""

    name = "paper"
    default_meta_learning_rate = 1e-4

    def alpha(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return F.relu6(logits) * mask


class ScaleFreeObjective(MetaObjective):
    """Fraction of unexplained variance as ``psi-bar``, ``alpha`` a softmax over ancestry layers per ``k``.

    With a learned alignment ``h`` (e.g. the ResNet 1x1 convolutions) ``psi-bar`` is the mean squared distance
    divided by the variance of ``Z^l``. With the identity alignment (a ViT pseudo-descendant of the ancestry's
    width) nothing could absorb a difference of scale, so the best scalar gain and offset are applied in closed
    form: ``psi-bar = 1 - r^2``, ``r`` the correlation over the batch between ``z^k`` and ``Z^l`` (each element
    centred over the images), the fraction of the variance of ``Z^l`` left unexplained by ``a z^k + b``.
    """

    name = "scale_free"
    default_meta_learning_rate = 0.5
    needs_feature_scale = True
    normalise_meta_input = True

    def distances(self, student: PseudoDescendant, big: list[torch.Tensor], small: list[torch.Tensor],
                  scale: torch.Tensor | None) -> torch.Tensor:
        batch = small[0].shape[0]
        if student.identity:
            return unexplained_variance(big, small)[None].expand(batch, -1, -1) * student.pair_mask_like(big, small)
        if scale is None:
            raise LearngeneError("The scale_free objective needs the variance of every ancestry layer's features.")
        psi = student.psi(big, small)
        return psi / scale.to(psi)[None, :, None]

    def alpha(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        masked = logits.masked_fill(mask[None] <= 0, float("-inf"))
        alpha = torch.softmax(masked, dim=1)  # over ancestry layers l, for each pseudo-descendant layer k
        return torch.nan_to_num(alpha, nan=0.0) * mask  # a column k without any pair in R stays 0


def unexplained_variance(big: list[torch.Tensor], small: list[torch.Tensor]) -> torch.Tensor:
    """``1 - r^2`` for every pair ``(l, k)``, shape ``(L, K)``: ``r`` is the correlation, over the images of the batch
    and all feature elements, of ``small[k]`` and ``big[l]`` after centring each element over the images.

    Example:
        >>> import torch
        >>> z = torch.randn(8, 5, 4)
        >>> unexplained_variance([3 * z + 1, torch.randn(8, 5, 4)], [z])[:, 0].round(decimals=3)[0].item()
        0.0
    """
    batch = small[0].shape[0]
    a = torch.stack([f.reshape(batch, -1) for f in big], dim=1)  # (B, L, D)
    b = torch.stack([f.reshape(batch, -1) for f in small], dim=1)  # (B, K, D)
    a = a - a.mean(0, keepdim=True)
    b = b - b.mean(0, keepdim=True)
    a = a.transpose(0, 1).reshape(a.shape[1], -1)  # (L, B*D)
    b = b.transpose(0, 1).reshape(b.shape[1], -1)  # (K, B*D)
    cov = a @ b.t()
    var_a, var_b = a.pow(2).sum(-1), b.pow(2).sum(-1)
    denominator = var_a[:, None] * var_b[None, :]
    r2 = cov.pow(2) / denominator.clamp_min(torch.finfo(denominator.dtype).tiny)
    return (1 - r2).clamp(0, 1)


def register_objective(cls: type[MetaObjective]) -> type[MetaObjective]:
    """Register a :class:`MetaObjective` subclass under ``cls.name`` (usable as a decorator).

    Example:
        >>> from hf_learngene.condensation.objectives import PaperObjective, register_objective
        >>> class Mine(PaperObjective):
        ...     name = "mine"
        >>> _ = register_objective(Mine)
    """
    if not getattr(cls, "name", None):
        raise LearngeneError(f"{cls.__name__} needs a class attribute `name` to be registered as an objective.")
    _OBJECTIVES[cls.name] = cls
    return cls


def available_objectives() -> tuple[str, ...]:
    """Names of the registered objectives."""
    return tuple(sorted(_OBJECTIVES))


def get_objective(name: str) -> MetaObjective:
    """An instance of the objective registered as ``name``."""
    if name not in _OBJECTIVES:
        raise LearngeneError(f"Unknown Auto-Learngene objective {name!r}; registered: {available_objectives()}.")
    return _OBJECTIVES[name]()


register_objective(PaperObjective)
register_objective(ScaleFreeObjective)
