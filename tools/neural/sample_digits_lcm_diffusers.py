#!/usr/bin/env python3
"""Reference runs of the distilled `digits-lcm` model with diffusers' LCMScheduler, its Fréchet
distances, and its model card.

Command (from the repository root, after tools/neural/distill_digits_lcm.py; ~1 min):

    /work/main/tools/.venv/bin/python tools/neural/sample_digits_lcm_diffusers.py

Reads Sources/DiffusionNeural/Resources/Models/digits-lcm/ and digits-classifier.safetensors, writes
  Tests/DiffusionSolversTests/Fixtures/neural/digits-lcm-4.safetensors
      noise [2,1,8,8] F32          torch.Generator().manual_seed(0); torch.randn([2,1,8,8], generator=g)
      step_noise [3,2,1,8,8] F32   the draws LCMScheduler.step consumed, in order (its randn_tensor
                                   replaced by draws from torch.Generator().manual_seed(1), recorded)
      samples [2,1,8,8] F32        LCMScheduler from the model's scheduler_config.json, 4 steps,
                                   class label 10 (null); the last step returns the denoised sample
      timesteps [4] F32            the scheduler's own (999, 759, 499, 259)
      forward.input [8,1,8,8], forward.timesteps [8] F32, forward.class_labels [8] I64, forward.output [8,1,8,8]
      metadata: fd_<n> for 256 samples at n = 1, 2, 4, 8 steps (null label, draws from torch's
      global generator), fd_real_256, ...
  Sources/DiffusionNeural/Resources/Models/digits-lcm/README.md (model card)
  tools/neural/logs/digits-lcm-samples.png (16x16 grids at 1, 2, 4 and 8 steps)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import FIXTURES, LOGS, MODELS, frechet_distance, load_digits_images, versions, write_safetensors  # noqa: E402
from sample_digits_diffusers import grid_png  # noqa: E402
from train_classifier import feature_stats, np_forward  # noqa: E402

import diffusers.schedulers.scheduling_lcm as scheduling_lcm  # noqa: E402
from diffusers import LCMScheduler, UNet2DModel  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

GENERATOR = "tools/neural/sample_digits_lcm_diffusers.py"
MODEL_DIR = MODELS / "digits-lcm"
NULL = 10
PARITY_STEPS = 4
FD_STEPS = [1, 2, 4, 8]


@torch.no_grad()
def sample(model, noise, steps, step_generator):
    """LCMScheduler's loop as diffusers' LCM pipelines run it; returns the samples, the scheduler
    and the step draws (recorded from `step_generator`)."""
    sched = LCMScheduler.from_pretrained(MODEL_DIR)
    sched.set_timesteps(steps)
    draws = []

    def recorded(shape, generator=None, device=None, dtype=None, **_):
        z = torch.randn(shape, generator=step_generator, dtype=torch.float32)
        draws.append(z.clone())
        return z.to(dtype)

    original = scheduling_lcm.randn_tensor
    scheduling_lcm.randn_tensor = recorded
    try:
        x = noise.clone() * sched.init_noise_sigma
        labels = torch.full((x.shape[0],), NULL)
        for t in sched.timesteps:
            eps = model(x, t.expand(x.shape[0]), class_labels=labels).sample
            x = sched.step(eps, t, x).prev_sample
    finally:
        scheduling_lcm.randn_tensor = original
    return x, sched, draws


def main():
    torch.set_num_threads(1)
    model = UNet2DModel.from_pretrained(MODEL_DIR).eval()
    n_params = sum(p.numel() for p in model.parameters())

    noise = torch.randn([2, 1, 8, 8], generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    samples, sched, draws = sample(model, noise, PARITY_STEPS, torch.Generator().manual_seed(1))
    assert len(draws) == PARITY_STEPS - 1

    w = load_file(str(MODELS / "digits-classifier.safetensors"))
    mean, cov = w["data_feature_mean"], w["data_feature_cov"]
    noise256 = torch.randn([256, 1, 8, 8], generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    fds, grids, hists = {}, [], {}
    for n in FD_STEPS:
        s, _, _ = sample(model, noise256, n, torch.Generator().manual_seed(1))
        f, lg = np_forward(w, s.numpy().reshape(256, -1))
        fds[n] = frechet_distance(*feature_stats(f), mean, cov)
        hists[n] = np.bincount(lg.argmax(1), minlength=10).tolist()
        grids.append(s.numpy())
    x_data, _ = load_digits_images()
    idx = np.random.default_rng(7).choice(len(x_data), 256, replace=False)
    fd_real = frechet_distance(*feature_stats(np_forward(w, x_data[idx].reshape(256, -1))[0]), mean, cov)
    print("FD(samples, data) by steps:", {n: round(v, 4) for n, v in fds.items()}, f"FD(256 real) = {fd_real:.4f}")

    fx = torch.randn([8, 1, 8, 8], generator=torch.Generator().manual_seed(1))
    ft = torch.tensor([0.0, 999.0, 759.0, 499.0, 259.0, 19.0, 500.5, 42.0])
    fl = torch.tensor([0, 1, 2, 3, 10, 10, 7, 9], dtype=torch.int64)
    with torch.no_grad():
        fo = model(fx, ft, class_labels=fl).sample

    sched_cfg = json.dumps({k: v for k, v in dict(sched.config).items() if k != "_use_default_values"}, sort_keys=True, default=str)
    write_safetensors(FIXTURES / "digits-lcm-4.safetensors", {
        "noise": noise, "step_noise": torch.stack(draws), "samples": samples,
        "timesteps": sched.timesteps.to(torch.float32),
        "forward.input": fx, "forward.timesteps": ft, "forward.class_labels": fl, "forward.output": fo,
    }, {
        "generator": GENERATOR, "versions": json.dumps(versions(), sort_keys=True),
        "model": "Sources/DiffusionNeural/Resources/Models/digits-lcm",
        "scheduler_config": sched_cfg, "steps": str(PARITY_STEPS),
        **{f"fd_{n}": repr(v) for n, v in fds.items()}, "fd_real_256": repr(fd_real),
        "description": (
            "diffusers LCMScheduler (the model's scheduler_config.json) for 4 steps on digits-lcm from "
            "noise = torch.randn([2,1,8,8], generator=torch.Generator().manual_seed(0)), class label 10 (null); "
            "step_noise: the 3 draws LCMScheduler.step consumed, in order. fd_<n>: 256 samples (the same "
            "generator, [256,1,8,8]) at n steps, digits-classifier features vs its data_feature_mean/cov. "
            "forward.*: full-network output on 8 random inputs (torch.Generator().manual_seed(1))."),
    })
    LOGS.mkdir(parents=True, exist_ok=True)
    grid_png(grids, LOGS / "digits-lcm-samples.png")
    write_card(n_params, fds, fd_real, hists)


def write_card(n_params, fds, fd_real, hists):
    summary = json.loads((LOGS / "digits-lcm-distill-summary.json").read_text())
    clf = safe_open(str(MODELS / "digits-classifier.safetensors"), "np").metadata()
    minutes = summary["seconds"] / 60
    args = summary["command"].split(" ", 1)[1] if " " in summary["command"] else ""
    rows = "\n".join(f"| {n} | {fds[n]:.3f} | {', '.join(map(str, hists[n]))} |" for n in FD_STEPS)
    card = f"""# digits-lcm

A few-step model of scikit-learn's 8x8 handwritten digits: `digits-unet` distilled by latent-consistency
distillation (LCM, Luo et al. 2023, arXiv:2310.04378) with `tools/neural/distill_digits_lcm.py`, sampled
with diffusers' `LCMScheduler` in 1 to 8 steps (`diffuse sample --model digits-lcm --steps 4`).

## Files
- `config.json`, `diffusion_pytorch_model.safetensors` (float32, diffusers tensor names,
  {n_params:,} parameters, {n_params * 4 / 1e6:.2f} MB): written by `UNet2DModel.save_pretrained`.
- `scheduler_config.json`: an `LCMScheduler` config: the teacher's DDPM schedule (1000 steps, linear
  betas 0.0001..0.02, epsilon), `original_inference_steps` 50, `timestep_scaling` 10.

## Data and license
As `digits-unet`: the 1,797 images of `sklearn.datasets.load_digits` (UCI "Optical Recognition of
Handwritten Digits", E. Alpaydin, C. Kaynak, 1998, <https://doi.org/10.24432/C50P49>, CC BY 4.0),
`x = pixel/16*2 - 1`. The weights derive from those data and from `digits-unet`, and are released under
CC BY 4.0 with that attribution.

## Architecture and parameterization
The teacher's, unchanged: `UNet2DModel` (block_out_channels 32, 48, 64; see `../digits-unet/README.md`),
class embedding with 11 labels (0..9, 10 = null), predicting ε of `x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε`. The
consistency function is LCMScheduler's `f(x, t) = c_skip(t)·x + c_out(t)·x̂₀(x, t)` with
`c_skip = 0.25/((10t)² + 0.25)`, `c_out = 10t/√((10t)² + 0.25)`.

## Distillation
```
/work/main/tools/.venv/bin/python tools/neural/distill_digits_lcm.py{(" " + args) if args else ""}
```
(niced, 1 thread, CPU, on a 2-core machine shared with other jobs; torch {summary["versions"].get("torch")},
diffusers {summary["versions"].get("diffusers")}.) Student initialised from the teacher; {summary["steps"]} steps of batch
{summary["batch"]}. Each step: `t` uniform on the 50 timesteps `20n − 1` (skipping step k = {summary["skipping_step"]}),
`s = t − k` (0 at the bottom), one DDIM step of the teacher from `x_t` to `x_s`, target `f` of the target
network (EMA of the student, decay {summary["target_ema"]}) at `(x_s, s)`, pseudo-Huber loss (c = {summary["huber_c"]}) between it and the
student's `f(x_t, t)`. Not guided: teacher and student see the same label, the null label with probability
{summary["label_dropout"]}, so the model keeps the teacher's class labels and its unconditional mode (w = 1; no guidance
embedding). AdamW, lr {summary["lr"]} (50 warmup steps, then constant), no weight decay, gradient clipping 1.0.
The online student is saved. {summary.get("note", "").capitalize()}{"." if summary.get("note") else ""}
Distillation took {minutes:.1f} minutes; final loss (smoothed) {summary["final_loss_smoothed"]:.4f}.
Loss log: `tools/neural/logs/digits-lcm-distill.csv` (and `.png`).

## Quality
Fréchet distance in the 128-d feature space of `../digits-classifier.safetensors` (held-out accuracy
{float(clf["test_accuracy"]) * 100:.1f} %), against the feature statistics of all 1,797 digits, 256 samples
(null label), diffusers' `LCMScheduler` (`tools/neural/sample_digits_lcm_diffusers.py`, initial noise from
`torch.Generator().manual_seed(0)`); 256 real digits score {fd_real:.3f}:

| steps (= NFE) | FD | classifier labels of the samples (0..9) |
| --- | --- | --- |
{rows}

Grids: `tools/neural/logs/digits-lcm-samples.png` (1, 2, 4, 8 steps). The package's own figures, next to
`digits` with its ODE solvers, are in `docs/FEWSTEP.md`.
"""
    (MODEL_DIR / "README.md").write_text(card)


if __name__ == "__main__":
    main()
