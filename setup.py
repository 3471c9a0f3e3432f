"""Packaging for hf_learngene."""

import re
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent


def read_version() -> str:
    """``__version__`` of ``hf_learngene/version.py``, read without importing the package (its dependencies may be
    missing at build time)."""
    text = (ROOT / "hf_learngene" / "version.py").read_text(encoding="utf-8")
    match = re.search(r"^__version__ = [\"']([^\"']+)[\"']", text, re.MULTILINE)
    if match is None:
        raise RuntimeError("hf_learngene/version.py defines no __version__")
    return match.group(1)


class BuildWithCards(build_py):
    """Ship the model card templates of the top-level ``hub_cards/`` inside the package (``hf_learngene/hub_cards``).

    ``MANIFEST.in`` puts ``hub_cards/`` into the sdist, so a wheel built from the sdist gets them as well; a build
    without them fails instead of producing a package that cannot write model cards.
    """

    def run(self) -> None:
        super().run()
        templates = sorted((ROOT / "hub_cards").glob("*.md"))
        if not templates:
            raise RuntimeError(f"No model card templates in {ROOT / 'hub_cards'}: the sdist lacks them (MANIFEST.in).")
        target = Path(self.build_lib) / "hf_learngene" / "hub_cards"
        target.mkdir(parents=True, exist_ok=True)
        for template in templates:
            shutil.copy2(template, target / template.name)


setup(
    name="hf_learngene",
    version=read_version(),
    description="Learngene for the Hugging Face ecosystem: condense a pretrained ancestry model into a "
    "few integral layers and let small descendant models inherit them.",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8") if (ROOT / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["hf_learngene", "hf_learngene.*"]),
    package_data={"hf_learngene": ["py.typed", "experiments/metric_modules/*/*.py"]},
    cmdclass={"build_py": BuildWithCards},
    install_requires=[
        "torch>=2.1",
        "transformers>=5.0,<6",
        "huggingface_hub>=2.0,<3",
        "datasets>=5.0,<6",
        "accelerate>=1.10,<2",
        "safetensors>=0.4",
        "matplotlib>=3.7",
        "numpy>=1.24",
        "pillow>=10",
        "tqdm>=4.60",
    ],
    extras_require={
        "dev": ["pytest>=8", "ruff>=0.5", "build>=1.0", "evaluate>=0.4,<0.5"],
        # compute_metrics with `evaluate` (examples/finetune_descendant.py --metric_name); without it: numpy accuracy
        "evaluate": ["evaluate>=0.4,<0.5"],
        # timm checkpoints as ancestries and descendants (hf_learngene/families/timm_*.py): the timm major
        # version the tests run with (TIMM_REQUIREMENT in hf_learngene/families/timm_base.py).
        "timm": ["timm>=1.0.31,<2"],
    },
    entry_points={"console_scripts": ["learngene=hf_learngene.cli:main"]},
)
