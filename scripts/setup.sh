#!/usr/bin/env bash
# Installs every Debian package Vista needs, then configures and builds into build/.
# Idempotent: re-running only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl
  libtorch-dev libfaiss-dev librocksdb-dev libopencv-dev
  libcpp-httplib-dev nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
  libopenblas0-openmp libcli11-dev libspdlog-dev libfmt-dev libicu-dev
  libjpeg62-turbo-dev libpng-dev libgif-dev libwebp-dev libtiff-dev zlib1g-dev
  libssl-dev libcsv-dev libxxhash-dev libdnnl-dev
  chromium
  slurm-wlm munge
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm run the browser test (tests/e2e). The machine image ships Node.js 20 with npm;
# only where they are absent do Debian's packages stand in.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# playwright-core drives Debian's Chromium in the browser test; the version is pinned by
# tests/e2e/package-lock.json and reinstalled only when it differs.
e2e_want=$(node -p "require('./tests/e2e/package-lock.json').packages['node_modules/playwright-core'].version")
e2e_have=$(node -p "try { require('./tests/e2e/node_modules/playwright-core/package.json').version } catch (e) { '' }")
if [[ "$e2e_want" != "$e2e_have" ]]; then
  echo "setup: installing playwright-core $e2e_want into tests/e2e/node_modules"
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi

# The sample collection (data/sample/images), which the Slurm test ingests.
bash scripts/sample-data.sh

BUILD_TYPE="${VISTA_BUILD_TYPE:-Release}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE"
cmake --build build -j "$(nproc)"
