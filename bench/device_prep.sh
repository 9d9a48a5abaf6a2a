#!/usr/bin/env bash
# Prepares, on the CPU machine, what bench/device_check.sh needs on the GPU machine and cannot fetch there (that
# machine reaches no package registry): the GPU kit (../shared/gpu/make_kit.sh: unsloth, unsloth_zoo, trl,
# bitsandbytes, datasets wheels for Python 3.12 and the llama-cpp-python source), and SmolLM2's tokenizer as a small
# Hugging Face folder (the 98 MB GGUF would not fit the 64 MiB that travels with a command).
#
#   bash bench/device_prep.sh        then, with the device tool:
#   run(command="bash bench/device_check.sh", carry=[".gpu-kit", ".device", "third_party/llama.cpp"], timeout_s=560)
#
# Needs `python3 install.py` first (the venv and third_party/). Safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=.venv/Scripts/python.exe
[ -d .gpu-kit/wheels ] || bash ../shared/gpu/make_kit.sh .gpu-kit
mkdir -p .device/wheels
# The app's own light dependencies that the GPU machine's image lacks (it has torch, transformers, peft, aiohttp...).
if [ -z "$(ls .device/wheels 2>/dev/null)" ]; then
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .device/wheels \
    platformdirs==4.14.7 keyring==25.7.0 jaraco.classes jaraco.functools jaraco.context more-itertools \
    ijson==3.6.0 orjson==3.13.0 tomli_w==1.2.0 discord.py==2.7.1
fi
if [ ! -f .device/tokenizer/tokenizer.json ]; then
  "$PY" - <<'PY'
from transformers import AutoTokenizer
from core.config.resources import default_base_model
model = default_base_model()
AutoTokenizer.from_pretrained(str(model.parent), gguf_file=model.name).save_pretrained(".device/tokenizer")
print("tokenizer written to .device/tokenizer")
PY
fi
grep -qx "/.device/" .gitignore || echo "/.device/" >> .gitignore
du -sh .gpu-kit .device third_party/llama.cpp
tracked=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
echo "tracked files: $((tracked / 1048576)) MiB; everything sent must stay under 64 MiB"
