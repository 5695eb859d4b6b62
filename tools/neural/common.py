"""Shared helpers for the tools/neural/ scripts (paths, safetensors writer, digits data, plots).

Python is a tool here, never a runtime dependency: see tools/README.md.
"""
from __future__ import annotations

import importlib.metadata
import json
import platform
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURES = REPO_ROOT / "Tests" / "DiffusionSolversTests" / "Fixtures" / "neural"
MODELS = REPO_ROOT / "Sources" / "DiffusionNeural" / "Resources" / "Models"
LOGS = Path(__file__).resolve().parent / "logs"

_DTYPES = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64", np.dtype("<i8"): "I64",
           np.dtype("<i4"): "I32", np.dtype("<f2"): "F16"}


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in ["torch", "diffusers", "numpy", "scipy", "safetensors", "scikit-learn", "scikit-image"]:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def to_numpy(v) -> np.ndarray:
    if hasattr(v, "detach"):
        v = v.detach().cpu().numpy()
    arr = np.asarray(v)
    if arr.dtype.newbyteorder("<") not in _DTYPES:
        raise TypeError(f"unsupported dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))


def write_safetensors(path: Path, tensors: dict, metadata: dict):
    """Byte-reproducible safetensors writer (F32, F64, I64, I32, F16), keys sorted.

    Layout: u64 little-endian header length, JSON header padded with spaces to a multiple of 8,
    raw little-endian data packed in sorted-name order.  Read back with safetensors and compared.
    """
    from safetensors.numpy import load_file
    arrays = {k: to_numpy(v) for k, v in tensors.items()}
    header = {"__metadata__": {k: str(metadata[k]) for k in sorted(metadata)}}
    blobs, offset = [], 0
    for name in sorted(arrays):
        arr = arrays[name]
        data = arr.tobytes()
        header[name] = {"dtype": _DTYPES[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * (-len(hjson) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(len(hjson).to_bytes(8, "little") + hjson + b"".join(blobs))
    back = load_file(str(path))
    assert sorted(back) == sorted(arrays)
    for name, arr in arrays.items():
        assert back[name].dtype == arr.dtype and np.array_equal(back[name], arr), name


def load_digits_images() -> tuple[np.ndarray, np.ndarray]:
    """sklearn's 1,797 8x8 digits as float32 [N,1,8,8] in [-1,1] (pixel/16*2-1) and int64 labels."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0) * 2.0 - 1.0
    return x[:, None, :, :].astype(np.float32), d.target.astype(np.int64)


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """FD = |mu1-mu2|^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^{1/2}), float64.

    tr((C1 C2)^{1/2}) is computed exactly as the sum of sqrt of the eigenvalues of
    S C2 S with S = C1^{1/2} (symmetric PSD, eigh), which equals tr(sqrtm(C1 C2)).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    w, v = np.linalg.eigh(cov1)
    s = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = s @ cov2 @ s
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    tr_sqrt = float(np.sum(np.sqrt(np.clip(ev, 0, None))))
    d = mu1 - mu2
    return float(d @ d + np.trace(cov1) + np.trace(cov2) - 2.0 * tr_sqrt)


def frechet_distance_scipy(mu1, cov1, mu2, cov2) -> float:
    """The same with scipy.linalg.sqrtm (as in pytorch-fid), for cross-checking."""
    from scipy import linalg
    covmean = linalg.sqrtm(np.asarray(cov1, np.float64) @ np.asarray(cov2, np.float64))
    covmean = np.real(covmean)
    d = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    return float(d @ d + np.trace(cov1) + np.trace(cov2) - 2.0 * np.trace(covmean))


def loss_curve_png(csv_path: Path, png_path: Path, title: str):
    """A small loss-curve PNG drawn with Pillow (matplotlib is not in the venv)."""
    from PIL import Image, ImageDraw
    rows = [line.split(",") for line in csv_path.read_text().strip().splitlines()[1:]]
    if len(rows) < 2:
        return
    steps = np.array([float(r[0]) for r in rows])
    loss = np.array([float(r[1]) for r in rows])
    ema = np.array([float(r[2]) for r in rows]) if len(rows[0]) > 2 else None
    W, H, L, R, T, B = 720, 420, 70, 20, 40, 50
    img = Image.new("RGB", (W, H), "white")
    dr = ImageDraw.Draw(img)
    ly = np.log10(np.clip(loss, 1e-8, None))
    lo, hi = float(np.floor(ly.min() * 4) / 4), float(np.ceil(ly.max() * 4) / 4)
    if hi <= lo:
        hi = lo + 0.25
    def px(s, v):
        return (L + (s - steps[0]) / max(steps[-1] - steps[0], 1) * (W - L - R),
                T + (hi - v) / (hi - lo) * (H - T - B))
    dr.rectangle([L, T, W - R, H - B], outline="black")
    k = lo
    while k <= hi + 1e-9:
        y = px(steps[0], k)[1]
        dr.line([L - 4, y, L, y], fill="black")
        dr.text((4, y - 6), f"{10 ** k:.3g}", fill="black")
        k += 0.25
    for frac in np.linspace(0, 1, 6):
        s = steps[0] + frac * (steps[-1] - steps[0])
        x = px(s, lo)[0]
        dr.line([x, H - B, x, H - B + 4], fill="black")
        dr.text((x - 15, H - B + 8), f"{int(s)}", fill="black")
    dr.line([px(s, v) for s, v in zip(steps, ly)], fill=(150, 150, 220), width=1)
    if ema is not None:
        dr.line([px(s, v) for s, v in zip(steps, np.log10(np.clip(ema, 1e-8, None)))], fill=(200, 30, 30), width=2)
    dr.text((L, 12), title + "  (log scale; blue: window mean, red: smoothed)", fill="black")
    dr.text((W // 2 - 20, H - 18), "step", fill="black")
    img.save(png_path)


def training_arguments(default_out: Path, default_log: Path):
    """The command-line options of the digits training scripts (train_digits.py, train_digits_flow.py)."""
    import argparse
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
    ap.add_argument("--out", type=Path, default=default_out)
    ap.add_argument("--log", type=Path, default=default_log)
    return ap.parse_args()


def train_class_conditional_unet(args, unet: dict, null_label: int, objective, save_scheduler, describe: str,
                                 curve_title: str, summary_extra: dict):
    """The digits training loop shared by `digits` (eps) and `digits-flow` (rectified flow).

    Per step: a batch of the digits (reshuffled when exhausted), each label replaced by `null_label`
    with probability args.label_dropout, then `objective(x0, generator)` draws the noise and times and
    returns (network input, timesteps, target); MSE, AdamW with warmup and cosine decay to 10 %,
    gradient clipping 1.0, and an EMA of the weights (decay min(ema, (1+s)/(10+s))), which is what is
    saved.  All random draws come from one generator seeded with args.seed, in that order.
    """
    import copy
    import math
    import sys
    import torch
    from diffusers import UNet2DModel

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    x_all, y_all = load_digits_images()
    x_all, y_all = torch.from_numpy(x_all), torch.from_numpy(y_all)
    n = x_all.shape[0]

    model = UNet2DModel(**unet).train()
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
    print(f"UNet2DModel {n_params} parameters ({n_params * 4 / 1e6:.2f} MB float32), {n} images, {describe}, "
          f"{args.steps} steps of batch {args.batch}, {args.threads} thread(s)", flush=True)

    def save():
        save_model_folder(ema, args.out, save_scheduler)

    log = LossLog(args.log, args.steps, args.log_every)
    batches = labelled_batches(x_all, y_all, args.batch, null_label, args.label_dropout, g)
    for step in range(args.steps):
        x0, labels = next(batches)
        xt, timesteps, target = objective(x0, g)
        for pg in opt.param_groups:
            pg["lr"] = lr_at(step)
        pred = model(xt, timesteps, class_labels=labels).sample
        loss = torch.nn.functional.mse_loss(pred, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)
        log.add(step, loss.item(), lr_at(step))
        if (step + 1) % args.save_every == 0 and step + 1 < args.steps:
            save()
    log.file.close()
    save()
    elapsed, smoothed = log.seconds(), log.smoothed
    summary = dict(steps=args.steps, batch=args.batch, lr=args.lr, label_dropout=args.label_dropout,
                   ema=args.ema, seed=args.seed, threads=args.threads, parameters=n_params,
                   seconds=round(elapsed, 1), final_loss_smoothed=smoothed, unet=unet, **summary_extra,
                   versions=versions(), command=" ".join(sys.argv))
    write_run_summary(args.log, summary, f"{curve_title}, {args.steps} steps")
    print(f"done: {args.steps} steps in {elapsed:.0f}s, smoothed loss {smoothed:.5f}, saved EMA to {args.out}", flush=True)


class LossLog:
    """The loss log of the training scripts: a CSV (step, window mean loss, smoothed loss, lr, seconds)
    written every `every` steps and at the last, with a progress line each time."""

    def __init__(self, path: Path, steps: int, every: int):
        import time
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file, self.steps, self.every = path.open("w"), steps, every
        self.file.write("step,loss,loss_smoothed,lr,seconds\n")
        self.window, self.smoothed, self.t0 = [], None, time.time()

    def add(self, step: int, loss: float, lr: float):
        import time
        self.window.append(loss)
        if (step + 1) % self.every and step + 1 != self.steps:
            return
        m = float(np.mean(self.window))
        self.smoothed = m if self.smoothed is None else 0.9 * self.smoothed + 0.1 * m
        el = self.seconds()
        self.file.write(f"{step + 1},{m:.6f},{self.smoothed:.6f},{lr:.6g},{el:.1f}\n")
        self.file.flush()
        print(f"step {step + 1}/{self.steps} loss {m:.5f} smoothed {self.smoothed:.5f} lr {lr:.2e} "
              f"{el:.0f}s (eta {el / (step + 1) * (self.steps - step - 1):.0f}s)", flush=True)
        self.window = []

    def seconds(self) -> float:
        import time
        return time.time() - self.t0


def write_run_summary(log: Path, summary: dict, curve_title: str):
    """`<log stem>-summary.json` and the loss-curve PNG next to the loss log."""
    log.with_name(log.stem + "-summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    try:
        loss_curve_png(log, log.with_suffix(".png"), curve_title)
    except Exception as e:  # the PNG is a convenience
        print("loss curve PNG not written:", e)


def save_model_folder(model, out: Path, save_scheduler):
    """`out` replaced by the model's `save_pretrained` folder and its scheduler config, files 0644."""
    import shutil
    if out.exists():
        shutil.rmtree(out)
    model.save_pretrained(out, safe_serialization=True)
    save_scheduler(out)
    for f in out.iterdir():
        f.chmod(0o644)


def labelled_batches(x_all, y_all, batch: int, null_label: int, label_dropout: float, g):
    """Endless batches (x0, labels) of the digits, reshuffled with `g` when exhausted, each label
    replaced by `null_label` with probability `label_dropout` (drawn from `g` after the shuffle)."""
    import torch
    n = x_all.shape[0]
    perm, pos = torch.randperm(n, generator=g), 0
    while True:
        if pos + batch > n:
            perm, pos = torch.randperm(n, generator=g), 0
        idx = perm[pos:pos + batch]
        pos += batch
        x0, labels = x_all[idx], y_all[idx].clone()
        labels[torch.rand(labels.shape, generator=g) < label_dropout] = null_label
        yield x0, labels
