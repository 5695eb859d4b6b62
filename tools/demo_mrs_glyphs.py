"""Restoring noisy glyphs with `diffuse restore` (the MR Sampler on the exact restoration mixture).

Draws 200 clean glyphs from the built-in `glyphs-8x8` mixture (ten 8x8 digit glyphs, pixel std 0.2),
degrades them with Gaussian noise of standard deviation S, restores them with `diffuse restore
--degradation-sigma S` (the model's clean data is the mixture's posterior given each degraded input),
and prints, for the degraded inputs and each sampler: the share classified as the right glyph by the
nearest glyph mean, and the RMS distance to the clean glyphs. The Bayes classifier on the degraded
input is the ceiling for the share. numpy only; the numbers are in docs/MEAN-REVERTING.md.

    tools/.venv/bin/python tools/demo_mrs_glyphs.py [path/to/diffuse]
"""
import json
import pathlib
import struct
import subprocess
import sys
import tempfile

import numpy as np


def read_means(diffuse, work):
    path = work / "glyphs.safetensors"
    subprocess.run([diffuse, "export-model", "glyphs-8x8", str(path)], check=True, capture_output=True)
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    start, end = header["means"]["data_offsets"]
    return np.frombuffer(raw[8 + n + start:8 + n + end], dtype=np.float32).reshape(header["means"]["shape"]).astype(np.float64)


def main():
    diffuse = sys.argv[1] if len(sys.argv) > 1 else ".build/debug/diffuse"
    work = pathlib.Path(tempfile.mkdtemp())
    means = read_means(diffuse, work)
    rng = np.random.default_rng(0)
    n = 200
    labels = rng.integers(0, 10, n)
    x0 = means[labels] + 0.2 * rng.normal(size=(n, 64))

    def nearest(x):
        return np.argmin(((x[:, None, :] - means[None]) ** 2).sum(-1), 1)

    for s in (0.8, 1.2):
        mu = x0 + s * rng.normal(size=(n, 64))
        np.save(work / "mu.npy", mu.astype(np.float32).reshape(n, 1, 8, 8))
        bayes = np.argmax(-0.5 * ((mu[:, None, :] - means[None]) ** 2).sum(-1), 1)  # equal weights and variances
        print(f"S = {s}: degraded: right glyph {np.mean(nearest(mu) == labels):.3f}, RMS to clean {np.sqrt(np.mean((mu - x0) ** 2)):.3f}; "
              f"Bayes classifier {np.mean(bayes == labels):.3f}")
        for solver, order in (("mrs_ode", 2), ("mrs_ode", 3), ("mrs_sde", 2)):
            out = work / "out.npy"
            subprocess.run([diffuse, "restore", "--model", "glyphs-8x8", "--mean", str(work / "mu.npy"), "--solver", solver,
                            "--order", str(order), "--steps", "20", "--degradation-sigma", str(s), "--seed", "1",
                            "--output", str(out)], check=True, capture_output=True)
            x = np.load(out).reshape(n, 64).astype(np.float64)
            print(f"    {solver} order {order}, 20 steps: right glyph {np.mean(nearest(x) == labels):.3f}, "
                  f"RMS to clean {np.sqrt(np.mean((x - x0) ** 2)):.3f}")


if __name__ == "__main__":
    main()
