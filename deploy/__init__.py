"""Integer export of materialized networks: ONNX (QDQ), C header + JSON manifest, numpy reference.

    from deploy import export
    report = export(small, calibration_batch, "out/", formats="all", target="stm32l4", arch=arch)

`deploy.interpreter` runs an exported model.json + model.bin on integer inputs.
"""

from deploy.api import FORMATS, ExportReport, FlashOverflowWarning, IntegerModel, export, to_integer

__all__ = ["FORMATS", "ExportReport", "FlashOverflowWarning", "IntegerModel", "export", "to_integer"]
