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
  feature scale. (1) ``psi-bar^{l,k} = 1 - CKA(z^k, Z^l)``, linear CKA over the images of a batch: invariant to
  the scale (and any rotation) of either layer's features, 0 for a perfect match up to those, 1 for unrelated
  features. (2) for each pseudo-descendant layer ``k``, ``alpha^{., k}`` is a softmax over the ancestry layers of
  the FC outputs (the FC reads the layer-normalised pooled ``Z^l``), so ``alpha`` cannot all go to zero:
  minimising ``L_meta`` moves each column's mass onto the ancestry layers the pseudo-descendant matches best. The
  meta learning rate is raised (2.0 instead of 1e-4) so that the scores visibly move within one epoch.

A new objective is one subclass of :class:`MetaObjective` plus :func:`register_objective`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import torch
import torch.nn.functional as F

from ..errors import LearngeneError

if TYPE_CHECKING:
    from .base import PairDistances

_OBJECTIVES: dict[str, type[MetaObjective]] = {}


class MetaObjective:
    """How raw pair distances become ``psi-bar`` and raw meta-network outputs become ``alpha``.

    Attributes:
        name: the registry name (``CondenseConfig.objective``).
        default_meta_learning_rate: ``beta-hat`` when ``CondenseConfig.meta_learning_rate`` is ``None``.
        normalise_meta_input: whether the meta-network reads the layer-normalised pooled ``Z^l``.
    """

    name: ClassVar[str]
    default_meta_learning_rate: ClassVar[float]
    normalise_meta_input: ClassVar[bool] = False

    def distances(self, student: PairDistances, big: list[torch.Tensor], small: list[torch.Tensor]) -> torch.Tensor:
        """``psi-bar`` of every pair, shape ``(batch, L, K)`` (zero outside R), from the ancestry's features ``big``
        (``Z^l``) and the pseudo-descendant's ``small`` (``z^k``)."""
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
    """``psi-bar^{l,k} = 1 - CKA(z^k, Z^l)``; ``alpha^{., k}`` a softmax over the ancestry layers.

    Linear CKA (Kornblith et al., 2019) compares the two layers' Gram matrices over the images of the batch
    (features flattened, centred over the images): it is invariant to any scaling and any orthogonal transform of
    either side, so it cannot rank layers by the size of their activations, and it compares features of any
    shapes, so this objective needs no alignment ``h`` (the alignments of the paper objective stay unused).
    """

    name = "scale_free"
    default_meta_learning_rate = 2.0
    normalise_meta_input = True

    def distances(self, student: PairDistances, big: list[torch.Tensor], small: list[torch.Tensor]) -> torch.Tensor:
        batch = small[0].shape[0]
        return cka_distance(big, small)[None].expand(batch, -1, -1) * student.pair_mask_like(big, small)

    def alpha(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        masked = logits.masked_fill(mask[None] <= 0, float("-inf"))
        alpha = torch.softmax(masked, dim=1)  # over ancestry layers l, for each pseudo-descendant layer k
        return torch.nan_to_num(alpha, nan=0.0) * mask  # a column k without any pair in R stays 0


def _grams(features: list[torch.Tensor]) -> torch.Tensor:
    """Gram matrices over the batch of each feature (flattened, centred over the images; float64), zero diagonal."""
    grams = []
    for feature in features:
        x = feature.reshape(feature.shape[0], -1).double()
        x = x - x.mean(0, keepdim=True)
        gram = x @ x.t()
        grams.append(gram - torch.diag_embed(torch.diagonal(gram)))
    return torch.stack(grams)


def _hsic(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Unbiased HSIC (Song et al., 2012) of every pair of zero-diagonal Gram matrices: ``(La, n, n), (Lb, n, n)``
    -> ``(La, Lb)``."""
    n = a.shape[-1]
    trace = a.flatten(1) @ b.flatten(1).t()
    sums = a.sum((1, 2))[:, None] * b.sum((1, 2))[None, :] / ((n - 1) * (n - 2))
    rows = a.sum(-1) @ b.sum(-1).t() * (2.0 / (n - 2))
    return (trace + sums - rows) / (n * (n - 3))


def cka_distance(big: list[torch.Tensor], small: list[torch.Tensor]) -> torch.Tensor:
    """``1 - CKA`` for every pair ``(l, k)``, shape ``(L, K)``: debiased linear CKA of ``small[k]`` and ``big[l]`` over
    the images of the batch (each feature flattened; at least 4 images).

    The debiased estimator (unbiased HSIC) matters here: the plain minibatch CKA of two unrelated high-dimensional
    features is close to 1 when the batch is much smaller than the width (both Gram matrices look like a scaled
    identity), which would make noise look like a match.

    Example:
        >>> import torch
        >>> z = torch.randn(8, 5, 4)
        >>> rotation = torch.linalg.qr(torch.randn(4, 4))[0]
        >>> round(cka_distance([3 * z @ rotation + 1], [z])[0, 0].item(), 4)
        0.0
    """
    if small[0].shape[0] < 4:
        raise LearngeneError(f"The scale_free objective needs batches of at least 4 images, got {small[0].shape[0]}: "
                             "raise batch_size and meta_batch_size.")
    grams_a, grams_b = _grams(big), _grams(small)
    tiny = torch.finfo(torch.float64).tiny
    self_a = torch.diagonal(_hsic(grams_a, grams_a)).clamp_min(tiny)
    self_b = torch.diagonal(_hsic(grams_b, grams_b)).clamp_min(tiny)
    cka = _hsic(grams_a, grams_b) / torch.sqrt(self_a[:, None] * self_b[None, :])
    return (1 - cka).clamp(0, 2).to(small[0].dtype)


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
