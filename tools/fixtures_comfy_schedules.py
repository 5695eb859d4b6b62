#!/usr/bin/env python3
"""Golden sigmas of ComfyUI's named schedulers (`calculate_sigmas`), for ComfyScheduleTests.

Runs ComfyUI's own code, not a re-implementation: ComfyUI's comfy/samplers.py imports the whole
application (model management, patchers, hooks), so this script parses the source files of a
ComfyUI checkout with `ast`, takes the definitions it needs and executes them as written:

  comfy/ldm/modules/diffusionmodules/util.py   make_beta_schedule, betas_for_alpha_bar
  comfy/model_sampling.py                      ModelSamplingDiscrete, ModelSamplingContinuousEDM,
                                               time_snr_shift, ModelSamplingDiscreteFlow (and helpers)
  comfy/k_diffusion/sampling.py                append_zero, get_sigmas_karras, get_sigmas_exponential
  comfy/samplers.py                            simple_scheduler, ddim_scheduler, normal_scheduler,
                                               beta_scheduler, linear_quadratic_schedule,
                                               kl_optimal_scheduler, SchedulerHandler,
                                               SCHEDULER_HANDLERS, calculate_sigmas

Usage (nothing of ComfyUI is committed; the commit id is recorded in the fixture):

  git --git-dir=<ComfyUI>/.git archive <commit> comfy | tar -x -C /tmp/comfyui
  COMFYUI_PATH=/tmp/comfyui COMFYUI_COMMIT=<commit> tools/.venv/bin/python tools/fixtures_comfy_schedules.py

Precision, as ComfyUI computes: betas and the sigma table in float64, stored as float32
(`set_sigmas` keeps `sigmas.float()` and `log_sigmas = sigmas.log().float()`); `sigma(t)` and
`timestep(σ)` then run in float32 and every scheduler returns a float32 tensor. The fixture holds
those float32 values as exact decimals.

Output: Tests/DiffusionSolversTests/Fixtures/comfy_schedules.json
"""
from __future__ import annotations

import ast
import json
import math
import os
import sys
import types
from functools import partial
from pathlib import Path
from typing import Callable, NamedTuple

import numpy
import scipy
import scipy.stats
import torch

NAMES = ["simple", "sgm_uniform", "ddim_uniform", "normal", "beta", "kl_optimal", "linear_quadratic"]
STEPS = [5, 10, 20]


def definitions(path: Path, names: set[str]) -> ast.Module:
    """The top-level functions, classes and assignments of `path` whose names are in `names`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    keep = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names:
            keep.append(node)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in names for t in node.targets):
            keep.append(node)
    found = {n.name if not isinstance(n, ast.Assign) else n.targets[0].id for n in keep}
    missing = names - found
    if missing:
        sys.exit(f"{path}: missing {sorted(missing)}")
    return ast.Module(body=keep, type_ignores=[])


def load(root: Path) -> dict:
    base = {"torch": torch, "math": math, "numpy": numpy, "np": numpy, "scipy": scipy, "partial": partial,
            "Callable": Callable, "NamedTuple": NamedTuple}
    util = dict(base)
    exec(compile(definitions(root / "comfy/ldm/modules/diffusionmodules/util.py", {"make_beta_schedule", "betas_for_alpha_bar"}),
                 "util.py", "exec"), util)
    ms = dict(base, make_beta_schedule=util["make_beta_schedule"])
    exec(compile(definitions(root / "comfy/model_sampling.py",
                             {"rescale_zero_terminal_snr_sigmas", "ModelSamplingDiscrete", "ModelSamplingContinuousEDM",
                              "time_snr_shift", "ModelSamplingDiscreteFlow"}), "model_sampling.py", "exec"), ms)
    kd = dict(base)
    exec(compile(definitions(root / "comfy/k_diffusion/sampling.py", {"append_zero", "get_sigmas_karras", "get_sigmas_exponential"}),
                 "k_diffusion_sampling.py", "exec"), kd)
    samplers = dict(base, k_diffusion_sampling=types.SimpleNamespace(**kd), logging=types.SimpleNamespace(error=print))
    exec(compile(definitions(root / "comfy/samplers.py",
                             {"simple_scheduler", "ddim_scheduler", "normal_scheduler", "beta_scheduler", "linear_quadratic_schedule",
                              "kl_optimal_scheduler", "SchedulerHandler", "SCHEDULER_HANDLERS", "calculate_sigmas"}), "samplers.py", "exec"),
         samplers)
    return {"ms": ms, "samplers": samplers}


def config(**settings):
    return types.SimpleNamespace(sampling_settings=settings)


def main() -> None:
    root = Path(os.environ.get("COMFYUI_PATH", ""))
    commit = os.environ.get("COMFYUI_COMMIT", "")
    if not (root / "comfy/samplers.py").is_file() or len(commit) != 40:
        sys.exit("set COMFYUI_PATH to a directory holding ComfyUI's comfy/ and COMFYUI_COMMIT to its 40-digit commit id")
    code = load(root)
    ms, calculate = code["ms"], code["samplers"]["calculate_sigmas"]
    models = {
        # SD1.x: ComfyUI's "linear" beta schedule is sqrt-linear betas (diffusers' scaled_linear).
        "sd1": (ms["ModelSamplingDiscrete"](config(beta_schedule="linear", linear_start=0.00085, linear_end=0.012)),
                {"noise_schedule": "discrete", "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}),
        # DDPM: betas linear in beta (ComfyUI's "sqrt_linear").
        "ddpm": (ms["ModelSamplingDiscrete"](config(beta_schedule="sqrt_linear", linear_start=0.0001, linear_end=0.02)),
                 {"noise_schedule": "discrete", "beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02}),
        "flow": (ms["ModelSamplingDiscreteFlow"](config(shift=1.0)), {"noise_schedule": "flow", "shift": 1.0}),
        "flow_shift3": (ms["ModelSamplingDiscreteFlow"](config(shift=3.0)), {"noise_schedule": "flow", "shift": 3.0}),
        "edm": (ms["ModelSamplingContinuousEDM"](config(sigma_min=0.002, sigma_max=80.0, sigma_data=0.5)),
                {"noise_schedule": "edm", "sigma_min": 0.002, "sigma_max": 80.0}),
    }
    cases = []
    for model_name, (model, description) in models.items():
        for name in NAMES:
            for steps in STEPS:
                sigmas = calculate(model, name, steps)
                assert sigmas.dtype == torch.float32, (name, sigmas.dtype)
                cases.append({"model": model_name, "schedule": name, "steps": steps,
                              "sigmas": [float(s) for s in sigmas.tolist()]})
    out = {
        "generator": "tools/fixtures_comfy_schedules.py",
        "comfyui_commit": commit,
        "source": "ComfyUI's calculate_sigmas and model_sampling classes, executed from the checkout (float32 results)",
        "versions": {"torch": torch.__version__, "numpy": numpy.__version__, "scipy": scipy.__version__},
        "models": {k: v[1] for k, v in models.items()},
        "cases": cases,
    }
    path = Path(__file__).resolve().parent.parent / "Tests/DiffusionSolversTests/Fixtures/comfy_schedules.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {path}")


if __name__ == "__main__":
    main()
