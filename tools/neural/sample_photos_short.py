#!/usr/bin/env python3
"""A short sampling fixture for the shipped photos network, small enough for a debug `swift test`.

Python is a *tool* here: run by hand, only its output is committed.

Writes Tests/DiffusionSolversTests/Fixtures/neural/photos-dpmpp2m-4.safetensors: the first 2 of the 256 noise draws of
sample_photos_diffusers.py (torch.Generator().manual_seed(0)) and diffusers' DPMSolverMultistepScheduler samples from
them (the same scheduler as that script: dpmsolver++, order 2, linspace, final_sigmas_type zero) with 4 steps.

Run:  tools/.venv/bin/python tools/neural/sample_photos_short.py
"""
import sys
from pathlib import Path

import torch

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import sample_photos_diffusers as SP  # noqa: E402
from common import FIXTURES, versions, write_safetensors  # noqa: E402

GENERATOR = "tools/neural/sample_photos_short.py"
STEPS = 4
COUNT = 2


def main():
    torch.set_num_threads(1)
    model = SP.UNet2DModel.from_pretrained(SP.MODEL_DIR).eval()
    noise = torch.randn([SP.N, 3, 32, 32], generator=torch.Generator().manual_seed(0), dtype=torch.float32)[:COUNT]
    SP.STEPS = STEPS
    samples, sched = SP.sample(model, noise)
    path = FIXTURES / "photos-dpmpp2m-4.safetensors"
    write_safetensors(path, {"noise": noise, "samples": samples, "scheduler_timesteps": sched.timesteps.to(torch.int64)},
                      {"generator": GENERATOR, "steps": str(STEPS), "versions": str(versions())})
    print(f"{path}: timesteps {sched.timesteps.tolist()}, sample rms {samples.pow(2).mean().sqrt():.4f}")


if __name__ == "__main__":
    main()
