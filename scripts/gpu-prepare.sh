#!/usr/bin/env bash
# Prepares, on this (Debian 12) machine, what scripts/gpu-check.sh needs on a GPU machine that has
# PyTorch (with CUDA), nvcc, CMake and ninja but no Debian -dev packages and no network:
#
#   .gpu/deps.tar.xz   headers, CMake/pkg-config files and shared libraries of the encoder-only
#                      build (VISTA_ENCODER_ONLY: ICU, image codecs, spdlog/fmt, nlohmann-json,
#                      CLI11, xxhash, GoogleTest, pkgconf), from Debian's .deb files unpacked with
#                      `dpkg -x` into a prefix (never into /)
#   .gpu/golden/       the golden files the CUDA golden tests read (the tiny model without its .pth
#                      twin, golden.json, tokens.json, the crops and the images)
#
# .gpu/ is what travels (name it in the device tool's `carry`); .gpu-work/ keeps the downloads.
# Both are ignored by git. Prints the size that would travel: the working tree plus .gpu/, which
# must stay under 64 MiB.
#
#   scripts/gpu-prepare.sh [--golden DIR]   (default: ../shared/golden)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
GOLDEN_SRC=${VISTA_GOLDEN_DIR:-$ROOT/../shared/golden}
if [[ ${1:-} == --golden ]]; then GOLDEN_SRC=$2; fi

# The encoder-only build's dependencies: each -dev package and what its libraries load at run time
# that a machine with only PyTorch, CUDA and a compiler may lack. pkg-config also wants the .pc
# files named by libtiff's and libpng's Requires.private.
PACKAGES=(
  libicu-dev libicu72 icu-devtools
  libjpeg62-turbo-dev libjpeg62-turbo
  libpng-dev libpng16-16 zlib1g-dev zlib1g
  libwebp-dev libwebp7 libwebpdemux2 libwebpmux3
  libtiff-dev libtiff6 libtiffxx6 libdeflate-dev libdeflate0 libjbig-dev libjbig0 liblerc-dev liblerc4
  liblzma-dev liblzma5 libzstd-dev libzstd1
  libgif-dev libgif7
  libspdlog-dev libspdlog1.10 libfmt-dev libfmt9
  nlohmann-json3-dev libcli11-dev libxxhash-dev
  libgtest-dev libgmock-dev googletest
  pkgconf pkgconf-bin libpkgconf3
)

WORK=$ROOT/.gpu-work
OUT=$ROOT/.gpu
mkdir -p "$WORK/debs" "$OUT"
rm -rf "$WORK/prefix" "$OUT/golden" "$OUT/deps.tar.xz"

echo "gpu-prepare: downloading ${#PACKAGES[@]} packages into $WORK/debs"
(cd "$WORK/debs" && apt-get download "${PACKAGES[@]}" >/dev/null)

echo "gpu-prepare: unpacking into $WORK/prefix"
for deb in "$WORK"/debs/*.deb; do dpkg -x "$deb" "$WORK/prefix"; done

# Only what building and running needs.
P=$WORK/prefix
rm -rf "$P/usr/share/doc" "$P/usr/share/man" "$P/usr/share/lintian" "$P/usr/share/locale" \
       "$P/usr/src" "$P/etc"
find "$P" -name '*.a' ! -name 'libgtest*.a' ! -name 'libgmock*.a' -delete
# CMake package files that name /usr/... absolutely: gpu-check.sh points them at the prefix.
grep -rlE '"?/usr/(lib|include)' "$P/usr/lib/x86_64-linux-gnu/cmake" "$P/usr/share/cmake" 2>/dev/null |
  while read -r f; do sed -i -E 's#([" ;])/usr/(lib|include)#\1@VISTA_DEPS_PREFIX@/usr/\2#g' "$f"; done || true

tar -C "$P" -cf - . | xz -T2 -6 > "$OUT/deps.tar.xz"

echo "gpu-prepare: copying golden files from $GOLDEN_SRC"
mkdir -p "$OUT/golden/tiny-model"
cp "$GOLDEN_SRC"/golden.json "$GOLDEN_SRC"/tokens.json "$OUT/golden/"
cp -r "$GOLDEN_SRC"/crops "$GOLDEN_SRC"/images "$OUT/golden/"
for f in config.json eva_vision_config.json vocab.txt model.safetensors special_tokens_map.json \
         tokenizer_config.json; do
  cp "$GOLDEN_SRC/tiny-model/$f" "$OUT/golden/tiny-model/"
done
chmod -R u+w "$OUT/golden"

tree_bytes=$( (git ls-files -z --cached --others --exclude-standard | xargs -0 -r du -cb 2>/dev/null || true) | awk 'END {print $1}')
carry_bytes=$(du -cb "$OUT" | awk 'END {print $1}')
total=$((tree_bytes + carry_bytes))
printf 'gpu-prepare: working tree %.1f MiB + .gpu %.1f MiB (deps %.1f MiB, golden %.1f MiB) = %.1f MiB of 64 MiB\n' \
  "$(echo "$tree_bytes/1048576" | bc -l)" "$(echo "$carry_bytes/1048576" | bc -l)" \
  "$(echo "$(stat -c %s "$OUT/deps.tar.xz")/1048576" | bc -l)" \
  "$(echo "$(du -cb "$OUT/golden" | awk 'END {print $1}')/1048576" | bc -l)" \
  "$(echo "$total/1048576" | bc -l)"
if ((total > 64 * 1048576)); then
  echo "gpu-prepare: too large to travel" >&2
  exit 1
fi
