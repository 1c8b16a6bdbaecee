#!/usr/bin/env bash
# One GPU session (see benchmarks/RESULTS.md): install the carried wheels, run the throughput benchmark on
# cuda in fp32 and bf16-mixed, and fit+test the demo config on a Trento-size scene in fp32 and bf16-mixed.
# Each stage has its own time limit so partial results still come back. Everything lands in $OUT:
#   RESULTS.md (benchmark sections), summary.md (stage times), all.log, bench_*.json, demo_*_metrics.json.
# Local dry run of the non-GPU parts:
#   DEVICE=cpu ACC=cpu QUICK=--quick DEMO_EXTRA='--config configs/overlays/debug.yaml' OUT=/tmp/g bash benchmarks/gpu_check.sh
set -uo pipefail
OUT=${OUT:-/tmp/gpu_check}; mkdir -p "$OUT"
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}; ACC=${ACC:-gpu}; QUICK=${QUICK:-}; DEMO_EXTRA=${DEMO_EXTRA:-}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 WANDB_MODE=disabled MMLGNET_CACHE=${MMLGNET_CACHE:-/tmp/mmlgnet-cache}
LOG=$OUT/all.log; SUM=$OUT/summary.md
if ! $PY -c "import open_clip, jsonargparse, pooch, ftfy, docstring_parser, typeshed_client" 2>/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
{ date -u; nvidia-smi 2>&1 | head -15; $PY -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__, 'cuda', torch.cuda.is_available())"; } >>"$LOG" 2>&1
cp benchmarks/RESULTS.md "$OUT/RESULTS.md" 2>/dev/null || true
printf '| stage | exit | seconds |\n| --- | ---: | ---: |\n' >"$SUM"

stage() {  # stage NAME LIMIT_S CMD...
  local name=$1 limit=$2; shift 2
  echo "===== $name: $*" >>"$LOG"
  local t0; t0=$(date +%s%N)
  timeout "$limit" "$@" >>"$LOG" 2>&1; local rc=$?
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  printf '| %s | %s | %d.%03d |\n' "$name" "$rc" $((ms / 1000)) $((ms % 1000)) >>"$SUM"
  tail -3 "$LOG"
}

stage bench_fp32 200 $PY benchmarks/throughput.py --device "$DEVICE" --precision 32 $QUICK \
  --out "$OUT/RESULTS.md" --json "$OUT/bench_fp32.json"
stage bench_bf16 80 $PY benchmarks/throughput.py --device "$DEVICE" --precision bf16-mixed $QUICK --scenes trento \
  --out "$OUT/RESULTS.md" --json "$OUT/bench_bf16.json"
for prec in ${DEMO_PRECISIONS-32-true bf16-mixed}; do
  rm -rf /tmp/runs_$prec
  stage "demo_$prec" 75 $PY -m mmlgnet fit --config configs/demo.yaml $DEMO_EXTRA \
    --data.synthetic_height 166 --data.synthetic_width 600 --data.split fraction:0.3 \
    --data.batch_size 256 --data.eval_batch_size 8192 --trainer.max_epochs 5 \
    --trainer.accelerator "$ACC" --trainer.precision "$prec" --test_after_fit true \
    --trainer.logger lightning.pytorch.loggers.CSVLogger --trainer.logger.init_args.save_dir /tmp/runs_$prec
  m=$(find /tmp/runs_$prec -name test_metrics.json | head -1)
  [ -n "$m" ] && cp "$m" "$OUT/demo_${prec}_metrics.json"
  c=$(find /tmp/runs_$prec -name metrics.csv | head -1)
  [ -n "$c" ] && { echo "--- $c (last lines)"; tail -4 "$c"; } >>"$LOG"
done
cat "$SUM"
