#!/usr/bin/env python3
"""Reference fixture for TorchGenerator: torch's CPU `manual_seed(s); randn(n)` (float32).

Python is a *tool* here (see tools/README.md): this script is run by hand and only its output is
committed.  It writes Tests/DiffusionSolversTests/Fixtures/torch_randn.json.

torch picks its CPU kernel per process (ATEN_CPU_CAPABILITY), so every table is produced in a child
process of this script with that variable set:

  (unset)   what torch does by itself on this machine -> "cases", "sequence"
  avx2      must equal the unset run (torch on an AVX-512 CPU falls back to the AVX2 kernel for
            normal_kernel, so both use avx_mathfun's log256_ps/sincos256_ps); asserted
  avx512    must equal it as well (asserted when the CPU has AVX-512)
  default   the generic NormalFill16 (std::log/cos/sin in float) -> "scalar_kernel"

Run:  /root/venv-tools/bin/python tools/fixtures_torch_randn.py      (or tools/.venv/bin/python)
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT = REPO_ROOT / "Tests" / "DiffusionSolversTests" / "Fixtures" / "torch_randn.json"
GENERATOR = "tools/fixtures_torch_randn.py"

SEEDS = [0, 1, 42, 2**32 - 1, 2**63 + 5]
COUNTS = [1, 2, 15, 16, 17, 31, 33, 1000, 4 * 64 * 64]
BIG_SHAPE = [4, 64, 64]           # the 4*64*64 case is drawn with this shape
FULL_MAX = 1000                   # counts up to this are stored in full
EDGE = 64                         # otherwise the first and last EDGE values and the float64 sum
SEQUENCE_SEED = 42
SEQUENCE_COUNTS = [3, 20, 5, 16]  # consecutive randn calls after one manual_seed
SCALAR_SEEDS = [0, 42]
SCALAR_COUNTS = [16, 17, 33, 1000, 4 * 64 * 64]


def floats(t) -> list[float]:
    """float32 tensor -> Python floats (exact; json writes the shortest repr that round-trips)."""
    return [float(v) for v in t.reshape(-1).tolist()]


def worker() -> None:
    """Child process: draw every table with the capability torch chose, print JSON on stdout."""
    import torch

    def case(seed: int, count: int) -> dict:
        torch.manual_seed(seed)
        if count == math.prod(BIG_SHAPE):
            t = torch.randn(*BIG_SHAPE)
            torch.manual_seed(seed)
            assert torch.equal(t.reshape(-1), torch.randn(count)), "shape changes the values"
        else:
            t = torch.randn(count)
        assert t.dtype == torch.float32 and t.is_contiguous()
        v = floats(t)
        entry: dict = {"seed": str(seed), "count": count}
        if count <= FULL_MAX:
            entry["values"] = v
        else:
            entry["shape"] = BIG_SHAPE
            entry["first"] = v[:EDGE]
            entry["last"] = v[-EDGE:]
            entry["sum"] = math.fsum(v)      # correctly rounded float64 sum of all values
        return entry

    def sequence(seed: int) -> dict:
        torch.manual_seed(seed)
        return {"seed": str(seed), "counts": SEQUENCE_COUNTS,
                "values": [floats(torch.randn(n)) for n in SEQUENCE_COUNTS]}

    # manual_seed uses only the low 32 bits, and resets the cached normal value.
    torch.manual_seed(2**63 + 5); a = torch.randn(40)
    torch.manual_seed(5); b = torch.randn(40)
    assert torch.equal(a, b)
    torch.manual_seed(1); torch.randn(3); torch.manual_seed(1); c = torch.randn(1)
    torch.manual_seed(1); assert torch.equal(c, torch.randn(1))

    print(json.dumps({
        "capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        "cases": [case(s, n) for s in SEEDS for n in COUNTS],
        "sequence": sequence(SEQUENCE_SEED),
        "scalar_probe": [case(s, n) for s in SCALAR_SEEDS for n in SCALAR_COUNTS],
    }))


def run(capability: str | None) -> dict:
    env = dict(os.environ)
    env.pop("ATEN_CPU_CAPABILITY", None)
    if capability is not None:
        env["ATEN_CPU_CAPABILITY"] = capability
    out = subprocess.run([sys.executable, __file__, "--worker"], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def differing(a: list[dict], b: list[dict]) -> tuple[int, int]:
    """(differing, compared) stored values of two case lists."""
    diff = total = 0
    for x, y in zip(a, b, strict=True):
        for key in ("values", "first", "last"):
            if key in x:
                total += len(x[key])
                diff += sum(p != q for p, q in zip(x[key], y[key], strict=True))
    return diff, total


def main() -> None:
    native = run(None)
    avx2 = run("avx2")
    if avx2["capability"] != "AVX2":
        sys.exit(f"this CPU cannot run torch's AVX2 kernel (got {avx2['capability']}); "
                 "the fixture is defined by the AVX2 kernel")
    keys = ("cases", "sequence", "scalar_probe")
    assert all(native[k] == avx2[k] for k in keys), f"torch's own choice ({native['capability']}) differs from AVX2"
    checked = ["AVX2"]
    avx512 = run("avx512")
    if avx512["capability"] == "AVX512":
        assert all(avx512[k] == avx2[k] for k in keys), "AVX512 differs from AVX2"
        checked.append("AVX512")
    scalar = run("default")
    assert scalar["capability"] == "DEFAULT"
    diff, total = differing(scalar["scalar_probe"], avx2["scalar_probe"])
    assert diff > 0, "expected the DEFAULT kernel to differ from AVX2 in some values"
    # Calls below 16 elements (no NormalFill16) are the same in every kernel.
    small = [c for c in scalar["cases"] if c["count"] < 16]
    assert small == [c for c in avx2["cases"] if c["count"] < 16]

    fixture = {
        "generator": GENERATOR,
        "torch": avx2["torch"],
        "description": "torch.manual_seed(int(seed)); torch.randn(count) on CPU, float32, default "
                       "generator. seed is a decimal string (2**63+5 is not a JSON double). "
                       "values: all values; for larger counts the first/last 64 values and the "
                       "correctly rounded float64 sum (math.fsum) of all values.",
        "kernel": "AVX2 NormalFill16 (avx_mathfun log256_ps / sincos256_ps), which torch uses on "
                  f"x86-64 CPUs with AVX2 or AVX-512; checked identical for {' and '.join(checked)} "
                  f"(this machine: {native['capability']})",
        "cases": avx2["cases"],
        "sequence": avx2["sequence"],
        "scalar_kernel": {
            "description": "the same draws with ATEN_CPU_CAPABILITY=default (generic NormalFill16: "
                           "std::log/std::cos/std::sin in float, glibc). Counts below 16 do not use "
                           "NormalFill16 and equal the cases above.",
            "differing_from_avx2": f"{diff} of {total} stored values",
            "cases": scalar["scalar_probe"],
            "sequence": scalar["sequence"],
        },
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(fixture, indent=1) + "\n"
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(REPO_ROOT)} ({len(text)} bytes); kernels checked: {checked} + DEFAULT; "
          f"DEFAULT differs from AVX2 in {diff} of {total} values")


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        worker()
    else:
        main()
