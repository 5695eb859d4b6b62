#!/usr/bin/env python3
"""Reference runs of the trained `digits-flow` model with diffusers' FlowMatchEulerDiscreteScheduler,
its Fréchet distance, and its model card.

Command (from the repository root, after tools/neural/train_digits_flow.py; ~1 min):

    /work/main/tools/.venv/bin/python tools/neural/sample_digits_flow_diffusers.py

Reads Sources/DiffusionNeural/Resources/Models/digits-flow/ and digits-classifier.safetensors, writes
  Tests/DiffusionSolversTests/Fixtures/neural/digits-flow-euler-4.safetensors
      noise [2,1,8,8] F32        torch.Generator().manual_seed(0); torch.randn([2,1,8,8], generator=g)
      samples [2,1,8,8] F32      FlowMatchEulerDiscreteScheduler from the model's scheduler_config.json
                                 (shift 1), 4 steps, class label 10 (null), timestep = sigma*1000
      sigmas [5] F32, timesteps [4] F32   the scheduler's own
      forward.input [8,1,8,8], forward.timesteps [8] F32 (in 0..1000), forward.class_labels [8] I64,
      forward.output [8,1,8,8]
      metadata: fd (256 samples of FlowMatchEuler at 50 steps vs the digits-classifier data
      statistics), fd_real_256, fd_class3_w3, class3_fraction, ...
  Sources/DiffusionNeural/Resources/Models/digits-flow/README.md (model card)
  tools/neural/logs/digits-flow-samples.png (16x16 grids: unconditional, class 3 with guidance 3)
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

from diffusers import FlowMatchEulerDiscreteScheduler, UNet2DModel  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

GENERATOR = "tools/neural/sample_digits_flow_diffusers.py"
MODEL_DIR = MODELS / "digits-flow"
NULL = 10
PARITY_STEPS = 4
CARD_STEPS = 50


@torch.no_grad()
def sample(model, noise, steps, class_label=None, guidance=None):
    sched = FlowMatchEulerDiscreteScheduler.from_pretrained(MODEL_DIR)
    sched.set_timesteps(steps)
    x = noise.clone()
    b = x.shape[0]
    for t in sched.timesteps:
        tt = t.expand(b) if guidance is None else t.expand(2 * b)
        if guidance is None:
            v = model(x, tt, class_labels=torch.full((b,), NULL if class_label is None else class_label)).sample
        else:
            labels = torch.cat([torch.full((b,), NULL), torch.full((b,), class_label)])
            out = model(torch.cat([x, x]), tt, class_labels=labels).sample
            vu, vc = out[:b], out[b:]
            v = vu + guidance * (vc - vu)
        x = sched.step(v, t, x).prev_sample
    return x, sched


def main():
    torch.set_num_threads(1)
    model = UNet2DModel.from_pretrained(MODEL_DIR).eval()
    n_params = sum(p.numel() for p in model.parameters())

    # parity: 2 samples, 4 Euler steps
    g = torch.Generator().manual_seed(0)
    noise = torch.randn([2, 1, 8, 8], generator=g, dtype=torch.float32)
    samples, sched = sample(model, noise, PARITY_STEPS)

    # quality: 256 samples, 50 Euler steps
    g = torch.Generator().manual_seed(0)
    noise256 = torch.randn([256, 1, 8, 8], generator=g, dtype=torch.float32)
    s256, _ = sample(model, noise256, CARD_STEPS)
    s256_c3, _ = sample(model, noise256, CARD_STEPS, class_label=3, guidance=3.0)
    w = load_file(str(MODELS / "digits-classifier.safetensors"))
    mean, cov = w["data_feature_mean"], w["data_feature_cov"]
    f, lgu = np_forward(w, s256.numpy().reshape(256, -1))
    fd = frechet_distance(*feature_stats(f), mean, cov)
    f3, lg3 = np_forward(w, s256_c3.numpy().reshape(256, -1))
    fd3 = frechet_distance(*feature_stats(f3), mean, cov)
    class3_fraction = float((lg3.argmax(1) == 3).mean())
    class_hist = np.bincount(lgu.argmax(1), minlength=10).tolist()
    x_data, _ = load_digits_images()
    idx = np.random.default_rng(7).choice(len(x_data), 256, replace=False)
    fd_real = frechet_distance(*feature_stats(np_forward(w, x_data[idx].reshape(256, -1))[0]), mean, cov)
    print(f"FD(samples, data) = {fd:.4f}; FD(class 3 w=3) = {fd3:.4f} ({class3_fraction:.3f} classified as 3); "
          f"FD(256 real, data) = {fd_real:.4f}; class histogram {class_hist}")

    # forward parity of the trained weights
    g2 = torch.Generator().manual_seed(1)
    fx = torch.randn([8, 1, 8, 8], generator=g2)
    ft = torch.tensor([0.0, 1000.0, 999.0, 17.25, 500.5, 250.0, 750.75, 42.0])
    fl = torch.tensor([0, 1, 2, 3, 10, 10, 7, 9], dtype=torch.int64)
    with torch.no_grad():
        fo = model(fx, ft, class_labels=fl).sample

    sched_cfg = json.dumps({k: v for k, v in dict(sched.config).items() if k != "_use_default_values"}, sort_keys=True, default=str)
    write_safetensors(FIXTURES / "digits-flow-euler-4.safetensors", {
        "noise": noise, "samples": samples,
        "sigmas": sched.sigmas.to(torch.float32), "timesteps": sched.timesteps.to(torch.float32),
        "forward.input": fx, "forward.timesteps": ft, "forward.class_labels": fl, "forward.output": fo,
    }, {
        "generator": GENERATOR, "versions": json.dumps(versions(), sort_keys=True),
        "model": "Sources/DiffusionNeural/Resources/Models/digits-flow",
        "scheduler_config": sched_cfg, "steps": str(PARITY_STEPS),
        "fd": repr(fd), "fd_class3_w3": repr(fd3), "fd_real_256": repr(fd_real), "class3_fraction": repr(class3_fraction),
        "description": (
            "diffusers FlowMatchEulerDiscreteScheduler (the model's scheduler_config.json, shift 1) for 4 steps on "
            "digits-flow from noise = torch.randn([2,1,8,8], generator=torch.Generator().manual_seed(0)); the model is "
            "called with the scheduler's float timesteps (sigma*1000) and class label 10 (null); x starts at the noise. "
            "fd: 256 samples (the same generator, [256,1,8,8]) at 50 steps, digits-classifier features vs its "
            "data_feature_mean/cov. forward.*: full-network output of the trained weights on 8 random inputs "
            "(torch.Generator().manual_seed(1))."),
    })
    LOGS.mkdir(parents=True, exist_ok=True)
    grid_png([s256.numpy(), s256_c3.numpy()], LOGS / "digits-flow-samples.png")
    write_card(n_params, fd, fd3, fd_real, class3_fraction, class_hist)


def write_card(n_params, fd, fd3, fd_real, class3_fraction, class_hist):
    summary = json.loads((LOGS / "digits-flow-train-summary.json").read_text())
    clf = safe_open(str(MODELS / "digits-classifier.safetensors"), "np").metadata()
    u = summary["unet"]
    minutes = summary["seconds"] / 60
    args = summary["command"].split(" ", 1)[1] if " " in summary["command"] else ""
    card = f"""# digits-flow

A small class-conditional rectified-flow model of scikit-learn's 8x8 handwritten digits, in diffusers'
`UNet2DModel` format: the flow-matching sibling of `digits-unet` (same data, architecture, label
dropout, optimizer and seed; only the path and the target differ). Trained from scratch with
`tools/neural/train_digits_flow.py`; the weights are the EMA of the training weights.

## Files
- `config.json`, `diffusion_pytorch_model.safetensors` (float32, diffusers tensor names,
  {n_params:,} parameters, {n_params * 4 / 1e6:.2f} MB): written by `UNet2DModel.save_pretrained`.
- `scheduler_config.json`: a `FlowMatchEulerDiscreteScheduler` config, shift {summary["scheduler"]["shift"]}
  (trained and sampled without shift).
- `tuned.json`: the configurations `diffuse sample` runs without `--solver` at 5, 10 and 20 NFE,
  written by `diffuse tune` (command in `Benchmarks/tuned/README.md`).

## Data
The 1,797 images of `sklearn.datasets.load_digits` (scikit-learn {summary["versions"].get("scikit-learn", "")}): a copy of the test
set of the UCI Machine Learning Repository's "Optical Recognition of Handwritten Digits" data set
(E. Alpaydin, C. Kaynak, 1998, <https://doi.org/10.24432/C50P49>), licensed under CC BY 4.0.
Pixels are 0..16; the model sees `x = pixel/16*2 - 1` in [-1, 1], shape [1, 8, 8]. All images were
used, without augmentation.

## License
The weights are a derivative of the data above and are released under CC BY 4.0, with the
attribution above. The training code is part of this repository (see its license).

## Architecture
As `digits-unet`: `UNet2DModel`, sample_size 8, 1 channel in and out, block_out_channels {tuple(u["block_out_channels"])},
layers_per_block {u["layers_per_block"]}, down blocks {", ".join(u["down_block_types"])}, up blocks
{", ".join(u["up_block_types"])}, norm_num_groups {u["norm_num_groups"]}, attention_head_dim {u["attention_head_dim"]},
class embedding `nn.Embedding({u["num_class_embeds"]}, {4 * u["block_out_channels"][0]})`. Classes 0..9 are the digits; label 10 is the
null label for classifier-free guidance (each label replaced by 10 with probability {summary["label_dropout"]} in training).

## Path, parameterization and timestep
Rectified flow: `x_t = (1 − t)·x_0 + t·ε`, `t ∈ [0, 1]` (1 is pure noise); the network predicts the
velocity `v = ε − x_0` (diffusers' `flow_prediction`) and takes `timestep = 1000·t` (float), as
diffusers' flow schedulers pass it (`timesteps = sigmas · num_train_timesteps`).

## Training
```
/work/main/tools/.venv/bin/python tools/neural/train_digits_flow.py{(" " + args) if args else ""}
```
(run niced in the background with nohup, log `tools/neural/logs/digits-flow-train.log`; torch {summary["versions"].get("torch")},
diffusers {summary["versions"].get("diffusers")}, CPU, {summary["threads"]} thread, on a 2-core machine shared with other jobs.)
{summary["steps"]} steps of batch {summary["batch"]} (≈{summary["steps"] * summary["batch"] / 1797:.0f} epochs),
`t` uniform in [0, 1], MSE on `v`, AdamW (lr {summary["lr"]}, weight decay 0.01, {min(200, max(1, summary["steps"] // 10))} warmup steps, cosine decay to
10 %), gradient clipping 1.0, EMA decay {summary["ema"]}, seed {summary["seed"]}. The script's defaults (5000 steps of
batch 128, EMA 0.999, as `digits-unet`) did not fit the time this run had on the shared machine; the
shorter run above is the shipped one.
Training took {minutes:.1f} minutes. Final loss (smoothed velocity MSE, training weights): {summary["final_loss_smoothed"]:.4f}.
Loss log: `tools/neural/logs/digits-flow-train.csv` (and `.png`).

## Quality
Fréchet distance in the 128-d feature space of `../digits-classifier.safetensors` (held-out accuracy
{float(clf["test_accuracy"]) * 100:.1f} %), against the feature statistics of all 1,797 digits, for 256 samples
(`tools/neural/sample_digits_flow_diffusers.py`; diffusers FlowMatchEulerDiscreteScheduler, {CARD_STEPS} steps,
noise from `torch.Generator().manual_seed(0)`):

| samples | FD |
| --- | --- |
| unconditional (null label 10) | {fd:.3f} |
| 256 real digits (the floor for n = 256) | {fd_real:.3f} |
| class 3, guidance scale 3 | {fd3:.3f} (one class only; {class3_fraction * 100:.1f} % classified as 3) |

Classifier labels of the 256 unconditional samples (0..9): {", ".join(map(str, class_hist))}.
Grids: `tools/neural/logs/digits-flow-samples.png` (unconditional, class 3 with guidance 3).
"""
    (MODEL_DIR / "README.md").write_text(card)


if __name__ == "__main__":
    main()
