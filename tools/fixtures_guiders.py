#!/usr/bin/env python3
"""Reference fixtures for APG and CFG-Zero* (issue 22): diffusers' guiders on recorded predictions.

Python is a *tool* here (see tools/README.md): this script is run by hand and only its output is committed.

Reference: diffusers 0.42.1, `diffusers.guiders.AdaptiveProjectedGuidance` (Sadat et al. 2024) and
`diffusers.guiders.ClassifierFreeZeroStarGuidance` (Fan et al. 2025), called as a pipeline calls them:
`set_state(step, steps, timestep)` then `forward(pred_cond, pred_uncond)` once per step, on seeded float32
predictions [B=3, D=8] (numpy default_rng(2207)), 4 steps per case so the momentum and the zero-initialised
steps matter. APG's momentum buffer is created at step 0 as its `prepare_inputs` does.

Output: Tests/DiffusionSolversTests/Fixtures/parity_guiders.json: per case the rule and its parameters, and
per step `cond`, `uncond` and diffusers' `pred` ([steps][B][D]).

Run:  tools/.venv/bin/python tools/fixtures_guiders.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from diffusers.guiders import AdaptiveProjectedGuidance, ClassifierFreeZeroStarGuidance
from diffusers.guiders.adaptive_projected_guidance import MomentumBuffer

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures_foundation import FIXTURES, versions  # noqa: E402

OUT = FIXTURES / "parity_guiders.json"
STEPS, B, D = 4, 3, 8


def run(guider, cond, uncond, momentum=None):
    preds = []
    for step in range(STEPS):
        guider.set_state(step, STEPS, torch.tensor(999 - step))
        if step == 0 and momentum is not None:
            guider.momentum_buffer = MomentumBuffer(momentum)
        out = guider.forward(torch.from_numpy(cond[step]), torch.from_numpy(uncond[step]))
        preds.append(out.pred.numpy().astype(np.float32))
    return np.stack(preds)


def main():
    rng = np.random.default_rng(2207)
    cases = []
    for scale in [5.0, 1.0]:
        for eta in [1.0, 0.0, 0.5]:
            for threshold in [0.0, 2.0]:
                for momentum in [None, -0.5]:
                    if scale == 1.0 and (eta != 1.0 or threshold != 0.0 or momentum is not None):
                        continue
                    cond = rng.standard_normal((STEPS, B, D)).astype(np.float32)
                    uncond = (cond + 0.7 * rng.standard_normal((STEPS, B, D))).astype(np.float32)
                    g = AdaptiveProjectedGuidance(guidance_scale=scale, adaptive_projected_guidance_momentum=momentum,
                                                  adaptive_projected_guidance_rescale=threshold, eta=eta)
                    pred = run(g, cond, uncond, momentum)
                    cases.append(dict(name=f"apg_w{scale}_eta{eta}_r{threshold}_m{momentum}", rule="apg", scale=scale, eta=eta,
                                      norm_threshold=threshold, momentum=momentum, zero_init_steps=None,
                                      cond=cond.tolist(), uncond=uncond.tolist(), pred=pred.tolist()))
    for scale in [4.0, 1.0]:
        for zero in [0, 1, 2]:
            cond = rng.standard_normal((STEPS, B, D)).astype(np.float32)
            uncond = (0.8 * cond + 0.5 * rng.standard_normal((STEPS, B, D))).astype(np.float32)
            g = ClassifierFreeZeroStarGuidance(guidance_scale=scale, zero_init_steps=zero)
            pred = run(g, cond, uncond)
            cases.append(dict(name=f"cfg_zero_star_w{scale}_zero{zero}", rule="cfg_zero_star", scale=scale, eta=None,
                              norm_threshold=None, momentum=None, zero_init_steps=zero,
                              cond=cond.tolist(), uncond=uncond.tolist(), pred=pred.tolist()))
    header = {"generator": "tools/fixtures_guiders.py", "versions": versions(), "steps": STEPS, "cases": cases}
    OUT.write_text(json.dumps(header, separators=(",", ":")) + "\n")
    print(f"{len(cases)} cases -> {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
