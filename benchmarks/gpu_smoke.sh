#!/usr/bin/env bash
# The first run on a CUDA machine: does every GPU path work, and how fast is it?
#
#   bash benchmarks/gpu_smoke.sh              # run everything that this machine has GPUs for
#   bash benchmarks/gpu_smoke.sh --dry-run    # print the commands only (works without a GPU)
#
# Steps (each timed; a failing step is reported and the others still run):
#   1. the quick start on one GPU: python train.py trainer=gpu (bf16-mixed or 16-mixed, TF32)
#   2. the same under DDP on two GPUs, when two exist: trainer=ddp trainer.devices=2
#   3. evaluate.py device=cuda on Set5 x2 with PA-EDSR and the authors' chop: the authors'
#      weights when PA_EDSR_X2=/path/to/PA_EDSR_x2.pt is set (then the PSNR is a paper row),
#      else an untrained PA-EDSR (timing only: its PSNR means nothing). Needs Set5 under
#      PANET_BENCHMARKS (default ../shared/benchmarks); skipped with a reason otherwise.
# Environment: PYTHON (default python), PANET_BENCHMARKS, PA_EDSR_X2, SMOKE_DIR (default
# outputs/gpu_smoke). Prints one summary table: step, exit status, seconds, what it measured.
set -uo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
DRY_RUN=0
[[ "${1:-}" == "--dry-run" ]] && DRY_RUN=1
SMOKE_DIR=${SMOKE_DIR:-outputs/gpu_smoke}
BENCH=${PANET_BENCHMARKS:-../shared/benchmarks}
SUMMARY=()

gpu_count() {
    "$PYTHON" -c "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)"
}

# run_step NAME METRICS_JSON COMMAND...: time COMMAND, then summarize its metrics.json.
run_step() {
    local name=$1 metrics=$2
    shift 2
    echo "== $name: $*"
    if ((DRY_RUN)); then
        SUMMARY+=("$name | (dry run) | - | -")
        return
    fi
    local start end rc
    start=$(date +%s.%N)
    "$@" > "$SMOKE_DIR/$name.log" 2>&1
    rc=$?
    end=$(date +%s.%N)
    local seconds
    seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
    local measured="see $SMOKE_DIR/$name.log"
    if ((rc == 0)) && [[ -f "$metrics" ]]; then
        measured=$("$PYTHON" - "$metrics" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
meta = m.get("meta", {})
scores = ", ".join(f"{k} {v:.4f}" for k, v in m.items()
                   if k.endswith(("/psnr", "/ssim")) and isinstance(v, float))
where = meta.get("device_name") or meta.get("device")
print(f"{scores}; device {where}; precision {meta.get('precision', 'float32')}; "
      f"tf32 {meta.get('tf32')}")
EOF
)
    fi
    ((rc != 0)) && tail -n 20 "$SMOKE_DIR/$name.log"
    SUMMARY+=("$name | $rc | $seconds | $measured")
}

GPUS=0
if ((DRY_RUN)); then
    GPUS=2
else
    GPUS=$(gpu_count) || GPUS=0
    if ((GPUS < 1)); then
        echo "gpu_smoke.sh needs a CUDA GPU: torch.cuda.is_available() is False here" >&2
        echo "(use --dry-run to see the commands)" >&2
        exit 2
    fi
    mkdir -p "$SMOKE_DIR"
    "$PYTHON" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, \
[torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true
fi
LOGS=$SMOKE_DIR/logs

run_step quickstart_gpu "$LOGS/train/denoise/gpu/metrics.json" \
    "$PYTHON" train.py trainer=gpu run_name=gpu logger=csv "paths.log_dir=$LOGS"

if ((GPUS >= 2)); then
    run_step quickstart_ddp2 "$LOGS/train/denoise/ddp2/metrics.json" \
        "$PYTHON" train.py trainer=ddp trainer.devices=2 run_name=ddp2 logger=csv \
        "paths.log_dir=$LOGS"
else
    SUMMARY+=("quickstart_ddp2 | skipped | - | only $GPUS GPU")
fi

if [[ -d "$BENCH/Set5" ]]; then
    WEIGHTS=${PA_EDSR_X2:-}
    if [[ -z "$WEIGHTS" ]]; then
        WEIGHTS=$SMOKE_DIR/pa_edsr_x2_untrained.pt
        ((DRY_RUN)) || "$PYTHON" -c "
import sys; sys.path.insert(0, '.')
from panet.checkpoints import save_network
from panet.models.registry import build_network
save_network(build_network('pa_edsr', scale=2), '$WEIGHTS')"
        ARCH=()
        LABEL=evaluate_set5_x2_untrained
    else
        ARCH=(official_arch=pa_edsr +arch_args.scale=2)
        LABEL=evaluate_set5_x2
    fi
    run_step "$LABEL" "$LOGS/evaluate/sr/$LABEL/metrics.json" \
        "$PYTHON" evaluate.py "ckpt=$WEIGHTS" "${ARCH[@]}" task=sr degradation.scale=2 \
        "data.test_sets=[Set5]" inference=chop device=cuda "run_name=$LABEL" \
        "paths.benchmark_root=$BENCH" "paths.log_dir=$LOGS"
else
    SUMMARY+=("evaluate_set5_x2 | skipped | - | no Set5 under $BENCH (set PANET_BENCHMARKS)")
fi

echo
echo "| step | exit | seconds | measured |"
echo "|---|---|---:|---|"
for row in "${SUMMARY[@]}"; do
    echo "| $row |"
done
