#!/usr/bin/env bash
# Every GPU figure docs/BENCHMARKS.md asks for, in one run, for when a GPU is available:
#
#   bash benchmarks/gpu.sh                      # on the GPU machine (sized for ~6 min on an H200); tables in $OUT/gpu.txt
#   SMOKE=1 DEVICE=cpu bash benchmarks/gpu.sh   # here, in a minute: checks every step but compile runs
#
# Train step against timm's legacy_xception at 299x299, batch 64: fp32, bf16-mixed, bf16 + channels_last,
# bf16 + channels_last + torch.compile; then the spectrum's cost against speed at full width. Needs torch,
# timm and the repository on PYTHONPATH, which the H200 image has (it lacks Hydra, so the script needs no
# `python -m xsearch`). Each step has its own time limit, so one that hangs costs the rest nothing.
set -uo pipefail

out=${OUT:-gpu-results}
mkdir -p "$out"
log="$out/gpu.txt"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
device=${DEVICE:-cuda}
python=${PYTHON:-python3}
if [ -n "${SMOKE:-}" ]; then
  size=(--smoke); spectrum=(--smoke)
else
  size=(--size 299 --batch 64 --warmup 5 --steps 20); spectrum=(--size 299 --batch 32 --width 1.0 --depth 8)
fi

step() {  # step SECONDS COMMAND...: run it with a limit, keep its output in the log
  local limit=$1; shift
  echo "== $*" | tee -a "$log"
  timeout "$limit" "$@" 2>&1 | tee -a "$log"
  local code=${PIPESTATUS[0]}
  [ "$code" -eq 0 ] || echo "!! exit $code (124: over ${limit} s)" | tee -a "$log"
}

{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null; } | tee "$log"
step 60 "$python" -c "import torch, timm; print('torch', torch.__version__, 'timm', timm.__version__,
      torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')"
step 120 "$python" benchmarks/model.py --device "$device" "${size[@]}" --rounds 2
step 120 "$python" benchmarks/model.py --device "$device" "${size[@]}" --rounds 2 --bf16
step 120 "$python" benchmarks/model.py --device "$device" "${size[@]}" --rounds 2 --bf16 --channels-last
if [ "$device" = cpu ]; then  # inductor compiles C++ for minutes on a small CPU: the smoke run leaves it out
  echo "== skipped on the CPU: --compile" | tee -a "$log"
else
  step 240 "$python" benchmarks/model.py --device "$device" "${size[@]}" --rounds 1 --bf16 --channels-last --compile
fi
step 120 "$python" benchmarks/spectrum.py --device "$device" "${spectrum[@]}"
echo "== done: $log" | tee -a "$log"
