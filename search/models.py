"""Moved to `zoo.models` (bitgate 0.2); this re-export keeps the documented import working for one release."""

from zoo.models import *  # noqa: F403
from zoo.registry import create_model, model_names, register_model  # noqa: F401
