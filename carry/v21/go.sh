#!/bin/bash
# The default model's candidate recipe (docs/training.md, "A straight run with short captions from the VAE up"),
# carried between sessions in carry/v21. Re-run it to go on: it seeds runs/v21 from the pack when runs/v21 is
# missing, skips finished stages, resumes the one in progress from its checkpoint, and packs every stage it
# finishes into carry/v21 (commit that folder before the session ends). STOP=STAGE ends after that stage.
set -euo pipefail
cd "$(dirname "$0")/../.."
P="${PYTHON:-.venv/bin/python} -m v2v train"
W=${W:-runs/v21}; PACK=carry/v21; C="--caption-short 0.5"
[ -e "$W/run.json" ] || $P seed --from $PACK --workdir "$W"
stage() {  # stage NAME ARGS...: train it, pack the run, stop here when asked
    local name=$1; shift
    $P "$name" --workdir "$W" "$@"
    $P pack --workdir "$W" --out $PACK
    if [ "${STOP:-}" = "$name" ]; then exit 0; fi
}
stage vae     --steps 7000
stage decoder
stage teacher --steps 15000 $C
stage ode     --pairs 256 $C
stage dmd     --steps 2800 --rollout-paired 1 --rollout-paired-from 2176 $C
$P export --workdir "$W" --out "$W/bundle_dmd"
$P adapt  --workdir "$W" --temporal-weight 7.5
$P export --workdir "$W"
