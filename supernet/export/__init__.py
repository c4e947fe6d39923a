"""Integer export of materialized networks: ONNX (QDQ), C header + JSON manifest, numpy reference."""
