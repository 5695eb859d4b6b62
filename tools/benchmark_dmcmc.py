#!/usr/bin/env python3
"""Denoising MCMC against plain solvers at equal NFE on mixture-2d: the table of docs/MCMC.md.

Python is a *tool* here (see tools/README.md): it runs the release `diffuse` binary
(`swift build -c release --product diffuse` first), reads the samples it writes, and prints one
markdown row per run. Nothing it produces is committed.

Distances, against the exact mixture exported by `diffuse export-model mixture-2d`:
  SW2      sliced 2-Wasserstein distance to fresh exact draws of the same size (512 seeded
           projections, mean over 4 reference sets); the first row gives two exact sets' distance
  worst z  the largest deviation of a coordinate mean, a covariance entry or a component share
           (mean responsibility) from the mixture's exact value, in standard errors
"""
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

ROOT = Path(__file__).resolve().parent.parent
DIFFUSE = ROOT / ".build" / "release" / "diffuse"
COUNT = 4000
STABLE = "eta=0.004,warmup-eta=0.004"   # below 2 s^2 for mixture-2d's narrowest spread 0.08

RUNS = [("dmcmc (rounds 1, defaults)", ["--solver", "dmcmc", "--dmcmc", STABLE])]
RUNS += [(s, ["--solver", s, "--nfe", "105"]) for s in ("euler", "heun", "dpmpp_2m")]
RUNS += [("dmcmc (rounds 4)", ["--solver", "dmcmc", "--dmcmc", STABLE + ",rounds=4"])]
RUNS += [(s, ["--solver", s, "--nfe", "62"]) for s in ("euler", "heun", "dpmpp_2m")]
RUNS += [("dmcmc (rounds 4, points 3, steps 4)", ["--solver", "dmcmc", "--dmcmc", STABLE + ",rounds=4,points=3,steps=4"])]
RUNS += [(s, ["--solver", s, "--nfe", "22"]) for s in ("euler", "heun", "dpmpp_2m")]
RUNS += [("dmcmc (rounds 4, points 3, steps 4, level=sample)", ["--solver", "dmcmc", "--dmcmc", STABLE + ",rounds=4,points=3,steps=4,level=sample"])]
RUNS += [("dmcmc with the official `eta 0.8`", ["--solver", "dmcmc"])]


def main() -> None:
    work = Path(tempfile.mkdtemp())
    subprocess.run([str(DIFFUSE), "export-model", "mixture-2d", str(work / "m.safetensors")], check=True, capture_output=True)
    t = load_file(str(work / "m.safetensors"))
    w, m, s = t["weights"].astype(np.float64), t["means"].astype(np.float64), t["stds"].astype(np.float64)
    w /= w.sum()

    def draw(n, seed):
        rng = np.random.default_rng(seed)
        c = rng.choice(len(w), size=n, p=w)
        return m[c] + s[c] * rng.standard_normal((n, m.shape[1]))

    def sw2(a, b):
        d = np.random.default_rng(99).standard_normal((512, a.shape[1]))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        return float(np.sqrt(((np.sort(a @ d.T, 0) - np.sort(b @ d.T, 0)) ** 2).mean()))

    def worst_z(x):
        n, mu = len(x), (w[:, None] * m).sum(0)
        cov = sum(w[k] * (np.diag(s[k] ** 2) + np.outer(m[k] - mu, m[k] - mu)) for k in range(len(w)))
        stats = [x[:, j] - mu[j] for j in range(x.shape[1])]
        stats += [(x[:, a] - mu[a]) * (x[:, b] - mu[b]) - cov[a, b] for a in range(x.shape[1]) for b in range(a, x.shape[1])]
        lp = np.log(w)[None] - 0.5 * (((x[:, None] - m[None]) / s[None]) ** 2).sum(-1) - np.log(s).sum(-1)[None]
        r = np.exp(lp - lp.max(1, keepdims=True))
        r /= r.sum(1, keepdims=True)
        stats += [r[:, k] - w[k] for k in range(len(w))]
        return max(abs(v.mean()) / (v.std(ddof=1) / np.sqrt(n)) for v in stats)

    def row(label, x, nfe, seconds):
        distance = np.mean([sw2(x, draw(len(x), 10 + i)) for i in range(4)])
        print(f"| {nfe} | {label} | {distance:.4f} | {worst_z(x):.1f} | {seconds} |")

    print("| NFE per sample | sampler | SW2 | worst z | wall time (s) |\n|------:|---------|----:|--------:|----------:|")
    row("exact draws", draw(COUNT, 5), "—", "—")
    for label, args in RUNS:
        out, report = work / "s.npy", work / "r.json"
        start = time.time()
        subprocess.run([str(DIFFUSE), "sample", "--model", "mixture-2d", "--count", str(COUNT), "--seed", "1",
                        "--output", str(out), "--report", str(report)] + args, check=True, capture_output=True)
        seconds = f"{time.time() - start:.1f}"
        info = json.loads(report.read_text())
        nfe = f"{info['nfe_per_sample']:.1f}" if "nfe_per_sample" in info else str(info["nfe"])
        row(label, np.load(out).astype(np.float64).reshape(COUNT, -1), nfe, seconds)


if __name__ == "__main__":
    sys.exit(main())
