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

import argparse
import copy
import json
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import LOGS, MODELS, load_digits_images, loss_curve_png, versions  # noqa: E402
from train_digits import NULL_LABEL, UNET  # noqa: E402

from diffusers import FlowMatchEulerDiscreteScheduler, UNet2DModel  # noqa: E402

SCHEDULER = dict(num_train_timesteps=1000, shift=1.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--label-dropout", type=float, default=0.15)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--save-every", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=MODELS / "digits-flow")
    ap.add_argument("--log", type=Path, default=LOGS / "digits-flow-train.csv")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    x_all, y_all = load_digits_images()
    x_all, y_all = torch.from_numpy(x_all), torch.from_numpy(y_all)
    n = x_all.shape[0]

    model = UNet2DModel(**UNET).train()
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = min(200, max(1, args.steps // 10))

    def lr_at(step):
        if step < warmup:
            return args.lr * (step + 1) / warmup
        prog = (step - warmup) / max(1, args.steps - warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog)))

    g = torch.Generator().manual_seed(args.seed)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    logf = args.log.open("w")
    logf.write("step,loss,loss_smoothed,lr,seconds\n")
    print(f"UNet2DModel {n_params} parameters, {n} images, rectified flow, "
          f"{args.steps} steps of batch {args.batch}, {args.threads} thread(s)", flush=True)

    def save(step):
        if args.out.exists():
            shutil.rmtree(args.out)
        ema.save_pretrained(args.out, safe_serialization=True)
        FlowMatchEulerDiscreteScheduler(**SCHEDULER).save_config(args.out)
        for f in args.out.iterdir():
            f.chmod(0o644)

    t0 = time.time()
    window, smoothed = [], None
    perm, pos = torch.randperm(n, generator=g), 0
    for step in range(args.steps):
        if pos + args.batch > n:
            perm, pos = torch.randperm(n, generator=g), 0
        idx = perm[pos:pos + args.batch]
        pos += args.batch
        x0, labels = x_all[idx], y_all[idx].clone()
        drop = torch.rand(labels.shape, generator=g) < args.label_dropout
        labels[drop] = NULL_LABEL
        noise = torch.randn(x0.shape, generator=g)
        t = torch.rand((x0.shape[0],), generator=g)
        tb = t.view(-1, 1, 1, 1)
        xt = (1 - tb) * x0 + tb * noise
        for pg in opt.param_groups:
            pg["lr"] = lr_at(step)
        pred = model(xt, t * SCHEDULER["num_train_timesteps"], class_labels=labels).sample
        loss = torch.nn.functional.mse_loss(pred, noise - x0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)
        window.append(loss.item())
        if (step + 1) % args.log_every == 0 or step + 1 == args.steps:
            m = float(np.mean(window))
            smoothed = m if smoothed is None else 0.9 * smoothed + 0.1 * m
            el = time.time() - t0
            logf.write(f"{step + 1},{m:.6f},{smoothed:.6f},{lr_at(step):.6g},{el:.1f}\n")
            logf.flush()
            print(f"step {step + 1}/{args.steps} loss {m:.5f} smoothed {smoothed:.5f} lr {lr_at(step):.2e} "
                  f"{el:.0f}s (eta {el / (step + 1) * (args.steps - step - 1):.0f}s)", flush=True)
            window = []
        if (step + 1) % args.save_every == 0 and step + 1 < args.steps:
            save(step + 1)
    logf.close()
    save(args.steps)
    elapsed = time.time() - t0
    summary = dict(steps=args.steps, batch=args.batch, lr=args.lr, label_dropout=args.label_dropout,
                   ema=args.ema, seed=args.seed, threads=args.threads, parameters=n_params,
                   seconds=round(elapsed, 1), final_loss_smoothed=smoothed, unet=UNET, scheduler=SCHEDULER,
                   objective="rectified flow: x_t=(1-t)x0+t*eps, t~U(0,1), v=eps-x0, timestep=1000t",
                   versions=versions(), command=" ".join(sys.argv))
    (args.log.with_name(args.log.stem + "-summary.json")).write_text(json.dumps(summary, indent=2) + "\n")
    try:
        loss_curve_png(args.log, args.log.with_suffix(".png"),
                       f"digits-flow training loss (velocity MSE), {args.steps} steps")
    except Exception as e:  # the PNG is a convenience
        print("loss curve PNG not written:", e)
    print(f"done: {args.steps} steps in {elapsed:.0f}s, smoothed loss {smoothed:.5f}, saved EMA to {args.out}", flush=True)


if __name__ == "__main__":
    main()
