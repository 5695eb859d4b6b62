#!/usr/bin/env python3
"""Reference fixtures for the rest of issue 25's samplers: exp_heun_2_x0(_sde), sa_solver_pece, ComfyUI's deis
(orders 2-4) and the Restart sampler.

Python is a *tool* here (see tools/README.md): this script is run by hand and only its output is committed.

ComfyUI's samplers are run from ComfyUI's own code, imported from COMFYUI_DIR as tools/fixtures_comfy.py does
(its importer and helpers are reused). Used: comfyanonymous/ComfyUI `comfy/k_diffusion/sampling.py` at commit
02159d814dee609acc27994c1bf25fc5b40e2aaa, `deis.py` at 561a0d0c62eed7122815abb60c1040ef567f250b (its debug
`print(C)` aside), `sa_solver.py` at 4328fa894d96811bde5bcdce56b6a4106f62feed. That `sampling.py` also imports
`comfy.memory_management` and `comfy.utils.model_trange`; two stand-ins are put in `sys.modules` (the loop
counter is a plain `range`). The model is the exact EDM mixture denoiser, reporting an EDM `model_sampling` whose
`percent_to_sigma` is ComfyUI's `ModelSamplingContinuousEDM` one with sigma_min 0.002 and sigma_max 80
(SA-Solver's default tau window, percent 0.2 to 0.8, is read from it).

ComfyUI's `sample_deis` cannot run `max_order=1` (its history buffer indexes an empty list); order 1 is plain
Euler and is tested against k-diffusion's Euler in the Swift test instead.

The Restart sampler (Xu et al. 2023) has no ComfyUI implementation in the core; its reference here is written from
the official code's formulas (Newbeeer/diffusion_restart_sampling, benchmarks/generate_restart.py,
`restart_sampler` with S_churn = 0 and restart_gamma = 0): Heun steps on the main grid; after the main step that
lands on the grid level nearest t_min, K times: add sqrt(t_max^2 - t_min^2) * s_noise * z and take Heun steps
down the Karras grid (rho 7) of N_restart levels from t_max to that level. float64 state, float32 model I/O.

Grids: k-diffusion's Karras (0.002, 80, rho 7) and exponential sigmas, N in {5, 10, 20}, both mixtures; the noise
of stochastic runs is recorded and replayed bit for bit, as in tools/fixtures_comfy.py.

Output: Tests/DiffusionSolversTests/Fixtures/parity_comfy_more.json (the schema of parity_comfy.json).

Run:  COMFYUI_DIR=/path/to/ComfyUI tools/.venv/bin/python tools/fixtures_comfy_more.py
"""
from __future__ import annotations

import math
import sys
import types
from pathlib import Path

import numpy as np
import torch

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures_comfy import KEY_ORDER as COMFY_KEY_ORDER, ComfyModel, import_comfy_sampling, run, seed_of  # noqa: E402
from fixtures_foundation import (  # noqa: E402
    BATCH, FIXTURES, REPO_ROOT, Z_SEED, import_k_diffusion_sampling, initial_noise, make_mixtures, rel_rms,
    versions, write_json_cases,
)
from fixtures_solvers import NS_EDM, check_committed_mixtures, f64, kd_model  # noqa: E402

GENERATOR = "tools/fixtures_comfy_more.py"
COMFY_COMMIT = "02159d814dee609acc27994c1bf25fc5b40e2aaa"
OUT = FIXTURES / "parity_comfy_more.json"
STEPS = [5, 10, 20]
KEY_ORDER = COMFY_KEY_ORDER[:-2] + ["f64_check_rel_rms"] + COMFY_KEY_ORDER[-2:]
EDM_SIGMA_MIN, EDM_SIGMA_MAX = 0.002, 80.0

# (our solver name, ComfyUI function, keyword arguments, stochastic, the options our catalog reads)
CASES = [
    ("exp_heun_2_x0", "sample_exp_heun_2_x0", {}, False, {}),
    ("exp_heun_2_x0_sde", "sample_exp_heun_2_x0_sde", {"eta": 1.0, "s_noise": 1.0}, True, {"eta": 1.0, "s_noise": 1.0}),
    ("exp_heun_2_x0_sde", "sample_exp_heun_2_x0_sde", {"eta": 0.5, "s_noise": 1.0}, True, {"eta": 0.5, "s_noise": 1.0}),
    ("sa_solver_pece", "sample_sa_solver_pece", {}, True, {"eta": 1.0}),
    ("sa_solver_pece", "sample_sa_solver_pece", {"tau_func": lambda sigma: 0.0}, False, {"eta": 0.0}),
    ("deis_comfy", "sample_deis", {"max_order": 2}, False, {"order": 2}),
    ("deis_comfy", "sample_deis", {"max_order": 3}, False, {"order": 3}),
    ("deis_comfy", "sample_deis", {"max_order": 4}, False, {"order": 4}),
]

# Restart: (case tag, segments [N_restart, K, t_min, t_max], s_noise)
RESTARTS = [
    ("default", [[3, 2, 0.06, 0.30]], 1.0),
    ("two", [[4, 1, 1.09, 1.92], [3, 2, 0.06, 0.30]], 1.0),
]


def stub_comfy_extras():
    """The two modules this sampling.py imports besides those fixtures_comfy.py stubs."""
    mm = types.ModuleType("comfy.memory_management")
    utils = types.ModuleType("comfy.utils")
    utils.model_trange = lambda n, disable=None, **kw: range(n)
    sys.modules.update({"comfy.memory_management": mm, "comfy.utils": utils})


class EDMSampling:
    """ComfyUI's ModelSamplingContinuousEDM.percent_to_sigma for sigma in [0.002, 80]."""
    def percent_to_sigma(self, percent):
        if percent <= 0.0:
            return 999999999.9
        if percent >= 1.0:
            return 0.0
        percent = 1.0 - percent
        log_min = math.log(EDM_SIGMA_MIN)
        return math.exp((math.log(EDM_SIGMA_MAX) - log_min) * percent + log_min)


def edm_model(mix):
    def make(calls):
        m = ComfyModel(kd_model(mix, calls))
        sampling = EDMSampling()
        m.inner_model = types.SimpleNamespace(
            model_patcher=types.SimpleNamespace(get_model_object=lambda name: sampling),
            inner_model=types.SimpleNamespace(model_sampling=sampling))
        return m
    return make


def edm_model_f64(mix):
    """edm_model for float64 runs of ComfyUI's code (the denoiser still sees float32)."""
    def make(calls):
        m = edm_model(mix)(calls)
        inner = m.denoiser
        m.denoiser = lambda x, s: inner(x.float(), s).double()
        return m
    return make


def karras(n, lo, hi, rho=7.0):
    """The official code's get_steps: n levels from hi down to lo (float64)."""
    i = np.arange(n, dtype=np.float64)
    return (hi ** (1 / rho) + i / (n - 1) * (lo ** (1 / rho) - hi ** (1 / rho))) ** rho


def restart_reference(mix, x_init, sig, segments, s_noise, draws):
    """The Restart sampler on the main grid `sig` (float64, ends at 0); `draws()` gives the next noise."""
    calls = []

    def den(x, s):
        calls.append(float(s))
        return mix.x0(x.to(torch.float32), 1.0, float(s)).to(torch.float64)

    def heun(x, s, t, last):
        d = (x - den(x, s)) / s
        x2 = x + (t - s) * d
        if last:
            return x2
        d2 = (x2 - den(x2, t)) / t
        return x + (t - s) * 0.5 * (d + d2)

    n = len(sig) - 1
    at = {}
    for seg in segments:
        idx = int(np.argmin(np.abs(np.asarray(sig) - seg[2])))
        assert 0 < idx < n and idx not in at, (sig, seg)
        at[idx] = seg
    x = x_init.to(torch.float64)
    for i in range(n):
        x = heun(x, sig[i], sig[i + 1], last=sig[i + 1] == 0)
        if i + 1 in at:
            steps, repeats, _, t_max = at[i + 1]
            levels = karras(steps, sig[i + 1], t_max)
            for _ in range(repeats):
                x = x + draws(float(levels[-1]), float(levels[0])) * math.sqrt(levels[0] ** 2 - levels[-1] ** 2) * s_noise
                for j in range(steps - 1):
                    x = heun(x, levels[j], levels[j + 1], last=False)
    return x.to(torch.float32), calls


def main():
    torch.set_num_threads(1)
    K = import_k_diffusion_sampling()
    stub_comfy_extras()
    C = import_comfy_sampling()
    mixtures = make_mixtures()
    check_committed_mixtures(mixtures)
    cases, report = [], []
    for mix in mixtures:
        z = initial_noise(mix)
        for spacing in ["karras", "exponential"]:
            for n in STEPS:
                if spacing == "karras":
                    sig_t = K.get_sigmas_karras(n, EDM_SIGMA_MIN, EDM_SIGMA_MAX, rho=7.0)
                else:
                    sig_t = K.get_sigmas_exponential(n, EDM_SIGMA_MIN, EDM_SIGMA_MAX)
                sig = f64(sig_t)
                x = torch.from_numpy(z) * sig_t[0]
                for solver, fn_name, kwargs, stochastic, options in CASES:
                    tag = "".join(f"_{k}{v}" for k, v in options.items() if k != "s_noise")
                    name = f"comfy_{solver}_{mix.name}_{spacing}_n{n}{tag}"
                    seed = seed_of(name)
                    make = edm_model(mix)
                    out, calls, draws, levels = run(C, fn_name, mix, x, sig_t, kwargs, seed, make_model=make)
                    assert torch.all(torch.isfinite(out)), name
                    case = dict(name=name, reference=f"comfy.k_diffusion.sampling.{fn_name}", solver=solver,
                                eta=float(options.get("eta", 0.0)), mixture=mix.name, noise_schedule=NS_EDM,
                                spacing=spacing, sigma_schedule=spacing, final="zero", steps=n,
                                options=dict(options, comfyui_commit=COMFY_COMMIT), timesteps=None, sigmas=sig,
                                nfe=len(calls), model_alpha=[1.0] * len(calls), model_sigma=calls, x_init=x.numpy(),
                                x_final=out.numpy())
                    if fn_name == "sample_deis":
                        # ComfyUI computes the DEIS weights in float32 (sigmas, t, the 10,000-point sums); its
                        # own run in float64 shows how far that moves the endpoint.
                        out64, _, _, _ = run(C, fn_name, mix, x.double(), sig_t.double(), kwargs, seed,
                                             make_model=edm_model_f64(mix))
                        case["f64_check_rel_rms"] = rel_rms(out.numpy(), out64.float().numpy())
                    if stochastic:
                        if not draws:   # SA-Solver's tau window may contain no level of a coarse grid
                            stochastic = False
                    if stochastic:
                        out_b, _, _, _ = run(C, fn_name, mix, x, sig_t, kwargs, seed + 1, replay=draws, make_model=make)
                        assert torch.equal(out, out_b), name
                        out_c, _, _, _ = run(C, fn_name, mix, x, sig_t, kwargs, seed + 1, make_model=make)
                        assert rel_rms(out_c.numpy(), out.numpy()) > 1e-3, name
                        case.update(noise_seed=seed, step_noise=np.stack([d.numpy() for d in draws]),
                                    noise_draw_sigmas=levels, replay_identical=True)
                    cases.append({k: case[k] for k in KEY_ORDER if k in case})
                    report.append((name, len(calls), len(draws)))
                if spacing != "karras":
                    continue
                for tag, segments, s_noise in RESTARTS:
                    name = f"restart_{mix.name}_{spacing}_n{n}_{tag}"
                    seed = seed_of(name)
                    g = torch.Generator().manual_seed(seed)
                    draws, levels = [], []

                    def draw(lo, hi):
                        d = torch.randn(x.shape, generator=g, dtype=torch.float32)
                        draws.append(d)
                        levels.append([lo, hi])
                        return d.to(torch.float64)
                    out, calls = restart_reference(mix, x, sig, segments, s_noise, draw)
                    it = iter(draws)
                    out_b, _ = restart_reference(mix, x, sig, segments, s_noise, lambda lo, hi: next(it).to(torch.float64))
                    assert torch.equal(out, out_b), name
                    case = dict(name=name, reference="Newbeeer/diffusion_restart_sampling restart_sampler (formulas)",
                                solver="restart", eta=0.0, mixture=mix.name, noise_schedule=NS_EDM, spacing=spacing,
                                sigma_schedule=spacing, final="zero", steps=n,
                                options=dict(segments=segments, s_noise=s_noise), timesteps=None, sigmas=sig,
                                nfe=len(calls), model_alpha=[1.0] * len(calls), model_sigma=calls, x_init=x.numpy(),
                                noise_seed=seed, step_noise=np.stack([d.numpy() for d in draws]),
                                noise_draw_sigmas=levels, x_final=out.numpy(), replay_identical=True)
                    cases.append({k: case[k] for k in KEY_ORDER if k in case})
                    report.append((name, len(calls), len(draws)))
    names = [c["name"] for c in cases]
    assert len(set(names)) == len(names)
    header = {"generator": GENERATOR, "versions": dict(versions(), comfyui=COMFY_COMMIT),
              "coordinates": "EDM / VE (alpha = 1): x = x0 + sigma*eps; sigmas = the grid incl. the final 0; "
                             "model_sigma = sigma of every model call in call order",
              "batch": BATCH, "z_seeds": Z_SEED,
              "models": "the exact mixture x0 at sigma (float64 inside, float32 in and out); ComfyUI's runs see an "
                        "EDM model_sampling with percent_to_sigma over sigma in [0.002, 80]",
              "f64_check_rel_rms": "deis_comfy: the reference's distance to ComfyUI's code run in float64",
              "options": "what our catalog reads: eta (exp_heun_2_x0_sde's eta; sa_solver_pece's tau inside the "
                         "window, 0 = tau_func returning 0), order (deis_comfy's max_order), segments "
                         "([N_restart, K, t_min, t_max] each) and s_noise (restart)",
              "draws": "step_noise[k] is the (k+1)-th torch.randn(shape [B, D], float32) of "
                       "torch.Generator().manual_seed(noise_seed), in the order the sampler asked; "
                       "noise_draw_sigmas[k] its (sigma, sigma_next) arguments (restart: (t_min, t_max)). "
                       "Replaying them gives the same x_final bit for bit (asserted)."}
    write_json_cases(OUT, header, cases)
    for name, nfe, nd in report:
        print(f"{name:<72} nfe {nfe:>3} draws {nd:>3}")
    print(f"{len(cases)} cases -> {OUT.relative_to(REPO_ROOT)} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
