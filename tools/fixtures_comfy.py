#!/usr/bin/env python3
"""Reference fixtures for the ComfyUI samplers the catalog adds (issue 25, part 3).

Python is a *tool* here (see tools/README.md): this script is run by hand and only its output is committed.

The reference is ComfyUI's own code: the script imports `comfy/k_diffusion/sampling.py` from a ComfyUI
checkout named by the environment variable COMFYUI_DIR (nothing of ComfyUI is copied into this repository).
Used: Comfy-Org/ComfyUI commit a125cd84b054a57729b5eecab930ca9408719832 (2025-10-12). `sampling.py` imports
`comfy.model_patcher` and `comfy.model_sampling` for features these runs do not reach (CFG++ hooks, the
flow-model branch); the script puts two empty stand-ins in `sys.modules` so that the rest of ComfyUI is not
imported. Its sibling modules `utils`, `deis` and `sa_solver` are the real ones.

Every run is on the exact Gaussian-mixture denoiser of fixtures_foundation.py (EDM / VE: x = x0 + sigma*eps,
float32 in and out, computed in float64), from the seeded initial noise of the other k-diffusion fixtures, on
k-diffusion's `get_sigmas_karras(N, 0.002, 80, rho=7)` and `get_sigmas_exponential(N, 0.002, 80)` (a final 0
appended), N in {5, 10, 20}, both mixtures. Stochastic samplers get a `noise_sampler` that returns successive
`torch.randn` draws of a seeded CPU generator and records each one, as tools/fixtures_stochastic.py does;
replaying the recorded draws reproduces the endpoint bit for bit (asserted).

Output: Tests/DiffusionSolversTests/Fixtures/parity_comfy.json (schema in tools/README.md, "fixtures_comfy.py").

Run:  COMFYUI_DIR=/path/to/ComfyUI tools/.venv/bin/python tools/fixtures_comfy.py
"""
from __future__ import annotations

import importlib
import inspect
import math
import os
import sys
import types
import zlib
from pathlib import Path

import numpy as np
import torch

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures_foundation import (  # noqa: E402
    BATCH, FIXTURES, REPO_ROOT, Z_SEED, import_k_diffusion_sampling, initial_noise, make_mixtures, rel_rms,
    versions, write_json_cases,
)
from fixtures_solvers import NS_EDM, check_committed_mixtures, f64, kd_model  # noqa: E402

GENERATOR = "tools/fixtures_comfy.py"
COMFY_COMMIT = "a125cd84b054a57729b5eecab930ca9408719832"
OUT = FIXTURES / "parity_comfy.json"
STEPS = [5, 10, 20]

# (our solver name, ComfyUI function, keyword arguments, stochastic)
CASES = [
    ("res_multistep", "sample_res_multistep", {"s_noise": 1.0}, False),
    ("res_multistep_ancestral", "sample_res_multistep_ancestral", {"eta": 1.0, "s_noise": 1.0}, True),
    ("res_multistep_ancestral", "sample_res_multistep_ancestral", {"eta": 0.5, "s_noise": 1.0}, True),
    ("gradient_estimation", "sample_gradient_estimation", {"ge_gamma": 2.0}, False),
    ("ipndm_v", "sample_ipndm_v", {"max_order": 4}, False),
    ("heunpp2", "sample_heunpp2", {"s_churn": 0.0}, False),
    ("seeds_2", "sample_seeds_2", {"eta": 1.0, "s_noise": 1.0, "r": 0.5}, True),
    ("seeds_3", "sample_seeds_3", {"eta": 1.0, "s_noise": 1.0, "r_1": 1.0 / 3, "r_2": 2.0 / 3}, True),
    ("er_sde", "sample_er_sde", {"s_noise": 1.0, "max_stage": 3}, True),
]

KEY_ORDER = ["name", "reference", "solver", "eta", "mixture", "noise_schedule", "spacing", "sigma_schedule", "final",
             "steps", "options", "timesteps", "sigmas", "nfe", "model_alpha", "model_sigma", "x_init", "noise_seed",
             "step_noise", "noise_draw_sigmas", "x_final", "replay_identical"]


def import_comfy_sampling():
    root = os.environ.get("COMFYUI_DIR")
    if not root:
        raise SystemExit("set COMFYUI_DIR to a ComfyUI checkout (commit " + COMFY_COMMIT + ")")
    kdir = Path(root) / "comfy" / "k_diffusion"
    if not (kdir / "sampling.py").exists():
        raise SystemExit(f"{kdir}/sampling.py not found")
    comfy = types.ModuleType("comfy")
    comfy.__path__ = []                                   # nothing else of ComfyUI is importable
    patcher = types.ModuleType("comfy.model_patcher")
    sampling_kinds = types.ModuleType("comfy.model_sampling")

    class CONST:                                          # the flow-model marker; these EDM runs never match it
        pass
    sampling_kinds.CONST = CONST
    kd = types.ModuleType("comfy.k_diffusion")
    kd.__path__ = [str(kdir)]
    kd.__package__ = "comfy.k_diffusion"
    sys.modules.update({"comfy": comfy, "comfy.model_patcher": patcher, "comfy.model_sampling": sampling_kinds,
                        "comfy.k_diffusion": kd})
    comfy.model_patcher, comfy.model_sampling, comfy.k_diffusion = patcher, sampling_kinds, kd
    return importlib.import_module("comfy.k_diffusion.sampling")


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


class ComfyModel:
    """kd_model's denoiser with the attributes ComfyUI's samplers read to learn the model kind
    (`model.inner_model.model_patcher.get_model_object("model_sampling")`): an EPS model, not CONST."""

    def __init__(self, denoiser):
        self.denoiser = denoiser
        self.inner_model = types.SimpleNamespace(
            model_patcher=types.SimpleNamespace(get_model_object=lambda name: object()),
            inner_model=types.SimpleNamespace(model_sampling=object()))

    def __call__(self, x, sigma, **kwargs):
        return self.denoiser(x, sigma)


def run(C, fn_name, mix, x, sig_t, kwargs, seed, replay=None, make_model=None):
    """One run of ComfyUI's `fn_name`; `make_model(calls)` builds the model (default: the EDM mixture denoiser)."""
    calls = []
    model = make_model(calls) if make_model else ComfyModel(kd_model(mix, calls))
    g = torch.Generator().manual_seed(seed)
    draws, levels = [], []
    it = iter(replay) if replay is not None else None

    def noise_sampler(sigma, sigma_next):
        if it is not None:
            return next(it).clone()
        d = torch.randn(x.shape, generator=g, dtype=x.dtype)
        draws.append(d)
        levels.append([float(sigma), float(sigma_next)])
        return d
    fn = getattr(C, fn_name)
    if "noise_sampler" in inspect.signature(fn).parameters:
        kwargs = dict(kwargs, noise_sampler=noise_sampler)
    out = fn(model, x.clone(), sig_t, disable=True, **kwargs)
    if it is not None:
        assert next(it, None) is None, "replay: not all draws used"
    return out, calls, draws, levels


def main():
    torch.set_num_threads(1)
    K = import_k_diffusion_sampling()
    C = import_comfy_sampling()
    mixtures = make_mixtures()
    check_committed_mixtures(mixtures)
    cases, report = [], []
    for mix in mixtures:
        z = initial_noise(mix)
        for spacing in ["karras", "exponential"]:
            for n in STEPS:
                if spacing == "karras":
                    sig_t = K.get_sigmas_karras(n, 0.002, 80.0, rho=7.0)
                else:
                    sig_t = K.get_sigmas_exponential(n, 0.002, 80.0)
                sig = f64(sig_t)
                x = torch.from_numpy(z) * sig_t[0]
                for solver, fn_name, kwargs, stochastic in CASES:
                    tag = f"_eta{kwargs['eta']}" if stochastic and kwargs.get("eta", 1.0) != 1.0 else ""
                    name = f"comfy_{solver}_{mix.name}_{spacing}_n{n}{tag}"
                    seed = seed_of(name)
                    out, calls, draws, levels = run(C, fn_name, mix, x, sig_t, kwargs, seed)
                    assert torch.all(torch.isfinite(out)), name
                    case = dict(name=name, reference=f"comfy.k_diffusion.sampling.{fn_name}", solver=solver,
                                eta=float(kwargs.get("eta", 0.0)), mixture=mix.name, noise_schedule=NS_EDM,
                                spacing=spacing, sigma_schedule=spacing, final="zero", steps=n,
                                options=dict(kwargs, comfyui_commit=COMFY_COMMIT), timesteps=None, sigmas=sig,
                                nfe=len(calls), model_alpha=[1.0] * len(calls), model_sigma=calls, x_init=x.numpy(),
                                x_final=out.numpy())
                    if stochastic:
                        out_b, _, _, _ = run(C, fn_name, mix, x, sig_t, kwargs, seed + 1, replay=draws)
                        assert torch.equal(out, out_b), name
                        # the draws matter: the same run with fresh draws ends elsewhere
                        out_c, _, _, _ = run(C, fn_name, mix, x, sig_t, kwargs, seed + 1)
                        assert rel_rms(out_c.numpy(), out.numpy()) > 1e-2, name
                        case.update(noise_seed=seed, step_noise=np.stack([d.numpy() for d in draws]),
                                    noise_draw_sigmas=levels, replay_identical=True)
                    cases.append({k: case[k] for k in KEY_ORDER if k in case})
                    report.append((name, len(calls), len(draws)))
    names = [c["name"] for c in cases]
    assert len(set(names)) == len(names)
    header = {"generator": GENERATOR, "versions": dict(versions(), comfyui=COMFY_COMMIT),
              "coordinates": "EDM / VE (alpha = 1): x = x0 + sigma*eps; sigmas = the grid incl. the final 0; "
                             "model_sigma = sigma of every model call in call order",
              "batch": BATCH, "z_seeds": Z_SEED,
              "models": "the exact mixture x0 at sigma (float64 inside, float32 in and out), k-diffusion's denoiser "
                        "convention as ComfyUI calls it",
              "draws": "step_noise[k] is the (k+1)-th torch.randn(shape [B, D], float32) of "
                       "torch.Generator().manual_seed(noise_seed), returned by the noise_sampler in call order; "
                       "noise_draw_sigmas[k] its (sigma, sigma_next) arguments; draws the update multiplies by 0 are "
                       "included. Replaying them gives the same x_final bit for bit (asserted)."}
    write_json_cases(OUT, header, cases)
    for name, nfe, nd in report:
        print(f"{name:<64} nfe {nfe:>3} draws {nd:>3}")
    print(f"{len(cases)} cases -> {OUT.relative_to(REPO_ROOT)} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
