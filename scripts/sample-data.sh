#!/usr/bin/env bash
# Assembles the sample collection in data/sample/images/ from Debian's python3-skimage package
# (scikit-image's sample photographs: CC0 or public domain, see data/sample/README.md).
# Only the .deb is downloaded and unpacked into a cache; nothing is installed. Idempotent.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/data/sample/images"
CACHE="$ROOT/.cache/sample-data"
FILES=(astronaut.png brick.png camera.png chelsea.png clock_motion.png coffee.png coins.png
       grass.png gravel.png horse.png hubble_deep_field.jpg microaneurysms.png retina.jpg
       rocket.jpg text.png)

have_all=1
for f in "${FILES[@]}"; do [[ -s "$OUT/$f" ]] || have_all=0; done
if ((have_all)); then
  echo "sample-data: ${#FILES[@]} images present in $OUT"
  exit 0
fi

mkdir -p "$CACHE" "$OUT"
if ! ls "$CACHE"/python3-skimage_*.deb >/dev/null 2>&1; then
  echo "sample-data: downloading python3-skimage (.deb only, not installed)"
  (cd "$CACHE" && apt-get download python3-skimage) ||
    { echo "sample-data: apt-get download python3-skimage failed (run apt-get update?)" >&2; exit 1; }
fi
rm -rf "$CACHE/x" && mkdir -p "$CACHE/x"
dpkg -x "$CACHE"/python3-skimage_*.deb "$CACHE/x"
SRC="$(find "$CACHE/x" -type d -path '*skimage/data' | head -1)"
for f in "${FILES[@]}"; do cp "$SRC/$f" "$OUT/$f"; done
rm -rf "$CACHE/x"
echo "sample-data: ${#FILES[@]} images ready in $OUT"
