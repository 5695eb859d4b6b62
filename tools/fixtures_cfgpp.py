#!/usr/bin/env python3
"""Reference fixtures for the CFG++ samplers (issue 22): euler_cfg_pp, euler_ancestral_cfg_pp, dpmpp_2m_cfg_pp,
dpmpp_2s_ancestral_cfg_pp.

Python is a *tool* here (see tools/README.md): this script is run by hand and only its output is committed.

The reference is ComfyUI's own code: the script imports `comfy/k_diffusion/sampling.py` from a ComfyUI checkout
named by COMFYUI_DIR (same commit and same import stand-ins as tools/fixtures_comfy.py). The CFG++ samplers
register a post-CFG hook through `comfy.model_patcher.set_model_options_post_cfg_function` and read the
unconditional denoised it is handed. Neither `model_patcher` nor ComfyUI's CFG (`comfy/samplers.py`) is imported;
the stand-ins reproduce what they do for these calls:
  - set_model_options_post_cfg_function(opts, fn, disable_cfg1_optimization) appends fn to
    opts["sampler_post_cfg_function"] (and sets opts["disable_cfg1_optimization"]) and returns opts;
  - the model (samplers.py cfg_function) evaluates the conditional and unconditional denoisers,
    cfg = uncond + (cond - uncond) * cond_scale, then for each hook cfg = fn({"denoised": cfg, "cond_denoised": cond,
    "uncond_denoised": uncond, "cond_scale": ..., "sigma": ..., "input": x}) and returns cfg.

Model: the labelled exact mixture of tools/fixtures_solvers.py (mixture_labeled_2d, EDM / VE: x = x0 + sigma*eps;
float64 inside, float32 in and out), conditioned on class 1; unconditional = the whole mixture. Guidance scales
0.8 and 2.0 (CFG++'s range is about [0, 2]); k-diffusion's get_sigmas_karras(N, 0.002, 80, rho=7) with a final 0,
N in {5, 10, 20}; initial noise = that file's seeded draws for the labelled mixture. The ancestral samplers get a
noise_sampler returning successive torch.randn draws of a seeded CPU generator and recording them (as
tools/fixtures_comfy.py); replaying them reproduces the endpoint bit for bit (asserted).

Output: Tests/DiffusionSolversTests/Fixtures/parity_cfgpp.json (the parity_comfy.json schema; options carry
guidance_scale and class_label; model_sigma lists every model call's sigma in order).

Run:  COMFYUI_DIR=/path/to/ComfyUI tools/.venv/bin/python tools/fixtures_cfgpp.py
"""
from __future__ import annotations

import inspect
import sys
from pathlib import Path

import numpy as np
import torch

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures_foundation import FIXTURES, REPO_ROOT, import_k_diffusion_sampling, rel_rms, versions, write_json_cases  # noqa: E402
from fixtures_solvers import LABELED, NS_EDM, LabeledMixture, f64, noise_for  # noqa: E402
from fixtures_comfy import COMFY_COMMIT, KEY_ORDER, import_comfy_sampling, seed_of  # noqa: E402

GENERATOR = "tools/fixtures_cfgpp.py"
OUT = FIXTURES / "parity_cfgpp.json"
STEPS = [5, 10, 20]
SCALES = [0.8, 2.0]
CLASS = 1

# (solver name, ComfyUI function, stochastic)
CASES = [
    ("euler_cfg_pp", "sample_euler_cfg_pp", False),
    ("euler_ancestral_cfg_pp", "sample_euler_ancestral_cfg_pp", True),
    ("dpmpp_2m_cfg_pp", "sample_dpmpp_2m_cfg_pp", False),
    ("dpmpp_2s_ancestral_cfg_pp", "sample_dpmpp_2s_ancestral_cfg_pp", True),
]


def set_model_options_post_cfg_function(model_options, post_cfg_function, disable_cfg1_optimization=False):
    model_options["sampler_post_cfg_function"] = model_options.get("sampler_post_cfg_function", []) + [post_cfg_function]
    if disable_cfg1_optimization:
        model_options["disable_cfg1_optimization"] = True
    return model_options


class GuidedComfyModel:
    """The exact conditional and unconditional mixture denoisers under ComfyUI's CFG with its post-CFG hooks."""

    def __init__(self, lab: LabeledMixture, label: int, scale: float, calls: list):
        self.lab, self.label, self.scale, self.calls = lab, label, scale, calls
        self.inner_model = type("Inner", (), {})()
        self.inner_model.model_patcher = type("Patcher", (), {"get_model_object": staticmethod(lambda name: object())})()

    def __call__(self, x, sigma, model_options=None, **kwargs):
        s = float(sigma[0])
        assert torch.all(sigma == sigma[0])
        self.calls.append(s)
        cond = self.lab.cond[self.label].x0(x, 1.0, s)
        uncond = self.lab.full.x0(x, 1.0, s)
        cfg = uncond + (cond - uncond) * self.scale
        for fn in (model_options or {}).get("sampler_post_cfg_function", []):
            cfg = fn({"denoised": cfg, "cond_denoised": cond, "uncond_denoised": uncond, "cond_scale": self.scale,
                      "sigma": sigma, "input": x})
        return cfg


def run(C, fn_name, lab, scale, x, sig_t, seed, replay=None):
    calls = []
    model = GuidedComfyModel(lab, CLASS, scale, calls)
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
    kwargs = {"noise_sampler": noise_sampler} if "noise_sampler" in inspect.signature(fn).parameters else {}
    out = fn(model, x.clone(), sig_t, extra_args={}, disable=True, **kwargs)
    if it is not None:
        assert next(it, None) is None, "replay: not all draws used"
    return out, calls, draws, levels


def main():
    torch.set_num_threads(1)
    K = import_k_diffusion_sampling()
    C = import_comfy_sampling()
    C.comfy.model_patcher.set_model_options_post_cfg_function = set_model_options_post_cfg_function
    lab = LabeledMixture()
    z = noise_for(LABELED, 2)
    cases, report = [], []
    for n in STEPS:
        sig_t = K.get_sigmas_karras(n, 0.002, 80.0, rho=7.0)
        x = torch.from_numpy(z) * sig_t[0]
        for scale in SCALES:
            for solver, fn_name, stochastic in CASES:
                name = f"cfgpp_{solver}_{LABELED}_karras_n{n}_w{scale}"
                seed = seed_of(name)
                out, calls, draws, levels = run(C, fn_name, lab, scale, x, sig_t, seed)
                assert torch.all(torch.isfinite(out)), name
                case = dict(name=name, reference=f"comfy.k_diffusion.sampling.{fn_name}", solver=solver, eta=1.0 if stochastic else 0.0,
                            mixture=LABELED, noise_schedule=NS_EDM, spacing="karras", sigma_schedule="karras", final="zero", steps=n,
                            options=dict(guidance_scale=scale, class_label=CLASS, comfyui_commit=COMFY_COMMIT), timesteps=None,
                            sigmas=f64(sig_t), nfe=len(calls), model_alpha=[1.0] * len(calls), model_sigma=calls,
                            x_init=x.numpy(), x_final=out.numpy())
                if stochastic:
                    out_b, _, _, _ = run(C, fn_name, lab, scale, x, sig_t, seed + 1, replay=draws)
                    assert torch.equal(out, out_b), name
                    out_c, _, _, _ = run(C, fn_name, lab, scale, x, sig_t, seed + 1)
                    assert rel_rms(out_c.numpy(), out.numpy()) > 1e-2, name
                    case.update(noise_seed=seed, step_noise=np.stack([d.numpy() for d in draws]), noise_draw_sigmas=levels,
                                replay_identical=True)
                cases.append({k: case[k] for k in KEY_ORDER if k in case})
                report.append((name, len(calls), len(draws)))
    header = {"generator": GENERATOR, "versions": dict(versions(), comfyui=COMFY_COMMIT),
              "coordinates": "EDM / VE (alpha = 1): x = x0 + sigma*eps; sigmas = the grid incl. the final 0; "
                             "model_sigma = sigma of every (guided) model call in call order",
              "models": "ComfyUI's CFG of the exact labelled mixture: uncond + (cond - uncond) * guidance_scale, cond = "
                        "the components of class_label, uncond = the whole mixture; post-CFG hooks handed uncond_denoised",
              "draws": "step_noise[k] is the (k+1)-th torch.randn(shape [B, D], float32) of torch.Generator().manual_seed("
                       "noise_seed), in call order; replaying them gives the same x_final bit for bit (asserted)."}
    write_json_cases(OUT, header, cases)
    for name, nfe, nd in report:
        print(f"{name:<64} nfe {nfe:>3} draws {nd:>3}")
    print(f"{len(cases)} cases -> {OUT.relative_to(REPO_ROOT)} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
