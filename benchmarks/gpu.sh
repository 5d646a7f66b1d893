#!/usr/bin/env bash
# Every GPU measurement in one prepared run, for when a GPU is available (an NVIDIA H200: 15 minutes in all,
# machine start included, at most 10 per command). The default steps are sized for 5 minutes of wall time
# (docs/BENCHMARKS.md, "The GPU run"), leaving room for a rerun, which continues the same studies.
#
#   bash benchmarks/gpu_wheels.sh               # here, once: the wheels that machine lacks (benchmarks/wheels/)
#   WHEELS=benchmarks/wheels DATA=cifar10-jpeg.tar.gz RESULTS_DIR=$OUT bash benchmarks/gpu.sh        # there
#   SMOKE=1 DEVICE=cpu STEPS="install data model packing study" WHEELS=... DATA=tiny.tar.gz RESULTS_DIR=... \
#     bash benchmarks/gpu.sh                                                                     # CI: every step, tiny
#
# Steps (STEPS, default "install data fused"; "model" adds the training step against timm), each with
# its own time limit, so one that hangs or runs long costs the rest nothing; everything they print goes to
# $RESULTS_DIR/gpu.txt:
#   install  the wheels into a folder of their own (pip --no-index --no-deps --target), first on PYTHONPATH
#   data     the CIFAR-10 JPEG tarball (train/<class>/*.jpg, test/<class>/*.jpg) extracted
#   model    fp32, bf16, bf16 + channels_last (+ compile on a GPU) against timm, then the spectrum's cost (the
#            smoke run keeps bf16 + channels_last, the one that takes every flag's path)
#   packing  aggregate training images/s at 1, 2, 4, 8, 16 workers on the one device (benchmarks/packing.py)
#   study    the paper's four questions (+sweep=questions: docs/RESULTS.md's protocol, validation carved out of
#            the training images, scored on the 10,000 test images, seeds added until decided) on the whole of
#            CIFAR-10 at the best worker count
#   fused    images/s of K = 1, 2, 4, 8, 16 seeds fused against lone trials (benchmarks/fused.py), then the same
#            questions at 6 seeds a point (60 trials, 4 epochs), each point's seeds trained as one (sweep.fuse=6)
# The report (summary.md, PNGs, trials.csv, results.json) and the records (the study, every trial's summary.json
# and outcomes.npz) are packed into $RESULTS_DIR/reports.tar.gz: the results folder brings back at most 8 files.
set -uo pipefail

results=${RESULTS_DIR:-${OUT:-gpu-results}}
work=${WORK:-/tmp/xsearch-gpu}
device=${DEVICE:-cuda}
python=${PYTHON:-python3}
steps=" ${STEPS:-install data fused} "
mkdir -p "$results" "$work"
results=$(cd "$results" && pwd)
log="$results/gpu.txt"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
data="$work/cifar10-jpeg"
accelerator=$([ "$device" = cpu ] && echo cpu || echo gpu)

if [ -n "${SMOKE:-}" ]; then  # seconds per step on a CPU: checks every step runs, measures nothing
  size=(--smoke --rounds 1); spectrum=(--smoke); packing=(--smoke); workers=2
  tiny=(+trainer.limit_train_batches=2 +trainer.limit_val_batches=1 data.batch_size=16 model.width=0.125
        model.middle_depth=1 model.budget=null sweep.decide=false "sweep.space.seed=[0]"
        "sweep.points=[{model.segments:8},{model.segments:depthwise}]")  # 2 trials of 2 batches
  epochs=1; limits=(60 120 240 120 240)  # seconds: data, packing, study, fused scan, fused study
  scan=(--copies 1 2 --steps 2 --warmup 1 data.batch_size=16 model.width=0.125 model.middle_depth=1)
else
  size=(--size 299 --batch 64 --warmup 5 --steps 20 --rounds 2); spectrum=(--size 299 --batch 32 --width 1.0 --depth 8)
  packing=(--workers 1 2 4 8 16); workers=""; tiny=()
  # The 5-minute budget (docs/BENCHMARKS.md, "The GPU run"): data, packing and the study, 255 s, plus 15 s for the
  # wheels and 15 s for the import check: 285 s of limits.
  epochs=4; limits=(15 75 165 150 300)
  # The fused plan: the scan (2.5 minutes), then 60 trials of 4 epochs (10.8M training images: 216 s at the
  # 50,000 images/s aimed at) within 5 minutes; with the wheels, the data and the start, about 9 minutes.
  scan=(--copies 1 2 4 8 16 --steps 40 --warmup 5 trainer=gpu)
fi

failed=0
step() {  # step SECONDS COMMAND...: run it with a limit, keep its output in the log; the script's status says
  local limit=$1; shift  # whether any step failed
  echo "== $*" | tee -a "$log"
  # At its limit a step gets TERM: a sweep then stops its trials at their next batch boundary (well under a
  # second per batch on a GPU), keeps what finished and exits; KILL only if it has not within 30 s.
  timeout -k 30 "$limit" "$@" 2>&1 | tee -a "$log"
  local code=${PIPESTATUS[0]}
  if [ "$code" -ne 0 ]; then
    echo "!! exit $code (124: over ${limit} s)" | tee -a "$log"
    failed=1
  fi
  return "$code"
}
wants() { [[ "$steps" == *" $1 "* ]]; }

{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null; } | tee "$log"

if wants install; then
  deps="$work/site"
  mkdir -p "$deps"
  step 15 "$python" -m pip install --quiet --no-index --no-deps --upgrade --target "$deps" "${WHEELS:?WHEELS=<folder of wheels> (benchmarks/gpu_wheels.sh makes it)}"/*.whl
  export PYTHONPATH="$deps:$PYTHONPATH"
fi
# 15 s on the GPU machine's many cores; the smoke's, on 2 cores shared with a test run, may take several times that
step "$([ -n "${SMOKE:-}" ] && echo 60 || echo 15)" "$python" -c "import torch, pytorch_lightning, hydra, optuna, sqlalchemy, xsearch.app
print('torch', torch.__version__, 'lightning', pytorch_lightning.__version__, 'hydra', hydra.__version__,
      'optuna', optuna.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')"

if wants data; then
  mkdir -p "$data"
  step "${limits[0]}" tar -xzf "${DATA:?DATA=<the CIFAR-10 JPEG tarball>}" -C "$data"
  echo "images: $(find "$data/train" -name '*.jpg' | wc -l) train, $(find "$data/test" -name '*.jpg' | wc -l) test" | tee -a "$log"
fi

if wants model; then
  if [ -z "${SMOKE:-}" ]; then
    step 120 "$python" benchmarks/model.py --device "$device" "${size[@]}"
    step 120 "$python" benchmarks/model.py --device "$device" "${size[@]}" --bf16
  fi
  step 120 "$python" benchmarks/model.py --device "$device" "${size[@]}" --bf16 --channels-last
  if [ "$device" = cpu ]; then  # inductor compiles C++ for minutes on a small CPU: the smoke run leaves it out
    echo "== skipped on the CPU: --compile" | tee -a "$log"
  else
    step 240 "$python" benchmarks/model.py --device "$device" "${size[@]}" --bf16 --channels-last --compile --rounds 1
  fi
  step 120 "$python" benchmarks/spectrum.py --device "$device" "${spectrum[@]}"
fi

common=(data=imagefolder_memory "data.root=$data" "data.cache_dir=$work/cache" logger=csv
        "trainer.accelerator=$accelerator" "trainer.max_epochs=$epochs")
if wants packing; then
  step "${limits[1]}" "$python" benchmarks/packing.py --data-root "$data" --device "$device" "${packing[@]}" \
    --out "$work/sweeps/packing" --json "$results/packing.json" --set "data.cache_dir=$work/cache"
  # The study uses the best worker count the scan found (one per GPU where there is no scan).
  [ -n "$workers" ] || workers=$("$python" -c "import json; print(json.load(open('$results/packing.json'))['best']['workers'])" 2>/dev/null || echo 1)
fi

if wants study; then
  step "${limits[2]}" "$python" -m xsearch +sweep=questions sweep.name=questions_cifar10jpeg_gpu \
    "sweep.dir=$work/sweeps/questions" "sweep.workers=${workers:-1}" "${common[@]}" "${tiny[@]}"
  (cd "$work" && tar -czf "$results/reports.tar.gz" --ignore-failed-read sweeps/*/report sweeps/*/results.* \
    sweeps/*/study.db sweeps/*/trials/*/summary.json sweeps/*/trials/*/outcomes.npz 2>/dev/null)
  echo "== reports: $results/reports.tar.gz ($(du -h "$results/reports.tar.gz" | cut -f1))" | tee -a "$log"
fi
if wants fused; then
  step "${limits[3]}" "$python" benchmarks/fused.py "${scan[@]}" "trainer.accelerator=$accelerator"
  seeds=$([ -n "${SMOKE:-}" ] && echo "[0,1]" || echo "[0,1,2,3,4,5]")
  small=()  # the smoke's tiny settings, less its one seed: each point needs seeds to fuse
  for arg in "${tiny[@]}"; do [[ "$arg" == sweep.space.seed=* || "$arg" == sweep.decide=* ]] || small+=("$arg"); done
  step "${limits[4]}" "$python" -m xsearch +sweep=questions sweep.name=questions_fused_gpu \
    "sweep.dir=$work/sweeps/questions_fused" "sweep.space.seed=$seeds" sweep.decide=false sweep.fuse=6 \
    sweep.workers=1 "${common[@]}" "${small[@]}"
  (cd "$work" && tar -czf "$results/fused.tar.gz" --ignore-failed-read sweeps/questions_fused/report \
    sweeps/questions_fused/results.* sweeps/questions_fused/study.db sweeps/questions_fused/trials/*/summary.json \
    sweeps/questions_fused/trials/*/outcomes.npz 2>/dev/null)
fi
echo "== done: $log$([ "$failed" -eq 0 ] || echo ' (a step failed or ran past its limit: see !! above)')" | tee -a "$log"
exit "$failed"
