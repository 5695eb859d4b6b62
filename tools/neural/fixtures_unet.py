#!/usr/bin/env python3
"""Tiny random UNet2DModels and reference outputs for the Swift UNet2D runtime.

Command (from the repository root, about 10 s):

    /root/venv-tools/bin/python tools/neural/fixtures_unet.py      # or tools/.venv/bin/python

Writes into Tests/DiffusionSolversTests/Fixtures/neural/:

  tiny-unet/                  gray (1 channel), 8x8, block_out_channels (8, 16, 24), class-conditional
                              (11 labels, null = 10), attention_head_dim 8 (2 and 3 heads), layers_per_block 2, flip_sin_to_cos True, freq_shift 0; DDPM linear, epsilon
  tiny-unet-rgb/              3 channels, 8x8, (16, 16, 32), unconditional, layers_per_block 1, flip_sin_to_cos False,
                              freq_shift 1, attention_head_dim 16, mid block without attention
                              (add_attention False), norm_eps 1e-6, attention at level 0 and 2;
                              DDPM squaredcos_cap_v2, v_prediction
  tiny-unet-nomid/            gray, (8, 16, 24), unconditional, mid_block_type null, layers_per_block 1
  <name>/config.json, diffusion_pytorch_model.safetensors (float32, save_pretrained), scheduler_config.json
  <name>-forward.safetensors  full-model outputs, batch 1 and batch 8 (suffixes _b1, _b8)
  tiny-unet-layers.safetensors     inputs/outputs of single modules of tiny-unet (forward hooks)
  tiny-unet-skip.safetensors       tiny-unet output with skip features scaled per level (1.0, 0.9, 0.8)

Every parameter is the seeded default init plus 0.1*randn (GroupNorm weights 1 -> 1+noise, biases
0 -> noise), so every path changes the output.  Forward passes run in float32 on the CPU.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import FIXTURES, versions, write_safetensors  # noqa: E402

from diffusers import DDPMScheduler, UNet2DModel  # noqa: E402

GENERATOR = "tools/neural/fixtures_unet.py"

CONFIGS = {
    "tiny-unet": dict(
        sample_size=8, in_channels=1, out_channels=1, layers_per_block=2,
        block_out_channels=(8, 16, 24),
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=8, attention_head_dim=8, num_class_embeds=11,
        flip_sin_to_cos=True, freq_shift=0,
    ),
    "tiny-unet-rgb": dict(
        sample_size=8, in_channels=3, out_channels=3, layers_per_block=1,
        block_out_channels=(16, 16, 32),
        down_block_types=("AttnDownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "AttnUpBlock2D"),
        norm_num_groups=8, attention_head_dim=16, norm_eps=1e-6, add_attention=False,
        flip_sin_to_cos=False, freq_shift=1,
    ),
    "tiny-unet-nomid": dict(
        sample_size=8, in_channels=1, out_channels=1, layers_per_block=1,
        block_out_channels=(8, 16, 24),
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=8, attention_head_dim=8, mid_block_type=None,
    ),
}
SCHEDULERS = {
    "tiny-unet": dict(num_train_timesteps=1000, beta_schedule="linear", beta_start=0.0001, beta_end=0.02,
                      prediction_type="epsilon"),
    "tiny-unet-rgb": dict(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction"),
    "tiny-unet-nomid": dict(num_train_timesteps=1000, beta_schedule="linear", beta_start=0.0001, beta_end=0.02,
                            prediction_type="epsilon"),
}
SEEDS = {"tiny-unet": 1, "tiny-unet-rgb": 2, "tiny-unet-nomid": 3}

TIMESTEPS_B8 = [0.0, 1.0, 999.0, 17.25, 500.5, 250.0, 750.75, 42.0]
TIMESTEPS_B1 = [17.25]
LABELS_B8 = [0, 1, 2, 3, 10, 10, 5, 9]
LABELS_B1 = [3]
SKIP_SCALES = (1.0, 0.9, 0.8)
SINUSOIDAL_VARIANTS = [(32, True, 0), (32, False, 1), (64, True, 0), (16, False, 1)]


def build(name: str) -> UNet2DModel:
    torch.manual_seed(SEEDS[name])
    model = UNet2DModel(**CONFIGS[name])
    g = torch.Generator().manual_seed(1000 + SEEDS[name])
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model.eval()


def save_model(name: str, model: UNet2DModel) -> Path:
    out = FIXTURES / name
    if out.exists():
        shutil.rmtree(out)
    model.save_pretrained(out, safe_serialization=True)
    DDPMScheduler(**SCHEDULERS[name]).save_config(out)
    for f in out.iterdir():
        f.chmod(0o644)  # save_pretrained writes the weights with mode 0600
        assert f.stat().st_size < 1_000_000, f
    return out


def inputs(name: str, model: UNet2DModel, batch: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    c = model.config.in_channels
    x = torch.randn(batch, c, 8, 8, generator=g)
    t = torch.tensor(TIMESTEPS_B8 if batch == 8 else TIMESTEPS_B1, dtype=torch.float32)
    labels = None
    if model.config.num_class_embeds is not None:
        labels = torch.tensor(LABELS_B8 if batch == 8 else LABELS_B1, dtype=torch.int64)
    return x, t, labels


# ----------------------------------------------------------------------------------------------
# Own forward loop (UNet2DModel.forward for the supported subset) with per-level skip scales
# ----------------------------------------------------------------------------------------------
def forward_with_skip_scales(model: UNet2DModel, sample, timesteps, class_labels, scales):
    cfg = model.config
    assert cfg.time_embedding_type == "positional" and not cfg.center_input_sample
    timesteps = timesteps * torch.ones(sample.shape[0], dtype=timesteps.dtype)
    emb = model.time_embedding(model.time_proj(timesteps).to(dtype=model.dtype))
    if model.class_embedding is not None:
        emb = emb + model.class_embedding(class_labels).to(dtype=model.dtype)
    sample = model.conv_in(sample)
    res, levels = [sample], [0]
    for i, block in enumerate(model.down_blocks):
        sample, res_samples = block(hidden_states=sample, temb=emb)
        n_resnets = len(block.resnets)
        for j, r in enumerate(res_samples):
            res.append(r)
            levels.append(i if j < n_resnets else i + 1)  # downsampler output belongs to level i+1
    assert len(res) == sum(len(b.resnets) for b in model.up_blocks)
    if model.mid_block is not None:
        sample = model.mid_block(sample, emb)
    for block in model.up_blocks:
        n = len(block.resnets)
        rs, ls = res[-n:], levels[-n:]
        res, levels = res[:-n], levels[:-n]
        rs = tuple(r if scales[l] == 1.0 else r * scales[l] for r, l in zip(rs, ls))
        sample = block(sample, rs, emb)
    sample = model.conv_norm_out(sample)
    sample = model.conv_act(sample)
    return model.conv_out(sample)


def skip_levels(model: UNet2DModel) -> list[int]:
    """Level of every skip tensor in push order (conv_in first)."""
    levels = [0]
    for i, block in enumerate(model.down_blocks):
        levels += [i] * len(block.resnets)
        if block.downsamplers is not None:
            levels.append(i + 1)
    return levels


# ----------------------------------------------------------------------------------------------
# Layer fixtures with forward hooks
# ----------------------------------------------------------------------------------------------
LAYER_MODULES = {
    # fixture prefix: (module path, what to record)
    "time_proj": "time_proj",
    "time_embedding": "time_embedding",
    "class_embedding": "class_embedding",
    "conv_in": "conv_in",
    "resnet": "down_blocks.1.resnets.0",          # 8 -> 16 channels: has conv_shortcut
    "resnet_same": "down_blocks.1.resnets.1",     # 16 -> 16: identity shortcut
    "up_resnet": "up_blocks.0.resnets.0",         # input = concat(hidden, skip), 48 -> 24
    "attention": "down_blocks.1.attentions.0",
    "mid_attention": "mid_block.attentions.0",
    "downsample": "down_blocks.0.downsamplers.0",
    "upsample": "up_blocks.0.upsamplers.0",
    "conv_norm_out": "conv_norm_out",
    "conv_out": "conv_out",
}


def layer_fixture(model: UNet2DModel):
    mods = dict(model.named_modules())
    rec: dict[str, torch.Tensor] = {}
    handles = []

    def hook(prefix):
        def f(module, args, kwargs, output):
            x = args[0] if args else kwargs.get("hidden_states", kwargs.get("input_tensor"))
            if prefix in rec.get("_seen", set()):
                return
            rec.setdefault("_seen", set()).add(prefix)
            rec[f"{prefix}.input"] = x.detach().clone()
            if prefix.startswith("resnet") or prefix == "up_resnet":
                temb = args[1] if len(args) > 1 else kwargs["temb"]
                rec[f"{prefix}.temb"] = temb.detach().clone()
            out = output[0] if isinstance(output, tuple) else output
            rec[f"{prefix}.output"] = out.detach().clone()
        return f

    for prefix, path in LAYER_MODULES.items():
        handles.append(mods[path].register_forward_hook(hook(prefix), with_kwargs=True))
    g = torch.Generator().manual_seed(77)
    x = torch.randn(3, 1, 8, 8, generator=g)
    t = torch.tensor([0.0, 17.25, 999.0])
    labels = torch.tensor([3, 10, 7], dtype=torch.int64)
    with torch.no_grad():
        out = model(x, t, class_labels=labels).sample
    for h in handles:
        h.remove()
    rec.pop("_seen")
    # emb = time_embedding(time_proj(t)) + class_embedding(labels): what every resnet receives
    emb = rec["time_embedding.output"] + rec["class_embedding.output"]
    assert torch.equal(emb, rec["resnet.temb"]) and torch.equal(emb, rec["up_resnet.temb"])
    rec["emb"] = emb
    rec["input"], rec["timesteps"], rec["class_labels"], rec["output"] = x, t, labels, out
    # GroupNorm alone: conv_norm_out's own output (before SiLU and conv_out)
    with torch.no_grad():
        assert torch.equal(model.conv_norm_out(rec["conv_norm_out.input"]), rec["conv_norm_out.output"])
    # stand-alone sinusoidal embeddings (diffusers get_timestep_embedding) for other widths/options
    from diffusers.models.embeddings import get_timestep_embedding
    ts = torch.tensor(TIMESTEPS_B8, dtype=torch.float32)
    rec["sinusoidal.timesteps"] = ts
    for dim, flip, shift in SINUSOIDAL_VARIANTS:
        rec[f"sinusoidal.d{dim}_flip{int(flip)}_shift{shift}"] = get_timestep_embedding(
            ts, dim, flip_sin_to_cos=flip, downscale_freq_shift=shift)
    meta = {f"module.{k}": v for k, v in LAYER_MODULES.items()}
    meta.update({
        "generator": GENERATOR,
        "versions": json.dumps(versions(), sort_keys=True),
        "model": "tiny-unet",
        "description": (
            "Forward hooks on tiny-unet (batch 3: input [3,1,8,8], timesteps [0, 17.25, 999], class_labels [3, 10, 7]). "
            "<prefix>.input / <prefix>.output are the first positional input and the output of the module at "
            "metadata module.<prefix>; resnet*.temb is the embedding the resnet receives (= emb). "
            "emb = time_embedding.output + class_embedding.output. time_proj.input = timesteps (float32), "
            "time_proj.output = sinusoidal embedding [3,8]. attention/mid_attention act on [B,C,H,W] "
            "(group norm, residual included). upsample = nearest x2 then conv; downsample = conv stride 2. "
            "conv_norm_out.output is the GroupNorm alone (before SiLU and conv_out). "
            "input/timesteps/class_labels/output are the full model's. "
            "sinusoidal.d<D>_flip<0|1>_shift<S> = get_timestep_embedding(sinusoidal.timesteps, D, "
            "flip_sin_to_cos, downscale_freq_shift=S) [8,D] for the 8 timesteps of the b8 forward fixture."),
    })
    return rec, meta


def main():
    torch.set_num_threads(2)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    vers = json.dumps(versions(), sort_keys=True)
    for name in CONFIGS:
        model = build(name)
        out = save_model(name, model)
        # reload from disk: fixtures are computed with exactly the saved weights
        model = UNet2DModel.from_pretrained(out).eval()
        n_params = sum(p.numel() for p in model.parameters())
        tensors = {}
        for batch, seed in ((1, 11), (8, 12)):
            x, t, labels = inputs(name, model, batch, seed)
            with torch.no_grad():
                y = model(x, t, class_labels=labels).sample
                y2 = forward_with_skip_scales(model, x, t, labels, (1.0,) * len(model.down_blocks))
            assert torch.equal(y, y2), f"{name}: own forward loop differs from UNet2DModel.forward"
            sfx = f"_b{batch}"
            tensors["input" + sfx], tensors["timesteps" + sfx], tensors["output" + sfx] = x, t, y
            if labels is not None:
                tensors["class_labels" + sfx] = labels
            print(f"{name} b{batch}: output std {y.std():.4f}, max |y| {y.abs().max():.4f}")
        write_safetensors(FIXTURES / f"{name}-forward.safetensors", tensors, {
            "generator": GENERATOR, "versions": vers, "model": name, "parameters": str(n_params),
            "description": (
                f"Full-model outputs of {name}/ (UNet2DModel(...).sample, float32, CPU). For batch B in (1, 8): "
                "input_bB [B,C,8,8] float32, timesteps_bB [B] float32 (b8: 0, 1, 999, 17.25, 500.5, 250, 750.75, 42; "
                "b1: 17.25), "
                + ("class_labels_bB [B] int64 (b8: 0,1,2,3,10,10,5,9 with 10 the null label; b1: 3), "
                   if model.config.num_class_embeds is not None else "no class labels (unconditional), ")
                + "output_bB [B,C,8,8] float32."),
        })
        print(f"{name}: {n_params} parameters, weights {(out / 'diffusion_pytorch_model.safetensors').stat().st_size} bytes")

        if name == "tiny-unet":
            rec, meta = layer_fixture(model)
            write_safetensors(FIXTURES / "tiny-unet-layers.safetensors", rec, meta)
            # skip-scale fixture
            x, t, labels = inputs(name, model, 8, 12)
            with torch.no_grad():
                y_skip = forward_with_skip_scales(model, x, t, labels, SKIP_SCALES)
                y = model(x, t, class_labels=labels).sample
            rel = ((y_skip - y).norm() / y.norm()).item()
            assert rel > 1e-3, rel
            print(f"skip scales {SKIP_SCALES}: relative change {rel:.4f}")
            write_safetensors(FIXTURES / "tiny-unet-skip.safetensors", {
                "input": x, "timesteps": t, "class_labels": labels, "output": y, "output_skip": y_skip,
            }, {
                "generator": GENERATOR, "versions": vers, "model": name,
                "skip_scales": ",".join(repr(s) for s in SKIP_SCALES),
                "skip_levels": ",".join(str(l) for l in skip_levels(model)),
                "description": (
                    "tiny-unet, the batch-8 inputs of tiny-unet-forward (input, timesteps, class_labels). output = "
                    "unscaled model output; output_skip = output with every skip tensor multiplied, before the "
                    "concat in the up path, by skip_scales[level] (outermost level first). skip_levels lists the "
                    "level of each skip tensor in push order: conv_in output, then per down block i its resnet(+attn) "
                    "outputs (level i) and its downsampler output (level i+1)."),
            })


if __name__ == "__main__":
    main()
