#!/usr/bin/env bash
# Vista's main job in one command: install and build, fetch the model (where the network allows),
# assemble the sample collection, ingest it, and serve it over HTTP.
#
#   scripts/run.sh [--model DIR] [--data DIR] [--port N] [--no-serve]
#
# --model DIR   use an existing model directory instead of downloading the base model
# --data DIR    data directory (default: ./vista-data)
# --port N      HTTP port (default 8080; 0 picks a free one)
# --no-serve    stop after ingesting and one example search
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

MODEL=""
DATA="$ROOT/vista-data"
PORT=8080
SERVE=1
while (($#)); do
  case "$1" in
    --model) MODEL="$2"; shift 2 ;;
    --data) DATA="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --no-serve) SERVE=0; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "run: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

bash scripts/setup.sh

if [[ -z "$MODEL" ]]; then
  MODEL="$ROOT/models/bge-visualized-base-en-v1.5"
  if ! bash scripts/fetch-model.sh "$MODEL"; then
    echo "run: the model could not be downloaded; Vista needs real weights and will not invent them." >&2
    echo "run: fetch it on a networked machine (scripts/fetch-model.sh) and copy $MODEL here," >&2
    echo "run: or point at any model directory: scripts/run.sh --model DIR" >&2
    exit 1
  fi
fi

bash scripts/sample-data.sh
VISTA="$ROOT/build/vista"
"$VISTA" ingest --data "$DATA" --collection sample --model "$MODEL" data/sample/manifest.jsonl
"$VISTA" search --data "$DATA" --collection sample --model "$MODEL" --text "a cat" --k 3
if ((SERVE)); then
  echo "run: serving http://127.0.0.1:$PORT/ (Ctrl-C to stop)"
  # The sample pictures were ingested from files: let the server read them back for thumbnails.
  VISTA_IMAGE_ROOTS="$ROOT/data/sample${VISTA_IMAGE_ROOTS:+:$VISTA_IMAGE_ROOTS}" \
    exec "$VISTA" serve --data "$DATA" --model "$MODEL" --port "$PORT"
fi
