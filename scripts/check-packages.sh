#!/usr/bin/env bash
# Package-consumption check: packs every Med2E3.Native package into a temporary local feed, then builds and runs the
# samples against that feed (PackageReference, not the projects) and installs the med2e3 tool from it, as a user
# would. Nothing touches the user's NuGet configuration or global packages folder: restore uses a temporary
# NuGet.config (the local feed first, then the sources already configured on this machine) and a temporary packages
# folder, with the user's global packages folder as a read-only fallback (so third-party packages are not downloaded
# again). The packages get a unique pre-release version, so no copy cached elsewhere can stand in for them.
#
#   scripts/check-packages.sh            prints package sizes, the samples' output (and that of a program built on
#                                        Med2E3.Native.Formats alone), the tool's size; exit 1 on a failure
#   KEEP=1 scripts/check-packages.sh     keeps the temporary folder (its path is printed)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/med2e3-packages.XXXXXX")
if [ "${KEEP:-0}" != 1 ]; then trap 'rm -rf "$work"' EXIT; else echo "keeping $work"; fi
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

fail() { echo "package check FAILED: $*" >&2; exit 1; }
step() { echo "== $*"; }

suffix="check.$(date -u +%Y%m%d%H%M%S)"
prefix=$(sed -n 's:.*<VersionPrefix>\(.*\)</VersionPrefix>.*:\1:p' "$root/Directory.Build.props")
[ -n "$prefix" ] || fail "no VersionPrefix in Directory.Build.props"
version="$prefix-$suffix"
feed="$work/feed"

step "dotnet pack (version $version) into a local feed"
log="$work/pack.log"
if ! dotnet pack "$root/Med2E3.Native.sln" -c Release -o "$feed" -p:VersionSuffix="$suffix" >"$log" 2>&1; then
    grep -E 'error' "$log" | sort -u | head -n 20
    fail "dotnet pack"
fi
printf '%-48s %12s\n' package bytes
for f in "$feed"/*.nupkg "$feed"/*.snupkg; do printf '%-48s %12d\n' "$(basename "$f")" "$(stat -c %s "$f")"; done

# The temporary NuGet.config: the local feed, then every source enabled on this machine (read, not copied into the
# repository), a temporary packages folder and the user's packages folder as a read-only fallback.
global=$(dotnet nuget locals global-packages --list | sed 's/^global-packages: //')
{
    echo '<?xml version="1.0" encoding="utf-8"?>'
    echo '<configuration>'
    echo "  <config><add key=\"globalPackagesFolder\" value=\"$work/packages\" /></config>"
    echo '  <packageSources>'
    echo '    <clear />'
    echo "    <add key=\"med2e3-local\" value=\"$feed\" />"
    n=0
    dotnet nuget list source --format short | while read -r flag url; do
        [ "$flag" = E ] || continue
        n=$((n + 1))
        echo "    <add key=\"upstream-$n\" value=\"$url\" />"
    done
    echo '  </packageSources>'
    echo "  <fallbackPackageFolders><add key=\"user\" value=\"$global\" /></fallbackPackageFolders>"
    echo '</configuration>'
} >"$work/NuGet.config"

build_sample() {
    local name=$1 project="$root/samples/$1/$1.csproj"
    step "build samples/$name against the feed"
    rm -rf "$root/samples/$name/bin" "$root/samples/$name/obj"
    dotnet restore "$project" --configfile "$work/NuGet.config" -p:Med2E3NativeVersion="$version" >"$work/$name.restore.log" 2>&1 \
        || { tail -n 20 "$work/$name.restore.log"; fail "restore samples/$name"; }
    # The sample must have resolved the packages from the feed, not the projects in src/.
    grep -q "med2e3.native.models/$version" "$root/samples/$name/obj/project.assets.json" 2>/dev/null \
        || grep -qi "\"Med2E3.Native.Models/$version\"" "$root/samples/$name/obj/project.assets.json" \
        || fail "samples/$name did not restore Med2E3.Native.Models $version"
    dotnet build "$project" -c Release --no-restore -p:Med2E3NativeVersion="$version" >"$work/$name.build.log" 2>&1 \
        || { grep -E 'error' "$work/$name.build.log" | sort -u | head -n 20; fail "build samples/$name"; }
    bin=$(dirname "$(find "$root/samples/$name/bin/Release" -name "$name.dll" | head -n 1)")
    [ -x "$bin/$name" ] || fail "samples/$name: no executable in $bin"
    echo "samples/$name output folder: $(du -sb "$bin" | cut -f1) bytes"
}

# A program that only reads files takes Med2E3.Native.Formats alone: it must restore no other Med2E3.Native package
# (no tensors, no CUDA bindings) and read the committed NIfTI sample.
step "build and run a Formats-only program against the feed"
fmt="$work/formats-only"
mkdir -p "$fmt"
cat >"$fmt/FormatsOnly.csproj" <<EOF2
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework><ImplicitUsings>enable</ImplicitUsings></PropertyGroup>
  <ItemGroup><PackageReference Include="Med2E3.Native.Formats" Version="$version" /></ItemGroup>
</Project>
EOF2
cat >"$fmt/Program.cs" <<'EOF2'
using Med2E3.Native.Formats.Volumes;

var v = VolumeReader.Read(args[0]);
Console.WriteLine($"{v.Format} {v.Depth}x{v.Height}x{v.Width} from {v.SourceAxisCodes}");
EOF2
dotnet restore "$fmt/FormatsOnly.csproj" --configfile "$work/NuGet.config" >"$work/formats-only.restore.log" 2>&1 \
    || { tail -n 20 "$work/formats-only.restore.log"; fail "restore the Formats-only program"; }
grep -qi "\"Med2E3.Native.Formats/$version\"" "$fmt/obj/project.assets.json" || fail "the Formats-only program did not restore Med2E3.Native.Formats $version"
! grep -qiE '"Med2E3\.Native\.(Tensors|Ops|Runtime|Interop|Models|Tokenizers)/' "$fmt/obj/project.assets.json" \
    || fail "Med2E3.Native.Formats brings in another Med2E3.Native package"
dotnet build "$fmt/FormatsOnly.csproj" -c Release --no-restore -o "$fmt/bin" >"$work/formats-only.build.log" 2>&1 \
    || { grep -E 'error' "$work/formats-only.build.log" | sort -u | head -n 20; fail "build the Formats-only program"; }
out=$("$fmt/bin/FormatsOnly" "$root/tests/data/volumes/phantom-ct-8x32x32.nii.gz")
echo "$out"
grep -qE '^Nifti1 8x32x32 from RAS$' <<<"$out" || fail "the Formats-only program read the NIfTI sample as: $out"

build_sample QuickStart
step "run samples/QuickStart (the demo model)"
out=$("$bin/QuickStart")
echo "$out"
grep -q '^token ids match the PyTorch reference$' <<<"$out" || fail "QuickStart: the demo's token ids do not match the reference"
grep -qE '^slice  7  0\.[0-9]{3}' <<<"$out" || fail "QuickStart: no slice scores"

build_sample BatchWithCancel
step "run samples/BatchWithCancel to the end"
out=$("$bin/BatchWithCancel" --max-new-tokens 8 2>/dev/null)
echo "$out"
grep -q '^done: 9 answers$' <<<"$out" || fail "BatchWithCancel did not answer all 9 questions"

step "run samples/BatchWithCancel and press Ctrl+C (SIGINT) after the first answer"
# A background job of a non-interactive shell starts with SIGINT ignored, and so does everything started by a script
# that was itself started that way; .NET then installs no Ctrl+C handler. perl (part of every Debian system) puts
# the default disposition back before it execs the sample, so the SIGINT below arrives as a Ctrl+C would.
perl -e '$SIG{INT} = "DEFAULT"; exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\n"' \
    "$bin/BatchWithCancel" --max-new-tokens 2000 >"$work/cancel.out" 2>"$work/cancel.err" &
pid=$!
for _ in $(seq 1 600); do
    grep -q '^\[1/9\]' "$work/cancel.out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
kill -INT "$pid" 2>/dev/null || true
set +e
wait "$pid"
rc=$?
set -e
cat "$work/cancel.out"
[ "$rc" = 130 ] || { cat "$work/cancel.err"; fail "BatchWithCancel exited with $rc after Ctrl+C, expected 130"; }
grep -qE '^cancelled: [1-8] of 9 answers finished$' "$work/cancel.out" || fail "BatchWithCancel: no clean cancellation message"

step "dotnet tool install med2e3 from the feed"
tool_pkg="$feed/Med2E3.Native.Cli.$(dotnet --info | sed -n 's/^ *RID: *//p' | head -n 1).$version.nupkg"
[ -f "$tool_pkg" ] || fail "no RID-specific tool package for this machine ($tool_pkg)"
dotnet tool install Med2E3.Native.Cli --version "$version" --tool-path "$work/tool" --configfile "$work/NuGet.config" \
    >"$work/tool.log" 2>&1 || { cat "$work/tool.log"; fail "dotnet tool install"; }
echo "tool package for this machine: $(basename "$tool_pkg") $(stat -c %s "$tool_pkg") bytes; installed: $(du -sb "$work/tool" | cut -f1) bytes"
out=$("$work/tool/med2e3" generate --demo 2>&1)
echo "$out"
grep -q 'are exactly those of the PyTorch reference' <<<"$out" || fail "the installed med2e3 generate --demo does not match the reference"

echo "package check passed"
