#!/usr/bin/env python3
"""Train `digits-flow`: the class-conditional rectified-flow UNet2DModel on scikit-learn's 8x8 digits.

Commands (from the repository root):

    # smoke run (20 steps, writes to /tmp only)
    tools/.venv/bin/python tools/neural/train_digits_flow.py --steps 20 --out /tmp/digits-flow-smoke --log /tmp/digits-flow-smoke.csv
    # the committed model (1 thread, niced, in the background)
    nohup nice -n 10 tools/.venv/bin/python tools/neural/train_digits_flow.py > tools/neural/logs/digits-flow-train.log 2>&1 &

Same data, architecture (UNET of train_digits.py), label dropout, optimizer, EMA and seeds as
`digits`; only the path and the target differ:

    x_t = (1 - t) x0 + t eps,   t ~ U(0, 1),   target v = eps - x0   (MSE),

and the network is called with timestep = t * 1000 (float), diffusers' flow-matching convention
(FlowMatchEulerDiscreteScheduler's timesteps are sigma * num_train_timesteps).  Trained without
shift; scheduler_config.json is a FlowMatchEulerDiscreteScheduler config with shift 1.0.

Outputs: <out>/config.json, diffusion_pytorch_model.safetensors (float32), scheduler_config.json
(default out: Sources/DiffusionNeural/Resources/Models/digits-flow/), the loss log
tools/neural/logs/digits-flow-train.csv (step, window mean loss, smoothed loss, lr, seconds), its
loss curve PNG and tools/neural/logs/digits-flow-train-summary.json.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import LOGS, MODELS, training_arguments, train_class_conditional_unet  # noqa: E402
from train_digits import NULL_LABEL, UNET  # noqa: E402

SCHEDULER = dict(num_train_timesteps=1000, shift=1.0)


def main():
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler
    args = training_arguments(MODELS / "digits-flow", LOGS / "digits-flow-train.csv")

    def objective(x0, g):
        """x_t = (1 - t) x0 + t eps, t uniform in [0, 1], network timestep 1000 t; target v = eps - x0."""
        noise = torch.randn(x0.shape, generator=g)
        t = torch.rand((x0.shape[0],), generator=g)
        tb = t.view(-1, 1, 1, 1)
        return (1 - tb) * x0 + tb * noise, t * SCHEDULER["num_train_timesteps"], noise - x0

    train_class_conditional_unet(args, UNET, NULL_LABEL, objective, FlowMatchEulerDiscreteScheduler(**SCHEDULER).save_config,
                                 "rectified flow", "digits-flow training loss (velocity MSE)",
                                 dict(scheduler=SCHEDULER,
                                      objective="rectified flow: x_t=(1-t)x0+t*eps, t~U(0,1), v=eps-x0, timestep=1000t"))


if __name__ == "__main__":
    main()
