"""The latent-size benchmark U-Net: Stable Diffusion 1.5's UNet layer shapes at a 32x32 latent, random weights.

    tools/.venv/bin/python tools/neural/make_latent_unet.py [--out .build-bench/latent-unet] [--widths 160 320 640 640]

Writes a diffusers `UNet2DModel` folder (config.json, diffusion_pytorch_model.safetensors, a DDPM
scheduler_config.json) that `diffuse-benchmarks --neural --unet DIR` and `bench_forward.py` time. It is a
timing model, not a trained one: the weights are PyTorch's default initialisation under a fixed seed, so the
folder is reproducible and is never committed (0.64 GB at the default widths, 2.6 GB at SD's).

Layout (SD 1.5's `UNet2DConditionModel` without the text conditioning, in the `UNet2DModel` blocks our runtime
reads): 4 latent channels in and out, two resnets per down block (three per up block), attention in the first
three down blocks, the mid block and the last three up blocks, GroupNorm with 32 groups, a time embedding 4x
the first width, convolutional down- and upsampling. The default block_out_channels (160, 320, 640, 640) are
half of SD's (320, 640, 1280, 1280), a quarter of the arithmetic (33 GFLOP per sample), so that a batch-16
pass takes seconds rather than a minute on 2 cores; `--widths 320 640 1280 1280` gives SD's. SD's transformer
blocks (self-attention, cross-attention, feed-forward) become `UNet2DModel`'s single self-attention; the head
width is 40 (SD's first level: 8 heads of 40 channels), which `UNet2DModel` applies to every level.

The folder also gets `forward_reference.safetensors`: a seeded batch-2 input, its timesteps and PyTorch's
float32 output, from which `diffuse-benchmarks --neural` reports the relative RMS difference of our forward
pass.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from diffusers import UNet2DModel
from safetensors.torch import save_file

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_OUT = REPO_ROOT / ".build-bench" / "latent-unet"
SEED = 26
REFERENCE_FILE = "forward_reference.safetensors"


def build(widths: list[int]) -> UNet2DModel:
    torch.manual_seed(SEED)
    return UNet2DModel(
        sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("AttnDownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D"),
        block_out_channels=tuple(widths), layers_per_block=2, attention_head_dim=40,
        norm_num_groups=32, norm_eps=1e-5, flip_sin_to_cos=True, freq_shift=0,
    ).eval()


def write_reference(model: UNet2DModel, out: Path) -> None:
    generator = torch.Generator().manual_seed(SEED + 1)
    x = torch.randn((2, 4, 32, 32), generator=generator, dtype=torch.float32)
    t = torch.tensor([999.0, 261.0])
    with torch.inference_mode():
        y = model(x, t).sample
    save_file({"input": x.contiguous(), "timesteps": t.contiguous(), "output": y.contiguous()}, out / REFERENCE_FILE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--widths", type=int, nargs=4, default=[160, 320, 640, 640],
                        metavar=("C0", "C1", "C2", "C3"), help="block_out_channels (multiples of 160: 40-wide heads, 32 norm groups)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = build(args.widths)
    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.out, safe_serialization=True)
    (args.out / "scheduler_config.json").write_text(json.dumps({
        "_class_name": "DDPMScheduler", "num_train_timesteps": 1000, "beta_schedule": "scaled_linear",
        "beta_start": 0.00085, "beta_end": 0.012, "prediction_type": "epsilon"}, indent=2) + "\n")
    write_reference(model, args.out)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"wrote {args.out} ({parameters / 1e6:.1f} M parameters, widths {args.widths})")


if __name__ == "__main__":
    main()
