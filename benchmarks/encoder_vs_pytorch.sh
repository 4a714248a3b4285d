#!/usr/bin/env bash
# Vista's encoder against a plain-PyTorch implementation of the same network, in one run, so
# that the ratios are measured under the same machine load. Needs build/vista and Debian's
# python3-torch (apt-get install python3-torch; benchmarks only, not CI).
# Usage: benchmarks/encoder_vs_pytorch.sh [THREADS] [MIN_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
min_seconds=${2:-3}
# OpenBLAS picks its matrix kernel from the CPU model; in virtual machines that hide the model it
# falls back to a generic one ("Prescott") that is 5x slower, which would flatter Vista. Name the
# best kernel for the CPU's instruction set unless the caller chose one.
if [[ -z "${OPENBLAS_CORETYPE:-}" ]]; then
  flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
  if [[ $flags == *avx512_bf16* ]]; then export OPENBLAS_CORETYPE=Cooperlake
  elif [[ $flags == *avx512f* ]]; then export OPENBLAS_CORETYPE=SkylakeX
  elif [[ $flags == *avx2* ]]; then export OPENBLAS_CORETYPE=Haswell
  fi
fi
echo "plain PyTorch runs with OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-auto}"
for dtype in fp32 bf16; do
  vista_json=$(./build/vista --log-level warn bench encoder --random base --dtype "$dtype" \
    --threads "$threads" --no-baseline --min-seconds "$min_seconds" --json)
  torch_json=$(/usr/bin/python3 benchmarks/plain_pytorch_encoder.py --dtype "$dtype" \
    --threads "$threads" --min-seconds "$min_seconds")
  /usr/bin/python3 - "$dtype" "$vista_json" "$torch_json" <<'PY'
import json, sys
dtype, vista, torch_ = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
plain = {c["case"]: c["ms_per_item"] for c in torch_["cases"]}
print(f"\n{dtype}, {vista['threads']} threads ({torch_['implementation']})")
print("| case | Vista ms/item | plain PyTorch ms/item | speed-up |")
print("|---|---:|---:|---:|")
for c in vista["cases"]:
    p = plain.get(c["case"])
    ratio = f"{p / c['ms_per_item']:.2f}x" if p else "n/a"
    print(f"| {c['case']} | {c['ms_per_item']:.1f} | {p:.1f} | {ratio} |" if p else
          f"| {c['case']} | {c['ms_per_item']:.1f} | n/a | n/a |")
PY
done
