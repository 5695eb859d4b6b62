#!/usr/bin/env python3
"""Train the class-conditional eps-prediction UNet2DModel on scikit-learn's 8x8 digits.

Commands (from the repository root):

    # smoke run (20 steps, writes to /tmp only)
    /root/venv-tools/bin/python tools/neural/train_digits.py --steps 20 --out /tmp/digits-smoke --log /tmp/digits-smoke.csv
    # the committed model (1 thread; ~25 min on a 2-core machine)
    nohup /root/venv-tools/bin/python tools/neural/train_digits.py > tools/neural/logs/digits-train.log 2>&1 &

Data: sklearn.datasets.load_digits (1,797 images, 8x8, values 0..16; UCI "Optical Recognition of
Handwritten Digits", CC BY 4.0), x = pixel/16*2-1 in [-1,1]; no augmentation (digits are not
symmetric, so no flips).  All 1,797 images are used for training.

Model: diffusers UNet2DModel, block_out_channels (32, 48, 64), layers_per_block 1, down
(DownBlock2D, AttnDownBlock2D, AttnDownBlock2D), up (AttnUpBlock2D, AttnUpBlock2D, UpBlock2D),
norm_num_groups 8, attention_head_dim 16, num_class_embeds 11 (classes 0..9, 10 = null label;
labels are replaced by 10 with probability 0.15 during training, for classifier-free guidance).
Schedule: DDPMScheduler(1000 steps, linear betas 1e-4..0.02, epsilon).  AdamW (lr 1e-3, wd 0.01,
200 warmup steps, cosine decay to 10%), batch 128, timesteps uniform in 0..999, MSE on eps;
EMA of the weights (decay min(0.999, (1+s)/(10+s))) is what is saved.  Seeds fixed; CPU.

Outputs: <out>/config.json, diffusion_pytorch_model.safetensors (float32), scheduler_config.json
(default out: Sources/DiffusionNeural/Resources/Models/digits-unet/), the loss log
tools/neural/logs/digits-train.csv (step, window mean loss, smoothed loss, lr, seconds), a loss
curve PNG next to it (drawn with Pillow) and tools/neural/logs/digits-train-summary.json.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import LOGS, MODELS, training_arguments, train_class_conditional_unet  # noqa: E402

NULL_LABEL = 10
UNET = dict(
    sample_size=8, in_channels=1, out_channels=1, layers_per_block=1,
    block_out_channels=(32, 48, 64),
    down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
    norm_num_groups=8, attention_head_dim=16, num_class_embeds=11,
)
SCHEDULER = dict(num_train_timesteps=1000, beta_schedule="linear", beta_start=0.0001, beta_end=0.02,
                 prediction_type="epsilon", clip_sample=False)


def main():
    import torch
    from diffusers import DDPMScheduler
    args = training_arguments(MODELS / "digits-unet", LOGS / "digits-train.csv")
    sched = DDPMScheduler(**SCHEDULER)

    def objective(x0, g):
        """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, t uniform in 0..999; target eps."""
        noise = torch.randn(x0.shape, generator=g)
        t = torch.randint(0, SCHEDULER["num_train_timesteps"], (x0.shape[0],), generator=g)
        return sched.add_noise(x0, noise, t), t, noise

    train_class_conditional_unet(args, UNET, NULL_LABEL, objective, DDPMScheduler(**SCHEDULER).save_config, "DDPM eps",
                                 "digits-unet training loss (eps MSE)", dict(scheduler=SCHEDULER))


if __name__ == "__main__":
    main()
