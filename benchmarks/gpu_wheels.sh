#!/usr/bin/env bash
# The wheels benchmarks/gpu.sh installs on a GPU machine that already has torch, Lightning, torchmetrics, timm,
# scipy, scikit-learn and matplotlib but can download nothing: exactly the packages xsearch still needs there
# with logger=csv, at the versions this checkout is tested with, for CPython 3.12 on x86-64 Linux.
#
#   bash benchmarks/gpu_wheels.sh [DEST]    # default benchmarks/wheels/ (git-ignored); about 5.7 MB
#   WHEELS=benchmarks/wheels DATA=... bash benchmarks/gpu.sh   # then, on the GPU machine
set -euo pipefail
dest=${1:-benchmarks/wheels}
python=${PYTHON:-python3}
mkdir -p "$dest"
version() { "$python" -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "$1"; }

specs=()
for name in hydra-core omegaconf optuna sqlalchemy alembic mako colorlog; do
  specs+=("$name==$(version "$name")")
done
"$python" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --abi cp312 --abi abi3 --abi none --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$dest" "${specs[@]}"
# Hydra's parser runtime is published as a source archive only: built here into a wheel (pure Python).
"$python" -m pip wheel --quiet --no-deps --no-build-isolation -w "$dest" \
  "antlr4-python3-runtime==$(version antlr4-python3-runtime)"
ls -1 "$dest"
du -sh "$dest"
