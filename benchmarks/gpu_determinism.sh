#!/usr/bin/env bash
# GPU determinism check (one device session): the Trento-size demo fit + test three times on cuda,
# twice with trainer.deterministic=true and once without, same seed; prints whether the test metrics and the
# final weights are bit-identical. Results land in $OUT (determinism.md, all.log).
set -uo pipefail
OUT=${OUT:-/tmp/gpu_det}; mkdir -p "$OUT"
PY=${PY:-python3}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 WANDB_MODE=disabled MMLGNET_CACHE=/tmp/mmlgnet-cache
if ! $PY -c "import open_clip, jsonargparse, pooch, ftfy, docstring_parser, typeshed_client" 2>/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PYTHONPATH
fi
run() {  # run NAME DETERMINISTIC
  rm -rf "/tmp/det_$1"
  timeout 120 $PY -m mmlgnet fit --config configs/demo.yaml --trainer.accelerator gpu \
    --trainer.logger '{"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": "/tmp/det_'"$1"'", "name": "d"}}' \
    --data.synthetic_height 166 --data.synthetic_width 600 --data.split fraction:0.3 --data.batch_size 256 \
    --data.eval_batch_size 8192 --trainer.max_epochs 3 --trainer.deterministic "$2" --seed_everything 0 >>"$OUT/all.log" 2>&1
  echo "$1 rc=$?" >>"$OUT/all.log"
}
run a true; run b true; run c false
$PY - <<'PY' >"$OUT/determinism.md" 2>>"$OUT/all.log"
import json, glob, torch
def load(n):
    m = json.load(open(glob.glob(f"/tmp/det_{n}/**/test_metrics.json", recursive=True)[0]))
    sd = torch.load(glob.glob(f"/tmp/det_{n}/**/last.ckpt", recursive=True)[0], map_location="cpu", weights_only=False)["state_dict"]
    return m, sd
def diff(x, y):
    (ma, sa), (mb, sb) = x, y
    wmax = max(float((sa[k].double() - sb[k].double()).abs().max()) for k in sa if sa[k].is_floating_point())
    cm_same = ma["confusion_matrix"] == mb["confusion_matrix"]
    return f"OA {ma['OA']:.4f} vs {mb['OA']:.4f}, confusion identical: {cm_same}, max |Δ weight| = {wmax:.3g}"
a, b, c = load("a"), load("b"), load("c")
print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
print(f"- deterministic=true, run 1 vs run 2: {diff(a, b)}")
print(f"- deterministic=true vs deterministic=false: {diff(a, c)}")
PY
cat "$OUT/determinism.md"; tail -5 "$OUT/all.log"
