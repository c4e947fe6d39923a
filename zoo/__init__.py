"""The model zoo and the data sets: what a search trains on. Needs nothing of the search.

    from zoo import create_model, load_dataset
    model = create_model("resnet8", 10, (3, 32, 32))

Importing the package registers every zoo model (zoo/models.py, zoo/models_cifar.py) and data set.
"""

from zoo import datasets, models, models_cifar  # noqa: F401  (register the zoo's models and data sets)
from zoo.data import dataset_names, load_dataset, register_dataset
from zoo.registry import MODELS, ModelEntry, create_model, model_entry, model_names, register_model

__all__ = [
    "MODELS",
    "ModelEntry",
    "create_model",
    "dataset_names",
    "load_dataset",
    "model_entry",
    "model_names",
    "register_dataset",
    "register_model",
]
