#!/usr/bin/env bash
# The GPU check, in one command on a machine with an NVIDIA GPU, PyTorch (CUDA), nvcc, CMake and
# ninja, and what scripts/gpu-prepare.sh put into .gpu/ (carried there: no network, no -dev
# packages). It
#   1. unpacks .gpu/deps.tar.xz and builds the encoder-only Vista (VISTA_ENCODER_ONLY) against
#      the PyTorch wheel's libtorch (torch.utils.cmake_prefix_path);
#   2. runs the CUDA golden tests (fp32 >= 0.99999, bf16/fp16 >= 0.999 cosine) and the device
#      tests;
#   3. runs `vista bench encoder --random base --device cuda` at batch 1, 64 and 256 in fp32 and
#      bf16 (the batch-1 run gives the short-text latency);
#   4. runs the plain-PyTorch baseline (benchmarks/pytorch_baseline.py) on the same card in the
#      same run, after checking its vectors against the golden ones;
#   5. prints one JSON summary (also written to $OUT/gpu-check.json when OUT is set).
#
#   scripts/gpu-check.sh                  on the GPU machine
#   scripts/gpu-check.sh --cpu-rehearsal  here: the same steps against Debian's CPU libtorch and
#                                         the tiny model (CUDA tests skip; no PyTorch baseline)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MODE=device
[[ ${1:-} == --cpu-rehearsal ]] && MODE=cpu
RESULTS=${OUT:-$ROOT/.gpu-work/out}
mkdir -p "$RESULTS"
LOG=$RESULTS/gpu-check.log
: >"$LOG"
JOBS=$(nproc)
[[ $MODE == cpu ]] && JOBS=2
log() { echo "gpu-check: $*" | tee -a "$LOG" >&2; }
fail() { log "FAILED: $*"; exit 1; }
[[ -f .gpu/deps.tar.xz && -d .gpu/golden ]] || fail ".gpu/ is missing: run scripts/gpu-prepare.sh first (and carry .gpu)"

# 1. Dependencies and the build.
DEPS=${VISTA_GPU_DEPS:-/tmp/vista-gpu-deps}
rm -rf "$DEPS" && mkdir -p "$DEPS"
tar -C "$DEPS" -xJf .gpu/deps.tar.xz || fail "unpacking .gpu/deps.tar.xz"
grep -rl '@VISTA_DEPS_PREFIX@' "$DEPS" 2>/dev/null | xargs -r sed -i "s#@VISTA_DEPS_PREFIX@#$DEPS#g"
LIBDIR=$DEPS/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PKG_CONFIG_LIBDIR=$LIBDIR/pkgconfig:$DEPS/usr/share/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$DEPS
export VISTA_GOLDEN_DIR=$ROOT/.gpu/golden
PREFIXES="$DEPS/usr"
if [[ $MODE == device ]]; then
  TORCH_PREFIX=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)') || fail "python3 has no torch"
  PREFIXES="$TORCH_PREFIX;$PREFIXES"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >"$RESULTS/gpu.txt" 2>&1
  log "GPU: $(cat "$RESULTS/gpu.txt"); torch $(python3 -c 'import torch; print(torch.__version__)')"
fi
# The rehearsal compiles as C++20, as recent libtorch headers require (CMakeLists.txt chooses it
# by the libtorch version on the GPU machine).
CXX20=()
[[ $MODE == cpu ]] && CXX20=(-DCMAKE_CXX_STANDARD=20)
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
BUILD=$ROOT/build-gpu-$MODE
log "configuring $BUILD"
start=$(date +%s)
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVISTA_ENCODER_ONLY=ON \
  -DVISTA_BUILD_BENCHMARKS=OFF -DVISTA_WITH_ONEDNN=OFF -DCMAKE_PREFIX_PATH="$PREFIXES" \
  -DPKG_CONFIG_EXECUTABLE="$DEPS/usr/bin/pkgconf" -DVISTA_GOLDEN_DIR="$VISTA_GOLDEN_DIR" \
  "${CXX20[@]}" >>"$LOG" 2>&1 || { tail -30 "$LOG" >&2; fail "configure (see $LOG)"; }
log "building (-j$JOBS)"
cmake --build "$BUILD" -j "$JOBS" --target vista encoder_test network_test device_test embed_cli_test \
  >>"$LOG" 2>&1 || { tail -40 "$LOG" >&2; fail "build (see $LOG)"; }
build_seconds=$(($(date +%s) - start))
VISTA=$BUILD/vista
export VISTA_BINARY=$VISTA
"$VISTA" info | tee -a "$LOG" >&2
"$VISTA" info --json >"$RESULTS/info.json"

# 2. Tests (each binary's own summary goes to the log; pass/fail into the summary).
TESTS_JSON="{"
run_test() {  # name, binary, filter
  local name=$1 binary=$2 filter=$3
  log "test $name ($filter)"
  "$BUILD/tests/$binary" --gtest_filter="$filter" --gtest_brief=0 >"$RESULTS/$name.txt" 2>&1
  local rc=$?
  grep -E '^\[ *(PASSED|FAILED|SKIPPED) *\]|golden vectors|Skipped|Failure' "$RESULTS/$name.txt" | head -40 | tee -a "$LOG" >&2
  TESTS_JSON+="\"$name\": {\"exit\": $rc, \"passed\": $(grep -c '^\[       OK \]' "$RESULTS/$name.txt"), \"skipped\": $(grep -cE '^\[  SKIPPED \] .* \([0-9]+ ms\)$' "$RESULTS/$name.txt"), \"failed\": $(grep -cE '^\[  FAILED  \] .* \([0-9]+ ms\)$' "$RESULTS/$name.txt")},"
}
run_test network_cuda network_test '*Cuda*:*DevicePath*:*Fp32MatchesReference*'
run_test encoder_cuda encoder_test '*Cuda*:*DeviceTest*:*ReproducesEveryGoldenVector*'
run_test device device_test '*'
run_test embed_cli embed_cli_test '*Cuda*:*Device*:*Info*:*TextPrints*'
TESTS_JSON="${TESTS_JSON%,}}"

# 3. Vista's encoder benchmark.
BENCH_JSON="["
if [[ $MODE == device ]]; then
  BENCH_MODEL=(--random base --work-dir /dev/shm); DEVICE=cuda; BATCHES="1 64 256"; SECONDS_EACH=2
else
  BENCH_MODEL=(--model "$VISTA_GOLDEN_DIR/tiny-model"); DEVICE=cpu; BATCHES="1 4"; SECONDS_EACH=0.3
fi
for dtype in fp32 bf16; do
  for batch in $BATCHES; do
    log "vista bench encoder --device $DEVICE --dtype $dtype --batch $batch"
    if out=$("$VISTA" --log-level warn bench encoder "${BENCH_MODEL[@]}" --device "$DEVICE" \
               --dtype "$dtype" --batch "$batch" --no-baseline --min-seconds "$SECONDS_EACH" --json \
               2>>"$LOG"); then
      BENCH_JSON+="$out,"
    else
      log "bench $dtype batch $batch failed"
      BENCH_JSON+="{\"dtype\": \"$dtype\", \"batch\": $batch, \"error\": true},"
    fi
  done
done
BENCH_JSON="${BENCH_JSON%,}]"

# 4. The plain-PyTorch baseline, same card, same run.
BASELINE_JSON=null
GOLDEN_BASELINE_JSON=null
if python3 -c 'import torch' 2>/dev/null; then
  log "plain PyTorch baseline"
  GOLDEN_BASELINE_JSON=$(python3 benchmarks/pytorch_baseline.py --model "$VISTA_GOLDEN_DIR/tiny-model" \
      --golden "$VISTA_GOLDEN_DIR" --device "$DEVICE" --dtypes fp32,bf16 --batches 1 \
      --min-seconds 0.2 --json 2>>"$LOG") || GOLDEN_BASELINE_JSON=null
  if [[ $MODE == device ]]; then
    BASELINE_JSON=$(python3 benchmarks/pytorch_baseline.py --random base --device cuda \
        --dtypes fp32,bf16 --batches 1,64,256 --min-seconds "$SECONDS_EACH" --json 2>>"$LOG") || BASELINE_JSON=null
  fi
else
  log "no PyTorch in python3: baseline skipped"
fi

# 5. One JSON summary.
python3 - "$RESULTS" "$MODE" "$build_seconds" <<PY | tee "$RESULTS/gpu-check.json"
import json, sys, os
results, mode, build_seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
info = json.load(open(os.path.join(results, "info.json")))
gpu = open(os.path.join(results, "gpu.txt")).read().strip() if os.path.exists(os.path.join(results, "gpu.txt")) else None
tests = json.loads('''$TESTS_JSON''')
bench = json.loads('''$BENCH_JSON''')
baseline = json.loads('''$BASELINE_JSON''')
golden_baseline = json.loads('''$GOLDEN_BASELINE_JSON''')
summary = {"mode": mode, "gpu": gpu, "torch": info.get("torch_version"),
           "cuda_devices": info.get("cuda_devices"), "build_seconds": build_seconds,
           "tests": tests, "tests_ok": all(t["exit"] == 0 for t in tests.values()),
           "vista": [], "baseline": [], "ratios": {}, "ingest": "not run: the encoder-only build "
           "has no engine (FAISS/RocksDB) on the GPU machine; see BENCHMARKS.md"}
for run in bench:
    if run.get("error"):
        summary["vista"].append(run); continue
    for case in run["cases"]:
        summary["vista"].append({"case": case["case"], "dtype": run["dtype"], "batch": run["batch"],
                                 "items_per_second": case["items_per_second"],
                                 "ms_per_item": case["ms_per_item"], "tf32": run.get("tf32")})
if baseline:
    summary["baseline"] = baseline["cases"]
    for b in baseline["cases"]:
        for v in summary["vista"]:
            if v.get("case") == b["case"] and v.get("dtype") == b["dtype"] and v.get("batch") == b["batch"]:
                summary["ratios"][f"{b['case']} {b['dtype']} batch {b['batch']}"] = \
                    v["items_per_second"] / b["items_per_second"]
if golden_baseline:
    summary["baseline_golden_worst_cosine"] = golden_baseline.get("golden_worst_cosine")
print(json.dumps(summary, indent=1))
PY
