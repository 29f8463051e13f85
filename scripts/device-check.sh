#!/usr/bin/env bash
# Runs the GPU checks on a machine with the NVIDIA driver and CUDA libraries but no .NET SDK.
#
#   scripts/device-check.sh [BUNDLE]
#
# BUNDLE defaults to out/device-bundle/med2e3-device.tar.gz (made by scripts/build-device-bundle.sh on a machine
# with the SDK). First a one-warp probe of ldmatrix / mma.sync (TensorCoreFragmentTests) runs on the GPU and on the
# emulated device of the bundle (which needs g++ on this machine), and the two register dumps are compared bit for
# bit: this confirms the emulator's model of the tensor-core fragment layouts. Then the suites: info, kernels check,
# the CUDA tests on the GPU, the benchmarks, and the CUDA tests on the emulated device. Results go to $OUT (default
# ./device-results): results.md (summary table and the tables of each step), results.json (one record per step),
# and the raw logs: fragment-probe.{gpu,emulator}.txt, info.txt, kernels-check.md, tests.log, tests.xml, bench.md,
# bench.json, tests-emulator.log. Every step runs even if an earlier one failed; the exit code is non-zero if any
# failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bundle=${1:-$root/out/device-bundle/med2e3-device.tar.gz}
out=${OUT:-$root/device-results}
step_timeout=${MED2E3_STEP_TIMEOUT:-420}
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

names=()
codes=()
times=()
run_step() { # name, log file, command...
    local name=$1 log=$2
    shift 2
    local start end rc
    start=$(date +%s.%N)
    timeout "$step_timeout" "$@" >"$log" 2>&1
    rc=$?
    end=$(date +%s.%N)
    names+=("$name")
    codes+=("$rc")
    times+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')")
    echo "device-check: $name exit $rc (${times[-1]} s)"
}

{ command -v nvidia-smi >/dev/null && nvidia-smi; } >"$out/nvidia-smi.txt" 2>&1

# The tensor-core probe, on the GPU and on the emulated device, compared bit for bit (exact small-integer inputs).
emulator=$app/emulator/lib
probe_test=Med2E3.Native.Tests.Cuda.Ops.TensorCoreFragmentTests.LdmatrixAndMmaFollowThePtxFragmentLayouts
rm -f "$out/fragment-probe.gpu.txt" "$out/fragment-probe.emulator.txt"
run_step "fragment probe on the GPU" "$out/fragment-probe.gpu.log" \
    env MED2E3_FRAGMENT_PROBE="$out/fragment-probe.gpu.txt" "$app/Med2E3.Native.Tests.Cuda" -noColor -method "$probe_test"
run_step "fragment probe on the emulated device" "$out/fragment-probe.emulator.log" \
    env MED2E3_CUDA_LIB_DIR="$emulator" MED2E3_CACHE_DIR="$work/emulator-cache" \
    MED2E3_FRAGMENT_PROBE="$out/fragment-probe.emulator.txt" "$app/Med2E3.Native.Tests.Cuda" -noColor -method "$probe_test"
run_step "fragment probe: GPU and emulator bit for bit" "$out/fragment-probe.diff" \
    diff "$out/fragment-probe.gpu.txt" "$out/fragment-probe.emulator.txt"

run_step "med2e3 info" "$out/info.txt" "$app/med2e3" info
arch=$(sed -n 's/.*device 0 .*, \(sm_[0-9]*\), .*/\1/p' "$out/info.txt" | head -n 1)
archs="sm_80,sm_90"
if [ -n "$arch" ] && [ "$arch" != sm_80 ] && [ "$arch" != sm_90 ]; then
    archs="$archs,$arch"
fi
run_step "med2e3 kernels check --arch $archs" "$out/kernels-check.md" "$app/med2e3" kernels check --arch "$archs"
run_step "GPU tests (Med2E3.Native.Tests.Cuda)" "$out/tests.log" "$app/Med2E3.Native.Tests.Cuda" -noColor -xml "$out/tests.xml"
run_step "med2e3-bench all" "$out/bench.log" "$app/med2e3-bench" all --json "$out/bench.json" --markdown "$out/bench.md"
run_step "CUDA tests on the emulated device" "$out/tests-emulator.log" \
    env MED2E3_CUDA_LIB_DIR="$emulator" MED2E3_CACHE_DIR="$work/emulator-cache" MED2E3_POOL_EXACT=1 \
    MED2E3_EMU_STREAMS=deferred MED2E3_EMU_SCHEDULE=random:1 "$app/Med2E3.Native.Tests.Cuda" -noColor

commit=$(cat "$app/COMMIT" 2>/dev/null || echo unknown)
tests_summary=$(grep -E 'Total: [0-9]+' "$out/tests.log" | tail -n 1 | sed 's/^ *//')
emulated_summary=$(grep -E 'Total: [0-9]+' "$out/tests-emulator.log" 2>/dev/null | tail -n 1 | sed 's/^ *//')
failed=0
{
    echo "# Med2E3.Native device check"
    echo
    echo "commit \`$commit\`, $(date -u '+%Y-%m-%d %H:%M UTC'), $(hostname)"
    echo
    echo '```'
    sed -n '/^CUDA/,$p' "$out/info.txt"
    echo '```'
    echo
    echo "| step | exit code | seconds |"
    echo "|---|---:|---:|"
    for i in "${!names[@]}"; do
        echo "| ${names[$i]} | ${codes[$i]} | ${times[$i]} |"
        [ "${codes[$i]}" -ne 0 ] && failed=1
    done
    echo
    echo "tests: ${tests_summary:-no summary (see tests.log)}"
    echo
    echo "tests on the emulated device: ${emulated_summary:-no summary (see tests-emulator.log)}"
    echo
    grep -E '\[FAIL\]' "$out/tests.log" | sed 's/^ */- /' | head -n 50
    echo
    echo "## kernels check"
    echo
    cat "$out/kernels-check.md"
    echo
    echo "## benchmarks"
    if [ -f "$out/bench.md" ]; then cat "$out/bench.md"; else tail -n 20 "$out/bench.log"; fi
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

echo "device-check: results in $out/results.md and $out/results.json"
exit "$failed"
