#!/usr/bin/env python3
"""Reference outputs of the shipped `digits-mr` network for the Swift runtime (issue 23, item 3).

Command (from the repository root, a few seconds):

    tools/.venv/bin/python tools/neural/fixtures_mr.py

Reads Sources/DiffusionNeural/Resources/Models/digits-mr (written by train_digits_mr.py) and writes
Tests/DiffusionSolversTests/Fixtures/neural/digits-mr-forward.safetensors:

  clean      float32 [6, 1, 8, 8]  six digits of the data (seeded), in [-1, 1]
  x          float32 [6, 1, 8, 8]  x_t = mu + alpha (x0 - mu) + sigma e for six digits (seeded)
  mu         float32 [6, 1, 8, 8]  the degraded digits, x0 + 0.5 n
  timesteps  float32 [6]           t = 0, 3.5, 17, 42.25, 80, 100 (fractional times included)
  alpha, sigma float64 [6]         the schedule at those times, computed here in float64
  output     float32 [6, 1, 8, 8]  UNet2DModel(cat([x, mu], 1), timesteps).sample, float32 on the CPU (the network's
                                   fit_target, x0 for the shipped model)
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import FIXTURES, MODELS, load_digits_images, versions, write_safetensors  # noqa: E402
from train_digits_mr import DEGRADATION_SIGMA, cumulative_theta, level  # noqa: E402

from diffusers import UNet2DModel  # noqa: E402

GENERATOR = "tools/neural/fixtures_mr.py"


def main():
    torch.set_num_threads(1)
    model = UNet2DModel.from_pretrained(MODELS / "digits-mr").eval()
    images = load_digits_images()[0]
    rng = np.random.default_rng(23)
    x0 = torch.from_numpy(images[rng.choice(len(images), 6, replace=False)])
    mu = (x0 + DEGRADATION_SIGMA * torch.from_numpy(rng.standard_normal(x0.shape).astype(np.float32))).float()
    t = torch.tensor([0.0, 3.5, 17.0, 42.25, 80.0, 100.0], dtype=torch.float64)
    alpha, sigma = level(t, torch.from_numpy(cumulative_theta()))
    e = torch.from_numpy(rng.standard_normal(x0.shape).astype(np.float32))
    a4, s4 = alpha.float()[:, None, None, None], sigma.float()[:, None, None, None]
    x = (mu + a4 * (x0 - mu) + s4 * e).float()
    with torch.no_grad():
        output = model(torch.cat([x, mu], dim=1), t.float()).sample
    out = FIXTURES / "digits-mr-forward.safetensors"
    write_safetensors(out, {"clean": x0, "x": x, "mu": mu, "timesteps": t.float(), "alpha": alpha, "sigma": sigma, "output": output},
                      metadata={"generator": GENERATOR, "versions": str(versions())})
    print("wrote", out)


if __name__ == "__main__":
    main()
