#!/usr/bin/env python3
"""Train `digits-masked`: a class-conditional masked-diffusion (MDLM) network on scikit-learn's 8x8 digits.

Commands (from the repository root):

    # smoke run (20 steps, writes to /tmp only)
    tools/.venv/bin/python tools/neural/train_digits_masked.py --steps 20 --out /tmp/masked-smoke --log /tmp/masked-smoke.csv
    # the committed model (1 thread)
    nohup nice tools/.venv/bin/python tools/neural/train_digits_masked.py > tools/neural/logs/digits-masked-train.log 2>&1 &

Data: sklearn.datasets.load_digits (1,797 images, 8x8, values 0..16; UCI "Optical Recognition of Handwritten
Digits", CC BY 4.0), each pixel quantized to one of V = 4 grey levels, token = min(pixel // 4, 3), read row by row
into a sequence of L = 64 tokens; the mask id is V = 4. All 1,797 images are used for training.

Model: diffusers UNet2DModel with the `digits` network's blocks, in_channels V + 1 = 5 (the one-hot of each token,
mask included), out_channels V = 4 (logits over the real tokens), num_class_embeds 11 (10 = null label, dropped with
probability 0.15 for classifier-free use). The network is time-agnostic: it is always called with timestep 0, since
a masked model's optimal prediction depends only on the visible tokens (Zheng et al. 2024, "Masked diffusion models
are secretly time-agnostic masked models"). Its logits become the SUBS predictive: softmax over the V real tokens
at masked positions; visible positions are kept.

Objective (MDLM, Sahoo et al. 2024, linear schedule alpha_t = 1 - t): t ~ U(eps, 1) with antithetic
(low-discrepancy) draws over the batch, each token masked with probability t, loss = mean over the batch of
(1/t) * sum over masked positions of -log p(x_l | x_t) / L (the continuous-time ELBO per token).
AdamW (lr 1e-3, wd 0.01, 200 warmup steps, cosine decay to 10%), batch 128, EMA of the weights (decay
min(0.999, (1+s)/(10+s))) is what is saved. Seeds fixed; CPU.

Outputs: <out>/config.json, diffusion_pytorch_model.safetensors (float32), masked_config.json (V, L, mask id, the
quantization, the objective); the loss log tools/neural/logs/digits-masked-train.csv and its summary JSON.
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
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import LOGS, REPO_ROOT, loss_curve_png, versions  # noqa: E402

from diffusers import UNet2DModel  # noqa: E402

V, L, SIDE = 4, 64, 8
MASK = V
NULL_LABEL = 10
EPS_T = 1e-3
UNET = dict(
    sample_size=8, in_channels=V + 1, out_channels=V, layers_per_block=1,
    block_out_channels=(32, 48, 64),
    down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
    norm_num_groups=8, attention_head_dim=16, num_class_embeds=11,
)
MASKED_CONFIG = {
    "kind": "masked-diffusion", "vocabulary_size": V, "length": L, "mask_id": MASK, "image_shape": [SIDE, SIDE],
    "input": "one-hot of V+1 channels (mask last), [V+1, 8, 8], timestep 0 (time-agnostic)",
    "output": "V logits per position, [V, 8, 8]; softmax over them is the predictive of a masked position",
    "tokens": "min(pixel // 4, 3) of sklearn digits' 0..16 pixels, row-major", "grey_levels": [0.0, 1 / 3, 2 / 3, 1.0],
    "objective": "MDLM continuous-time ELBO, linear alpha_t = 1 - t", "null_label": NULL_LABEL,
}


def load_tokens() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    d = load_digits()
    tokens = np.minimum(d.images.astype(np.int64) // 4, V - 1).reshape(-1, L)
    return tokens, d.target.astype(np.int64)


def network_input(tokens: torch.Tensor) -> torch.Tensor:
    """[B, L] token ids (mask = V) -> [B, V+1, 8, 8] one-hot."""
    onehot = F.one_hot(tokens, V + 1).to(torch.float32)          # [B, L, V+1]
    return onehot.permute(0, 2, 1).reshape(-1, V + 1, SIDE, SIDE)


def logits_of(model, tokens: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """[B, L, V] logits."""
    out = model(network_input(tokens), torch.zeros(tokens.shape[0], dtype=torch.long), class_labels=labels).sample
    return out.reshape(-1, V, L).permute(0, 2, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--label-dropout", type=float, default=0.15)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--save-every", type=int, default=500)
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "Sources" / "DiffusionNeural" / "Resources" / "Models" / "digits-masked")
    ap.add_argument("--log", type=Path, default=LOGS / "digits-masked-train.csv")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    tok_all, y_all = load_tokens()
    tok_all, y_all = torch.from_numpy(tok_all), torch.from_numpy(y_all)
    n = tok_all.shape[0]

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
    print(f"UNet2DModel {n_params} parameters, {n} sequences of {L} tokens (V={V}), "
          f"{args.steps} steps of batch {args.batch}, {args.threads} thread(s)", flush=True)

    def save(step):
        if args.out.exists():
            shutil.rmtree(args.out)
        ema.save_pretrained(args.out, safe_serialization=True)
        (args.out / "masked_config.json").write_text(json.dumps(dict(MASKED_CONFIG, training_steps=step), indent=2) + "\n")
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
        x0, labels = tok_all[idx], y_all[idx].clone()
        b = x0.shape[0]
        labels[torch.rand(labels.shape, generator=g) < args.label_dropout] = NULL_LABEL
        # antithetic times: one uniform offset, b evenly spaced points
        u = (torch.rand(1, generator=g) + torch.arange(b) / b) % 1.0
        t = EPS_T + (1 - EPS_T) * u                                         # [b]
        masked = torch.rand(x0.shape, generator=g) < t[:, None]              # [b, L]
        xt = torch.where(masked, torch.full_like(x0, MASK), x0)
        for pg in opt.param_groups:
            pg["lr"] = lr_at(step)
        logp = F.log_softmax(logits_of(model, xt, labels), dim=-1)          # [b, L, V]
        nll = -logp.gather(-1, x0[..., None]).squeeze(-1)                    # [b, L]
        loss = ((nll * masked).sum(1) / t / L).mean()
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
                   seconds=round(elapsed, 1), final_loss_smoothed=smoothed, unet=UNET, masked=MASKED_CONFIG,
                   versions=versions(), command=" ".join(sys.argv))
    (args.log.with_name(args.log.stem + "-summary.json")).write_text(json.dumps(summary, indent=2) + "\n")
    try:
        loss_curve_png(args.log, args.log.with_suffix(".png"), f"digits-masked training loss (MDLM ELBO per token), {args.steps} steps")
    except Exception as e:  # the PNG is a convenience
        print("loss curve PNG not written:", e)
    print(f"done: {args.steps} steps in {elapsed:.0f}s, smoothed loss {smoothed:.5f}, saved EMA to {args.out}", flush=True)


if __name__ == "__main__":
    main()
