#!/usr/bin/env bash
# Downloads the Visualized-BGE base model into models/bge-visualized-base-en-v1.5/ (or $1).
#
#   scripts/fetch-model.sh [TARGET_DIR]
#
# Files: Visualized_base_en_v1.5.pth (huggingface.co/BAAI/bge-visualized) and config.json,
# vocab.txt, tokenizer_config.json (huggingface.co/BAAI/bge-base-en-v1.5).
# Downloads resume where they stopped (curl -C -). Each file's size and sha256 are checked against
# the values Hugging Face publishes for it (the LFS pointer for the weights; pinned values for
# small files), so a partial or damaged download is never mistaken for a model.
# Set HF_ENDPOINT to use a mirror, HF_TOKEN if your network needs authentication.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${1:-$ROOT/models/bge-visualized-base-en-v1.5}"
ENDPOINT="${HF_ENDPOINT:-https://huggingface.co}"
VISUAL_REPO="BAAI/bge-visualized"
TEXT_REPO="BAAI/bge-base-en-v1.5"
VOCAB_SHA256="07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"

AUTH=()
[[ -n "${HF_TOKEN:-}" ]] && AUTH=(-H "Authorization: Bearer $HF_TOKEN")

die() { echo "fetch-model: $*" >&2; exit 1; }
command -v curl >/dev/null || die "curl is not installed (apt-get install curl)"
command -v sha256sum >/dev/null || die "sha256sum is not installed (coreutils)"

mkdir -p "$TARGET"

check_network() {
  if ! curl -sS -o /dev/null --connect-timeout 10 --max-time 30 "${AUTH[@]}" -I "$ENDPOINT/$VISUAL_REPO/resolve/main/README.md"; then
    die "cannot reach $ENDPOINT. Check your network or proxy (https_proxy), or set HF_ENDPOINT to a mirror.
Alternatively copy the four files by hand into $TARGET:
  $ENDPOINT/$VISUAL_REPO/resolve/main/Visualized_base_en_v1.5.pth
  $ENDPOINT/$TEXT_REPO/resolve/main/{config.json,vocab.txt,tokenizer_config.json}"
  fi
}

# Prints "<sha256> <size>" of an LFS file as published by the Hub's tree API, or nothing.
lfs_metadata() {
  local repo="$1" file="$2"
  curl -sS --connect-timeout 10 --max-time 60 "${AUTH[@]}" "$ENDPOINT/api/models/$repo/tree/main" |
    python3 -c '
import json, sys
name = sys.argv[1]
for entry in json.load(sys.stdin):
    if entry.get("path") == name and entry.get("lfs"):
        print(entry["lfs"]["oid"], entry["lfs"]["size"])
' "$file" 2>/dev/null || true
}

# download REPO FILE [SHA256] [SIZE]
download() {
  local repo="$1" file="$2" sha="${3:-}" size="${4:-}"
  local dest="$TARGET/$file" part="$TARGET/$file.part"
  if [[ -f "$dest" && -n "$sha" ]] && echo "$sha  $dest" | sha256sum -c --status; then
    echo "fetch-model: $file already present and verified"
    return
  fi
  [[ -f "$dest" && -z "$sha" ]] && { echo "fetch-model: $file already present"; return; }
  echo "fetch-model: downloading $repo/$file"
  curl -fL --retry 5 --retry-delay 3 -C - --progress-bar "${AUTH[@]}" \
    -o "$part" "$ENDPOINT/$repo/resolve/main/$file" || die "download of $file failed (re-run to resume)"
  if [[ -n "$size" ]]; then
    local got; got=$(stat -c %s "$part")
    [[ "$got" == "$size" ]] || die "$file has $got bytes, expected $size (re-run to resume, or delete $part)"
  fi
  if [[ -n "$sha" ]]; then
    echo "$sha  $part" | sha256sum -c --status ||
      { rm -f "$part"; die "$file failed its sha256 check (expected $sha); the partial file was removed, re-run"; }
  fi
  mv "$part" "$dest"
}

check_network
read -r WEIGHTS_SHA WEIGHTS_SIZE < <(lfs_metadata "$VISUAL_REPO" "Visualized_base_en_v1.5.pth"; echo)
[[ -z "${WEIGHTS_SHA:-}" ]] && echo "fetch-model: warning: could not read the published sha256 of the weights; checking size only when known" >&2
download "$VISUAL_REPO" "Visualized_base_en_v1.5.pth" "${WEIGHTS_SHA:-}" "${WEIGHTS_SIZE:-}"
download "$TEXT_REPO" "vocab.txt" "$VOCAB_SHA256"
download "$TEXT_REPO" "config.json"
download "$TEXT_REPO" "tokenizer_config.json"
echo "fetch-model: model ready in $TARGET"
echo "fetch-model: try: build/vista embed --model $TARGET --text 'blue whale'"
