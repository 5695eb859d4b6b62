"""Forward-pass time of the shipped UNet2DModels and the latent-size model: PyTorch (diffusers) against our Swift runtime, in one run.

    swift build -c release --product diffuse-benchmarks --scratch-path .build-bench
    tools/.venv/bin/python tools/neural/bench_forward.py [--binary PATH] [--out PATH]

The networks: one shipped folder per distinct shape (digits-flow and digits-lcm have digits-unet's), and
the latent-size model of `make_latent_unet.py` in `.build-bench/latent-unet` (created when missing; its
`forward_reference.safetensors` gives the relative RMS difference of our output from PyTorch's).

(a) PyTorch: `UNet2DModel.from_pretrained(folder)`, float32, CPU, `torch.inference_mode()`, at batch 1 and
16, with `torch.set_num_threads(T)` for T = 1 and T = our thread count (the machine's cores). The input
is the same as ours: seeded normal noise, timestep 500, the null class label for class-conditional models.
Median of several passes after a warm-up.
A pass that takes over a second is timed 3 times after 1 warm-up.
(b) Ours: `diffuse-benchmarks --neural --json --unet FOLDER ...` (GEMM GFLOP/s at 256/512/1024 with the
dispatched and the portable micro-kernel, the peak of each kernel's unit in the same run, forward medians
per batch and thread count).

Prints one table and writes `docs/benchmarks/neural.md`. The machine may be shared: the load average is
recorded at the start and the end, and the numbers are only as quiet as the machine was.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
MODELS = REPO_ROOT / "Sources" / "DiffusionNeural" / "Resources" / "Models"
# One per distinct shape: digits-flow and digits-lcm share digits-unet's config up to the schedule.
SHIPPED = ["digits-unet", "digits-masked", "digits-mr", "photos-unet"]
LATENT = REPO_ROOT / ".build-bench" / "latent-unet"
BATCHES = [1, 16]
RATIO_TARGET = 1.0      # ours / PyTorch forward time
PEAK_TARGET = 0.7       # GEMM GFLOP/s / FMA peak of the dispatched kernel's unit
FLAGS = ["sse", "sse2", "sse4_1", "sse4_2", "avx", "avx2", "fma", "avx512f"]


def run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def machine() -> dict:
    out = run(["lscpu"])
    model = re.search(r"^Model name:\s*(.+)$", out, re.M)
    found = re.search(r"^Flags:\s*(.+)$", out, re.M)
    flags = set(found.group(1).split()) if found else set()
    return {"model": model.group(1).strip() if model else platform.processor() or "unknown",
            "flags": {f: f in flags for f in FLAGS},
            "cores": os.cpu_count(), "usable": len(os.sched_getaffinity(0))}


def ours_version() -> str:
    commit = run(["git", "rev-parse", "--short=12", "HEAD"]) or "unknown"
    dirty = " + uncommitted changes" if run(["git", "status", "--porcelain", "--untracked-files=no"]) else ""
    swift = run(["swift", "--version"]).splitlines()
    return f"commit {commit}{dirty}; {swift[0] if swift else 'swift (version unknown)'}"


def run_ours(binary: Path, folders: list[Path]) -> dict:
    if not binary.exists():
        sys.exit(f"{binary} not found; build it with\n"
                 "  swift build -c release --product diffuse-benchmarks --scratch-path .build-bench")
    cmd = [str(binary), "--neural", "--json"] + [a for f in folders for a in ("--unet", str(f))]
    out = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def torch_flops(folder: Path) -> float:
    """Floating-point operations of one sample's forward pass as `torch.utils.flop_counter` counts them
    (convolutions, matrix products, attention): an independent check of our count."""
    import torch
    from diffusers import UNet2DModel
    from torch.utils.flop_counter import FlopCounterMode

    model = UNet2DModel.from_pretrained(folder, torch_dtype=torch.float32).eval()
    config = model.config
    size = config.sample_size if isinstance(config.sample_size, (list, tuple)) else (config.sample_size,) * 2
    labels = torch.tensor([config.num_class_embeds - 1]) if config.num_class_embeds else None
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(torch.zeros((1, config.in_channels, *size)), torch.tensor([500.0]), class_labels=labels)
    return float(counter.get_total_flops())


def time_torch(folder: Path, threads: list[int], warmup: int, repeats: dict[int, int]) -> dict:
    """Median forward milliseconds keyed by (batch, threads)."""
    import torch
    from diffusers import UNet2DModel
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()   # the note that `accelerate` is missing

    model = UNet2DModel.from_pretrained(folder, torch_dtype=torch.float32).eval()
    config = model.config
    shape = (config.in_channels, *(
        config.sample_size if isinstance(config.sample_size, (list, tuple)) else (config.sample_size,) * 2))
    result = {}
    with torch.inference_mode():
        for batch in BATCHES:
            x = torch.randn((batch, *shape), generator=torch.Generator().manual_seed(3), dtype=torch.float32)
            t = torch.full((batch,), 500.0)
            labels = (torch.full((batch,), config.num_class_embeds - 1, dtype=torch.long)
                      if config.num_class_embeds else None)
            for n in threads:
                torch.set_num_threads(n)
                start = time.perf_counter()
                model(x, t, class_labels=labels)
                slow = time.perf_counter() - start > 1
                for _ in range(0 if slow else warmup - 1):
                    model(x, t, class_labels=labels)
                times = []
                for _ in range(3 if slow else repeats[batch]):
                    start = time.perf_counter()
                    model(x, t, class_labels=labels)
                    times.append(time.perf_counter() - start)
                result[(batch, n)] = statistics.median(times) * 1e3
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", type=Path, default=REPO_ROOT / ".build-bench/release/diffuse-benchmarks")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs/benchmarks/neural.md")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, nargs=2, default=[21, 7], metavar=("B1", "B16"),
                        help="PyTorch passes timed at batch 1 and 16 (median)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternate ours and PyTorch this many times; each keeps its lowest median")
    parser.add_argument("--omp-wait-policy", default="PASSIVE",
                        help="OMP_WAIT_POLICY for PyTorch's OpenMP threads ('default' leaves it unset)")
    args = parser.parse_args()
    # With another job on a core, libgomp's default spin-waiting makes 2-thread PyTorch 5-80x slower
    # than 1 thread; passive waiting is what our dispatch-queue threads do. Must precede `import torch`.
    if args.omp_wait_policy != "default" and "OMP_WAIT_POLICY" not in os.environ:
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy
    omp_policy = os.environ.get("OMP_WAIT_POLICY", "unset (libgomp default)")

    if not (LATENT / "config.json").exists():
        print(f"creating the latent-size model in {LATENT.relative_to(REPO_ROOT)} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, str(Path(__file__).with_name("make_latent_unet.py")), "--out", str(LATENT)], check=True)
    load_start = os.getloadavg()
    started = datetime.datetime.now().astimezone()
    folders = [MODELS / name for name in SHIPPED] + [LATENT]
    names = [folder.name for folder in folders]

    import diffusers
    import torch
    torch_info = (f"torch {torch.__version__} (CPU kernels: {torch.backends.cpu.get_cpu_capability()}, "
                  f"oneDNN {'on' if torch.backends.mkldnn.is_available() else 'off'}, OMP_WAIT_POLICY {omp_policy}), "
                  f"diffusers {diffusers.__version__}")
    repeats = dict(zip(BATCHES, args.repeats))

    # Alternate the two sides so that a change in the machine's load hits both; keep each side's best.
    runs, torch_ms = [], {name: {} for name in names}
    for r in range(args.rounds):
        print(f"round {r + 1}/{args.rounds}: ours ...", file=sys.stderr, flush=True)
        runs.append(run_ours(args.binary.resolve(), folders))
        cores = runs[0]["threads"]
        thread_counts = sorted({1, cores})
        print(f"round {r + 1}/{args.rounds}: PyTorch ...", file=sys.stderr, flush=True)
        for name, folder in zip(names, folders):
            for key, ms in time_torch(folder, thread_counts, args.warmup, repeats).items():
                torch_ms[name][key] = min(ms, torch_ms[name].get(key, ms))
    load_end = os.getloadavg()
    # The GEMM table comes from the single run whose all-core peak was highest (least disturbed).
    ours = max(runs, key=lambda run: run["peakAllThreads"])

    # One row per model, batch and thread count; ours keyed the same way.
    rows = []
    for i, name in enumerate(names):
        unet = runs[0]["unets"][i]
        mine = {}
        for run in runs:
            for f in run["unets"][i]["forward"]:
                key = (f["batch"], f["threads"])
                mine[key] = min(f["milliseconds"], mine.get(key, f["milliseconds"]))
        for batch in BATCHES:
            for n in sorted(thread_counts, reverse=True):
                p, o = torch_ms[name][(batch, n)], mine[(batch, n)]
                rows.append((name, batch, n, p, o, o / p, unet["gflopPerSample"]))
    worst = max(rows, key=lambda row: row[5])
    met = sum(row[5] <= RATIO_TARGET for row in rows)
    latent = runs[0]["unets"][names.index(LATENT.name)]
    latent_config = json.loads((LATENT / "config.json").read_text())

    table = [f"| model | batch | threads | PyTorch (ms) | ours (ms) | ours / PyTorch | ≤ {RATIO_TARGET} | ours GFLOP/s | PyTorch GFLOP/s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, batch, n, p, o, ratio, gflop in rows:
        table.append(f"| {name} | {batch} | {n} | {p:.2f} | {o:.2f} | {ratio:.2f} | {'yes' if ratio <= RATIO_TARGET else 'no'} "
                     f"| {gflop * batch / o * 1e3:.1f} | {gflop * batch / p * 1e3:.1f} |")
    kernel = ours.get("kernel", "portable")
    gemm = [f"| GEMM n×n×n | portable, 1 thread GFLOP/s | `{kernel}`, 1 thread GFLOP/s | / peak | "
            f"portable, {cores} threads GFLOP/s | `{kernel}`, {cores} threads GFLOP/s | / peak | ≥ {PEAK_TARGET:.0%} |",
            "|---|---|---|---|---|---|---|---|"]
    for g, b in zip(ours["gemm"], ours["gemmPortable"]):
        one, all_ = g["oneThread"] / ours["peakOneThread"], g["allThreads"] / ours["peakAllThreads"]
        ok = "yes" if min(one, all_) >= PEAK_TARGET else ("1 thread only" if one >= PEAK_TARGET else "no")
        gemm.append(f"| {g['n']} | {b['oneThread']:.1f} | {g['oneThread']:.1f} | {one:.0%} "
                    f"| {b['allThreads']:.1f} | {g['allThreads']:.1f} | {all_:.0%} | {ok} |")
    peak = (f"Peak of the dispatched micro-kernel's unit (`{kernel}`: independent fused multiply-add chains in its "
            f"registers) in the same run: {ours['peakOneThread']:.1f} GFLOP/s on 1 thread, {ours['peakAllThreads']:.1f} "
            f"GFLOP/s on {cores} threads; the portable kernel's unit (`SIMD8<Float>` multiply then add, baseline "
            f"x86-64): {ours['baselinePeakOneThread']:.1f} and {ours['baselinePeakAllThreads']:.1f} GFLOP/s. "
            f"The run of the {args.rounds} with the highest all-core peak.")
    speedups = ", ".join(f"{g['oneThread'] / b['oneThread']:.1f}× at n = {g['n']}" for g, b in zip(ours["gemm"], ours["gemmPortable"]))
    difference = latent.get("relativeRMS")

    m = machine()
    flags = ", ".join(f"{f} {'yes' if v else 'no'}" for f, v in m["flags"].items())
    load = lambda l: " / ".join(f"{v:.2f}" for v in l)
    print("\n".join(table) + "\n\n" + peak + "\n\n" + "\n".join(gemm))
    print(f"\nlatent model: relative RMS difference from PyTorch {difference}")
    print(f"\nload average (1/5/15 min): start {load(load_start)}, end {load(load_end)}; OMP_WAIT_POLICY {omp_policy}")

    omp_note = ("- `OMP_WAIT_POLICY=PASSIVE` (set by the script, `--omp-wait-policy default` to leave it unset): with\n"
                "  another job on a core, libgomp's default spin-waiting made 2-thread PyTorch 5–80× slower than 1 thread.\n"
                if os.environ.get("OMP_WAIT_POLICY") == "PASSIVE" else "")
    busy = max(load_start[0], load_end[0]) > 0.5 * m["usable"]
    load_note = (f"The machine was shared with other jobs during this run (1-minute load average up to "
                 f"{max(load_start[0], load_end[0]):.1f} on {m['usable']} cores), so the 2-thread figures of both "
                 f"sides may have had one free core; rerun on an idle machine for figures to quote.\n\n" if busy else "")
    counted = {name: torch_flops(folder) / 1e9 for name, folder in zip(names, folders)}
    shapes = "; ".join(f"{u['name']} {u['sampleShape']} ({u['gflopPerSample']:.3f} GFLOP per sample; "
                       f"`torch.utils.flop_counter`: {counted[u['name']]:.3f})" for u in ours["unets"])
    reference = (f"Our output on its `forward_reference.safetensors` (batch 2, timesteps 999 and 261) differs from "
                 f"PyTorch's by {difference:.2e} relative RMS (‖ours − PyTorch‖ / ‖PyTorch‖)." if difference is not None
                 else "Its forward reference was missing, so our output was not compared with PyTorch's in this run.")
    doc = f"""# Neural runtime: forward pass against PyTorch

Generated by `tools/neural/bench_forward.py` on {started:%Y-%m-%d %H:%M %Z}; regenerate with

```sh
swift build -c release --product diffuse-benchmarks --scratch-path .build-bench
tools/.venv/bin/python tools/neural/bench_forward.py
```

{load_note}Models: {shapes}. digits-flow and digits-lcm have digits-unet's shape and are not timed apart.
float32, CPU, timestep 500, the null class label where the model is
class-conditional. PyTorch: `UNet2DModel.from_pretrained` under `torch.inference_mode()`, median of
{repeats[1]} (batch 1) / {repeats[16]} (batch 16) passes after {args.warmup} warm-up passes (3 passes after 1
when a pass takes over a second), with `torch.set_num_threads` equal to our thread count ({cores}, the
machine's cores) and to 1. Ours: `diffuse-benchmarks --neural --json --unet DIR ...` (median of 9 / 5
passes after a warm-up, 3 when the warm-up took over a second). The two sides ran alternately,
{args.rounds} rounds each, and each entry is that side's lowest median over the rounds.
GFLOP/s columns count convolutions, projections and attention products only (our count, which
leaves out the time embedding's two small projections; PyTorch's flop counter's is given beside it).

## The latent-size model

`latent-unet` is Stable Diffusion 1.5's U-Net layout at a 32×32 latent, without the text conditioning,
in the `UNet2DModel` blocks our runtime reads: 4 channels in and out, block_out_channels
{tuple(latent_config['block_out_channels'])} (SD 1.5 has (320, 640, 1280, 1280); half widths keep a batch-16
pass of either side near ten seconds on 2 cores), 2 resnets per down block and 3 per up block, attention
(head width {latent_config['attention_head_dim']}) in the first three down blocks, the mid block and the last three up blocks,
GroupNorm with {latent_config['norm_num_groups']} groups, {latent['gflopPerSample']:.1f} GFLOP per sample. Its weights are PyTorch's default initialisation
under a fixed seed, written by `tools/.venv/bin/python tools/neural/make_latent_unet.py` (into
`.build-bench/latent-unet`, not committed; `--widths 320 640 1280 1280` gives SD's full widths).
{reference}

## Forward time (target: ours / PyTorch ≤ {RATIO_TARGET})

{chr(10).join(table)}

{met} of {len(rows)} rows meet the target; the largest ratio is {worst[5]:.2f} ({worst[0]}, batch {worst[1]},
{worst[2]} thread{'s' if worst[2] > 1 else ''}).

## Matrix multiplication against the machine's peak (target ≥ {PEAK_TARGET:.0%} at n = 512 and 1024)

{peak}

{chr(10).join(gemm)}

## Run-time micro-kernel dispatch

The matrix multiplication and the convolutions run the widest micro-kernel the CPU has (`MicroKernel`
in `DiffusionNeural`, kernels in the `CDiffusionKernels` C target compiled per function for AVX2+FMA
and AVX-512, no build flags), with the portable Swift kernel as the fallback. This machine's choice:
`{kernel}`. On one thread its GEMM rate is {speedups} the portable kernel's in the same run; its
unit's peak is {ours['peakOneThread'] / ours['baselinePeakOneThread']:.1f}× the portable unit's.

## Machine and versions

- CPU: {m['model']}, {m['cores']} logical cores ({m['usable']} usable by this process); flags: {flags}.
- Threads: PyTorch {cores} and 1 (`torch.set_num_threads`, intra-op); ours {cores} (all cores) and 1
  (`Parallelism.maximumThreads = 1`).
- PyTorch: {torch_info}; Python {platform.python_version()}.
{omp_note}- Ours: {ours_version()}; built with `swift build -c release` (no flags; kernels dispatched at run time).
- Load average (1/5/15 min): {load(load_start)} at the start, {load(load_end)} at the end. The machine is
  shared with other jobs, so absolute times are noisy and a multi-thread figure can be no better than a
  one-thread one when another job holds a core; the ratios between rows of one run are what to read.
"""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(doc)
    print(f"\nwrote {args.out.relative_to(REPO_ROOT) if args.out.is_relative_to(REPO_ROOT) else args.out}")


if __name__ == "__main__":
    main()
