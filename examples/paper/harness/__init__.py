"""Reproduce the Learngene paper's descendant experiments (Table 2, Fig. 3, Fig. 4, Fig. 5) with hf_learngene.

A package with one module per concern; the scripts beside it (``run.py``, ``width_reduction.py``) and the tests
import it as ``harness`` (``python examples/paper/run.py`` puts ``examples/paper`` on the path; pytest does the same
through ``pythonpath`` in ``pytest.ini``). The names below are also importable from the package itself
(``harness.run("table2", "smoke", "vit", output="/tmp/x")``).

* :mod:`harness.profiles` - :data:`PROFILES` / :func:`get_profile`: ``smoke`` (tiny random ancestries + synthetic
  images, seconds), ``cpu`` (estimated ~2.2 h, budget 4 h, on a shared 2-core CPU with 1 thread), ``paper`` (the
  paper's settings, for a GPU); the families and default locations. :mod:`harness.smoke` builds the smoke assets.
* :mod:`harness.methods` - the methods, as a registry (:class:`~harness.methods.Method`, one entry per method; see
  "Adding a method" below).
* :mod:`harness.context` - :class:`Context`: dataset, ancestries and learngenes of one session (all loaded lazily and
  cached).
* :mod:`harness.learngenes` - :func:`get_learngene`: condense (``auto`` / ``heuristic``) with
  :func:`hf_learngene.condense` once per configuration, cached on disk under the work directory (weights) and
  ``<output>/runs/condense-<key>.json`` (metadata, committed); precomputed learngene folders.
* :mod:`harness.runs` - :class:`RunSpec` / :func:`run_one`: one descendant training; its result is cached as
  ``<output>/runs/<key>.json`` (key = hash of the full configuration), so a rerun skips finished runs; claims
  (:func:`claim_run`) let parallel processes of one plan train each run once.
* :mod:`harness.experiments` - :func:`plan_runs`, :func:`run_experiments`: the runs each experiment needs (shared
  runs are deduplicated: Fig. 3 reuses the Table 2 runs (and shows the finished Fig. 5 runs per sample size), Fig. 5
  reuses the Table 2 runs at the Table 2 sample size, Fig. 4 / Fig. 5 share the default-hyperparameter cell) and
  running them; :func:`run` - all of it in one call.
* One module per experiment: :mod:`harness.table2` (Table 2 and Fig. 3), :mod:`harness.fig4`, :mod:`harness.fig5`
  (plans and summaries, written to ``<output>/<profile>/<experiment>.{json,md,png}``) and :mod:`harness.widths`
  (width-reduced descendants, ``examples/paper/width_reduction.py``), :mod:`harness.mainpath` (the library's main
  path, ``examples/paper/main_path.py``) and :mod:`harness.table3` (Table 3, few-shot: 5-way 10/20-shot descendants
  beside a nearest-prototype and a linear-probe baseline on the frozen ancestry, with 95 % confidence intervals;
  ``examples/paper/table3.py``); :mod:`harness.summaries` holds what the summaries share.
* :mod:`harness.fig6` - Sec. 5.3 / Fig. 6: the home ViT trained on a stream of tasks (classes 0-63 in stages, its
  weights kept), a learngene condensed after every stage, their descendants vs From-Scratch
  (``examples/paper/continual.py``; summary ``<output>/<profile>/fig6.{json,md,png}``).
* :mod:`harness.estimate` - :func:`estimate_runtime`: measure training throughput for a few steps and extrapolate
  the remaining runs (condenses the Auto-Learngene learngenes first when they are not cached: the descendants' shape
  depends on them).
* :mod:`harness.utils` - hashing, JSON files, versions, formatting, :func:`quiet_transformers`.

Methods: ``scratch`` (From-Scratch), ``distill`` (Feature Distillation, paper [26]), ``heur`` (Heur-Learngene) and
``auto`` (Auto-Learngene). All descendants of one family share the Auto-Learngene descendant's architecture (ViT: the
learngene's layers; ResNet-18 ancestry -> ResNet-12-like descendant); a Heur-Learngene ViT descendant with fewer
layers than Auto's is padded with fresh layers to the same depth.

Baselines added for the real pretrained ancestry (family ``dinov2``, see :data:`NEW_METHODS`): ``auto_paper``
(Auto-Learngene with ``CondenseConfig(objective="paper")``; padded like ``heur``), ``first_k`` (the lowest k ancestry
layers, k = the size of the Auto learngene), ``random_k`` (k random ancestry layers; one run per task and *draw*, the
draws are seeded and distinct, see :func:`random_layer_indices`) and ``finetune_ancestry`` (the whole ancestry, all
its layers and embeddings with its weights, plus a fresh head: the upper reference). Training-recipe options beyond
the paper (:data:`RECIPE_METHODS`): ``auto_embed``, ``auto_embed_lowlr``, ``finetune_ancestry_lowlr``. The
home-trained families ``vit`` and ``resnet`` keep their four methods by default (and their cache keys); ``dinov2``
runs all eight. ``Context(methods=..., num_tasks=..., epochs=...)`` (``run.py --methods/--num_tasks/--epochs``) size
a run, and ``Context(learngene_paths={(family, method): folder})`` (``run.py --learngene dinov2:auto=DIR``) uses a
precomputed learngene instead of condensing (keyed by a fingerprint of its ``config.json`` + ``model.safetensors``).

Summaries of the home-trained families go to ``<output>/<profile>/``, those of ``dinov2`` to
``<output>/<profile>/dinov2/``.

Adding a method
---------------
A method is one :class:`~harness.methods.Method` entry, registered in ``harness/methods.py`` next to the others
(before the derived tables at the end of that module, which then list it: ``ALL_METHODS``, ``METHOD_LABELS``,
``DEFAULT_METHODS``, ``CONDENSE_METHOD``, ...; ``run.py --methods`` accepts it at once)::

    register_method(Method(
        "my_method", "My method", "tab:olive",       # name (run keys, --methods), label and colour (tables, plots)
        group="baseline",                            # "paper", "baseline" or "recipe"
        default_for=("dinov2",),                     # families whose Table 2 runs it without --methods
        build=build_own,                             # (ctx, spec, task) -> (descendant, extra ft.finetune kwargs)
        learngene="own", condense="auto",            # its own learngene, condensed with hf_learngene.condense ...
        condense_extra={"objective": "paper"},       # ... with these CondenseConfig fields (part of its key)
    ))

What the fields decide:

* ``learngene``: ``"auto"`` - the descendant depends on Auto-Learngene's learngene (its layers, or with
  ``inherits_layers=False`` only its architecture, like ``scratch`` / ``distill``); ``"own"`` - its own learngene,
  condensed (``condense=`` + ``condense_extra=``) or cut from the ancestry without condensing (``layers=``, a
  function of Auto's learngene and the draw, like ``first_k`` / ``random_k``); ``None`` - no learngene
  (``finetune_ancestry``). This also derives the ``learngene`` field of its runs' keys
  (:func:`~harness.methods.spec_learngene_key`: its own condensed learngene's key, ``""`` without one, else Auto's)
  and which learngene its records name (:func:`~harness.methods.run_learngene`).
* ``build``: the descendant (``build_auto``, ``build_padded``, ``build_own``, ``build_scratch``, ``build_distill``,
  ``build_finetune_ancestry`` in ``methods.py``, or a new function taking :func:`~harness.methods.descendant_options`).
* ``draws=True``: one run per task and draw (Random-k); ``same_as_auto=True``: a run whose learngene holds exactly
  Auto's layers copies Auto's record instead of training it again; ``distill_loss=``: Feature Distillation from the
  ancestry with that loss; ``inherit_carried_embeddings=True``: the descendant takes the input embedding its learngene
  carries (``from_learngene``'s default, the library's default path) - every other method keeps the paper's fresh
  embedding, whatever its learngene carries.
* A training-recipe option is an entry with ``group="recipe"``, ``base=`` (the method it modifies) and
  ``spec_fields=`` (:class:`RunSpec` fields such as ``{"inherit_embeddings": True, "inherited_lr_scale": 0.1}``):
  everything else comes from the base method.

Keys: a new method gets new run keys (its name is part of them); the keys of the registered methods do not change.
Run ``tests/test_paper_harness.py`` (the smoke profile, every method) and ``tests/test_committed_runs.py`` (the
committed runs are still found).
"""

from .context import Context
from .estimate import estimate_runtime, measure_throughput
from .experiments import (
    EXPERIMENTS,
    SPEC_BUILDERS,
    SUMMARIZERS,
    family_groups,
    plan_runs,
    resolve_families,
    run,
    run_experiments,
    summarize,
)
from .fig4 import fig4_specs, summarize_fig4
from .fig5 import fig5_specs, summarize_fig5
from .learngenes import get_learngene, learngene_fingerprint, load_precomputed_learngene
from .methods import (
    ALL_METHODS,
    CONDENSE_EXTRA,
    CONDENSE_METHOD,
    DEFAULT_METHODS,
    MANUAL_METHODS,
    METHOD_COLORS,
    METHOD_LABELS,
    METHOD_REGISTRY,
    METHODS,
    NEW_METHODS,
    RECIPE_METHODS,
    Method,
    ancestry_classifier,
    base_method,
    build_run_model,
    ft,
    get_method,
    random_layer_indices,
    register_method,
    run_learngene,
    spec_learngene_key,
)
from .profiles import (
    DEFAULT_ANCESTRIES,
    DEFAULT_OUTPUT,
    DEFAULT_WORK_DIR,
    FAMILIES,
    FAMILY_LABELS,
    FAMILY_SETS,
    HOME_FAMILIES,
    PROFILES,
    REPO_ROOT,
    FamilyHParams,
    Profile,
    get_profile,
)
from .runs import (
    RunSpec,
    claim_run,
    identical_auto_spec,
    load_run,
    make_spec,
    method_specs,
    run_one,
    run_path,
    training_arguments,
)
from .smoke import synthetic_dataset, tiny_ancestry
from .table2 import summarize_fig3, summarize_table2, table2_specs
from .utils import portable_path, quiet_transformers, versions

__all__ = [
    "ALL_METHODS", "CONDENSE_EXTRA", "CONDENSE_METHOD", "DEFAULT_ANCESTRIES", "DEFAULT_METHODS", "DEFAULT_OUTPUT",
    "DEFAULT_WORK_DIR", "EXPERIMENTS", "FAMILIES", "FAMILY_LABELS", "FAMILY_SETS", "HOME_FAMILIES", "MANUAL_METHODS",
    "METHODS", "METHOD_COLORS", "METHOD_LABELS", "METHOD_REGISTRY", "NEW_METHODS", "PROFILES", "RECIPE_METHODS",
    "REPO_ROOT", "SPEC_BUILDERS", "SUMMARIZERS", "Context", "FamilyHParams", "Method", "Profile", "RunSpec",
    "ancestry_classifier", "base_method", "build_run_model", "claim_run", "estimate_runtime", "family_groups",
    "fig4_specs", "fig5_specs", "ft", "get_learngene", "get_method", "get_profile", "identical_auto_spec",
    "learngene_fingerprint", "load_precomputed_learngene", "load_run", "make_spec", "measure_throughput",
    "method_specs", "plan_runs", "portable_path", "quiet_transformers", "random_layer_indices", "register_method", "resolve_families", "run",
    "run_experiments", "run_learngene", "run_one", "run_path", "spec_learngene_key", "summarize", "summarize_fig3",
    "summarize_fig4", "summarize_fig5", "summarize_table2", "synthetic_dataset", "table2_specs", "tiny_ancestry",
    "training_arguments", "versions",
]
