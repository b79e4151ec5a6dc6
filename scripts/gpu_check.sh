#!/usr/bin/env bash
# The checks that need a CUDA GPU, as one script (about 4 minutes on an H200):
#   1. `python -m v2v bench` of the real 1.3B architecture at 832x480 in bfloat16, with random weights
#      (they time the same as trained ones): CausVid's student with the Wan2.1 VAE and with the TinyVAE, and
#      StreamDiffusionV2's one-frame blocks;
#   2. the test suite's v2v part with CUDA visible: the CUDA training path
#      (test_every_stage_trains_on_cuda_and_the_bundle_runs_on_the_cpu) and the flex/flash attention backends
#      against SDPA.
# Needs torch with CUDA, numpy, safetensors, opencv and pytest (not PyAV: the capture tests are not run).
#   scripts/gpu_check.sh [OUT_DIR]     # env.txt, tests.txt, bench.txt, bench.jsonl in OUT_DIR (default out/gpu_check)
# A dry run of the bench part on the CPU: SKIP_TESTS=1 DEVICE=cpu BENCH_ARGS="--size 64x64" scripts/gpu_check.sh
set -u
out=${1:-${OUT:-out/gpu_check}}
mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
device=${DEVICE:-cuda}
tmp=$(mktemp -d)
: >"$out/bench.jsonl"

{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  $py -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
  $py -c "from v2v.models.attention import available_backends as a; print('attention backends:', a())"
} 2>&1 | tee "$out/env.txt"


bench() {  # NAME ARGS...: one bench run, a line of JSON in bench.jsonl
  local name=$1; shift
  echo "== bench $name: $*"
  # shellcheck disable=SC2086
  timeout 150 $py -m v2v bench --device "$device" --json "$@" ${BENCH_ARGS:-} >"$tmp/r.json" 2>"$tmp/r.err"
  echo "exit status $?"; tail -3 "$tmp/r.err"
  $py - "$tmp/r.json" "$name" "$*" "$out/bench.jsonl" <<'EOF'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except ValueError:
    sys.exit(print("no result"))
with open(sys.argv[4], "a") as f:
    f.write(json.dumps({"name": sys.argv[2], "args": sys.argv[3], **r}) + "\n")
s = r["stages_ms"]
print(f"  {r['model']} {r['size'][0]}x{r['size'][1]} {r['frames']} frames, {r['chunks']} chunks: "
      f"{r['sustained_fps']:.1f} FPS, first frame {r['first_frame_latency_ms']:.0f} ms; per chunk ms: "
      + ", ".join(f"{k.removesuffix('_ms')} {v:.1f}" for k, v in s.items()))
EOF
}
{
  bench causvid_cold --model random:causvid-1.3b --frames 49
  bench causvid --model random:causvid-1.3b --frames 49 --warmup 9
  bench causvid_fast --model random:causvid-1.3b --frames 49 --warmup 9 --steps 2 --no-clean-pass
  bench causvid_tinyvae --model random:causvid-1.3b-tinyvae --frames 49 --warmup 9
  bench sdv2_tinyvae --model random:sdv2-1.3b-tinyvae --frames 49 --warmup 9
  bench sdv2_tinyvae_fast --model random:sdv2-1.3b-tinyvae --frames 49 --warmup 9 --steps 2 --no-clean-pass
  bench causvid_compiled --model random:causvid-1.3b --frames 49 --warmup 25 --compile
  bench causvid_tinyvae_compiled --model random:causvid-1.3b-tinyvae --frames 49 --warmup 25 --compile
  bench sdv2_tinyvae_compiled --model random:sdv2-1.3b-tinyvae --frames 49 --warmup 49 --compile
} 2>&1 | tee "$out/bench.txt"

if [ -z "${SKIP_TESTS:-}" ]; then
  timeout 300 $py -m pytest -p no:cacheprovider -rs -q tests/v2v 2>&1 | tee "$out/tests.txt"
  echo "tests exit status: ${PIPESTATUS[0]}" | tee -a "$out/tests.txt"
fi
