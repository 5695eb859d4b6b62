#!/usr/bin/env python3
"""Unconditional v-prediction UNet2DModel on 32x32 RGB patches of scikit-image's sample photographs,
plus an MLP feature classifier (class = source photograph) for FD measurements.

Commands (from the repository root):

    # classifier (about 2 min, 1 thread) -> photos-classifier.safetensors
    /root/venv-tools/bin/python tools/neural/train_photos.py --part classifier
    # smoke run of the diffusion training (writes to /tmp only)
    /root/venv-tools/bin/python tools/neural/train_photos.py --part unet --steps 10 --out /tmp/photos-smoke --log /tmp/photos-smoke.csv
    # the committed model: 1 thread, wall-clock budget 40 min
    nohup /root/venv-tools/bin/python tools/neural/train_photos.py --part unet > tools/neural/logs/photos-train.log 2>&1 &

Data (all ship inside the scikit-image 0.25.2 wheel, no download; licenses from skimage.data's docstrings):
  astronaut            NASA, "No known copyright restrictions, released into the public domain"
  coffee               CC0, photographer Rachel Michetti
  chelsea              CC0, photographer Stefan van der Walt
  rocket               SpaceX, released into the public domain
  immunohistochemistry "No known copyright restrictions"
  hubble_deep_field    NASA/HubbleSite, "may be freely used in the public domain"
  retina               Mikael Häggström, Wikimedia Commons, CC0 1.0 (centre 1000x1000 crop, to drop the black corners)
Each photograph is resized (skimage.transform.resize, anti-aliased) so that its shorter side is
64, 96, 128 or 192 px; a patch is a uniformly random photograph, scale, 32x32 position and horizontal
flip, in [-1,1] (x/255*2-1), channels first.  A fixed seeded set of 7 x 4 x 256 = 7,168 patches
(same distribution) is the "data" for the classifier and the FD statistics.

Model: UNet2DModel, block_out_channels (24, 48, 64, 80), layers_per_block 1, down (DownBlock2D,
DownBlock2D, AttnDownBlock2D, AttnDownBlock2D), up (AttnUpBlock2D, AttnUpBlock2D, UpBlock2D,
UpBlock2D), norm_num_groups 8, attention_head_dim 16, unconditional.  Schedule:
DDPMScheduler(1000 steps, squaredcos_cap_v2, prediction_type v_prediction).  AdamW lr 1e-3 (warmup
200, cosine to 10 %), batch 32, EMA 0.999 (saved), float32.  Because the machine is shared, the
run has a wall-clock budget (--minutes, default 40): the cosine schedule follows
max(step/steps, elapsed/budget) and training stops at whichever ends first (the summary records the
steps actually taken), so the step count is not reproducible across machines.

Classifier (as read by FeatureClassifier.swift): x = patch flattened CHW (3072),
features = silu(fc2(silu(fc1(x)))) [128], logits = fc3(features) [7], trained on a stratified
80 % of the fixed patches; test_accuracy on the other 20 % (patches of the same photographs
overlap, so this measures patch -> photograph recognition, not generalisation to new photos).
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
from common import LOGS, MODELS, loss_curve_png, versions, write_safetensors  # noqa: E402

from diffusers import DDPMScheduler, UNet2DModel  # noqa: E402

GENERATOR = "tools/neural/train_photos.py"
PHOTOS = [
    ("astronaut", "NASA; no known copyright restrictions, released into the public domain"),
    ("coffee", "CC0, photographer Rachel Michetti"),
    ("chelsea", "CC0, photographer Stefan van der Walt"),
    ("rocket", "SpaceX; released into the public domain"),
    ("immunohistochemistry", "no known copyright restrictions"),
    ("hubble_deep_field", "NASA/HubbleSite; may be freely used in the public domain"),
    ("retina", "Mikael Häggström, Wikimedia Commons; CC0 1.0"),
]
SHORT_SIDES = (64, 96, 128, 192)
PATCH = 32
FIXED_PER_SCALE = 256
UNET = dict(
    sample_size=32, in_channels=3, out_channels=3, layers_per_block=1,
    block_out_channels=(24, 48, 64, 80),
    down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
    norm_num_groups=8, attention_head_dim=16,
)
SCHEDULER = dict(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction",
                 clip_sample=False)


def load_photos() -> list[list[np.ndarray]]:
    """Per photograph, its resized versions [H,W,3] float32 in [-1,1]."""
    import skimage.data
    from skimage.transform import resize
    out = []
    for name, _ in PHOTOS:
        img = getattr(skimage.data, name)()[..., :3]
        if name == "retina":
            c = (img.shape[0] - 1000) // 2
            img = img[c:c + 1000, c:c + 1000]
        img = img.astype(np.float64) / 255.0
        h, w = img.shape[:2]
        versions_ = []
        for s in SHORT_SIDES:
            f = s / min(h, w)
            r = resize(img, (max(PATCH, round(h * f)), max(PATCH, round(w * f))), anti_aliasing=True, order=1)
            versions_.append((np.clip(r, 0, 1) * 2 - 1).astype(np.float32))
        out.append(versions_)
    return out


def crop(img: np.ndarray, i: int, j: int, flip: bool) -> np.ndarray:
    p = img[i:i + PATCH, j:j + PATCH].transpose(2, 0, 1)
    return np.ascontiguousarray(p[:, :, ::-1] if flip else p)


def fixed_patches(photos, seed: int = 123) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for c, scaled in enumerate(photos):
        for img in scaled:
            h, w = img.shape[:2]
            for _ in range(FIXED_PER_SCALE):
                xs.append(crop(img, rng.integers(0, h - PATCH + 1), rng.integers(0, w - PATCH + 1), bool(rng.integers(0, 2))))
                ys.append(c)
    return np.stack(xs).astype(np.float32), np.array(ys, np.int64)


def random_batch(photos, rng: np.random.Generator, n: int) -> np.ndarray:
    out = np.empty((n, 3, PATCH, PATCH), np.float32)
    for k in range(n):
        scaled = photos[rng.integers(0, len(photos))]
        img = scaled[rng.integers(0, len(scaled))]
        h, w = img.shape[:2]
        out[k] = crop(img, rng.integers(0, h - PATCH + 1), rng.integers(0, w - PATCH + 1), bool(rng.integers(0, 2)))
    return out


def train_classifier(photos):
    from train_classifier import np_forward, save_classifier, train_mlp, weights_f32
    x, y = fixed_patches(photos)
    xf = x.reshape(len(x), -1)
    model, acc, train, test = train_mlp(xf, y, k=len(PHOTOS), epochs=60, lr=1e-3, noise=0.05, wd=1e-2, dropout=0.2)
    w = weights_f32(model)
    _, lg = np_forward(w, xf[test])
    acc64 = float((lg.argmax(1) == y[test]).mean())
    print(f"photos classifier: held-out accuracy {acc:.4f} (float64 {acc64:.4f}, {len(test)} patches)")
    meta = {
        "input_shape": "3,32,32", "activation": "silu", "feature": "fc2", "data_count": str(len(x)),
        "test_accuracy": f"{acc64:.4f}", "test_count": str(len(test)), "classes": ",".join(n for n, _ in PHOTOS),
        "generator": GENERATOR, "versions": json.dumps(versions(), sort_keys=True),
        "description": (
            "MLP classifier of 32x32 RGB patches of scikit-image sample photographs (class = source photograph, "
            "order in 'classes'). Input: x/255*2-1 in [-1,1], channels first, flattened CHW (3072). features = "
            "silu(fc2(silu(fc1(x)))) [128], logits = fc3(features) [7]. data_feature_mean / data_feature_cov: float64 "
            "statistics (ddof=1) of the features of the fixed seeded set of 7,168 patches (tools/neural/train_photos.py)."),
    }
    save_classifier(MODELS / "photos-classifier.safetensors", w, xf, meta)
    return acc64


def train_unet(photos, args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = UNet2DModel(**UNET).train()
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    n_params = sum(p.numel() for p in model.parameters())
    sched = DDPMScheduler(**SCHEDULER)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = min(200, max(1, args.steps // 10))
    budget = args.minutes * 60.0

    def lr_at(step, elapsed):
        if step < warmup:
            return args.lr * (step + 1) / warmup
        prog = min(1.0, max((step - warmup) / max(1, args.steps - warmup), elapsed / budget))
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog)))

    g = torch.Generator().manual_seed(args.seed)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    logf = args.log.open("w")
    logf.write("step,loss,loss_smoothed,lr,seconds\n")
    print(f"UNet2DModel {n_params} parameters ({n_params * 4 / 1e6:.2f} MB float32), up to {args.steps} steps of "
          f"batch {args.batch} within {args.minutes} min, {args.threads} thread(s)", flush=True)

    def save():
        if args.out.exists():
            shutil.rmtree(args.out)
        ema.save_pretrained(args.out, safe_serialization=True)
        DDPMScheduler(**SCHEDULER).save_config(args.out)
        for f in args.out.iterdir():
            f.chmod(0o644)

    t0 = time.time()
    window, smoothed, step, lr = [], None, 0, args.lr
    while step < args.steps:
        elapsed = time.time() - t0
        if elapsed >= budget:
            print(f"wall-clock budget reached after {step} steps", flush=True)
            break
        x0 = torch.from_numpy(random_batch(photos, rng, args.batch))
        noise = torch.randn(x0.shape, generator=g)
        t = torch.randint(0, SCHEDULER["num_train_timesteps"], (x0.shape[0],), generator=g)
        xt = sched.add_noise(x0, noise, t)
        target = sched.get_velocity(x0, noise, t)
        lr = lr_at(step, elapsed)
        for pg in opt.param_groups:
            pg["lr"] = lr
        loss = torch.nn.functional.mse_loss(model(xt, t).sample, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)
        window.append(loss.item())
        step += 1
        if step % args.log_every == 0 or step == args.steps:
            m = float(np.mean(window))
            smoothed = m if smoothed is None else 0.9 * smoothed + 0.1 * m
            el = time.time() - t0
            logf.write(f"{step},{m:.6f},{smoothed:.6f},{lr:.6g},{el:.1f}\n")
            logf.flush()
            print(f"step {step}/{args.steps} loss {m:.5f} smoothed {smoothed:.5f} lr {lr:.2e} {el:.0f}s", flush=True)
            window = []
        if step % args.save_every == 0:
            save()
    if window:
        m = float(np.mean(window))
        smoothed = m if smoothed is None else 0.9 * smoothed + 0.1 * m
        logf.write(f"{step},{m:.6f},{smoothed:.6f},{lr:.6g},{time.time() - t0:.1f}\n")
    logf.close()
    save()
    elapsed = time.time() - t0
    summary = dict(steps=step, max_steps=args.steps, minutes_budget=args.minutes, batch=args.batch, lr=args.lr,
                   ema=args.ema, seed=args.seed, threads=args.threads, parameters=n_params, dtype="float32",
                   seconds=round(elapsed, 1), final_loss_smoothed=smoothed, unet=UNET, scheduler=SCHEDULER,
                   photos=PHOTOS, short_sides=SHORT_SIDES, versions=versions(), command=" ".join(sys.argv))
    args.log.with_name(args.log.stem + "-summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    try:
        loss_curve_png(args.log, args.log.with_suffix(".png"), f"photos-unet training loss (v MSE), {step} steps")
    except Exception as e:
        print("loss curve PNG not written:", e)
    print(f"done: {step} steps in {elapsed:.0f}s, smoothed loss {smoothed}, saved EMA to {args.out}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["classifier", "unet"], required=True)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--minutes", type=float, default=40.0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--save-every", type=int, default=500)
    ap.add_argument("--out", type=Path, default=MODELS / "photos-unet")
    ap.add_argument("--log", type=Path, default=LOGS / "photos-train.csv")
    args = ap.parse_args()
    photos = load_photos()
    if args.part == "classifier":
        torch.set_num_threads(1)
        train_classifier(photos)
    else:
        train_unet(photos, args)


if __name__ == "__main__":
    main()
