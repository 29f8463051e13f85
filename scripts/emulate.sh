#!/usr/bin/env bash
# Runs a command on the emulated CUDA device of native/emulator: the project's CUDA backend and its kernels, executed
# on the CPU. Builds the emulator on first use (a C++17 compiler and CMake; on Debian `apt-get install g++ cmake`),
# and again when its sources change, then runs COMMAND with MED2E3_CUDA_LIB_DIR pointing at it.
#
#   scripts/emulate.sh med2e3 golden-check --fixture tests/data/med2e3-tiny --device cuda
#   scripts/emulate.sh med2e3 generate --demo --device cuda
#   scripts/emulate.sh dotnet test --solution Med2E3.Native.sln -c Release
#   MED2E3_EMU_SCHEDULE=reverse MED2E3_EMU_STREAMS=deferred scripts/emulate.sh med2e3 info
#
# `med2e3` is the CLI of this checkout (dotnet run, so it is built first when needed). For `dotnet test` the folder is
# given to the CUDA test project only (MED2E3_TEST_CUDA_LIB_DIR): the CPU test project keeps the real NVRTC it checks
# the kernels with. The emulator's settings (MED2E3_EMU_*) are in README.md, "The CUDA path without a GPU".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MED2E3_EMU_BUILD:-$root/build/emulator}

if [ $# -eq 0 ]; then
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi

for tool in cmake c++; do
    if ! command -v "$tool" >/dev/null; then
        echo "emulate.sh: $tool is needed to build the emulated device (Debian: apt-get install g++ cmake)" >&2
        exit 2
    fi
done
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if [ ! -f "$build/CMakeCache.txt" ]; then
    echo "emulate.sh: building the emulated CUDA device in $build …" >&2
    cmake -S "$root/native/emulator" -B "$build" -DCMAKE_BUILD_TYPE=Release >"$log" 2>&1 || { cat "$log" >&2; exit 2; }
fi
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" >"$log" 2>&1 || { cat "$log" >&2; exit 2; }

lib=$build/lib
if [ "$1" = "dotnet" ] && [ "${2:-}" = "test" ]; then
    export MED2E3_TEST_CUDA_LIB_DIR=$lib
else
    export MED2E3_CUDA_LIB_DIR=$lib
fi
if [ "$1" = "med2e3" ] && ! command -v med2e3 >/dev/null; then
    shift
    set -- dotnet run -c Release --project "$root/src/Med2E3.Native.Cli" -- "$@"
fi
exec "$@"
