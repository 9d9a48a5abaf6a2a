#!/usr/bin/env bash
# Builds the executable from build.spec and runs its self-test on a virtual display (.ci/run calls this; so does
# tests/test_packaging_build.py). Prints, and writes to dist/build-info.json, the build time and the size.
# Needs the checkout's .venv (python3 install.py) and Xvfb (xvfb-run): PyInstaller's pystray hook and the self-test
# both open the display.
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
[ -x "$python" ] || python=.venv/Scripts/python.exe
app=dist/DiscordPersonaStudio/DiscordPersonaStudio
command -v xvfb-run >/dev/null || { echo "build_exe.sh: xvfb-run is missing (apt-get install xvfb xauth)" >&2; exit 1; }

start=$(date +%s)
xvfb-run -a "$python" -m PyInstaller --noconfirm --log-level WARN build.spec
build_seconds=$(( $(date +%s) - start ))
size_mb=$(du -sm dist/DiscordPersonaStudio | cut -f1)
internal_mb=$(du -sm dist/DiscordPersonaStudio/_internal | cut -f1)
echo "build_exe.sh: built $app in ${build_seconds} s, ${size_mb} MB (${internal_mb} MB without third_party/)"

start=$(date +%s)
xvfb-run -a "$app" --self-test
self_test_seconds=$(( $(date +%s) - start ))
echo "build_exe.sh: self-test passed in ${self_test_seconds} s"
printf '{"build_seconds": %s, "size_mb": %s, "internal_mb": %s, "self_test_seconds": %s}\n' \
  "$build_seconds" "$size_mb" "$internal_mb" "$self_test_seconds" > dist/build-info.json
