#!/usr/bin/env bash
# Does System.CommandLine cost `sharpvisor run` (what every VMM process starts with) start-up time or size against
# the hand-written ArgumentReader? Two NativeAOT programs parse the same `run` command line (15 value options and
# a flag, as RunCommand declares them) and read every value: one with System.CommandLine, one with the very
# ArgumentReader.cs and Help.cs sharpvisor compiles. Reports each binary's size and `perf stat -r N` task-clock
# (CPU time, less sensitive than wall time to a busy machine) and elapsed time, in alternating rounds.
#
# usage: bash bench/cli-parser.sh [-n N] [--rounds R]     (defaults: 200 runs per measurement, 3 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=200 rounds=3
while (($#)); do
  case $1 in
    -n) runs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "usage: bash bench/cli-parser.sh [-n N] [--rounds R]" >&2; exit 2 ;;
  esac
done
command -v perf >/dev/null || { echo "needs perf (apt-get install linux-perf)" >&2; exit 1; }
out=${OUT:-artifacts/bench/cli-parser}
repo=$(pwd)
rm -rf "$out" && mkdir -p "$out/scl" "$out/ours"
cat >"$out/scl/scl.csproj" <<PROJ
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework><PublishAot>true</PublishAot>
    <InvariantGlobalization>true</InvariantGlobalization><Nullable>enable</Nullable><ImplicitUsings>enable</ImplicitUsings>
    <ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally></PropertyGroup>
  <ItemGroup><PackageReference Include="System.CommandLine" Version="${SCL_VERSION:-2.0.15}" />
    <Compile Include="$repo/bench/cli-parser/SystemCommandLine.cs" /></ItemGroup>
</Project>
PROJ
cat >"$out/ours/ours.csproj" <<PROJ
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework><PublishAot>true</PublishAot>
    <InvariantGlobalization>true</InvariantGlobalization><Nullable>enable</Nullable><ImplicitUsings>enable</ImplicitUsings>
    <ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally></PropertyGroup>
  <ItemGroup><Compile Include="$repo/bench/cli-parser/HandWritten.cs;$repo/src/Sharpvisor.Cli/ArgumentReader.cs;$repo/src/Sharpvisor.Cli/UsageException.cs;$repo/src/Sharpvisor.Cli/Help.cs;$repo/src/Sharpvisor.Cli/ExitCodes.cs" /></ItemGroup>
</Project>
PROJ
# Outside the repository's Directory.Build.props (warnings as errors, analyzers): plain programs.
tmp=$(mktemp -d) && cp -r "$out/scl" "$out/ours" "$tmp/"
for p in scl ours; do
  echo "publishing $p (NativeAOT)..." >&2
  dotnet publish "$tmp/$p" -c Release -r linux-x64 -o "$out/bin-$p" -nologo -clp:ErrorsOnly >/dev/null
done
rm -rf "$tmp"
args=(run --kernel /k --cpus 2 --memory 1G --disk a.img --disk b.img --rng --cmdline x)
echo "date: $(date -u +%F)  command: bash bench/cli-parser.sh -n $runs --rounds $rounds"
printf 'size: System.CommandLine %d bytes, hand-written %d bytes\n' "$(stat -c %s "$out/bin-scl/scl")" "$(stat -c %s "$out/bin-ours/ours")"
for ((r = 1; r <= rounds; r++)); do
  for p in scl ours; do
    perf stat -r "$runs" -e task-clock "$out/bin-$p/$p" "${args[@]}" 2>&1 >/dev/null \
      | awk -v p="$p" -v r="$r" '/task-clock/ {t=$1} /elapsed/ {e=$1*1000} END {printf "round %d %-4s task-clock %.2f ms  elapsed %.2f ms\n", r, p, t, e}'
  done
done
