#!/usr/bin/env bash
# The scale issue's CUDA checks in one script, for a machine with an NVIDIA GPU (this project's CPU-only
# machine cannot run them): the CUDA tests (device placement, a tiny run on CUDA loading on the CPU, numerics,
# step counts), then the real loop's throughput per phase on CUDA, eager and compiled, at batch 128 and 512.
#     bash benchmarks/cuda_checks.sh [OUT_DIR]      # figures as JSON in OUT_DIR (default: results/cuda)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${1:-results/cuda}"
PY="${PY:-.venv/bin/python}"
mkdir -p "$OUT_DIR"
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: nothing to check')"
"$PY" -m pytest -q tests/search/test_device.py tests/search/test_numerics.py tests/search/test_step_counts.py \
  tests/search/test_ddp.py
for mode in budget strength; do
  for batch in 128 512; do
    PYTHONPATH=. "$PY" benchmarks/throughput.py --device cuda --mode "$mode" --batch "$batch" --steps 50 --repeats 3 \
      --out "$OUT_DIR/throughput_${mode}_b${batch}.json"
  done
done
PYTHONPATH=. "$PY" benchmarks/throughput.py --device cuda --mode budget --batch 128 --steps 50 --repeats 3 \
  --compile default --out "$OUT_DIR/throughput_budget_b128_compiled.json"
