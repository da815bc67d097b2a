#!/usr/bin/env bash
# GPU checks in one go, for a lent GPU machine with torch and transformers installed but nothing of
# ours (see docs/DEVELOPING.md): the gpu tests, then bench_classify and bench_zero_shot on cuda.
# Wheels the machine lacks (soundfile, soxr, cffi) may be given in .whl/. Logs go to $OUT (or ./gpu-out).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-out}
mkdir -p "$out"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'cuda', torch.cuda.is_available())"

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log to $out/NAME.txt, go on if it fails
    local name=$1 limit=$2; shift 2
    echo "== $name"
    timeout "$limit" "$@" 2>&1 | grep -v -e "Loading weights" -e "Writing model" -e "mel filter" -e "warnings.warn" \
        | tee "$out/$name.txt"
    echo "== $name: exit ${PIPESTATUS[0]}"
}

step gpu_tests 120 python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_gpu.py
step bench_classify_fp32 130 python3 bench/bench_classify.py --device cuda --clips 64 --batch-size 16 --rounds 3
step bench_classify_fp16 100 python3 bench/bench_classify.py --device cuda --dtype float16 --clips 64 \
    --batch-size 16 --rounds 3
step bench_zero_shot 100 python3 bench/bench_zero_shot.py --device cuda --clips 48 --batch-size 16 --rounds 3
