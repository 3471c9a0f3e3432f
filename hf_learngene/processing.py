"""The image processor of a descendant: what ``pipeline("image-classification")`` and the Hub's widget load.

A descendant is trained on images resized to its ``image_size`` and normalised with its ancestry's statistics
(:class:`~hf_learngene.data.ImageTransform`, evaluation mode). :func:`descendant_image_processor` returns the
`transformers` image processor that does exactly that, so a saved or pushed descendant ships a
``preprocessor_config.json`` (:func:`~hf_learngene.save_descendant`, :class:`~hf_learngene.DescendantTrainer`) and
``AutoImageProcessor`` / ``pipeline`` work on it without hf_learngene.

Example:
    >>> processor = descendant_image_processor(child)  # doctest: +SKIP
    >>> processor.save_pretrained("my-descendant")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from PIL import Image
from transformers import PreTrainedModel
from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

from .data import IMAGENET_MEAN, IMAGENET_STD

#: The resolution of a descendant whose config and record name none (ResNet configs have no ``image_size``).
DEFAULT_IMAGE_SIZE = 224


def preprocessing_record(ancestry_processor: dict[str, Any] | None, image_size: int | None,
                         family_defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a descendant records as ``config.learngene["preprocessing"]``: its input size and the normalisation of
    its ancestry's image processor (``ancestry_processor``: a ``preprocessor_config.json`` dict), else of the
    ancestry's config (``family_defaults``: :meth:`ArchitectureFamily.image_preprocessing`, e.g. a timm
    ``pretrained_cfg``), else ImageNet statistics.

    Example:
        >>> preprocessing_record(None, 84)  # ResNet descendants without an image_size: 224
        {'image_size': 84, 'image_mean': [0.485, 0.456, 0.406], 'image_std': [0.229, 0.224, 0.225]}
    """
    processor = ancestry_processor or {}
    mean, std = processor.get("image_mean"), processor.get("image_std")
    if mean is None and family_defaults:
        mean, std = family_defaults.get("mean"), family_defaults.get("std")
    mean = list(mean) if isinstance(mean, (list, tuple)) else mean
    std = list(std) if isinstance(std, (list, tuple)) else std
    if not (isinstance(mean, list) and len(mean) == 3 and isinstance(std, list) and len(std) == 3):
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    return {"image_size": image_size or DEFAULT_IMAGE_SIZE, "image_mean": [float(v) for v in mean], "image_std": [float(v) for v in std]}


def descendant_image_processor(model: PreTrainedModel, image_size: int | None = None) -> ViTImageProcessorPil:
    """The image processor that reproduces the evaluation preprocessing of ``model``'s training in this library:
    RGB, resize to ``image_size`` x ``image_size`` (bilinear), rescale by 1/255, normalise with the recorded mean and
    std (``config.learngene["preprocessing"]``; ImageNet statistics for models without a record).

    ``image_size`` defaults to the recorded one, else ``config.image_size`` (ViT / DINOv2), else 224. The processor is
    `transformers`' PIL ViT image processor, which any model class can use (``AutoImageProcessor`` reads it back).

    Example:
        >>> processor = descendant_image_processor(child)  # doctest: +SKIP
        >>> processor(images=image, return_tensors="pt")["pixel_values"].shape  # doctest: +SKIP
        torch.Size([1, 3, 84, 84])
    """
    record = (getattr(model.config, "learngene", None) or {}).get("preprocessing") or {}
    size = image_size or record.get("image_size") or getattr(model.config, "image_size", None) or DEFAULT_IMAGE_SIZE
    return image_processor_from_record({**record, "image_size": size})


def learngene_image_processor(learngene: Any, image_size: int) -> ViTImageProcessorPil:
    """The image processor of every descendant of ``learngene`` at ``image_size`` (its ancestry's normalisation),
    including From-Scratch twins, which record no origin.

    Example:
        >>> processor = learngene_image_processor(learngene, 84)  # doctest: +SKIP
    """
    from .families import get_family

    family = get_family(learngene.config.family)
    defaults = family.image_preprocessing(learngene.config.ancestry_transformers_config())
    return image_processor_from_record(preprocessing_record(learngene.config.image_processor, image_size, defaults))


def image_processor_from_record(record: dict[str, Any]) -> ViTImageProcessorPil:
    """The processor of a :func:`preprocessing_record`: resize to ``image_size`` (bilinear), rescale, normalise."""
    size = record.get("image_size") or DEFAULT_IMAGE_SIZE
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    return ViTImageProcessorPil(
        do_resize=True, size={"height": int(height), "width": int(width)}, resample=Image.Resampling.BILINEAR,
        do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
        image_mean=list(record.get("image_mean", IMAGENET_MEAN)), image_std=list(record.get("image_std", IMAGENET_STD)),
    )
