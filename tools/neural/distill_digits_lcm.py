#!/usr/bin/env python3
"""Latent-consistency distillation (LCM, Luo et al. 2023, arXiv:2310.04378) of the shipped `digits`
network into `digits-lcm`: a UNet2DModel of the same architecture, initialised from the teacher.

Commands (from the repository root):

    # time the step first (writes to /tmp only)
    tools/.venv/bin/python tools/neural/distill_digits_lcm.py --steps 20 --out /tmp/lcm-smoke --log /tmp/lcm-smoke.csv
    # the committed model (1 thread, niced)
    nohup nice -n 10 tools/.venv/bin/python tools/neural/distill_digits_lcm.py --steps N \
        > tools/neural/logs/digits-lcm-distill.log 2>&1 &

Method (diffusers' LCM conventions, as in its train_lcm_distill scripts and LCMScheduler):
- the skipping-step schedule: k = 20 on the 1000 training steps, so the 50 DDIM timesteps
  t_n = 20 n - 1 (n = 1..50); a batch draws n uniformly, t = t_n and s = max(t - k, 0);
- x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps (the teacher's DDPM schedule);
- consistency function f(x, t) = c_skip(t) x + c_out(t) x0_hat(x, t), with x0_hat from the eps
  prediction and the boundary scalings of LCMScheduler (sigma_data 0.5, timestep_scaling 10):
  c_skip = 0.25 / ((10 t)^2 + 0.25), c_out = 10 t / sqrt((10 t)^2 + 0.25);
- the teacher's ODE step is one DDIM step from t to s (alpha at s = abar_s, abar_0 at the last step):
  x_s = sqrt(abar_s) x0_teacher + sqrt(1 - abar_s) eps_teacher;
- target = f_target(x_s, s) with the target network an EMA of the student (decay 0.95, as diffusers);
- loss: pseudo-Huber sqrt((f - target)^2 + c^2) - c with c = 0.001 (diffusers' `huber`), mean.
Conditioning: not guided. The teacher and the student see the same class label, the null label
10 with probability 0.15 (as in the teacher's training), so the student keeps the teacher's labels
(0..9 and unconditional) and learns the w = 1 trajectory; no guidance-scale embedding is added, so
the architecture stays the teacher's.  AdamW (lr 1e-4, no weight decay), constant lr after 50
warmup steps, gradient clipping 1.0, batch 128.  What is saved is the online student (as diffusers'
scripts save `unet`), not the target EMA.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (LOGS, MODELS, LossLog, labelled_batches, load_digits_images, save_model_folder,  # noqa: E402
                    versions, write_run_summary)

NULL_LABEL = 10
K = 20
TIMESTEP_SCALING = 10.0
SIGMA_DATA = 0.5
LCM_SCHEDULER = dict(num_train_timesteps=1000, beta_schedule="linear", beta_start=0.0001, beta_end=0.02,
                     prediction_type="epsilon", clip_sample=False, set_alpha_to_one=True, steps_offset=0,
                     original_inference_steps=50, timestep_spacing="leading",
                     timestep_scaling=TIMESTEP_SCALING)


def boundary_scalings(t):
    """LCMScheduler.get_scalings_for_boundary_condition_discrete, for a tensor of timesteps."""
    st = t.double() * TIMESTEP_SCALING
    c_skip = SIGMA_DATA ** 2 / (st ** 2 + SIGMA_DATA ** 2)
    c_out = st / (st ** 2 + SIGMA_DATA ** 2) ** 0.5
    return c_skip.float(), c_out.float()


def main():
    import torch
    from diffusers import LCMScheduler, UNet2DModel

    ap = argparse.ArgumentParser()
    ap.add_argument("--teacher", type=Path, default=MODELS / "digits-unet")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--label-dropout", type=float, default=0.15)
    ap.add_argument("--target-ema", type=float, default=0.95)
    ap.add_argument("--huber-c", type=float, default=0.001)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--save-every", type=int, default=250)
    ap.add_argument("--out", type=Path, default=MODELS / "digits-lcm")
    ap.add_argument("--log", type=Path, default=LOGS / "digits-lcm-distill.csv")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    teacher = UNet2DModel.from_pretrained(args.teacher).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    student = copy.deepcopy(teacher).train()
    for p in student.parameters():
        p.requires_grad_(True)
    target = copy.deepcopy(teacher).eval()

    sched = LCMScheduler(**LCM_SCHEDULER)
    abar = sched.alphas_cumprod.float()
    ddim_t = torch.arange(1, 1000 // K + 1) * K - 1            # 19, 39, ..., 999

    x_all, y_all = load_digits_images()
    x_all, y_all = torch.from_numpy(x_all), torch.from_numpy(y_all)
    opt = torch.optim.AdamW(student.parameters(), lr=args.lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(args.seed)

    def x0_hat(eps, x, t):
        a = abar[t].view(-1, 1, 1, 1)
        return (x - (1 - a).sqrt() * eps) / a.sqrt()

    def save():
        save_model_folder(student, args.out, sched.save_config)

    log = LossLog(args.log, args.steps, args.log_every)
    batches = labelled_batches(x_all, y_all, args.batch, NULL_LABEL, args.label_dropout, g)
    for step in range(args.steps):
        x0, labels = next(batches)
        noise = torch.randn(x0.shape, generator=g)
        i = torch.randint(0, ddim_t.numel(), (x0.shape[0],), generator=g)
        t = ddim_t[i]
        s = (t - K).clamp(min=0)
        a_t = abar[t].view(-1, 1, 1, 1)
        xt = a_t.sqrt() * x0 + (1 - a_t).sqrt() * noise
        cs_t, co_t = boundary_scalings(t)
        cs_s, co_s = boundary_scalings(s)
        for pg in opt.param_groups:
            pg["lr"] = args.lr * min(1.0, (step + 1) / 50)

        eps_s = student(xt, t, class_labels=labels).sample
        pred = cs_t.view(-1, 1, 1, 1) * xt + co_t.view(-1, 1, 1, 1) * x0_hat(eps_s, xt, t)
        with torch.no_grad():
            eps_t = teacher(xt, t, class_labels=labels).sample
            # DDIM step t -> s; at the last DDIM step (t = 19 -> s = 0 is not the boundary) abar_s is abar[s].
            a_s = abar[s].view(-1, 1, 1, 1)
            x_s = a_s.sqrt() * x0_hat(eps_t, xt, t) + (1 - a_s).sqrt() * eps_t
            eps_tg = target(x_s, s, class_labels=labels).sample
            tgt = cs_s.view(-1, 1, 1, 1) * x_s + co_s.view(-1, 1, 1, 1) * x0_hat(eps_tg, x_s, s)
        loss = (((pred.float() - tgt.float()) ** 2 + args.huber_c ** 2).sqrt() - args.huber_c).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for pe, pm in zip(target.parameters(), student.parameters()):
                pe.mul_(args.target_ema).add_(pm.detach(), alpha=1 - args.target_ema)
        log.add(step, loss.item(), args.lr * min(1.0, (step + 1) / 50))
        if (step + 1) % args.save_every == 0 and step + 1 < args.steps:
            save()
    log.file.close()
    save()
    elapsed, smoothed = log.seconds(), log.smoothed
    summary = dict(steps=args.steps, batch=args.batch, lr=args.lr, label_dropout=args.label_dropout,
                   target_ema=args.target_ema, huber_c=args.huber_c, skipping_step=K,
                   timestep_scaling=TIMESTEP_SCALING, seed=args.seed, threads=args.threads,
                   seconds=round(elapsed, 1), final_loss_smoothed=smoothed, scheduler=LCM_SCHEDULER,
                   versions=versions(), command=" ".join(sys.argv))
    write_run_summary(args.log, summary, f"digits-lcm distillation loss, {args.steps} steps")
    print(f"done: {args.steps} steps in {elapsed:.0f}s, smoothed loss {smoothed:.5f}, saved to {args.out}", flush=True)


if __name__ == "__main__":
    main()
