#!/usr/bin/env bash
# Prepares, on this (Debian 12) machine, what scripts/gpu-check.sh needs on a GPU machine that has
# PyTorch (with CUDA), nvcc, CMake and ninja but no Debian -dev packages and no network:
#
#   .gpu/deps.tar.xz   headers, CMake/pkg-config files and libraries of the full build (encoder,
#                      FAISS, RocksDB, OpenCV core/imgproc, the HTTP server) and every shared
#                      library they load that such a machine lacks, from Debian's .deb files
#                      unpacked with `dpkg -x` into a prefix (never into /)
#   .gpu/golden/       the golden files the CUDA golden tests read (the tiny model without its .pth
#                      twin, golden.json, tokens.json, the crops and the images)
#   .gpu/base-libs.regex  the libraries every such machine has, which are never carried
#
# .gpu/ is what is copied to the GPU machine with the working tree; .gpu-work/ keeps the
# downloads. Both are ignored by git. Prints the size that would be copied: the working tree plus
# .gpu/, which must stay under 64 MiB (the limit of the GPU machines this project uses).
#
#   scripts/gpu-prepare.sh [--golden DIR]   (default: ../shared/golden)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
GOLDEN_SRC=${VISTA_GOLDEN_DIR:-$ROOT/../shared/golden}
if [[ ${1:-} == --golden ]]; then GOLDEN_SRC=$2; fi

# What the build reads: headers, CMake and pkg-config files, the libraries it links. The shared
# libraries these load at run time are added below, by following what each one needs.
DEV_PACKAGES=(
  # encoder/ and the CLI
  libicu-dev icu-devtools libjpeg62-turbo-dev libpng-dev zlib1g-dev libwebp-dev libtiff-dev
  libdeflate-dev libjbig-dev liblerc-dev liblzma-dev libzstd-dev libgif-dev
  libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev libxxhash-dev
  libgtest-dev libgmock-dev googletest pkgconf pkgconf-bin libpkgconf3
  # index/ (FAISS is a static library; it calls BLAS/LAPACK, here OpenBLAS)
  libfaiss-dev libopenblas0-openmp
  # engine/ (RocksDB is linked statically, with the compression libraries its CMake file names)
  librocksdb-dev libgflags-dev libsnappy-dev libbz2-dev liblz4-dev libssl-dev libcsv-dev
  # api/
  libcpp-httplib-dev libbrotli-dev libopencv-core-dev libopencv-imgproc-dev libtbb-dev
)
# Present on any machine with a C++ compiler; never carried. gpu-check.sh reads the same list from
# .gpu/base-libs.regex.
BASE_LIBS='^(linux-vdso|ld-linux-x86-64|libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|libgomp)\.so'

WORK=$ROOT/.gpu-work
OUT=$ROOT/.gpu
P=$WORK/prefix
LIBDIR=$P/usr/lib/x86_64-linux-gnu
mkdir -p "$WORK/debs" "$OUT"
rm -rf "$P" "$OUT/golden" "$OUT/deps.tar.xz" "$OUT/base-libs.regex"

fetch_and_unpack() {  # packages...
  (cd "$WORK/debs" && apt-get download "$@" >/dev/null)
  local pkg deb
  for pkg in "$@"; do
    deb=$(ls "$WORK"/debs/"${pkg%%:*}"_*.deb | head -1)
    dpkg -x "$deb" "$P"
  done
  # Some packages still install into /lib; the GPU machine's loader path names only usr/lib.
  if [[ -d $P/lib ]]; then
    cp -a "$P/lib/." "$P/usr/lib/" && rm -rf "$P/lib"
  fi
}

echo "gpu-prepare: ${#DEV_PACKAGES[@]} build packages"
fetch_and_unpack "${DEV_PACKAGES[@]}"

# Debian chooses the BLAS and LAPACK behind libblas.so.3 / liblapack.so.3 with alternatives, which
# `dpkg -x` does not set up: point them at OpenBLAS, as this machine does.
for lib in blas lapack; do
  ln -sf openblas-openmp/lib$lib.so.3 "$LIBDIR/lib$lib.so.3"
  ln -sf openblas-openmp/lib$lib.so.3 "$LIBDIR/lib$lib.so"
done
# Debian's OpenCVConfig.cmake (libopencv-dev) names all of OpenCV's modules and fails when one is
# absent; this one declares the two the build links.
mkdir -p "$LIBDIR/cmake/opencv4"
cat >"$LIBDIR/cmake/opencv4/OpenCVConfig.cmake" <<'CMAKE'
# Written by scripts/gpu-prepare.sh: OpenCV's core and imgproc modules from Debian's packages.
get_filename_component(_vista_usr "${CMAKE_CURRENT_LIST_DIR}/../../../.." ABSOLUTE)
foreach(_vista_module core imgproc)
  if(NOT TARGET opencv_${_vista_module})
    add_library(opencv_${_vista_module} SHARED IMPORTED)
    set_target_properties(opencv_${_vista_module} PROPERTIES
      IMPORTED_LOCATION "${_vista_usr}/lib/x86_64-linux-gnu/libopencv_${_vista_module}.so.406"
      INTERFACE_INCLUDE_DIRECTORIES "${_vista_usr}/include/opencv4")
  endif()
endforeach()
set_property(TARGET opencv_imgproc PROPERTY INTERFACE_LINK_LIBRARIES opencv_core)
set(OpenCV_LIBS opencv_core opencv_imgproc)
set(OpenCV_VERSION 4.6.0)
set(OpenCV_FOUND TRUE)
CMAKE

# The run-time closure: every library that a carried library loads and that is neither carried
# nor part of the base system comes from the Debian package that holds it here.
runtime_libraries_missing() {
  # Links a -dev package made to a library its run-time package holds (libfoo.so -> libfoo.so.N).
  find "$P" -xtype l \( -name '*.so' -o -name '*.so.*' \) | while read -r link; do
    echo "${link#"$P"}"
  done
  find "$P" -type f \( -name '*.so' -o -name '*.so.*' \) -print0 |
    LD_LIBRARY_PATH=$LIBDIR:$LIBDIR/openblas-openmp xargs -0 -r ldd 2>/dev/null |
    awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | grep -vE "$BASE_LIBS" |
    awk -v p="$P" 'index($2, p) != 1 {print $2}' | sort -u
}
for round in 1 2 3 4 5 6; do
  mapfile -t missing < <(runtime_libraries_missing)
  ((${#missing[@]} == 0)) && break
  mapfile -t packages < <(for lib in "${missing[@]}"; do
    real=$(readlink -f "$lib")
    dpkg -S "$real" 2>/dev/null || dpkg -S "/usr$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null ||
      { echo "gpu-prepare: no package holds $lib" >&2; exit 1; }
  done | cut -d: -f1 | sort -u)
  echo "gpu-prepare: run-time libraries, round $round: ${packages[*]}"
  fetch_and_unpack "${packages[@]}"
done
mapfile -t missing < <(runtime_libraries_missing)
if ((${#missing[@]} > 0)); then
  echo "gpu-prepare: still missing after 6 rounds: ${missing[*]}" >&2
  exit 1
fi

# Only what building and running needs. Static libraries stay where a CMake package file names
# them (FAISS, RocksDB, GoogleTest, gflags): CMake refuses a package whose files are missing.
rm -rf "$P/usr/share/doc" "$P/usr/share/man" "$P/usr/share/lintian" "$P/usr/share/locale" \
       "$P/usr/src" "$P/etc" "$P/usr/bin/"*-config "$P/usr/sbin"
find "$P" -name '*.a' | while read -r archive; do
  grep -rqF --include='*.cmake' "$(basename "$archive")" "$P" || rm -f "$archive"
done
# Vista links RocksDB statically: its shared library (3 MiB compressed) stays here, and RocksDB's
# CMake file no longer insists that it exists.
rm -f "$LIBDIR"/librocksdb.so*
sed -i '/_cmake_import_check_.*rocksdb-shared/d' "$LIBDIR/cmake/rocksdb/RocksDBTargets-none.cmake"
# CMake package files that name /usr/... absolutely: gpu-check.sh points them at the prefix.
grep -rlE '"?/usr/(lib|include)' "$LIBDIR/cmake" "$P/usr/share/cmake" 2>/dev/null |
  while read -r f; do sed -i -E 's#([" ;])/usr/(lib|include)#\1@VISTA_DEPS_PREFIX@/usr/\2#g' "$f"; done || true

tar -C "$P" -cf - . | xz -T2 -9 > "$OUT/deps.tar.xz"
echo "$BASE_LIBS" >"$OUT/base-libs.regex"

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
