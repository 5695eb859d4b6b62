#!/usr/bin/env python3
"""Reference fixtures for singlestep DPM-Solver-2/3 and DPM-Solver++(2S)/(3S) from the official code (issue 18).

The reference is the authors' own `dpm_solver_pytorch.py` (LuChengTHU/dpm-solver, commit
52bc3fbcd5de56d60917b826b15d2b69460fc2fa, 2023-12-06), imported from a checkout named by the environment variable
DPM_SOLVER_DIR (nothing of it is copied into this repository). Its `DPM_Solver.singlestep_dpm_solver_update` is
stepped over the time grid of its own `get_time_steps` (skip types time_uniform, logSNR and time_quadratic, from
t_T = 1 to t_0 = 1e-3, N in {5, 10, 20}) on the continuous linear VP schedule `NoiseScheduleVP('linear')`
(beta_0 = 0.1, beta_1 = 20): order 2 (r1 = 1/2) and order 3 (r1 = 1/3, r2 = 2/3) with solver_type 'dpmsolver', for
algorithm_type 'dpmsolver' (noise prediction: our dpm_solver_2, dpm_solver_3) and 'dpmsolver++' (data prediction:
our dpmpp_2s, dpmpp_3s). Its `sample()` is not used because its singlestep mode spreads the orders over the steps
(DPM-Solver-fast, our dpm_fast); a fixed order per step is what our names run.

The model is the exact Gaussian-mixture noise predictor of fixtures_foundation.py (float64 inside). The state is
kept in float64 and the grid times are the official float32 grid widened to float64, so the endpoint is the
official formulas' value on that grid, not float32 arithmetic. Each case records the grid as sigma_tilde =
sigma_t / alpha_t, the sigma_tilde of every model call in call order, and the endpoint.

Output: Tests/DiffusionSolversTests/Fixtures/parity_dpm_solver_official.json (ParityCase schema of the other
parity files; `noise_schedule.kind` is "vp-continuous-linear").

Run:  DPM_SOLVER_DIR=/path/to/dpm-solver tools/.venv/bin/python tools/fixtures_dpm_solver_official.py
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures_foundation import FIXTURES, initial_noise, make_mixtures, rel_rms, versions, write_json_cases  # noqa: E402

GENERATOR = "tools/fixtures_dpm_solver_official.py"
OFFICIAL_COMMIT = "52bc3fbcd5de56d60917b826b15d2b69460fc2fa"
OUT = FIXTURES / "parity_dpm_solver_official.json"
T_START, T_END = 1.0, 1e-3
# (our solver name, official algorithm_type, order)
SOLVERS = [("dpm_solver_2", "dpmsolver", 2), ("dpm_solver_3", "dpmsolver", 3),
           ("dpmpp_2s", "dpmsolver++", 2), ("dpmpp_3s", "dpmsolver++", 3)]
SKIP_TYPES = ["time_uniform", "logSNR", "time_quadratic"]
STEPS = [5, 10, 20]


def load_official():
    root = os.environ.get("DPM_SOLVER_DIR")
    if not root:
        sys.exit("set DPM_SOLVER_DIR to a checkout of LuChengTHU/dpm-solver at " + OFFICIAL_COMMIT)
    spec = importlib.util.spec_from_file_location("dpm_solver_pytorch", Path(root) / "dpm_solver_pytorch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_case(official, mix, z: np.ndarray, algorithm: str, order: int, skip: str, n: int):
    ns = official.NoiseScheduleVP("linear", continuous_beta_0=0.1, continuous_beta_1=20.0)
    calls: list[float] = []

    def eps_model(x, t_input):
        # 'linear' schedules call the model with the continuous time itself.
        t = t_input.to(torch.float64).reshape(-1)[:1]
        alpha = float(ns.marginal_alpha(t))
        sigma = float(ns.marginal_std(t))
        calls.append(sigma / alpha)
        x0 = mix.posterior_x0(x, alpha, sigma)
        return (x.to(torch.float64) - alpha * x0) / sigma

    model_fn = official.model_wrapper(eps_model, ns, model_type="noise")
    solver = official.DPM_Solver(model_fn, ns, algorithm_type=algorithm)
    times = solver.get_time_steps(skip, T_START, T_END, n, "cpu").to(torch.float64)
    x = torch.from_numpy(z.astype(np.float64))
    for i in range(n):
        s, t = times[i].reshape(1), times[i + 1].reshape(1)
        x = solver.singlestep_dpm_solver_update(x, s, t, order=order, solver_type="dpmsolver")
    sigmas = [float(ns.marginal_std(t.reshape(1)) / ns.marginal_alpha(t.reshape(1))) for t in times]
    return x.numpy(), sigmas, calls


def main():
    official = load_official()
    torch.set_num_threads(1)
    cases = []
    for mix in make_mixtures():
        z = initial_noise(mix)
        for name, algorithm, order in SOLVERS:
            for skip in SKIP_TYPES:
                for n in STEPS:
                    out, sigmas, calls = run_case(official, mix, z, algorithm, order, skip, n)
                    assert np.all(np.isfinite(out)) and len(calls) == order * n
                    # A rerun gives the same endpoint bit for bit (the script is deterministic).
                    again, _, _ = run_case(official, mix, z, algorithm, order, skip, n)
                    assert rel_rms(out, again) == 0.0
                    cases.append({
                        "name": f"{name}-{mix.name}-{skip}-{n}",
                        "reference": f"dpm_solver_pytorch.DPM_Solver.singlestep_dpm_solver_update({algorithm}, order {order})",
                        "solver": name, "eta": 0.0, "mixture": mix.name,
                        "noise_schedule": {"kind": "vp-continuous-linear", "beta_min": 0.1, "beta_max": 20.0},
                        "spacing": skip, "final": "min", "steps": n, "timesteps": None,
                        "sigmas": sigmas, "nfe": len(calls), "model_sigma": calls,
                        "x_init": z.tolist(), "x_final": out.tolist(),
                    })
    header = {"generator": GENERATOR, "official_commit": OFFICIAL_COMMIT, "versions": versions(),
              "coordinates": "VP: x = alpha*x0 + sigma*eps; sigmas are sigma/alpha of the official time grid"}
    write_json_cases(OUT, header, cases)
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
