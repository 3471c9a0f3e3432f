"""Exceptions raised by hf_learngene. All are `ValueError`s so callers can catch them broadly."""


class LearngeneError(ValueError):
    """Something about a learngene, an ancestry or a descendant request is wrong; the message says the fix."""


class UnsupportedArchitectureError(LearngeneError):
    """The model is not one of the supported architecture families."""


class LearngeneConfigError(LearngeneError):
    """A :class:`~hf_learngene.LearngeneConfig` field has a wrong type or value."""


class UnsafeWeightsError(LearngeneError):
    """A checkpoint only offers pickled weights (``.bin``/``.pt``); hf_learngene loads safetensors only."""


class HubPushError(LearngeneError):
    """A push to the Hub failed; the message says whether anything was committed and what to do next."""
