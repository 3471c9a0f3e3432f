"""The version of hf_learngene, in one place (``setup.py`` reads it from this file without importing the package)."""

__version__ = "0.1.0"
