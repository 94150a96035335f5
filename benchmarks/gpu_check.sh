#!/usr/bin/env bash
# One prepared run for a machine with an NVIDIA GPU and CuPy (no network, no mlxtend
# needed): the CuPy parity and fused-kernel tests, the reference run on CuPy, and the
# benchmark tables with minifa on CuPy beside NumPy. Run from the repository root with
# the four MNIST .gz files copied into .data/mnist (git-ignored):
#
#     mkdir -p .data/mnist && cp DIR/*.gz .data/mnist/   (DIR: your folder of the four MNIST files)
#     bash benchmarks/gpu_check.sh [OUTPUT_FOLDER]
set -euo pipefail
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
out=${1:-${OUT:-/tmp/minifa-gpu-check}}
mkdir -p "$out"
data=.data/mnist
nvidia-smi -L | tee "$out/gpu.txt"
python -m pytest -q -rs tests/test_backend.py 2>&1 | tee "$out/tests.txt"
python examples/mnist.py --backend cupy --data-dir "$data" --rule fa --csv "$out/fa-cupy.csv" \
    2>&1 | tee "$out/fa-cupy.txt"
python benchmarks/compare_torch.py --data-dir "$data" --epochs 5 --no-memory \
    --only minifa minifa-cupy 2>&1 | tee "$out/epochs.txt"
python benchmarks/compare_torch.py --data-dir "$data" --scaling \
    --only minifa minifa-cupy 2>&1 | tee "$out/scaling.txt"
for batch in 64 256 1024 4096; do  # the three speed tables, minifa on CuPy beside NumPy
    python benchmarks/speed.py --data-dir "$data" --backend cupy --batch "$batch" --rounds 3 \
        2>&1 | tee "$out/speed-batch$batch.txt"
done
