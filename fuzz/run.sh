#!/usr/bin/env bash
# Fuzzes the parsers of DiffusionFormats and DiffusionCore with libFuzzer and AddressSanitizer (the
# toolchain's own; nothing to install). SwiftPM cannot pass -sanitize=fuzzer without unsafe flags, so each
# fuzzer is compiled here with swiftc: the file targets from Sources/DiffusionFormats and fuzz/Harness.swift,
# the core targets by building RealModule, DiffusionFormats and DiffusionCore as modules and linking
# fuzz/CoreHarness.swift against them.
#
#   fuzz/run.sh                      every target, 10^7 executions each (FUZZ_RUNS to change)
#   fuzz/run.sh npy png              some targets
#   FUZZ_RUNS=100000 fuzz/run.sh     a quick pass
#   FUZZ_SECONDS=3600 fuzz/run.sh request   for a given time instead of a number of executions
#
# Targets: npy (NPYArray), safetensors (SafetensorsFile), png (PNGDecoder), zlib (Zlib/Inflate),
# scheduler-config (DiffusersSchedulerConfig, then a short run on its schedule), tuned (TunedFile, then each
# configuration run), request (diffuse sample's flags as key=value lines -> SamplingRequest -> SamplingResolver
# -> a short run on a tiny mixture).
# Seeds: fuzz/corpus/<target>/ (committed); the growing corpus and any crash-* reproducer go to
# .build-fuzz/ (git-ignored). A crash file is replayed with `.build-fuzz/fuzz-<target> crash-...`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${FUZZ_BUILD:-$root/.build-fuzz}
runs=${FUZZ_RUNS:-10000000}
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(npy safetensors png zlib scheduler-config tuned request)
mkdir -p "$out"
flags=(-O -sanitize=fuzzer,address -parse-as-library -package-name DiffusionSolvers)

# RealModule, DiffusionFormats and DiffusionCore as instrumented modules under $out/modules (once).
build_core_modules() {
    local mods=$out/modules
    [ -f "$mods/DiffusionCore.o" ] && [ -z "$(find "$root/Sources/DiffusionCore" "$root/Sources/DiffusionFormats" -newer "$mods/DiffusionCore.o" -name '*.swift')" ] && return
    [ -d "$root/.build/checkouts/swift-numerics" ] || (cd "$root" && swift package resolve >/dev/null)
    local numerics=$root/.build/checkouts/swift-numerics/Sources
    mkdir -p "$mods"
    build_module() {  # name, sources...
        local name=$1; shift
        echo "== building module $name"
        swiftc "${flags[@]}" -wmo -c -module-name "$name" -emit-module -emit-module-path "$mods/$name.swiftmodule" \
            -I "$mods" -I "$numerics/_NumericsShims/include" "$@" -o "$mods/$name.o" 2> "$out/build-$name.log" \
            || { cat "$out/build-$name.log" >&2; exit 1; }
    }
    build_module RealModule "$numerics"/RealModule/*.swift
    build_module DiffusionFormats "$root"/Sources/DiffusionFormats/*.swift
    build_module DiffusionCore $(find "$root/Sources/DiffusionCore" -name '*.swift' | sort)
}

for target in "${targets[@]}"; do
    flag=FUZZ_$(echo "$target" | tr a-z- A-Z_)
    case $target in
    npy|safetensors|png|zlib)
        swiftc "${flags[@]}" -D "$flag" -module-name FormatsFuzz \
            "$root"/Sources/DiffusionFormats/*.swift "$root/fuzz/Harness.swift" -o "$out/fuzz-$target" 2> "$out/build-$target.log" \
            || { cat "$out/build-$target.log" >&2; exit 1; };;
    scheduler-config|tuned|request)
        build_core_modules
        swiftc "${flags[@]}" -D "$flag" -module-name CoreFuzz -I "$out/modules" \
            -I "$root/.build/checkouts/swift-numerics/Sources/_NumericsShims/include" "$root/fuzz/CoreHarness.swift" \
            "$out"/modules/{RealModule,DiffusionFormats,DiffusionCore}.o -o "$out/fuzz-$target" 2> "$out/build-$target.log" \
            || { cat "$out/build-$target.log" >&2; exit 1; };;
    *) echo "fuzz/run.sh: unknown target '$target' (npy, safetensors, png, zlib, scheduler-config, tuned, request)" >&2; exit 2;;
    esac
    mkdir -p "$out/corpus-$target"
    limit=(-runs="$runs")
    [ -n "${FUZZ_SECONDS:-}" ] && limit=(-max_total_time="$FUZZ_SECONDS")
    echo "== $target: ${limit[*]}"
    (cd "$out" && SWIFT_BACKTRACE=enable=no "./fuzz-$target" "${limit[@]}" -max_len=8192 -rss_limit_mb=2048 -print_final_stats=1 \
        "corpus-$target" "$root/fuzz/corpus/$target" 2>&1 | grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE|==[0-9]+==ERROR|SUMMARY)|Fatal error|crash-" || true)
    found=$(find "$out" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \))
    [ -n "$found" ] && { echo "$found"; echo "fuzz/run.sh: $target found a crash (above)" >&2; exit 1; }
done
