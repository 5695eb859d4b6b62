#!/usr/bin/env python3
"""Reference samples of the trained digits model with diffusers' DPM-Solver++(2M), its FD, and the model card.

Command (from the repository root, after tools/neural/train_digits.py and train_classifier.py; ~1 min):

    /root/venv-tools/bin/python tools/neural/sample_digits_diffusers.py

Reads Sources/DiffusionNeural/Resources/Models/digits-unet/ and digits-classifier.safetensors, writes
  Tests/DiffusionSolversTests/Fixtures/neural/digits-dpmpp2m-20.safetensors
      noise [256,1,8,8] F32      torch.Generator().manual_seed(0); torch.randn([256,1,8,8], generator=g)
      samples [256,1,8,8] F32    DPMSolverMultistepScheduler (dpmsolver++, order 2, linspace, final_sigmas_type
                                 zero, 20 steps; betas of the model's scheduler_config), class label 10 (null)
      samples_class3_w3 [256,1,8,8] F32   same noise, classifier-free guidance eps_u + 3 (eps_c - eps_u), class 3
      scheduler_timesteps [20] I64
      forward.input [8,1,8,8], forward.timesteps [8] F32, forward.class_labels [8] I64, forward.output [8,1,8,8]
      metadata: fd (samples vs the data statistics of digits-classifier.safetensors), fd_class3_w3,
      fd_real_256 (the floor: 256 real digits vs the same statistics), class3_fraction, scheduler_config, ...
  Sources/DiffusionNeural/Resources/Models/digits-unet/README.md (model card)
  tools/neural/logs/digits-samples.png (16x16 grid of `samples`, and class 3 next to it)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import FIXTURES, LOGS, MODELS, frechet_distance, load_digits_images, versions, write_safetensors  # noqa: E402
from train_classifier import feature_stats, np_forward  # noqa: E402

from diffusers import DPMSolverMultistepScheduler, UNet2DModel  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402
from safetensors import safe_open  # noqa: E402

GENERATOR = "tools/neural/sample_digits_diffusers.py"
MODEL_DIR = MODELS / "digits-unet"
NULL = 10
STEPS = 20


def make_scheduler() -> DPMSolverMultistepScheduler:
    cfg = json.loads((MODEL_DIR / "scheduler_config.json").read_text())
    return DPMSolverMultistepScheduler(
        num_train_timesteps=cfg["num_train_timesteps"], beta_schedule=cfg["beta_schedule"],
        beta_start=cfg["beta_start"], beta_end=cfg["beta_end"], prediction_type=cfg["prediction_type"],
        algorithm_type="dpmsolver++", solver_order=2, timestep_spacing="linspace", final_sigmas_type="zero")


@torch.no_grad()
def sample(model, noise, class_label=None, guidance=None):
    sched = make_scheduler()
    sched.set_timesteps(STEPS)
    x = noise * sched.init_noise_sigma
    b = x.shape[0]
    for t in sched.timesteps:
        if guidance is None:
            eps = model(x, t, class_labels=torch.full((b,), NULL if class_label is None else class_label)).sample
        else:
            labels = torch.cat([torch.full((b,), NULL), torch.full((b,), class_label)])
            e = model(torch.cat([x, x]), t, class_labels=labels).sample
            eu, ec = e[:b], e[b:]
            eps = eu + guidance * (ec - eu)
        x = sched.step(eps, t, x).prev_sample
    return x, sched


def grid_png(arrays, path: Path):
    from PIL import Image
    tiles = []
    for a in arrays:
        a = np.clip((a[:256, 0] + 1) / 2, 0, 1)
        a = np.pad(a, ((0, 0), (1, 0), (1, 0)), constant_values=0.35)  # 1-px gray separators
        g = a.reshape(16, 16, 9, 9).transpose(0, 2, 1, 3).reshape(144, 144)
        tiles.append(np.pad(g, ((0, 0), (0, 6)), constant_values=1.0))
    img = (np.concatenate(tiles, axis=1) * 255).astype(np.uint8)
    Image.fromarray(img).resize((img.shape[1] * 3, img.shape[0] * 3), Image.NEAREST).save(path)


def main():
    torch.set_num_threads(2)
    model = UNet2DModel.from_pretrained(MODEL_DIR).eval()
    n_params = sum(p.numel() for p in model.parameters())
    g = torch.Generator().manual_seed(0)
    noise = torch.randn([256, 1, 8, 8], generator=g, dtype=torch.float32)
    samples, sched = sample(model, noise)
    samples_c3, _ = sample(model, noise, class_label=3, guidance=3.0)

    # FD with the classifier features
    clf_path = MODELS / "digits-classifier.safetensors"
    w = load_file(str(clf_path))
    mean, cov = w["data_feature_mean"], w["data_feature_cov"]
    f, _ = np_forward(w, samples.numpy().reshape(256, -1))
    fd = frechet_distance(*feature_stats(f), mean, cov)
    f3, lg3 = np_forward(w, samples_c3.numpy().reshape(256, -1))
    fd3 = frechet_distance(*feature_stats(f3), mean, cov)
    class3_fraction = float((lg3.argmax(1) == 3).mean())
    _, lgu = np_forward(w, samples.numpy().reshape(256, -1))
    class_hist = np.bincount(lgu.argmax(1), minlength=10).tolist()
    x_data, _ = load_digits_images()
    idx = np.random.default_rng(7).choice(len(x_data), 256, replace=False)
    fr, _ = np_forward(w, x_data[idx].reshape(256, -1))
    fd_real = frechet_distance(*feature_stats(fr), mean, cov)
    fd_noise = frechet_distance(*feature_stats(np_forward(w, noise.numpy().reshape(256, -1))[0]), mean, cov)
    print(f"FD(samples, data) = {fd:.4f}; FD(class 3 w=3) = {fd3:.4f} ({class3_fraction:.3f} classified as 3); "
          f"FD(256 real, data) = {fd_real:.4f}; FD(noise, data) = {fd_noise:.4f}; class histogram {class_hist}")

    # forward parity of the trained weights
    g2 = torch.Generator().manual_seed(1)
    fx = torch.randn([8, 1, 8, 8], generator=g2)
    ft = torch.tensor([0.0, 1.0, 999.0, 17.25, 500.5, 250.0, 750.75, 42.0])
    fl = torch.tensor([0, 1, 2, 3, 10, 10, 7, 9], dtype=torch.int64)
    with torch.no_grad():
        fo = model(fx, ft, class_labels=fl).sample

    sched_cfg = json.dumps({k: v for k, v in dict(sched.config).items() if k != "_use_default_values"}, sort_keys=True, default=str)
    write_safetensors(FIXTURES / "digits-dpmpp2m-20.safetensors", {
        "noise": noise, "samples": samples, "samples_class3_w3": samples_c3,
        "scheduler_timesteps": sched.timesteps.to(torch.int64),
        "forward.input": fx, "forward.timesteps": ft, "forward.class_labels": fl, "forward.output": fo,
    }, {
        "generator": GENERATOR, "versions": json.dumps(versions(), sort_keys=True),
        "model": "Sources/DiffusionNeural/Resources/Models/digits-unet",
        "classifier": "Sources/DiffusionNeural/Resources/Models/digits-classifier.safetensors",
        "scheduler_config": sched_cfg, "steps": str(STEPS),
        "fd": repr(fd), "fd_class3_w3": repr(fd3), "fd_real_256": repr(fd_real), "fd_noise": repr(fd_noise),
        "class3_fraction": repr(class3_fraction), "class_histogram": ",".join(map(str, class_hist)),
        "description": (
            "diffusers DPMSolverMultistepScheduler(algorithm_type dpmsolver++, solver_order 2, timestep_spacing "
            "linspace, final_sigmas_type zero, 20 steps, the model's linear betas, epsilon; other options default, "
            "see scheduler_config) on digits-unet. noise = torch.randn([256,1,8,8], generator=torch.Generator()."
            "manual_seed(0)); the model is called with the integer scheduler_timesteps; x starts at noise (init_noise_sigma 1). "
            "samples: class label 10 (null) for every call. samples_class3_w3: eps = eps_u + 3 (eps_c - eps_u), "
            "eps_u with label 10 and eps_c with label 3 (evaluated as one batch of 512). Samples are not clipped. "
            "fd: Frechet distance of the digits-classifier features (float64) of samples vs the classifier's "
            "data_feature_mean/cov; fd_real_256: 256 real digits (numpy default_rng(7).choice(1797, 256, replace=False)) "
            "vs the same statistics (the floor); fd_noise: the noise itself. forward.*: full-network output of the "
            "trained weights on 8 random inputs (torch.Generator().manual_seed(1))."),
    })
    LOGS.mkdir(parents=True, exist_ok=True)
    grid_png([samples.numpy(), samples_c3.numpy(), x_data[idx]], LOGS / "digits-samples.png")
    write_card(n_params, fd, fd3, fd_real, fd_noise, class3_fraction, class_hist)


def write_card(n_params, fd, fd3, fd_real, fd_noise, class3_fraction, class_hist):
    summary = json.loads((LOGS / "digits-train-summary.json").read_text())
    clf = safe_open(str(MODELS / "digits-classifier.safetensors"), "np").metadata()
    u = summary["unet"]
    s = summary["scheduler"]
    minutes = summary["seconds"] / 60
    card = f"""# digits-unet

A small class-conditional diffusion model of scikit-learn's 8x8 handwritten digits, in diffusers'
`UNet2DModel` format, for the DiffusionSolvers examples and tests. Trained from scratch with
`tools/neural/train_digits.py`; the weights are the EMA of the training weights.

## Files
- `config.json`, `diffusion_pytorch_model.safetensors` (float32, diffusers tensor names,
  {n_params:,} parameters, {n_params * 4 / 1e6:.2f} MB): written by `UNet2DModel.save_pretrained`.
- `scheduler_config.json`: the training schedule, `DDPMScheduler` config.

## Data
The 1,797 images of `sklearn.datasets.load_digits` (scikit-learn {summary["versions"].get("scikit-learn", "")}): a copy of the test
set of the UCI Machine Learning Repository's "Optical Recognition of Handwritten Digits" data set
(E. Alpaydin, C. Kaynak, 1998, <https://doi.org/10.24432/C50P49>), licensed under CC BY 4.0.
Pixels are 0..16; the model sees `x = pixel/16*2 - 1` in [-1, 1], shape [1, 8, 8]. All images were
used, without augmentation (no flips: digits are not symmetric).

## License
The weights are a derivative of the data above and are released under CC BY 4.0, with the
attribution above. The training code is part of this repository (see its license).

## Architecture
`UNet2DModel`: sample_size 8, 1 channel in and out, block_out_channels {tuple(u["block_out_channels"])},
layers_per_block {u["layers_per_block"]}, down blocks {", ".join(u["down_block_types"])}, mid block UNetMidBlock2D
(with attention), up blocks {", ".join(u["up_block_types"])}, norm_num_groups {u["norm_num_groups"]},
attention_head_dim {u["attention_head_dim"]}, positional time embedding (flip_sin_to_cos true, freq_shift 0,
time embedding dim {4 * u["block_out_channels"][0]}), class embedding `nn.Embedding({u["num_class_embeds"]}, {4 * u["block_out_channels"][0]})` added to the
time embedding. Classes 0..9 are the digits; label 10 is the null ("no class") label used for
classifier-free guidance: during training each label was replaced by 10 with probability
{summary["label_dropout"]}.

## Schedule and parameterization
DDPM, {s["num_train_timesteps"]} training timesteps, `{s["beta_schedule"]}` betas {s["beta_start"]}..{s["beta_end"]},
prediction_type `{s["prediction_type"]}` (the network predicts the noise ε of x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε).

## Training
```
/root/venv-tools/bin/python tools/neural/train_digits.py{(" " + summary["command"].split(" ", 1)[1]) if " " in summary["command"] else ""}
```
(run in the background with nohup, log `tools/neural/logs/digits-train.log`; torch {summary["versions"].get("torch")},
diffusers {summary["versions"].get("diffusers")}, CPU, {summary["threads"]} thread.)
{summary["steps"]} steps of batch {summary["batch"]} (≈{summary["steps"] * summary["batch"] / 1797:.0f} epochs),
timesteps uniform in 0..999, MSE on ε, AdamW (lr {summary["lr"]}, weight decay 0.01, 200 warmup steps,
cosine decay to 10 %), gradient clipping 1.0, EMA decay {summary["ema"]}, seed {summary["seed"]}.
Training took {minutes:.1f} minutes. Final loss (smoothed ε-MSE, training weights): {summary["final_loss_smoothed"]:.4f}.
Loss log: `tools/neural/logs/digits-train.csv` (and `.png`).

## Quality
Fréchet distance in the 128-d feature space of `../digits-classifier.safetensors` (an MLP digit
classifier, held-out accuracy {float(clf["test_accuracy"]) * 100:.1f} %), against the feature statistics of all 1,797 digits,
for 256 samples (`tools/neural/sample_digits_diffusers.py`; diffusers DPM-Solver++(2M), 20 steps, linspace,
final sigma zero, noise from `torch.Generator().manual_seed(0)`):

| samples | FD |
| --- | --- |
| unconditional (null label 10) | {fd:.3f} |
| 256 real digits (the floor for n = 256) | {fd_real:.3f} |
| class 3, guidance scale 3 | {fd3:.3f} (one class only; {class3_fraction * 100:.1f} % classified as 3) |
| the initial noise | {fd_noise:.1f} |

Classifier labels of the 256 unconditional samples (0..9): {", ".join(map(str, class_hist))}.
Grids: `tools/neural/logs/digits-samples.png` (unconditional, class 3 with guidance 3, real digits).
"""
    (MODEL_DIR / "README.md").write_text(card)


if __name__ == "__main__":
    main()
