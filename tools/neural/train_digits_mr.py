#!/usr/bin/env python3
"""Train `digits-mr`: a mean-reverting (IR-SDE) noise-prediction network that restores noisy 8x8 digits.

Commands (from the repository root):

    # smoke run (20 steps, writes to /tmp only)
    tools/.venv/bin/python tools/neural/train_digits_mr.py --steps 20 --out /tmp/mr-smoke --log /tmp/mr-smoke.csv
    # the committed model (1 thread)
    nohup nice -n 10 tools/.venv/bin/python tools/neural/train_digits_mr.py > tools/neural/logs/digits-mr-train.log 2>&1 &

Data: sklearn.datasets.load_digits (1,797 images, 8x8, UCI "Optical Recognition of Handwritten Digits", CC BY 4.0),
pixels scaled to [-1, 1] as for `digits` (pixel/16*2-1). Degradation: mu = x0 + 0.5 * n, n ~ N(0, I), a fresh draw
every step (Gaussian denoising; std 0.5 on the [-1, 1] scale).

Process: IR-SDE (Luo et al. 2023), dx = theta_t (mu - x) dt + g_t dW with g_t^2 = 2 sigma_inf^2 theta_t, the schedule
of the package's MeanRevertingSchedule with its defaults: cosine theta over T + 1 = 101 training steps,
dt = -log(eps)/sum(theta) with eps = 0.005, sigma_inf = 50/255. Marginal
x_t = mu + alpha_t (x0 - mu) + sigma_t * e, alpha_t = exp(-dt * integral of theta), sigma_t = sigma_inf sqrt(1 - alpha_t^2),
log(alpha) linear between integer timesteps. Times t ~ U(0, T) (continuous, so the sampler's fractional times are
trained), the network is called with the float timestep t.

Model: diffusers UNet2DModel with the `digits` network's blocks, unconditional (no class embedding),
in_channels 2 (x_t and mu concatenated on channels), out_channels 1: the clean digit x0 (MR Sampler fit_target
"data", the default) or the noise e (--fit noise). Objective: MSE on that target. Noise prediction is ill-posed here:
the degradation (std 0.5) is larger than sigma_inf, and at t = T the x0 it implies is (x - sigma e)/alpha - ... with
alpha_T = 0.005, so a 500-step noise network's x0 error there was 4.7 RMS (docs/MEAN-REVERTING.md); data prediction
is bounded at every t. AdamW (lr 1e-3, wd 0.01, warmup, cosine decay to 10 %), batch 128, gradient clipping 1.0,
EMA of the weights (decay min(0.999, (1+s)/(10+s))) is what is saved. Seeds fixed; CPU.

Outputs: <out>/config.json, diffusion_pytorch_model.safetensors (float32), mean_reverting_config.json (the schedule,
the degradation, the input layout); the loss log tools/neural/logs/digits-mr-train.csv and its summary JSON.
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

from diffusers import UNet2DModel  # noqa: E402

T = 100
SIGMA_INF = 50.0 / 255.0
EPS = 0.005
DEGRADATION_SIGMA = 0.5
UNET = dict(
    sample_size=8, in_channels=2, out_channels=1, layers_per_block=1,
    block_out_channels=(32, 48, 64),
    down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
    norm_num_groups=8, attention_head_dim=16,
)
MR_CONFIG = {
    "kind": "mean-reverting", "theta_schedule": "cosine", "training_steps": T, "sigma_inf": SIGMA_INF,
    "eps": EPS, "degradation": "gaussian-noise", "degradation_sigma": DEGRADATION_SIGMA,
    "input": "[x_t, mu] concatenated on channels, [2, 8, 8]; timestep t (float, 0..T)",
    "output": "fit_target of x_t = mu + alpha_t (x0 - mu) + sigma_t e: x0 (data) or e (noise), [1, 8, 8]",
    "pixels": "sklearn digits pixel/16*2-1, in [-1, 1]",
}


def cumulative_theta() -> np.ndarray:
    """dt * sum_{j<=k} theta_j, k = 0..T (IR-SDE's cosine theta schedule)."""
    m = T + 2
    ab = lambda i: math.cos((i / m + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    thetas = np.array([1 - ab(k + 1) / ab(0) for k in range(T + 1)], dtype=np.float64)
    sums = np.cumsum(thetas)
    return sums * (-math.log(EPS) / sums[-1])


def level(t: torch.Tensor, cum: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """alpha_t, sigma_t (float64) at float times t in [0, T]."""
    k = t.floor().clamp(0, T - 1).long()
    theta = cum[k] + (t - k) * (cum[k + 1] - cum[k])
    alpha = torch.exp(-theta)
    sigma = SIGMA_INF * torch.sqrt(-torch.expm1(-2 * theta))
    return alpha, sigma


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=700)
    ap.add_argument("--fit", choices=["data", "noise"], default="data")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--save-every", type=int, default=500)
    ap.add_argument("--out", type=Path, default=MODELS / "digits-mr")
    ap.add_argument("--log", type=Path, default=LOGS / "digits-mr-train.csv")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    x_all = torch.from_numpy(load_digits_images()[0])
    n = x_all.shape[0]
    cum = torch.from_numpy(cumulative_theta())

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
    print(f"UNet2DModel {n_params} parameters, {n} images, IR-SDE {args.fit} MSE, "
          f"{args.steps} steps of batch {args.batch}, {args.threads} thread(s)", flush=True)

    def save(step):
        if args.out.exists():
            shutil.rmtree(args.out)
        ema.save_pretrained(args.out, safe_serialization=True)
        (args.out / "mean_reverting_config.json").write_text(json.dumps(dict(MR_CONFIG, fit_target=args.fit, trained_steps=step), indent=2) + "\n")
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
        x0 = x_all[idx]
        b = x0.shape[0]
        mu = x0 + DEGRADATION_SIGMA * torch.randn(x0.shape, generator=g)
        t = T * torch.rand(b, generator=g, dtype=torch.float64)
        alpha, sigma = level(t, cum)
        e = torch.randn(x0.shape, generator=g)
        a4, s4 = alpha.float()[:, None, None, None], sigma.float()[:, None, None, None]
        xt = mu + a4 * (x0 - mu) + s4 * e
        for pg in opt.param_groups:
            pg["lr"] = lr_at(step)
        pred = model(torch.cat([xt, mu], dim=1), t.float()).sample
        loss = torch.nn.functional.mse_loss(pred, x0 if args.fit == "data" else e)
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
    summary = dict(steps=args.steps, batch=args.batch, lr=args.lr, ema=args.ema, seed=args.seed, threads=args.threads,
                   parameters=n_params, seconds=round(elapsed, 1), final_loss_smoothed=smoothed, unet=UNET,
                   mean_reverting=dict(MR_CONFIG, fit_target=args.fit), versions=versions(), command=" ".join(sys.argv))
    (args.log.with_name(args.log.stem + "-summary.json")).write_text(json.dumps(summary, indent=2) + "\n")
    try:
        loss_curve_png(args.log, args.log.with_suffix(".png"), f"digits-mr training loss (IR-SDE {args.fit} MSE), {args.steps} steps")
    except Exception as e:  # the PNG is a convenience
        print("loss curve PNG not written:", e)
    print(f"done: {args.steps} steps in {elapsed:.0f}s, smoothed loss {smoothed:.5f}, saved EMA to {args.out}", flush=True)


if __name__ == "__main__":
    main()
