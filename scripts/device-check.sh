#!/usr/bin/env bash
# The one prepared GPU command: runs the GPU checks on a machine with the NVIDIA driver and CUDA libraries but no .NET
# SDK, in four timed phases that fit in 15 minutes of GPU time with room to rerun once:
#
#   1. (≤ 3 min) the one-warp ldmatrix / mma.sync / cp.async probe (TensorCoreFragmentTests) on the GPU and on the
#      emulated device of the bundle (which needs g++ here), compared bit for bit, then the whole Tests.Cuda runner;
#   2. `med2e3 info`, `kernels check` (sm_80, sm_90, the device's arch) and `golden-check --device cuda` on
#      tests/data/med2e3-tiny, with the default kernels and again with the tensor-core attention variants on;
#   3. (≤ 6 min) the benchmarks: `med2e3-bench attention-kernels` (every attention variant at the real shapes, against
#      the float64 reference and SDPA's anchors), `med2e3-bench all` (copy, elementwise, reduce, GEMM, op suites) and
#      `med2e3-bench gpu-model` (the whole model stage by stage on a synthetic checkpoint at the released geometry:
#      encode, prefill, decode per token, end to end with 100 tokens, peak GPU memory);
#   4. (≤ 3 min) the PyTorch reference re-measured in the same run (shared/reference/baselines.py), when python3 can
#      import torch and the reference folder is there (MED2E3_REFERENCE_DIR, default ../shared/reference or
#      ./shared/reference).
#
#   OUT=/some/dir scripts/device-check.sh [BUNDLE]
#
# BUNDLE defaults to out/device-bundle/med2e3-device.tar.gz (made by scripts/build-device-bundle.sh on a machine
# with the SDK). It writes at most eight files into $OUT (default ./device-results): results.md (summary table, the
# kernels check, the benchmark tables), results.json (one record per step), logs.txt (every step's output, in
# order), tests.xml, attention.json, bench.json, gpu-model.json and baselines.json (the benchmark tables go into
# results.md only). Every step runs even if an earlier one
# failed; the exit code is non-zero if any failed. MED2E3_STEP_TIMEOUT caps every step (seconds) below its own cap.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bundle=${1:-$root/out/device-bundle/med2e3-device.tar.gz}
out=${OUT:-$root/device-results}
cap=${MED2E3_STEP_TIMEOUT:-600}
mkdir -p "$out"

if [ ! -f "$bundle" ]; then
    echo "device-check: bundle not found: $bundle (build it with scripts/build-device-bundle.sh)" >&2
    exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xzf "$bundle" -C "$work"
app=$work/app
# A fresh kernel cache, so the first compile of each file is cold and later ones are warm.
export MED2E3_CACHE_DIR=$work/cache
# CUDA 13 installs under /usr/local/cuda; the resolver also searches CUDA_PATH and the loader path.
export MED2E3_CUDA_LIB_DIR=${MED2E3_CUDA_LIB_DIR:-/usr/local/cuda/lib64}
export DOTNET_CLI_TELEMETRY_OPTOUT=1
logs=$out/logs.txt
: >"$logs"
rm -f "$out/tests.xml" "$out/attention.json" "$out/bench.json" "$out/bench.md" "$out/gpu-model.json" "$out/baselines.json"

# The released-geometry synthetic checkpoint of gpu-model (8.7 GB, CPU and disk only) is written in the background
# while phases 1 and 2 use the GPU; the gpu-model step waits for it (and writes it itself if this failed).
gpu_model_work=$work/gpu-model
"$app/med2e3-bench" gpu-model --prepare-only --work "$gpu_model_work" >"$work/gpu-model-prepare.log" 2>&1 &
prepare_pid=$!

names=()
codes=()
times=()
run_step() { # name, timeout seconds, log file, command...
    local name=$1 limit=$2 log=$3
    shift 3
    [ "$limit" -gt "$cap" ] && limit=$cap
    local start end rc
    start=$(date +%s.%N)
    timeout "$limit" "$@" >"$log" 2>&1
    rc=$?
    end=$(date +%s.%N)
    names+=("$name")
    codes+=("$rc")
    times+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')")
    { echo "===== $name: exit $rc (${times[-1]} s, limit $limit s)"; cat "$log"; echo; } >>"$logs"
    echo "device-check: $name exit $rc (${times[-1]} s)"
}

{ command -v nvidia-smi >/dev/null && nvidia-smi; } >"$work/nvidia-smi.txt" 2>&1
cat "$work/nvidia-smi.txt" >>"$logs"

# Phase 1: the tensor-core probe on the GPU and on the emulated device, compared bit for bit (exact small-integer
# inputs), then the whole CUDA test runner.
emulator=$app/emulator/lib
probe_test=Med2E3.Native.Tests.Cuda.Ops.TensorCoreFragmentTests.LdmatrixAndMmaFollowThePtxFragmentLayouts
run_step "fragment probe on the GPU" 30 "$work/probe-gpu.log" \
    env MED2E3_FRAGMENT_PROBE="$work/fragment-probe.gpu.txt" "$app/Med2E3.Native.Tests.Cuda" -noColor -method "$probe_test"
run_step "fragment probe on the emulated device" 30 "$work/probe-emu.log" \
    env MED2E3_CUDA_LIB_DIR="$emulator" MED2E3_CACHE_DIR="$work/emulator-cache" \
    MED2E3_FRAGMENT_PROBE="$work/fragment-probe.emulator.txt" "$app/Med2E3.Native.Tests.Cuda" -noColor -method "$probe_test"
run_step "fragment probe: GPU and emulator bit for bit" 10 "$work/probe.diff" \
    diff "$work/fragment-probe.gpu.txt" "$work/fragment-probe.emulator.txt"
run_step "GPU tests (Med2E3.Native.Tests.Cuda)" 120 "$work/tests.log" "$app/Med2E3.Native.Tests.Cuda" -noColor -xml "$out/tests.xml"

# Phase 2: what runs, what the kernels cost in registers and shared memory, and the bf16 golden check on the device.
run_step "med2e3 info" 20 "$work/info.txt" "$app/med2e3" info
arch=$(sed -n 's/.*device 0 .*, \(sm_[0-9]*\), .*/\1/p' "$work/info.txt" | head -n 1)
archs="sm_80,sm_90"
if [ -n "$arch" ] && [ "$arch" != sm_80 ] && [ "$arch" != sm_90 ]; then
    archs="$archs,$arch"
fi
run_step "med2e3 kernels check --arch $archs" 60 "$work/kernels-check.md" "$app/med2e3" kernels check --arch "$archs"
fixture=$root/tests/data/med2e3-tiny
run_step "golden-check --device cuda" 45 "$work/golden.log" "$app/med2e3" golden-check --fixture "$fixture" --device cuda
run_step "golden-check --device cuda, tensor-core attention" 45 "$work/golden-fast.log" \
    env MED2E3_FAST_ATTENTION=1 "$app/med2e3" golden-check --fixture "$fixture" --device cuda

# Phase 3: the benchmarks (CUDA events, median after warm-up, L2 flushed).
run_step "med2e3-bench attention-kernels" 60 "$work/attention.log" \
    "$app/med2e3-bench" attention-kernels --json "$out/attention.json" --markdown "$work/attention.md"
run_step "med2e3-bench all" 60 "$work/bench.log" "$app/med2e3-bench" all --json "$out/bench.json" --markdown "$work/bench.md"
wait "$prepare_pid"
{ echo "===== gpu-model checkpoint (background, exit $?)"; cat "$work/gpu-model-prepare.log"; echo; } >>"$logs"
run_step "med2e3-bench gpu-model" 120 "$work/gpu-model.log" "$app/med2e3-bench" gpu-model --work "$gpu_model_work" \
    --json "$out/gpu-model.json" --markdown "$work/gpu-model.md"

# Phase 4: the PyTorch reference on the same GPU, in the same run.
ref=${MED2E3_REFERENCE_DIR:-}
if [ -z "$ref" ]; then
    for d in "$root/../shared/reference" "$root/shared/reference"; do
        [ -f "$d/baselines.py" ] && ref=$d && break
    done
fi
if [ -n "$ref" ] && [ -f "$ref/baselines.py" ] && python3 -c 'import torch, transformers' >/dev/null 2>&1; then
    run_step "reference baselines (PyTorch)" 180 "$work/baselines.log" python3 "$ref/baselines.py" "$out/baselines.json"
else
    echo "device-check: reference baselines skipped (no baselines.py under MED2E3_REFERENCE_DIR or no torch + transformers)" | tee -a "$logs"
fi

commit=$(cat "$app/COMMIT" 2>/dev/null || echo unknown)
tests_summary=$(grep -E 'Total: [0-9]+' "$work/tests.log" | tail -n 1 | sed 's/^ *//')
failed=0
{
    echo "# Med2E3.Native device check"
    echo
    echo "commit \`$commit\`, $(date -u '+%Y-%m-%d %H:%M UTC'), $(hostname)"
    echo
    echo '```'
    sed -n '/^CUDA/,$p' "$work/info.txt"
    echo '```'
    echo
    echo "| step | exit code | seconds |"
    echo "|---|---:|---:|"
    for i in "${!names[@]}"; do
        echo "| ${names[$i]} | ${codes[$i]} | ${times[$i]} |"
        [ "${codes[$i]}" -ne 0 ] && failed=1
    done
    echo
    echo "tests: ${tests_summary:-no summary (see logs.txt)}"
    echo
    grep -E '\[FAIL\]' "$work/tests.log" | sed 's/^ */- /' | head -n 50
    echo
    echo "## golden check"
    echo
    echo '```'
    tail -n 15 "$work/golden.log"
    echo '```'
    echo
    echo "## kernels check"
    echo
    cat "$work/kernels-check.md"
    echo
    echo "## attention kernels"
    if [ -f "$work/attention.md" ]; then cat "$work/attention.md"; else tail -n 20 "$work/attention.log"; fi
    echo
    echo "## benchmarks"
    if [ -f "$work/bench.md" ]; then cat "$work/bench.md"; else tail -n 20 "$work/bench.log"; fi
    echo
    echo "## the model, stage by stage"
    if [ -f "$work/gpu-model.md" ]; then cat "$work/gpu-model.md"; else tail -n 20 "$work/gpu-model.log"; fi
} >"$out/results.md"

{
    echo "{"
    echo "  \"commit\": \"$commit\","
    echo "  \"tests\": \"${tests_summary//\"/\'}\","
    echo "  \"steps\": ["
    for i in "${!names[@]}"; do
        sep=","
        [ "$i" -eq $((${#names[@]} - 1)) ] && sep=""
        echo "    {\"name\": \"${names[$i]}\", \"exit_code\": ${codes[$i]}, \"seconds\": ${times[$i]}}$sep"
    done
    echo "  ]"
    echo "}"
} >"$out/results.json"

echo "device-check: results in $out (results.md, results.json, logs.txt and the step outputs)"
exit "$failed"
