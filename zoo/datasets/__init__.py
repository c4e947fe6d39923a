"""Built-in data set loaders; importing this package registers them with `zoo.data`."""

from zoo.datasets import digits, images, speech, synthetic, tinyimagenet  # noqa: F401

__all__ = ["digits", "images", "speech", "synthetic", "tinyimagenet"]
