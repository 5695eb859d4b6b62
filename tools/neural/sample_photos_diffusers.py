#!/usr/bin/env python3
"""Reference samples of the trained photos model (diffusers DPM-Solver++(2M)), its FD, and the model card.

Command (from the repository root, after `train_photos.py --part classifier` and `--part unet`; ~2 min):

    /root/venv-tools/bin/python tools/neural/sample_photos_diffusers.py

Writes
  Tests/DiffusionSolversTests/Fixtures/neural/photos-dpmpp2m-20.safetensors
      noise [16,3,32,32] F32 (torch.Generator().manual_seed(0)), samples [16,3,32,32] F32
      (DPMSolverMultistepScheduler dpmsolver++, order 2, linspace, final_sigmas_type zero, 20 steps,
      the model's squaredcos_cap_v2 betas, v_prediction), scheduler_timesteps [20] I64,
      forward.input [4,3,32,32], forward.timesteps [4] F32, forward.output [4,3,32,32];
      metadata fd (256 samples, see below), fd_real_256, ...
  Sources/DiffusionNeural/Resources/Models/photos-unet/README.md (model card)
  tools/neural/logs/photos-samples.png
The FD figures use 256 samples (noise: torch.Generator().manual_seed(0), randn [256,3,32,32]; the
fixture stores the first 16 of them to stay small) against the feature statistics stored in
photos-classifier.safetensors.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import FIXTURES, LOGS, MODELS, frechet_distance, versions, write_safetensors  # noqa: E402
from train_classifier import feature_stats, np_forward  # noqa: E402
import train_photos as TP  # noqa: E402

from diffusers import DPMSolverMultistepScheduler, UNet2DModel  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

GENERATOR = "tools/neural/sample_photos_diffusers.py"
MODEL_DIR = MODELS / "photos-unet"
STEPS = 20
N = 256
N_FIXTURE = 16


def make_scheduler():
    cfg = json.loads((MODEL_DIR / "scheduler_config.json").read_text())
    return DPMSolverMultistepScheduler(
        num_train_timesteps=cfg["num_train_timesteps"], beta_schedule=cfg["beta_schedule"],
        prediction_type=cfg["prediction_type"], algorithm_type="dpmsolver++", solver_order=2,
        timestep_spacing="linspace", final_sigmas_type="zero")


@torch.no_grad()
def sample(model, noise):
    sched = make_scheduler()
    sched.set_timesteps(STEPS)
    x = noise * sched.init_noise_sigma
    for t in sched.timesteps:
        x = sched.step(model(x, t).sample, t, x).prev_sample
    return x, sched


def grid_png(arrays, path: Path, n=8):
    from PIL import Image
    tiles = []
    for a in arrays:
        a = np.clip((a[: n * n] + 1) / 2, 0, 1).transpose(0, 2, 3, 1)
        a = np.pad(a, ((0, 0), (1, 0), (1, 0), (0, 0)), constant_values=1.0)
        g = a.reshape(n, n, 33, 33, 3).transpose(0, 2, 1, 3, 4).reshape(n * 33, n * 33, 3)
        tiles.append(np.pad(g, ((0, 0), (0, 8), (0, 0)), constant_values=1.0))
    img = (np.concatenate(tiles, axis=1) * 255).astype(np.uint8)
    Image.fromarray(img).resize((img.shape[1] * 2, img.shape[0] * 2), Image.NEAREST).save(path)


def main():
    torch.set_num_threads(2)
    model = UNet2DModel.from_pretrained(MODEL_DIR).eval()
    n_params = sum(p.numel() for p in model.parameters())
    noise = torch.randn([N, 3, 32, 32], generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    samples = torch.cat([sample(model, noise[i:i + 64])[0] for i in range(0, N, 64)])
    sched = make_scheduler()
    sched.set_timesteps(STEPS)

    w = load_file(str(MODELS / "photos-classifier.safetensors"))
    mean, cov = w["data_feature_mean"], w["data_feature_cov"]
    f, lg = np_forward(w, samples.numpy().reshape(N, -1))
    fd = frechet_distance(*feature_stats(f), mean, cov)
    hist = np.bincount(lg.argmax(1), minlength=len(TP.PHOTOS)).tolist()
    x_data, _ = TP.fixed_patches(TP.load_photos())
    idx = np.random.default_rng(7).choice(len(x_data), N, replace=False)
    fd_real = frechet_distance(*feature_stats(np_forward(w, x_data[idx].reshape(N, -1))[0]), mean, cov)
    fd_noise = frechet_distance(*feature_stats(np_forward(w, noise.numpy().reshape(N, -1))[0]), mean, cov)
    print(f"FD(samples, data) = {fd:.4f}; FD(256 real patches, data) = {fd_real:.4f}; FD(noise) = {fd_noise:.4f}; "
          f"classes {hist}")

    fx = torch.randn([4, 3, 32, 32], generator=torch.Generator().manual_seed(1))
    ft = torch.tensor([0.0, 17.25, 500.5, 999.0])
    with torch.no_grad():
        fo = model(fx, ft).sample
    write_safetensors(FIXTURES / "photos-dpmpp2m-20.safetensors", {
        "noise": noise[:N_FIXTURE], "samples": samples[:N_FIXTURE],
        "scheduler_timesteps": sched.timesteps.to(torch.int64),
        "forward.input": fx, "forward.timesteps": ft, "forward.output": fo,
    }, {
        "generator": GENERATOR, "versions": json.dumps(versions(), sort_keys=True),
        "model": "Sources/DiffusionNeural/Resources/Models/photos-unet",
        "scheduler_config": json.dumps({k: v for k, v in dict(sched.config).items() if k != "_use_default_values"}, sort_keys=True, default=str), "steps": str(STEPS),
        "fd": repr(fd), "fd_real_256": repr(fd_real), "fd_noise": repr(fd_noise), "class_histogram": ",".join(map(str, hist)),
        "description": (
            "diffusers DPMSolverMultistepScheduler(dpmsolver++, solver_order 2, linspace, final_sigmas_type zero, 20 steps, "
            "squaredcos_cap_v2, v_prediction; see scheduler_config) on photos-unet, unconditional. noise = the first 16 of "
            "torch.randn([256,3,32,32], generator=torch.Generator().manual_seed(0)); samples (not clipped) were computed in "
            "batches of 64. fd: FD of the photos-classifier features of all 256 samples vs its data statistics; fd_real_256: "
            "256 of the fixed data patches (floor). forward.*: full-network output on 4 random inputs (seed 1)."),
    })
    LOGS.mkdir(parents=True, exist_ok=True)
    grid_png([samples.numpy(), x_data[idx]], LOGS / "photos-samples.png")
    write_card(n_params, fd, fd_real, fd_noise, hist)


def write_card(n_params, fd, fd_real, fd_noise, hist):
    summary = json.loads((LOGS / "photos-train-summary.json").read_text())
    clf = safe_open(str(MODELS / "photos-classifier.safetensors"), "np").metadata()
    u, s = summary["unet"], summary["scheduler"]
    photos = "\n".join(f"- `skimage.data.{n}()`: {lic}" for n, lic in summary["photos"])
    card = f"""# photos-unet

A small unconditional diffusion model of 32x32 RGB patches of scikit-image's sample photographs,
in diffusers' `UNet2DModel` format, for the DiffusionSolvers examples and tests (a v-prediction
model with a cosine schedule, to complement the ε-prediction digits model). Trained from scratch
with `tools/neural/train_photos.py`; the weights are the EMA of the training weights.

## Files
- `config.json`, `diffusion_pytorch_model.safetensors` ({summary["dtype"]}, diffusers tensor names,
  {n_params:,} parameters, {n_params * 4 / 1e6:.2f} MB).
- `scheduler_config.json`: the training schedule, `DDPMScheduler` config.

## Data
Seven photographs that ship inside scikit-image {summary["versions"].get("scikit-image", "")}; licenses as stated in
`skimage.data`'s documentation:
{photos}

Each photograph is resized (anti-aliased) so that its shorter side is {", ".join(map(str, summary["short_sides"]))} px
(retina: centre 1000x1000 crop first). A training patch is a uniformly random photograph, scale,
32x32 position and horizontal flip, with values x/255*2-1 in [-1, 1], shape [3, 32, 32].

## License
The photographs are public domain or CC0, so the weights carry no attribution requirement; we
release them under CC0 1.0. Please credit the photographers above where practical.

## Architecture
`UNet2DModel`: sample_size 32, 3 channels in and out, block_out_channels {tuple(u["block_out_channels"])},
layers_per_block {u["layers_per_block"]}, down blocks {", ".join(u["down_block_types"])}, mid block UNetMidBlock2D
(with attention), up blocks {", ".join(u["up_block_types"])}, norm_num_groups {u["norm_num_groups"]},
attention_head_dim {u["attention_head_dim"]}, positional time embedding (flip_sin_to_cos true, freq_shift 0),
unconditional.

## Schedule and parameterization
DDPM, {s["num_train_timesteps"]} training timesteps, `{s["beta_schedule"]}` betas, prediction_type `{s["prediction_type"]}`
(the network predicts v = √ᾱ_t ε − √(1−ᾱ_t) x_0).

## Training
```
/root/venv-tools/bin/python tools/neural/train_photos.py{(" " + summary["command"].split(" ", 1)[1]) if " " in summary["command"] else ""}
```
(torch {summary["versions"].get("torch")}, diffusers {summary["versions"].get("diffusers")}, CPU, {summary["threads"]} thread.)
{summary["steps"]} steps of batch {summary["batch"]} (wall-clock budget {summary["minutes_budget"]:.0f} min, at most
{summary["max_steps"]} steps), timesteps uniform in 0..999, MSE on v, AdamW (lr {summary["lr"]}, weight decay 0.01,
warmup, cosine decay to 10 % over the budget), gradient clipping 1.0, EMA decay {summary["ema"]}, seed {summary["seed"]}.
Training took {summary["seconds"] / 60:.1f} minutes. Final loss (smoothed v-MSE, training weights):
{summary["final_loss_smoothed"]:.4f}. Loss log: `tools/neural/logs/photos-train.csv` (and `.png`).
This is a short CPU run: expect soft, texture-like patches, not photographic detail.

## Quality
Fréchet distance in the 128-d feature space of `../photos-classifier.safetensors` (an MLP that
tells which photograph a patch came from; held-out accuracy {float(clf["test_accuracy"]) * 100:.1f} %), against the
feature statistics of a fixed set of 7,168 patches, for 256 samples (`tools/neural/sample_photos_diffusers.py`;
diffusers DPM-Solver++(2M), 20 steps, linspace, final sigma zero, noise from `torch.Generator().manual_seed(0)`):

| samples | FD |
| --- | --- |
| 256 model samples | {fd:.3f} |
| 256 real patches (the floor for n = 256) | {fd_real:.3f} |
| the initial noise | {fd_noise:.1f} |

Classifier labels of the samples ({", ".join(n for n, _ in summary["photos"])}): {", ".join(map(str, hist))}.
Grid: `tools/neural/logs/photos-samples.png` (samples, then real patches).
"""
    (MODEL_DIR / "README.md").write_text(card)


if __name__ == "__main__":
    main()
