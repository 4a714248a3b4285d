#!/usr/bin/env bash
# The GPU check, in one command on a machine with an NVIDIA GPU, PyTorch (CUDA), nvcc, CMake and
# ninja, and what scripts/gpu-prepare.sh put into .gpu/ (carried there: no network, no -dev
# packages). It
#   1. unpacks .gpu/deps.tar.xz and builds Vista against the PyTorch wheel's libtorch
#      (torch.utils.cmake_prefix_path): the full build (engine, FAISS, RocksDB, HTTP), or, should
#      that fail, the encoder-only one (VISTA_ENCODER_ONLY), so that the tests and encoder figures
#      still come back;
#   2. runs the CUDA golden tests (fp32 >= 0.99999, bf16/fp16 >= 0.999 cosine) and the device
#      tests;
#   3. runs `vista bench encoder --random base --device cuda` at batch 1, 64 and 256 in fp32 and
#      bf16 (the batch-1 run gives the short-text latency), while the CPUs generate the JPEGs for
#      step 5;
#   4. runs the plain-PyTorch baseline (benchmarks/pytorch_baseline.py) on the same card in the
#      same run, after checking its vectors against the golden ones;
#   5. times `vista ingest --device cuda --dtype bf16` of a few thousand generated 1-2 MP JPEGs
#      (benchmarks/generate_jpegs.py) and keeps its stage report: which of reading, decoding,
#      encoding and writing bounds the rate;
#   6. prints one JSON summary (also written to $OUT/gpu-check.json when OUT is set).
# Each step after the build starts only while enough of the time budget (VISTA_GPU_BUDGET_S,
# default 560 s, inside a 600 s limit per command on the GPU machine) is left; one that does not is
# reported as skipped.
#
#   scripts/gpu-check.sh                  on the GPU machine
#   scripts/gpu-check.sh --cpu-rehearsal  here: the same steps against Debian's CPU libtorch and
#                                         the tiny model (CUDA tests skip; no PyTorch baseline)
#   --encoder-only                        skip the full build (e.g. a rerun after it failed)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MODE=device
FULL_BUILD=yes
for arg in "$@"; do
  case $arg in
    --cpu-rehearsal) MODE=cpu ;;
    --encoder-only) FULL_BUILD=no ;;
    *) echo "gpu-check: unknown option $arg (--cpu-rehearsal, --encoder-only)" >&2; exit 2 ;;
  esac
done
STARTED=$(date +%s)
BUDGET=${VISTA_GPU_BUDGET_S:-560}
# What is collected from the GPU machine ($OUT) is at most 8 files: gpu-check.json,
# gpu-check.log (every step's output) and tests.txt (the test binaries' output) in RESULTS; the
# pieces stay in PARTS.
RESULTS=${OUT:-$ROOT/.gpu-work/out}
PARTS=$(mktemp -d "${TMPDIR:-/tmp}/vista-gpu-check.XXXXXX")
mkdir -p "$RESULTS"
LOG=$RESULTS/gpu-check.log
: >"$LOG"
: >"$RESULTS/tests.txt"
JOBS=$(nproc)
log() { echo "gpu-check: [$(($(date +%s) - STARTED)) s] $*" | tee -a "$LOG" >&2; }
fail() { log "FAILED: $*"; exit 1; }
time_left() { echo $((BUDGET - ($(date +%s) - STARTED))); }
[[ -f .gpu/deps.tar.xz && -f .gpu/base-libs.regex && -d .gpu/golden ]] || fail ".gpu/ is missing: run scripts/gpu-prepare.sh first (and carry .gpu)"

# Python with PyTorch (the baseline), numpy and Pillow (the JPEGs): the GPU machine's python3;
# here Debian's, which has them where a user's own python3 may not.
PYTHON=python3
if [[ $MODE == cpu ]] && /usr/bin/python3 -c 'import torch, numpy, PIL' 2>/dev/null; then
  PYTHON=/usr/bin/python3
fi
# Python runs with the machine's own library path: the carried Debian libraries (zlib, OpenSSL,
# ...) are for Vista's build and binaries only.
ORIGINAL_LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}
py() { LD_LIBRARY_PATH=$ORIGINAL_LD_LIBRARY_PATH "$PYTHON" "$@"; }
# nvcc for libtorch's CMake files, where the CUDA toolkit is installed but not on PATH.
if [[ $MODE == device && -x /usr/local/cuda/bin/nvcc ]] && ! command -v nvcc >/dev/null; then
  export PATH=/usr/local/cuda/bin:$PATH
fi

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
  TORCH_PREFIX=$(py -c 'import torch; print(torch.utils.cmake_prefix_path)') || fail "python3 has no torch"
  PREFIXES="$TORCH_PREFIX;$PREFIXES"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >"$PARTS/gpu.txt" 2>&1
  log "GPU: $(cat "$PARTS/gpu.txt"); torch $(py -c 'import torch; print(torch.__version__)')"
fi
# The rehearsal compiles as C++20, as recent libtorch headers require (CMakeLists.txt chooses it
# by the libtorch version on the GPU machine).
CXX20=()
[[ $MODE == cpu ]] && CXX20=(-DCMAKE_CXX_STANDARD=20)
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
TEST_TARGETS=(encoder_test network_test device_test embed_cli_test)
build() {  # kind (full | encoder-only)
  local kind=$1 build_dir=$ROOT/build-gpu-$MODE-$1 only=OFF
  [[ $kind == encoder-only ]] && only=ON
  log "configuring the $kind build in $build_dir"
  # CMAKE_POLICY_VERSION_MINIMUM: CMake 4 (pip's) refuses package files written for CMake < 3.5.
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVISTA_ENCODER_ONLY=$only \
    -DCMAKE_POLICY_VERSION_MINIMUM=3.5 \
    -DVISTA_TEST_UNITS="encoder;network;device;embed_cli" -DVISTA_BUILD_BENCHMARKS=OFF \
    -DVISTA_WITH_ONEDNN=OFF -DCMAKE_PREFIX_PATH="$PREFIXES" \
    -DPKG_CONFIG_EXECUTABLE="$DEPS/usr/bin/pkgconf" -DVISTA_GOLDEN_DIR="$VISTA_GOLDEN_DIR" \
    "${CXX20[@]}" >>"$LOG" 2>&1 || { tail -30 "$LOG" >&2; log "configure failed"; return 1; }
  log "building (-j$JOBS)"
  cmake --build "$build_dir" -j "$JOBS" --target vista "${TEST_TARGETS[@]}" >>"$LOG" 2>&1 ||
    { tail -40 "$LOG" >&2; log "the $kind build failed"; return 1; }
  BUILD=$build_dir
  BUILD_KIND=$kind
}
build_start=$(date +%s)
BUILD_NOTE=""
if [[ $FULL_BUILD == no ]]; then
  BUILD_NOTE="--encoder-only: the full build was not tried"
  build encoder-only || fail "build (see $LOG)"
elif ! build full; then
  BUILD_NOTE="the full build failed (see gpu-check.log); the encoder-only build ran instead"
  build encoder-only || fail "build (see $LOG)"
fi
build_seconds=$(($(date +%s) - build_start))
VISTA=$BUILD/vista
export VISTA_BINARY=$VISTA

# The rehearsal runs where Debian's packages are installed too; it proves that nothing came from
# there: every CMake package was found in the carried prefix, and every library the binary loads
# is carried, part of the base system, or libtorch's own.
if [[ $MODE == cpu ]]; then
  # Debian's libtorch brings its own (Caffe2, Protobuf, glog, libunwind); OpenMP is the compiler's.
  outside=$(grep -E '^[A-Za-z0-9_]+(_DIR|_INCLUDE_DIR|_LIBRARY|_LIBRARY_RELEASE):(PATH|FILEPATH)=/' \
      "$BUILD/CMakeCache.txt" | grep -v "=$DEPS/" |
    grep -vE '^(Torch|TORCH|Caffe2|c10|Protobuf|Unwind|glog|OpenMP|VISTA_GOLDEN|CMAKE)_' || true)
  [[ -z $outside ]] || fail "CMake packages found outside the carried prefix: $outside"
  torch_lib=$(ldd "$VISTA" | awk '$1 ~ /^libtorch_cpu/ {print $3}')
  allowed=$( { ldd "$torch_lib" | awk '$2 == "=>" {print $3}'; echo "$torch_lib"; } | sort -u)
  uncarried=$(ldd "$VISTA" | awk '$2 == "=>" {print $1, $3}' | grep -vE "$(cat .gpu/base-libs.regex)" |
    awk '{print $2}' | grep -v "^$DEPS/" | grep -vxF "$allowed" |
    grep -vE '/lib(torch|c10)[^/]*\.so' || true)
  [[ -z $uncarried ]] || fail "libraries the binary loads that .gpu/ does not carry: $uncarried"
  log "carried dependencies: every CMake package and run-time library came from $DEPS"
fi
"$VISTA" info | tee -a "$LOG" >&2
"$VISTA" info --json >"$PARTS/info.json"

# 2. Tests (each binary's own summary goes to the log; pass/fail into the summary).
TESTS_JSON="{"
run_test() {  # name, binary, filter
  local name=$1 binary=$2 filter=$3 out=$PARTS/$1.txt
  log "test $name ($filter)"
  "$BUILD/tests/$binary" --gtest_filter="$filter" --gtest_brief=0 >"$out" 2>&1
  local rc=$?
  { echo "===== $name: $binary --gtest_filter='$filter' (exit $rc)"; cat "$out"; } >>"$RESULTS/tests.txt"
  grep -E '^\[ *(PASSED|FAILED|SKIPPED) *\]|golden vectors|Skipped|Failure' "$out" | head -40 | tee -a "$LOG" >&2
  TESTS_JSON+="\"$name\": {\"exit\": $rc, \"passed\": $(grep -c '^\[       OK \]' "$out"), \"skipped\": $(grep -cE '^\[  SKIPPED \] .* \([0-9]+ ms\)$' "$out"), \"failed\": $(grep -cE '^\[  FAILED  \] .* \([0-9]+ ms\)$' "$out")},"
}
run_test network_cuda network_test '*Cuda*:*DevicePath*:*Fp32MatchesReference*'
run_test encoder_cuda encoder_test '*Cuda*:*DeviceTest*:*ReproducesEveryGoldenVector*'
run_test device device_test '*'
run_test embed_cli embed_cli_test '*Cuda*:*Device*:*Info*:*TextPrints*'
echo "${TESTS_JSON%,}}" >"$PARTS/tests.json"

# The JPEGs for step 5 are made on the CPUs while the GPU runs steps 3 and 4.
if [[ $MODE == device ]]; then
  SCRATCH=/dev/shm/vista-gpu-check; IMAGE_COUNT=${VISTA_GPU_INGEST_IMAGES:-3000}
else
  SCRATCH=$ROOT/.gpu-work/scratch; IMAGE_COUNT=${VISTA_GPU_INGEST_IMAGES:-32}
fi
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH"
IMAGES=$SCRATCH/images
GEN_PID=""
if [[ $BUILD_KIND == full ]]; then
  log "generating $IMAGE_COUNT JPEGs of 1-2 MP in the background"
  py benchmarks/generate_jpegs.py "$IMAGES" --count "$IMAGE_COUNT" --workers "$JOBS" \
    >"$PARTS/images.json" 2>>"$LOG" &
  GEN_PID=$!
fi

# 3. Vista's encoder benchmark. The random base-size model is written once and kept for the
# ingestion run.
BENCH_JSON="["
if [[ $MODE == device ]]; then
  MODEL=$SCRATCH/random-base
  BENCH_MODEL=(--random base --random-model-dir "$MODEL"); DEVICE=cuda; BATCHES="1 64 256"; SECONDS_EACH=2
else
  MODEL=$VISTA_GOLDEN_DIR/tiny-model
  BENCH_MODEL=(--model "$MODEL"); DEVICE=cpu; BATCHES="1 4"; SECONDS_EACH=0.3
fi
for dtype in fp32 bf16; do
  for batch in $BATCHES; do
    if (($(time_left) < 150)); then
      log "bench $dtype batch $batch skipped: $(time_left) s of the budget left"
      BENCH_JSON+="{\"dtype\": \"$dtype\", \"batch\": $batch, \"error\": \"skipped: out of time\"},"
      continue
    fi
    log "vista bench encoder --device $DEVICE --dtype $dtype --batch $batch"
    if out=$("$VISTA" --log-level warn bench encoder "${BENCH_MODEL[@]}" --device "$DEVICE" \
               --dtype "$dtype" --batch "$batch" --no-baseline --min-seconds "$SECONDS_EACH" --json \
               2>>"$LOG"); then
      BENCH_JSON+="$out,"
    else
      log "bench $dtype batch $batch failed"
      BENCH_JSON+="{\"dtype\": \"$dtype\", \"batch\": $batch, \"error\": \"failed (see gpu-check.log)\"},"
    fi
  done
done
echo "${BENCH_JSON%,}]" >"$PARTS/bench.json"

# 4. The plain-PyTorch baseline, same card, same run.
echo null >"$PARTS/baseline.json"
echo null >"$PARTS/golden_baseline.json"
if ! py -c 'import torch, safetensors' 2>/dev/null; then
  log "no PyTorch or safetensors in $PYTHON: baseline skipped"
elif (($(time_left) < 120)); then
  log "baseline skipped: $(time_left) s of the budget left"
else
  log "plain PyTorch baseline"
  py benchmarks/pytorch_baseline.py --model "$VISTA_GOLDEN_DIR/tiny-model" \
      --golden "$VISTA_GOLDEN_DIR" --device "$DEVICE" --dtypes fp32,bf16 --batches 1 \
      --min-seconds 0.2 --json >"$PARTS/golden_baseline.json" 2>>"$LOG" ||
    echo null >"$PARTS/golden_baseline.json"
  if [[ $MODE == device ]]; then
    py benchmarks/pytorch_baseline.py --random base --device cuda --dtypes fp32,bf16 \
        --batches 1,64,256 --min-seconds "$SECONDS_EACH" --json >"$PARTS/baseline.json" 2>>"$LOG" ||
      echo null >"$PARTS/baseline.json"
  fi
fi

# 5. End-to-end ingestion of the generated JPEGs.
ingest_note() { py -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1" >"$PARTS/ingest.json"; }
ingest_note "not run: $BUILD_NOTE"
if [[ -n $GEN_PID ]]; then
  if ! wait "$GEN_PID"; then
    ingest_note "not run: generating the JPEGs failed (see gpu-check.log)"
  elif [[ ! -f $MODEL/config.json ]]; then
    ingest_note "not run: no model (the encoder benchmark did not write the random one)"
  elif (($(time_left) < 60)); then
    ingest_note "not run: $(time_left) s of the budget left"
  else
    log "images: $(cat "$PARTS/images.json")"
    log "vista ingest of $IMAGE_COUNT JPEGs --device $DEVICE --dtype bf16"
    "$VISTA" --log-level warn ingest "$IMAGES" --data "$SCRATCH/data" --collection generated \
      --model "$MODEL" --device "$DEVICE" --dtype bf16 --json >"$PARTS/ingest.json" 2>>"$LOG" ||
      ingest_note "failed (see gpu-check.log)"
  fi
fi

# 6. One JSON summary.
echo $(($(date +%s) - STARTED)) >"$PARTS/seconds"
py - "$PARTS" "$MODE" "$build_seconds" "${BUILD_KIND:-none}" <<'PY' | tee "$RESULTS/gpu-check.json"
import json, os, sys
parts, mode, build_seconds, build_kind = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def part(name, default=None):
    path = os.path.join(parts, name)
    if not os.path.exists(path):
        return default
    with open(path) as f:
        text = f.read().strip()
    return json.loads(text) if name.endswith(".json") else text
info = part("info.json", {})
tests = part("tests.json", {})
bench = part("bench.json", [])
baseline = part("baseline.json")
golden_baseline = part("golden_baseline.json")
ingest = part("ingest.json")
summary = {"mode": mode, "gpu": part("gpu.txt"), "torch": info.get("torch_version"),
           "cuda_devices": info.get("cuda_devices"), "build": build_kind,
           "build_seconds": build_seconds, "tests": tests,
           "tests_ok": bool(tests) and all(t["exit"] == 0 for t in tests.values()),
           "vista": [], "baseline": [], "ratios": {}, "ingest": ingest}
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
if isinstance(ingest, dict):
    summary["ingest_images"] = part("images.json")
    summary["ingest_images_per_second"] = ingest.get("rate_per_s")
    summary["ingest_bounded_by"] = ingest.get("stages", {}).get("bounded_by")
summary["seconds"] = int(part("seconds", "0"))
print(json.dumps(summary, indent=1))
PY
rm -rf "$PARTS"
