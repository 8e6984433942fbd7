#!/usr/bin/env bash
# Everything this platform claims about GPUs, measured in one command on one GPU machine
# (at most 8 minutes by default), installing nothing from the network:
#
#   bash benchmarks/gpu_check.sh OUT                    # a machine with Hydra, OmegaConf, kornia
#   bash benchmarks/gpu_check.sh --wheels WHEELS OUT    # a machine without a package index
#   bash benchmarks/gpu_check.sh --cpu-dry-run OUT      # every row with tiny shapes on the CPU
#
# It prints one Markdown table and writes it to OUT/table.md, with each step's raw log in
# OUT/logs/, its rows in OUT/rows/ and the runs it started in OUT/runs/. Every step runs in its
# own process under a time limit, and every row on its own: a failure, an out-of-memory or a
# timeout is that row's status, and the check goes on. Exit status: 0 when every row is ok,
# OOM or skipped; 1 when a row failed, ran out of time or was not run; 2 when it cannot start.
#
# Without a package index: a typical CUDA image has PyTorch, Lightning, torchmetrics, rich,
# scikit-image and tensorboard, but not Hydra, OmegaConf or kornia. On a machine that reaches
# the index, build the wheel folder with ../shared/tools/offline-wheels.sh WHEELS [PYTHON
# VERSION of the GPU machine, e.g. 3.10], copy WHEELS there beside the checkout and pass
# --wheels WHEELS: this script installs them into OUT/site with
# `pip install --no-index --no-deps --target` and puts OUT/site on PYTHONPATH (W&B is not in
# the bundle; every run here logs with logger=csv).
#
# Options: --budget SECONDS (default 480: steps that would start later are rows "not run").
# Environment: PYTHON (default python), PANET_BENCHMARKS (Kodak24 and Set5; default
# ../shared/benchmarks), PA_EDSR_X2 (the authors' PA-EDSR x2 weights for the Set5 row).
set -uo pipefail

usage() {
    echo "usage: bash benchmarks/gpu_check.sh [--cpu-dry-run] [--wheels DIR] [--budget SECONDS] OUT" >&2
    exit 2
}

DRY_RUN=0 WHEELS="" BUDGET=480 OUT=""
while (($#)); do
    case $1 in
        --cpu-dry-run) DRY_RUN=1 ;;
        --wheels) WHEELS=${2:-}; shift ;;
        --budget) BUDGET=${2:-}; shift ;;
        -h | --help) usage ;;
        -*) echo "unknown option $1" >&2; usage ;;
        *) [[ -z "$OUT" ]] || usage; OUT=$1 ;;
    esac
    shift
done
[[ -n "$OUT" ]] || usage
[[ "$BUDGET" =~ ^[0-9]+$ ]] || { echo "--budget needs a number of seconds" >&2; exit 2; }

cd "$(dirname "$0")/.." || exit 2
PYTHON=${PYTHON:-python}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 2
rm -rf "$OUT/rows" "$OUT/logs" "$OUT/work" "$OUT/runs" "$OUT/table.md"
mkdir -p "$OUT/rows" "$OUT/logs"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

# 1. Hydra, OmegaConf and kornia from the wheel folder, when one is given (no network).
if [[ -n "$WHEELS" ]]; then
    compgen -G "$WHEELS/*.whl" > /dev/null || { echo "no .whl files in $WHEELS" >&2; exit 2; }
    rm -rf "$OUT/site"
    "$PYTHON" -m pip install -q --no-index --no-deps --target "$OUT/site" "$WHEELS"/*.whl \
        > "$OUT/logs/00-wheels.log" 2>&1 || { cat "$OUT/logs/00-wheels.log" >&2; exit 2; }
    export PYTHONPATH="$OUT/site:$PYTHONPATH"
fi

# 2. Can the project run here at all? (else: what to install, before any time is spent)
if ! "$PYTHON" -c "import torch, pytorch_lightning, torchmetrics, hydra, omegaconf, kornia, skimage, rich" \
    2> "$OUT/logs/00-imports.log"; then
    tail -n 1 "$OUT/logs/00-imports.log" >&2
    echo "a package is missing: build a wheel folder with ../shared/tools/offline-wheels.sh" \
        "WHEELS where an index is reachable, then pass --wheels WHEELS" >&2
    exit 2
fi
if ((DRY_RUN)); then
    MODE=(--device cpu --dry-run)
elif "$PYTHON" -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
    MODE=(--device cuda)
else
    echo "gpu_check.sh needs a CUDA GPU: torch.cuda.is_available() is False here" \
        "(--cpu-dry-run runs every row with tiny shapes on the CPU)" >&2
    exit 2
fi

# step NAME SECONDS ROWS-COMMAND...: one step of rows in its own process, its output in
# OUT/logs/NN-NAME.log, its exit status, seconds and limit in OUT/rows/NN-NAME.exit.
DEADLINE=$((SECONDS + BUDGET)) NUMBER=0
step() {
    local name=$1 limit=$2 id left start rc
    shift 2
    NUMBER=$((NUMBER + 1))
    id=$(printf '%02d-%s' "$NUMBER" "$name")
    left=$((DEADLINE - SECONDS))
    if ((left < 15)); then
        echo "skip $left" > "$OUT/rows/$id.exit"
        echo "$id: not run (time budget spent)"
        return
    fi
    ((limit > left)) && limit=$left
    echo "$id (at most $limit s) ..."
    start=$SECONDS
    timeout -k 10 "$limit" "$PYTHON" -m benchmarks.gpu_rows "$@" --out "$OUT" --step "$id" \
        "${MODE[@]}" > "$OUT/logs/$id.log" 2>&1
    rc=$?
    echo "$rc $((SECONDS - start)) $limit" > "$OUT/rows/$id.exit"
    echo "$id: exit $rc after $((SECONDS - start)) s"
}

# 3. The rows, most wanted first (a spent budget drops the last ones).
step environment 60 env
step attention-train 120 attention --case 16x64x48x48:fwd+bwd
step attention-256 120 attention --case 1x64x256x256:fwd
step attention-512 120 attention --case 1x64x512x512:fwd
step cross-scale 90 cross-scale
step training-eager 120 train-steps --mode eager
step quickstart 180 quickstart
step evaluate 120 evaluate
step data-loading 90 data
step largest-patch 150 largest-patch
step quickstart-ddp 180 quickstart --ddp
step training-compiled 300 train-steps --mode compiled

# 4. The table (printed and written to OUT/table.md).
echo
"$PYTHON" -m benchmarks.gpu_rows table --out "$OUT"
