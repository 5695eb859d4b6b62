#!/usr/bin/env python3
"""Reference-fixture generator for the DC-Solver parity test (Tests/DiffusionSolversTests/Solvers/DCSolverTests.swift).

Python is a *tool* here (see tools/README.md): run by hand, only its output is committed.

The reference is the authors' `DCSolverMultistepScheduler` (wl-zhao/DC-Solver,
`diffusers/src/diffusers/schedulers/scheduling_dcsolver_multistep.py`). It is not vendored: pass the
path of a copy of that file on the command line. The file uses package-relative imports, so it is
loaded as the module `diffusers.schedulers.scheduling_dcsolver_multistep` of the installed diffusers.

    git clone https://github.com/wl-zhao/DC-Solver /tmp/DC-Solver
    /root/venv-tools/bin/python tools/fixtures_dc_solver.py \\
        /tmp/DC-Solver/diffusers/src/diffusers/schedulers/scheduling_dcsolver_multistep.py

Output: Tests/DiffusionSolversTests/Fixtures/parity_dc_solver.json, in the schema of parity_solvers.json
(`ParityCase`), with the options `solver_type`, `solver_order`, `predict_x0`, `disable_corrector`,
`dc_order`, `dc_ratios`, `timestep_spacing`.

Each case runs the scheduler's sampling path (`_step`, `dc_ratios` set after `set_timesteps`) with fixed,
non-trivial ratios on an exact Gaussian-mixture denoiser (tools/fixtures_foundation.py), in float64
(samples, eps, and the scheduler's sigmas cast to float64 after `set_timesteps`; its Lagrange weights stay
float32, from integer timesteps). `f64_check_rel_rms` is the distance of the same
run in float32 (float32 eps from the same mixture). Checks asserted on every case:
  * with all ratios 1 the scheduler equals diffusers' `UniPCMultistepScheduler` (final_sigmas_type
    "sigma_min", same settings) to 1e-12 relative RMS in float64, so the base solver is the one our UniPC
    parity tests cover;
  * the ratios change the result (relative RMS change > 1e-4).
"""
from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixtures_foundation as ff  # noqa: E402
from fixtures_foundation import (  # noqa: E402
    FIXTURES, LINEAR_BETAS, SD_BETAS, T_TRAIN, initial_noise, make_mixtures, rel_rms, sched_kwargs, versions,
    write_json_cases,
)

GENERATOR = "tools/fixtures_dc_solver.py"
NS_SD = {"kind": "vp-discrete", **SD_BETAS, "num_train_timesteps": T_TRAIN, "steps_offset": 1}
NS_LIN = {"kind": "vp-discrete", **LINEAR_BETAS, "num_train_timesteps": T_TRAIN, "steps_offset": 0}
NS_FOR = {"mixture_2d": ("sd", NS_SD), "mixture_16d": ("lin", NS_LIN)}

# (tag, solver_type, solver_order, predict_x0, disable_corrector, dc_order, spacing, ratios)
CASES = [
    ("bh2-o2-dc0", "bh2", 2, True, [0], 2, "linspace", [1, 1, 1.105605, 0.925006, 0.661561, 1.300862]),
    ("bh2-o2", "bh2", 2, True, [], 2, "trailing", [1, 1, 1.2, 0.8, 1.1]),
    ("bh1-o3", "bh1", 3, True, [], 2, "linspace", [1, 1, 0.9, 1.15, 0.85, 1.1, 0.95, 1.05]),
    ("bh1-o2-eps", "bh1", 2, False, [], 2, "linspace", [1, 1, 1.25, 0.75, 1.1, 0.9]),
    ("bh2-o2-k1", "bh2", 2, True, [], 1, "linspace", [1, 0.8, 1.2, 0.9, 1.1, 1.05]),
    ("bh2-o3-k3", "bh2", 3, True, [], 3, "trailing", [1, 1, 1, 1.2, 0.85, 1.1, 0.95]),
]


def load_reference(path: str):
    import diffusers.schedulers  # noqa: F401  (the parent package of the module loaded below)
    name = "diffusers.schedulers.scheduling_dcsolver_multistep"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module.DCSolverMultistepScheduler


def vp_of(st: float):
    a = 1.0 / np.sqrt(1.0 + st * st)
    return a, st * a


def run(sch, n, z, mix, dtype, ratios=None):
    sch.set_timesteps(n)
    if dtype == torch.float64:
        # The scheduler's coefficients follow its sigmas' dtype; its order-3 solve would otherwise mix dtypes.
        sch.sigmas = sch.sigmas.to(torch.float64)
    if ratios is not None:
        sch.dc_ratios = list(ratios)
    sig = sch.sigmas.numpy().astype(np.float64)
    x = torch.from_numpy(z.copy()).to(dtype)
    alphas, sigmas = [], []
    for i, t in enumerate(sch.timesteps):
        a, s = vp_of(float(sig[i]))
        alphas.append(float(a))
        sigmas.append(float(s))
        x0 = mix.posterior_x0(x, a, s)
        eps = ((x.to(torch.float64) - a * x0) / s).to(dtype)
        x = sch.step(eps, t, x).prev_sample
    return x.to(torch.float64).numpy(), [int(t) for t in sch.timesteps], sig, alphas, sigmas


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    from diffusers.utils import logging as dlog
    dlog.set_verbosity_error()
    warnings.filterwarnings("ignore")
    DCSolver = load_reference(sys.argv[1])
    from diffusers import UniPCMultistepScheduler
    cases, log = [], []
    for mix in make_mixtures():
        z = initial_noise(mix)
        tag, ns = NS_FOR[mix.name]
        for name, bh, order, predict_x0, disabled, dc_order, spacing, ratios in CASES:
            n = len(ratios)
            settings = dict(**sched_kwargs(ns), solver_order=order, solver_type=bh, predict_x0=predict_x0,
                            disable_corrector=list(disabled), lower_order_final=True, prediction_type="epsilon",
                            timestep_spacing=spacing)
            sch = DCSolver(**settings, dc_order=dc_order)
            x64, ts, sig, alphas, sigmas = run(sch, n, z, mix, torch.float64, ratios)
            x32, *_ = run(DCSolver(**settings, dc_order=dc_order), n, z, mix, torch.float32, ratios)
            plain, *_ = run(DCSolver(**settings, dc_order=dc_order), n, z, mix, torch.float64, [1.0] * n)
            uni, *_ = run(UniPCMultistepScheduler(**settings, final_sigmas_type="sigma_min"), n, z, mix, torch.float64)
            assert rel_rms(plain, uni) <= 1e-12, (name, rel_rms(plain, uni))
            change = rel_rms(x64, plain)
            assert change > 1e-4, (name, change)
            f32 = rel_rms(x32, x64)
            log.append(f"{mix.name} {name}: change vs ratios 1 {change:.3g}, float32 vs float64 {f32:.3g}")
            cases.append(dict(
                name=f"dc_solver_{mix.name}_{tag}_{name}_{spacing}_n{n}",
                reference="DC-Solver.DCSolverMultistepScheduler", solver="dc_solver", eta=0.0, mixture=mix.name,
                noise_schedule=ns, spacing=spacing, sigma_schedule="default", final="min", steps=n,
                options=dict(solver_type=bh, solver_order=order, predict_x0=predict_x0, disable_corrector=list(disabled),
                             dc_order=dc_order, dc_ratios=[float(r) for r in ratios], lower_order_final=True,
                             timestep_spacing=spacing, prediction_type="epsilon"),
                timesteps=ts, sigmas=[float(s) for s in sig], nfe=n, model_alpha=alphas, model_sigma=sigmas,
                x_init=z, reference_nan=False, x_final=x64, f64_check_rel_rms=float(f"{f32:.3g}")))
    header = {"generator": GENERATOR, "versions": versions(),
              "reference": "wl-zhao/DC-Solver diffusers/src/diffusers/schedulers/scheduling_dcsolver_multistep.py",
              "coordinates": "x = alpha*x0 + sigma*eps (VP); sigmas are sigma/alpha"}
    write_json_cases(FIXTURES / "parity_dc_solver.json", header, cases)
    print("\n".join(log))
    print(f"wrote {len(cases)} cases to {FIXTURES / 'parity_dc_solver.json'}")


if __name__ == "__main__":
    main()
