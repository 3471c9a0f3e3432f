"""hf_learngene: Learngene (condense an ancestry model, inherit its layers) for Hugging Face."""

__version__ = "0.1.0"
