#!/usr/bin/env bash
# Builds out/device-bundle/: a self-contained linux-x64 publish (no .NET SDK or runtime needed on the target) of
#   - Med2E3.Native.Tests.Cuda   the GPU test runner
#   - med2e3-bench               the kernel and cuBLAS benchmarks
#   - med2e3                     the CLI (info, kernels check)
#   - emulator/                  the emulated CUDA device (native/emulator), for the GPU-against-emulator probe
# compressed into out/device-bundle/med2e3-device.tar.gz, which scripts/device-check.sh unpacks and runs on a GPU
# machine with the NVIDIA driver and CUDA 12/13 libraries (libcuda, libnvrtc, libcublas).
set -euo pipefail
cd "$(dirname "$0")/.."

out=out/device-bundle
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
rm -rf "$out"
mkdir -p "$out" "$stage/app"

publish() {
    dotnet publish "$1" -c Release -r linux-x64 --self-contained -p:PublishTrimmed=false \
        -p:DebugType=none -p:GenerateDocumentationFile=false -o "$stage/app" --nologo -v quiet
}

# One folder for all three: they share the runtime and the project assemblies, which keeps the archive small.
publish tests/Med2E3.Native.Tests.Cuda
publish benchmarks/Med2E3.Native.Benchmarks
publish src/Med2E3.Native.Cli
git rev-parse HEAD > "$stage/app/COMMIT" 2>/dev/null || echo unknown > "$stage/app/COMMIT"
# The emulated device: its library and the four names it answers to (it compiles kernels with the target's g++).
cmake -S native/emulator -B build/emulator-bundle -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build build/emulator-bundle -j "$(nproc)" >/dev/null
mkdir -p "$stage/app/emulator"
cp build/emulator-bundle/libmed2e3emu.so "$stage/app/emulator/"
cp -P -r build/emulator-bundle/lib "$stage/app/emulator/"

tar -C "$stage" -czf "$out/med2e3-device.tar.gz" app
bytes=$(stat -c %s "$out/med2e3-device.tar.gz")
limit=$((60 * 1024 * 1024))
echo "bundle: $out/med2e3-device.tar.gz $((bytes / 1024 / 1024)) MiB ($bytes bytes), $(du -sh "$stage/app" | cut -f1) unpacked"
if [ "$bytes" -ge "$limit" ]; then
    echo "bundle is over 60 MiB" >&2
    exit 1
fi
