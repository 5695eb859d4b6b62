#!/usr/bin/env python3
"""Reference-fixture generator for the DiffusionSolvers few-step (consistency) sampler tests.

Python is a *tool* here (see tools/README.md): this script is run by hand and only its output is
committed.  It reuses tools/fixtures_foundation.py, fixtures_solvers.py and fixtures_stochastic.py
(imported as modules): the mixtures and their exact float64 denoiser, the seeded initial noise, the
JSON writer, the version record and the `randn_tensor` recorder.

Output: Tests/DiffusionSolversTests/Fixtures/parity_fewstep.json

  cases      trajectories of diffusers' few-step schedulers driven by the exact Gaussian-mixture model,
             with every random draw the scheduler consumed, in order ([draw][B][D], standard normal):
               LCMScheduler                 (epsilon prediction, original_inference_steps 50, timestep_scaling 10)
               TCDScheduler                 (epsilon prediction, gamma = eta 0 and 0.3)
               CMStochasticIterativeScheduler (the model output is the network output F of a consistency
                                            model whose c_skip·x + c_out·F is the exact x0_hat; clip_denoised off)
             at 2, 4 and 8 steps on both committed mixtures, and CM with given time points [22, 0] and [30, 20, 10, 0]
             (time point 39 is sigma_min, where a consistency function is the identity: c_out = 0).
  lcm_timesteps, tcd_timesteps, cm_sigmas
             golden lists: set_timesteps(N) of LCMScheduler / TCDScheduler for several N and
             original_inference_steps, and CMStochasticIterativeScheduler's sigmas for N steps or given points.

Checks (asserted): each run replayed with the recorded draws is bit-identical; each case is recomputed
by an independent float64 numpy implementation consuming the same draws (relative RMS <= 1e-4).

Run:  tools/.venv/bin/python tools/fixtures_fewstep.py      (a few seconds, byte-identical on every run)
"""
from __future__ import annotations

import math
import sys
import zlib
from pathlib import Path

import numpy as np
import torch

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures_foundation import (  # noqa: E402
    FIXTURES, REPO_ROOT, initial_noise, make_mixtures, rel_rms, sched_kwargs, versions, write_json_cases,
)
from fixtures_solvers import NS_EDM, NS_FOR, check_committed_mixtures, quiet_diffusers  # noqa: E402
from fixtures_stochastic import PatchedRandn, sched_module  # noqa: E402

GENERATOR = "tools/fixtures_fewstep.py"
OUT = FIXTURES / "parity_fewstep.json"
STEPS = [2, 4, 8]
TOL = 1e-4
SIGMA_DATA = 0.5
CM = dict(num_train_timesteps=40, sigma_min=0.002, sigma_max=80.0, sigma_data=SIGMA_DATA, rho=7.0, s_noise=1.0)


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def drive(sch, mix, x, model_output, step_kw, seed, replay=None):
    """Run the scheduler loop; model_output(x, i, t) is what the network returns at step i.
    Returns x_final and the draws taken (in order)."""
    g = torch.Generator().manual_seed(seed)
    draws = []
    with PatchedRandn(sched_module(sch), on_draw=lambda t: draws.append(t.clone()), replay=replay):
        for i, t in enumerate(sch.timesteps):
            x = sch.step(model_output(x, i, t), t, x, generator=g, **step_kw).prev_sample
    return x, draws


def stack(draws, shape):
    if not draws:
        return np.zeros((0,) + shape, dtype=np.float32)
    return np.stack([d.reshape(shape).numpy() for d in draws]).astype(np.float32)


# ----------------------------------------------------------------------------
# independent float64 numpy references
# ----------------------------------------------------------------------------

def np_lcm(mix, x, ts, abar, draws, scaling=10.0):
    x = np.asarray(x, dtype=np.float64)
    k = 0
    for i, t in enumerate(ts):
        a, s = math.sqrt(abar[t]), math.sqrt(1 - abar[t])
        x0 = mix.np_x0(x, a, s)
        c = t * scaling
        den = SIGMA_DATA ** 2 / (c * c + SIGMA_DATA ** 2) * x + c / math.sqrt(c * c + SIGMA_DATA ** 2) * x0
        if i + 1 < len(ts):
            ab = abar[ts[i + 1]]
            x = math.sqrt(ab) * den + math.sqrt(1 - ab) * draws[k]
            k += 1
        else:
            x = den
    assert k == len(draws)
    return x


def np_tcd(mix, x, ts, abar, gamma, draws):
    x = np.asarray(x, dtype=np.float64)
    k = 0
    for i, t in enumerate(ts):
        prev = ts[i + 1] if i + 1 < len(ts) else 0
        s_t = int(math.floor((1 - gamma) * prev))
        a, s = math.sqrt(abar[t]), math.sqrt(1 - abar[t])
        x0 = mix.np_x0(x, a, s)
        eps = (x - a * x0) / s
        xs = math.sqrt(abar[s_t]) * x0 + math.sqrt(1 - abar[s_t]) * eps
        if gamma > 0 and i + 1 < len(ts):
            r = abar[prev] / abar[s_t]
            x = math.sqrt(r) * xs + math.sqrt(1 - r) * draws[k]
            k += 1
        else:
            x = xs
    assert k == len(draws)
    return x


def np_cm(mix, x, sig, draws):
    """Song et al. 2023, Algorithm 1, with the exact x0_hat as the consistency function."""
    x = np.asarray(x, dtype=np.float64)
    smin = CM["sigma_min"]
    for i in range(len(sig) - 1):
        den = mix.np_x0(x, 1.0, sig[i])
        nxt = min(max(sig[i + 1], smin), CM["sigma_max"])
        x = den + math.sqrt(nxt * nxt - smin * smin) * (draws[i] if len(draws) else 0.0)
    return x


# ----------------------------------------------------------------------------
# cases
# ----------------------------------------------------------------------------

def case_base(name, reference, solver, eta, mix, ns, spacing, final, steps, options):
    return dict(name=name, reference=reference, solver=solver, eta=float(eta), mixture=mix.name, noise_schedule=ns,
                spacing=spacing, final=final, steps=steps, options=options, noise_seed=seed_of(name))


def vp_case(mix, cls, solver, n, gamma):
    from diffusers import LCMScheduler, TCDScheduler
    tag, ns = NS_FOR[mix.name]
    z = initial_noise(mix)
    name = f"{solver}{'' if gamma is None else f'_gamma{gamma}'}_{mix.name}_{tag}_n{n}"
    seed = seed_of(name)

    def make():
        return cls(**sched_kwargs(ns), clip_sample=False, prediction_type="epsilon")

    def run(replay=None):
        sch = make()
        sch.set_timesteps(n)
        abar = sch.alphas_cumprod.to(torch.float64).numpy()

        def eps(x, i, t):
            ab = abar[int(t)]
            return mix.eps(x, math.sqrt(ab), math.sqrt(1 - ab))
        out, draws = drive(sch, mix, torch.from_numpy(z.copy()), eps, {} if gamma is None else {"eta": gamma}, seed, replay)
        return sch, abar, out, draws

    sch, abar, out, draws = run()
    _, _, again, _ = run(replay=draws)
    assert torch.equal(out, again), name
    ts = [int(t) for t in sch.timesteps]
    arr = stack(draws, z.shape)
    if cls is LCMScheduler:
        ref = np_lcm(mix, z, ts, abar, arr)
        levels = ts
        final = "zero"
        sig = [math.sqrt((1 - abar[t]) / abar[t]) for t in ts] + [0.0]
        options = {"original_inference_steps": 50, "timestep_scaling": 10.0, "prediction_type": "epsilon"}
        reference = "diffusers.LCMScheduler"
    else:
        ref = np_tcd(mix, z, ts, abar, gamma, arr)
        levels = ts + [0]
        final = "min"
        sig = [math.sqrt((1 - abar[t]) / abar[t]) for t in levels]
        options = {"original_inference_steps": 50, "gamma": gamma, "prediction_type": "epsilon"}
        reference = "diffusers.TCDScheduler"
    err = rel_rms(out.numpy(), ref)
    assert err <= TOL, (name, err)
    c = case_base(name, reference, solver, gamma or 0.0, mix, ns, "lcm", final, n, options)
    c.update(timesteps=levels, sigmas=sig, nfe=n, x_init=z, step_noise=arr, x_final=out.numpy(),
             f64_check_rel_rms=float(f"{err:.3g}"))
    return c


def cm_case(mix, n=None, points=None):
    from diffusers import CMStochasticIterativeScheduler
    z = initial_noise(mix)
    name = f"cm_multistep_{mix.name}_" + (f"n{n}" if points is None else "points_" + "-".join(map(str, points)))
    seed = seed_of(name)

    def run(replay=None):
        sch = CMStochasticIterativeScheduler(**CM, clip_denoised=False)
        if points is None:
            sch.set_timesteps(n)
        else:
            sch.set_timesteps(timesteps=points)
        sig = sch.sigmas.to(torch.float64).numpy()
        x = torch.from_numpy(z.copy()) * sch.init_noise_sigma

        def network(xx, i, t):
            # F with c_skip·x + c_out·F = x0_hat (diffusers' boundary-condition scalings, float64)
            s = float(sig[i])
            c_skip = SIGMA_DATA ** 2 / ((s - CM["sigma_min"]) ** 2 + SIGMA_DATA ** 2)
            c_out = (s - CM["sigma_min"]) * SIGMA_DATA / math.sqrt(s * s + SIGMA_DATA ** 2)
            x64 = xx.to(torch.float64)
            return ((mix.posterior_x0(xx, 1.0, s) - c_skip * x64) / c_out).to(torch.float32)
        out, draws = drive(sch, mix, x, network, {}, seed, replay)
        return sch, sig, x, out, draws

    sch, sig, x_init, out, draws = run()
    _, _, _, again, _ = run(replay=draws)
    assert torch.equal(out, again), name
    arr = stack(draws, z.shape)
    ref = np_cm(mix, x_init.numpy(), sig, arr)
    err = rel_rms(out.numpy(), ref)
    assert err <= TOL, (name, err)
    steps = len(sig) - 1
    options = {k: v for k, v in CM.items()}
    options["clip_denoised"] = False
    if points is not None:
        options["time_points"] = points
    c = case_base(name, "diffusers.CMStochasticIterativeScheduler", "cm_multistep", 0.0, mix, NS_EDM, "cm", "min", steps,
                  options)
    c.update(timesteps=[float(t) for t in sch.timesteps], sigmas=[float(s) for s in sig], nfe=steps,
             x_init=x_init.numpy(), step_noise=arr, x_final=out.numpy(), f64_check_rel_rms=float(f"{err:.3g}"))
    return c


def golden_lists():
    from diffusers import CMStochasticIterativeScheduler, LCMScheduler, TCDScheduler
    lcm, tcd, cm = [], [], []
    for orig in [50, 25, 100]:
        for n in [1, 2, 3, 4, 6, 8, 13]:
            for cls, out in [(LCMScheduler, lcm), (TCDScheduler, tcd)]:
                sch = cls(original_inference_steps=orig)
                sch.set_timesteps(n)
                out.append({"steps": n, "original_inference_steps": orig, "timesteps": [int(t) for t in sch.timesteps]})
    for n in [1, 2, 3, 4, 8]:
        sch = CMStochasticIterativeScheduler(**CM)
        sch.set_timesteps(n)
        cm.append({"steps": n, "sigmas": [float(s) for s in sch.sigmas.to(torch.float64)]})
    for points in [[22, 0], [39, 20, 10, 0], [17]]:
        sch = CMStochasticIterativeScheduler(**CM)
        sch.set_timesteps(timesteps=points)
        cm.append({"time_points": points, "sigmas": [float(s) for s in sch.sigmas.to(torch.float64)]})
    return lcm, tcd, cm


def main():
    from diffusers import LCMScheduler, TCDScheduler
    torch.set_num_threads(1)
    quiet_diffusers()
    mixtures = make_mixtures()
    check_committed_mixtures(mixtures)
    cases = []
    for mix in mixtures:
        for n in STEPS:
            cases.append(vp_case(mix, LCMScheduler, "lcm", n, None))
            for gamma in [0.0, 0.3]:
                cases.append(vp_case(mix, TCDScheduler, "tcd", n, gamma))
            cases.append(cm_case(mix, n=n))
        for points in [[22, 0], [30, 20, 10, 0]]:
            cases.append(cm_case(mix, points=points))
    lcm, tcd, cm = golden_lists()
    header = {"generator": GENERATOR, "versions": versions(),
              "coordinates": "VP cases: x = alpha*x0 + sigma*eps, sigmas = sigma/alpha of the levels visited (TCD ends "
                             "at timestep 0, LCM at sigma 0); CM cases: VE (alpha = 1), sigmas = the scheduler's own, "
                             "ending at sigma_min",
              "models": "LCM/TCD: eps of the exact denoiser at alphas_cumprod[t]; CM: the network output F such that "
                        "diffusers' c_skip(sigma)*x + c_out(sigma)*F is the exact x0_hat at the scheduler's sigma",
              "draws": "step_noise: every torch draw the scheduler took through randn_tensor, in order",
              "lcm_timesteps": lcm, "tcd_timesteps": tcd, "cm_sigmas": cm}
    write_json_cases(OUT, header, cases)
    for c in cases:
        print(f"{c['name']:<44} nfe {c['nfe']:>2} draws {len(c['step_noise']):>2} f64 relRMS {c['f64_check_rel_rms']:.2e}")
    print(f"{OUT.relative_to(REPO_ROOT)}  {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
