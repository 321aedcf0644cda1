#!/usr/bin/env bash
# Pack one model archive: archive/archive.sh MODEL_NAME [EXPORT_DIR] [WEIGHTS]
#   MODEL_NAME  face-verify, face-embed or face-gallery (same handler; the name selects the mode)
#   EXPORT_DIR  where MODEL_NAME.mar goes (default model_store)
#   WEIGHTS     the checkpoint (default weights/face_embedder.pt)
# The .mar holds the weights, handler/face_handler.py (the entry point), the handler/, model/
# and client/ packages (importable as such: the archive root is on the worker's sys.path;
# face-gallery's worker runs client.gallery's rules), the YuNet ONNX file and
# handler/model-config.yaml. `make archive` calls this; so does the
# integration test.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: archive/archive.sh MODEL_NAME [EXPORT_DIR] [WEIGHTS]}
out=${2:-model_store}
weights=${3:-weights/face_embedder.pt}
venv=${VENV:-.venv}
python=${PYTHON:-$venv/bin/python}
archiver=$(dirname "$python")/torch-model-archiver

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# --extra-files copies a folder's *contents* to the archive root, so stage the packages
# inside one folder. Only sources: no __pycache__.
mkdir -p "$stage/extra/model" "$stage/extra/handler" "$stage/extra/client/gallery" "$stage/tmp" "$out"
cp model/*.py "$stage/extra/model/"
cp handler/__init__.py handler/protocol.py handler/gallery_protocol.py handler/gallery.py "$stage/extra/handler/"
cp client/*.py "$stage/extra/client/"
cp client/gallery/*.py "$stage/extra/client/gallery/"
cp "$("$python" -c 'from model.detection import yunet_model_path; print(yunet_model_path())')" "$stage/extra/"

# The archiver stages files in $TMPDIR/<model name>: a private TMPDIR keeps parallel builds apart.
TMPDIR="$stage/tmp" "$archiver" \
  --model-name "$name" \
  --version 1.0 \
  --serialized-file "$weights" \
  --handler handler/face_handler.py \
  --extra-files "$stage/extra" \
  --config-file handler/model-config.yaml \
  --export-path "$out" \
  --force
echo "archived $out/$name.mar"
