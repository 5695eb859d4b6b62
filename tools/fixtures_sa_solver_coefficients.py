#!/usr/bin/env python3
"""SA-Solver's update coefficients from diffusers, for orders 3 and 4 that the trajectory fixtures do not reach.

diffusers' `SASolverScheduler(predictor_order=4, corrector_order=4)` is given the float64 sigmas
[14.6, 6.0, 2.5, 1.1, 0.45, 0.2] and `_step_index = 4`; `stochastic_adams_bashforth_update` (predictor, from
sigma 0.45 to 0.2) and `stochastic_adams_moulton_update` (corrector, from 1.1 to 0.45) are fed unit vectors
(torch float64): the sample is e0, the model outputs newest first are e1..ek (at sigmas 0.45, 1.1, 2.5, 6.0)
and the noise is e(k+1), so the result is the row of coefficients [scale of x, weights of the outputs newest
first, scale of the noise]. For both algorithm types (data_prediction, noise_prediction), tau 0, 0.7 and 1, and
orders 1..4.

Output: Tests/DiffusionSolversTests/Fixtures/sa_solver_coefficients.json. Test: SASolverTests.coefficients.
Run:  tools/.venv/bin/python tools/fixtures_sa_solver_coefficients.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures_foundation import FIXTURES, versions  # noqa: E402

from diffusers import SASolverScheduler  # noqa: E402

GENERATOR = "tools/fixtures_sa_solver_coefficients.py"
SIGMAS = [14.6, 6.0, 2.5, 1.1, 0.45, 0.2]
STEP_INDEX = 4


def unit(n: int, i: int) -> torch.Tensor:
    v = torch.zeros(n, dtype=torch.float64)
    v[i] = 1
    return v


def row(algorithm: str, kind: str, tau: float, order: int) -> list[float]:
    sched = SASolverScheduler(predictor_order=4, corrector_order=4, algorithm_type=algorithm)
    sched.sigmas = torch.tensor(SIGMAS, dtype=torch.float64)
    sched._step_index = STEP_INDEX
    n = order + 2
    tau_t = torch.tensor(tau, dtype=torch.float64)
    if kind == "predictor":
        # model_outputs[-(i+1)] = e(1+i), oldest first; unused older slots are zero
        sched.model_outputs = [unit(n, 1 + i) if i < order else torch.zeros(n, dtype=torch.float64) for i in reversed(range(4))]
        out = sched.stochastic_adams_bashforth_update(sched.model_outputs[-1], sample=unit(n, 0), noise=unit(n, order + 1),
                                                      order=order, tau=tau_t)
    else:
        # the newest output is this_model_output = e1; model_outputs[-i] = e(1+i) for i >= 1
        sched.model_outputs = [unit(n, 1 + i) if i < order else torch.zeros(n, dtype=torch.float64) for i in reversed(range(1, 4))]
        out = sched.stochastic_adams_moulton_update(unit(n, 1), last_sample=unit(n, 0), last_noise=unit(n, order + 1),
                                                    this_sample=torch.zeros(n, dtype=torch.float64), order=order, tau=tau_t)
    return [float(v) for v in out]


def main():
    cases = []
    for algorithm, prediction in [("data_prediction", "data"), ("noise_prediction", "noise")]:
        for tau in [0.0, 1.0, 0.7]:
            for order in [1, 2, 3, 4]:
                for kind in ["predictor", "corrector"]:
                    cases.append({"kind": kind, "prediction": prediction, "tau": tau, "order": order,
                                  "coefficients": row(algorithm, kind, tau, order)})
    out = FIXTURES / "sa_solver_coefficients.json"
    out.write_text(json.dumps({"generator": GENERATOR, "versions": versions(), "sigmas": SIGMAS, "step_index": STEP_INDEX,
                               "cases": cases}, indent=1) + "\n")
    print(f"wrote {out} ({len(cases)} rows)")


if __name__ == "__main__":
    main()
