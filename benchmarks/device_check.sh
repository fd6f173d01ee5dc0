#!/usr/bin/env bash
# One prepared GPU check of the whole DiT path (issue 16), in at most 5 minutes on one GPU:
#   1. benchmarks/dit_xl.py --json   (coupled DiT-XL/2 forward: pairs*steps/s, ratios, % of matmul peak,
#      P2's projected time, and its gap precision projected from the FHGM-DiT on the CPU)
#   2. syncgap dit measure, Protocol I and Protocol II, on cuda (bf16) with the random DiT-XL/2-shaped model
#      (Protocol II from an original-format .pt file of that shape: the checkpoint conversion at full size)
#   3. syncgap validate --quick --suites dit on cuda with that model (a smoke test: the findings of a
#      random model mean nothing, and the report says so in its first lines)
# Everything (JSON, logs, status.json with each step's exit status and seconds) goes into ONE archive,
# DIR/device_check-<mode>-<UTC time>.tar.gz (few files come back from a GPU machine).
#
#   bash benchmarks/device_check.sh DIR               # on a GPU machine
#   bash benchmarks/device_check.sh DIR --cpu-smoke   # the same steps at toy size on a CPU (<= 3 min)
#
# GPU machine without diffusers (the lent H200 image has torch but not diffusers): carry wheels in
# .whl/ (gitignored). Prepare them once, here, in the repository root (README "GPU check" section):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl diffusers==0.42.1
# and run with the tool's carry [".whl"]: `bash benchmarks/device_check.sh $OUT`.
# Exit status: 0 when every step succeeded, 1 otherwise (status.json says which), 2 on bad usage.
# A measure step on the random model may exit 3 (syncgap's "nothing measurable": no scale commits
# with random weights); that counts as success, any other non-zero status does not.
set -u
usage="usage: bash benchmarks/device_check.sh DIR [--cpu-smoke]"
DIR=${1:-}
MODE=${2:-gpu}
if [ -z "$DIR" ] || { [ "$MODE" != gpu ] && [ "$MODE" != --cpu-smoke ]; } || [ $# -gt 2 ]; then
  echo "$usage" >&2; exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# the interpreter: $PYTHON, else this checkout's .venv (make setup), else python3 (the GPU image's torch)
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON; elif [ -x "$ROOT/.venv/bin/python" ]; then PY=$ROOT/.venv/bin/python; else PY=python3; fi
mkdir -p "$DIR" || { echo "device_check: cannot create $DIR" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/syncgap-device-check.XXXXXX")
export PYTHONUNBUFFERED=1

if [ "$MODE" = --cpu-smoke ]; then
  TAG=cpu-smoke DEVICE=cpu DTYPE=fp32 MODEL=random:DiT-S/2-64-d2
  BENCH=(--small --device cpu --pairs 2 --repeat 2 --matmul-n 512 --precision --precision-pairs 4 --precision-steps 10)
  STEPS=4 PAIRS=2 TINT=0,1,2,3,4
  # one thread: on a shared CPU, spinning OpenMP threads made each small matmul 10x slower (load 8 on 2 cores)
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
else
  TAG=gpu DEVICE=cuda DTYPE=bf16 MODEL=random:DiT-XL/2
  BENCH=(--device cuda --pairs 64 --repeat 10 --precision)
  STEPS=50 PAIRS=8 TINT=0,5,10,15,20,25,30,35,40,45,50
  if ! "$PY" -c "import diffusers" 2>/dev/null; then  # wheels carried in .whl/ (see above)
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
      "$ROOT"/.whl/*.whl >"$WORK/install.log" 2>&1 || { echo "device_check: wheel install failed" >&2; }
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  fi
fi
if ! "$PY" -c "import syncgap.dit_bridge.registry" 2>/dev/null; then
  # install this checkout without touching dependencies; else expose its folders as the syncgap namespace
  if ! "$PY" -m pip install -q --no-deps --no-build-isolation -e "$ROOT" >>"$WORK/install.log" 2>&1; then
    mkdir -p /tmp/syncgap-src/syncgap
    for p in theory ou_models dit_bridge validation; do ln -sfn "$ROOT/$p" "/tmp/syncgap-src/syncgap/$p"; done
    export PYTHONPATH=/tmp/syncgap-src${PYTHONPATH:+:$PYTHONPATH}
  fi
fi
SYNCGAP=("$PY" -m syncgap.validation.cli.main)

STATUS="$WORK/status.tsv"
: >"$STATUS"
step() {  # step NAME CMD...: stdout -> NAME.json, stderr -> NAME.log, exit status and seconds -> status.tsv
  local name=$1; shift
  local t0 rc
  t0=$(date +%s%N)
  "$@" >"$WORK/$name.json" 2>"$WORK/$name.log"
  rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(( ($(date +%s%N) - t0) / 1000000 ))" >>"$STATUS"
  echo "device_check: $name exit $rc" >&2
}

cat >"$WORK/NOTE.txt" <<EOF
syncgap device check ($TAG), $(date -u +%Y-%m-%dT%H:%M:%SZ), model $MODEL on $DEVICE ($DTYPE).
The model has RANDOM weights: every finding, gap and check in this archive is a smoke test of the code
path and means nothing about DiT-XL/2. Only the benchmark's timings (bench.json) are figures of record.
EOF
"$PY" -c "import torch,sys; print(sys.version); print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')" >"$WORK/env.txt" 2>&1
nvidia-smi >>"$WORK/env.txt" 2>&1 || true

step bench "$PY" "$ROOT/benchmarks/dit_xl.py" --json "${BENCH[@]}"
step protocol1 "${SYNCGAP[@]}" dit measure --model "$MODEL" --device "$DEVICE" --dtype "$DTYPE" --protocol I \
  --g 0,0.5 --steps "$STEPS" --pairs "$PAIRS" --t-int "$TINT" --n-boot 50 --json --out "$WORK/protocol1-run"
# Protocol II runs the same shape from an original-format file (facebookresearch/DiT key names, random
# values), so the checkpoint conversion runs at full size too; the file stays out of the archive.
CKPT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/syncgap-ckpt.XXXXXX")
CKPT="$CKPT_DIR/DiT-random-original.pt"
step checkpoint "$PY" -c "
import sys, torch
from syncgap.dit_bridge.checkpoints import original_shapes, random_config
gen = torch.Generator().manual_seed(0)
state = {k: 0.02 * torch.randn(s, generator=gen) for k, s in original_shapes(random_config(sys.argv[1])).items()}
torch.save(state, sys.argv[2])
print('{\"tensors\": %d, \"parameters\": %d}' % (len(state), sum(v.numel() for v in state.values())))
" "$MODEL" "$CKPT"
step protocol2 "${SYNCGAP[@]}" dit measure --model "$CKPT" --device "$DEVICE" --dtype "$DTYPE" --protocol II \
  --g 0.5 --steps "$STEPS" --pairs "$PAIRS" --json --out "$WORK/protocol2-run"
rm -rf "$CKPT_DIR"
step validate "${SYNCGAP[@]}" validate --quick --suites dit --model "$MODEL" --device "$DEVICE" \
  --out "$WORK/validate" --json

"$PY" - "$STATUS" "$WORK/status.json" <<'EOF'
import json, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
records = [{"step": n, "exit_status": int(rc), "seconds": round(int(s) / 1000, 2)} for n, rc, s in rows]
json.dump({"schema": "syncgap.bench.device_check/1", "meta": {"note": open(sys.argv[1].rsplit("/", 1)[0]
          + "/NOTE.txt").read().strip()}, "records": records,
           "summary": {"all_ok": all(r["exit_status"] == 0 or (r["exit_status"] == 3 and r["step"].startswith("protocol"))
                                     for r in records),   # 3: nothing measurable on random weights (README)
                       "seconds": round(sum(r["seconds"] for r in records), 2)}}, open(sys.argv[2], "w"), indent=2)
EOF
rm -f "$STATUS"
ARCHIVE="$DIR/device_check-$TAG-$(date -u +%Y%m%dT%H%M%SZ).tar.gz"
tar czf "$ARCHIVE" -C "$WORK" . && rm -rf "$WORK"
echo "device_check: wrote $ARCHIVE" >&2
grep -q '"all_ok": true' <(tar xzOf "$ARCHIVE" ./status.json) && exit 0 || exit 1
