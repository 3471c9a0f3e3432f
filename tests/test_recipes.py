"""Recipe options beyond the paper (hf_learngene.recipes): inherited embeddings and a lower lr for inherited weights."""

from __future__ import annotations

import pytest
import torch

from hf_learngene import LearngeneError, LearngeneModel, from_learngene
from hf_learngene.cards import descendant_card
from hf_learngene.recipes import inherit_embeddings, inherited_lr_param_groups, inherited_parameter_names
from tests.tiny_models import pixel_values, tiny_dinov2, tiny_image_dataset, tiny_resnet_basic, tiny_vit


def _child(ancestry, layers=(0, 1), **kwargs):
    learngene = LearngeneModel.from_ancestry(ancestry, layer_indices=list(layers), include_embeddings=False)
    return from_learngene(learngene, num_labels=3, seed=0, **kwargs)


def _hidden(model, x, depth):
    with torch.no_grad():
        return model(pixel_values=x, output_hidden_states=True).hidden_states[depth]


@pytest.mark.parametrize("image_size", [32, 16])
def test_dinov2_embeddings_make_the_descendant_compute_what_the_ancestry_computes(image_size: int) -> None:
    ancestry = tiny_dinov2(head=False)
    child = _child(ancestry, layers=(0, 1), image_size=image_size)
    x = pixel_values(size=image_size)
    fresh = _hidden(child.dinov2, x, 2)
    assert inherit_embeddings(child, ancestry) is child
    # layers 0, 1 of the ancestry after its own embedding: the descendant's first two layers now compute exactly
    # the ancestry's hidden states (position embeddings resampled to a 2x2 grid at 16 px as the ancestry does)
    expected = _hidden(ancestry, x, 2)
    assert torch.equal(_hidden(child.dinov2, x, 2), expected) and not torch.equal(fresh, expected)
    record = child.config.learngene["embeddings"]
    assert record["module"] == "dinov2.embeddings"
    assert "position_embeddings" in record["tensors"] and "patch_embeddings.projection.weight" in record["tensors"]
    assert record["position_embeddings_resampled"] is (image_size != ancestry.config.image_size)
    table = ancestry.embeddings.interpolate_pos_encoding(torch.zeros(child.dinov2.embeddings.position_embeddings.shape),
                                                        image_size, image_size)
    assert torch.equal(child.dinov2.embeddings.position_embeddings, table)
    card = str(descendant_card(child.config, type(child).__name__))
    assert "input embedding `dinov2.embeddings`" in card and "truncated copy of the ancestry" in card


def test_vit_and_resnet_embeddings_bit_exact() -> None:
    vit = tiny_vit(head=False)
    child = inherit_embeddings(_child(vit), vit)
    assert all(torch.equal(child.vit.embeddings.state_dict()[k], v) for k, v in vit.embeddings.state_dict().items())
    assert child.config.learngene["embeddings"]["position_embeddings_resampled"] is False
    resnet = tiny_resnet_basic(head=False)
    child = inherit_embeddings(_child(resnet, layers=(0, 2)), resnet)
    assert child.config.learngene["embeddings"]["module"] == "resnet.embedder"
    assert all(torch.equal(child.resnet.embedder.state_dict()[k], v) for k, v in resnet.embedder.state_dict().items())


def test_inherit_embeddings_errors() -> None:
    ancestry = tiny_dinov2(head=False)
    with pytest.raises(LearngeneError, match="patch size"):
        inherit_embeddings(_child(ancestry, patch_size=4), ancestry)
    with pytest.raises(LearngeneError, match="is a dinov2 model but the ancestry is a vit"):
        inherit_embeddings(_child(ancestry), tiny_vit(head=False))
    with pytest.raises(LearngeneError, match="from_learngene"):
        inherit_embeddings(tiny_dinov2(), ancestry)


def test_inherited_lr_param_groups() -> None:
    ancestry = tiny_dinov2(head=False)
    child = _child(ancestry, layers=(1, 3), num_random_layers=1)
    names = inherited_parameter_names(child)
    assert names and all(n.startswith(("dinov2.encoder.layer.0.", "dinov2.encoder.layer.1.")) for n in names)
    assert not any(n.startswith("dinov2.encoder.layer.2.") for n in names)  # the fresh layer
    groups = inherited_lr_param_groups(child, learning_rate=1e-3, weight_decay=0.05, inherited_lr_scale=0.1)
    assert sum(len(g["params"]) for g in groups) == len(list(child.parameters()))
    by_id = {id(p): g for g in groups for p in g["params"]}
    params = dict(child.named_parameters())
    for name, parameter in params.items():
        group = by_id[id(parameter)]
        assert group["lr"] == pytest.approx(1e-4 if name in names else 1e-3)
        decays = not ("bias" in name or "norm" in name or "token" in name or "position" in name or "lambda1" in name)
        assert group["weight_decay"] == (0.05 if decays else 0.0), name
    inherit_embeddings(child, ancestry)
    assert set(inherited_parameter_names(child)) - set(names) == {
        n for n in params if n.startswith("dinov2.embeddings.")}
    with pytest.raises(LearngeneError, match="inherited_lr_scale must be > 0"):
        inherited_lr_param_groups(child, learning_rate=1e-3, weight_decay=0.0, inherited_lr_scale=0.0)
    with pytest.raises(LearngeneError, match="not parameters"):
        inherited_lr_param_groups(child, learning_rate=1e-3, weight_decay=0.0, inherited_lr_scale=0.5,
                                  inherited=["no.such.weight"])


def test_finetune_trains_inherited_weights_at_the_scaled_rate(tmp_path, one_torch_thread) -> None:
    from hf_learngene.data import ImageTransform
    from hf_learngene.experiments.finetune import finetune
    from hf_learngene.experiments.tasks import make_task
    from hf_learngene.experiments.training import classifier_training_arguments

    task = make_task(tiny_image_dataset(3, 4, 32), tiny_image_dataset(3, 2, 32, seed=1), [0, 1, 2], n_way=3,
                     samples_per_class=4, seed=0)
    ancestry = tiny_dinov2(head=False)
    child = _child(ancestry)
    args = classifier_training_arguments(tmp_path / "run", epochs=1, batch_size=4, learning_rate=1e-3,
                                         weight_decay=0.0, lr_scheduler_type="constant", warmup=0.0, progress=False)
    result = finetune(child, task, args, transform=ImageTransform(32), quiet=True, inherited_lr_scale=0.25)
    rates = {g["inherited"]: g["lr"] for g in result["trainer"].optimizer.param_groups}
    assert rates == {True: pytest.approx(2.5e-4), False: pytest.approx(1e-3)}
