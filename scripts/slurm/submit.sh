#!/usr/bin/env bash
# Submits a distributed ingestion to Slurm: an array job of N shards (ingest.sbatch), then the
# import of all segments (import.sbatch), which starts only when every shard succeeded.
#
#   VISTA_BIN=/shared/vista/build/vista VISTA_MODEL=/shared/models/bge-visualized-base-en-v1.5 \
#   VISTA_SOURCES=/shared/photos VISTA_SEGMENTS=/shared/segments/photos \
#   VISTA_DATA=/shared/vista-data VISTA_COLLECTION=photos \
#     scripts/slurm/submit.sh 16 [sbatch options for the shards, e.g. --gres=gpu:1 -p gpu]
#
# Prints the two job ids ("<array job> <import job>").
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
shards=${1:?usage: submit.sh N [sbatch options for the shard tasks]}
shift
[[ $shards =~ ^[1-9][0-9]*$ ]] || { echo "submit.sh: N must be a positive number" >&2; exit 2; }
: "${VISTA_SOURCES:?set VISTA_SOURCES}" "${VISTA_SEGMENTS:?set VISTA_SEGMENTS}"
: "${VISTA_DATA:?set VISTA_DATA}" "${VISTA_COLLECTION:?set VISTA_COLLECTION}"
export VISTA_SHARDS=$shards
array=$(sbatch --parsable --array="0-$((shards - 1))" "$@" "$here/ingest.sbatch")
array=${array%%;*}
import=$(sbatch --parsable --dependency="afterok:$array" --kill-on-invalid-dep=yes \
  "$here/import.sbatch")
echo "$array ${import%%;*}"
