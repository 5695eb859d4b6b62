#!/usr/bin/env bash
# Fuzzes the file parsers of DiffusionFormats with libFuzzer and AddressSanitizer (the toolchain's own;
# nothing to install). SwiftPM cannot pass -sanitize=fuzzer without unsafe flags, so each fuzzer is
# compiled here with swiftc from Sources/DiffusionFormats and fuzz/Harness.swift.
#
#   fuzz/run.sh                      every target, 10^7 executions each (FUZZ_RUNS to change)
#   fuzz/run.sh npy png              some targets
#   FUZZ_RUNS=100000 fuzz/run.sh     a quick pass
#
# Targets: npy (NPYArray), safetensors (SafetensorsFile), png (PNGDecoder), zlib (Zlib/Inflate).
# Seeds: fuzz/corpus/<target>/ (committed); the growing corpus and any crash-* reproducer go to
# .build-fuzz/ (git-ignored). A crash file is replayed with `.build-fuzz/fuzz-<target> crash-...`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${FUZZ_BUILD:-$root/.build-fuzz}
runs=${FUZZ_RUNS:-10000000}
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(npy safetensors png zlib)
mkdir -p "$out"
for target in "${targets[@]}"; do
    case $target in npy|safetensors|png|zlib) ;; *) echo "fuzz/run.sh: unknown target '$target' (npy, safetensors, png, zlib)" >&2; exit 2;; esac
    flag=FUZZ_$(echo "$target" | tr a-z A-Z)
    swiftc -O -sanitize=fuzzer,address -parse-as-library -D "$flag" -module-name FormatsFuzz -package-name DiffusionSolvers \
        "$root"/Sources/DiffusionFormats/*.swift "$root/fuzz/Harness.swift" -o "$out/fuzz-$target" 2> "$out/build-$target.log" \
        || { cat "$out/build-$target.log" >&2; exit 1; }
    mkdir -p "$out/corpus-$target"
    echo "== $target: $runs executions"
    (cd "$out" && "./fuzz-$target" -runs="$runs" -max_len=8192 -rss_limit_mb=2048 -print_final_stats=1 \
        "corpus-$target" "$root/fuzz/corpus/$target" 2>&1 | grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE|==[0-9]+==ERROR|SUMMARY)|Fatal error|crash-" || true)
    ls "$out"/crash-* "$out"/leak-* 2>/dev/null && { echo "fuzz/run.sh: $target found a crash (above)" >&2; exit 1; }
done
