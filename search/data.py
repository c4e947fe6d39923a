"""Moved to `zoo.data` (bitgate 0.2); this re-export keeps the documented import working for one release."""

from zoo.data import *  # noqa: F403
from zoo.data import batches, dataset_names, load_dataset  # noqa: F401
