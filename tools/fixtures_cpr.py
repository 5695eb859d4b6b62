#!/usr/bin/env python3
"""DC-Solver's cascade polynomial regression (CPR) from the authors' code, for the `dc_solver` ratios (issue 18).

The reference is `DCSolverMultistepScheduler.cascade_polynomial_regression` of wl-zhao/DC-Solver (commit
f82d0601851b483d1dc06fc97e443588c6c9d9b0, `diffusers/src/diffusers/schedulers/scheduling_dcsolver_multistep.py`)
with its published Stable Diffusion 2.1 coefficients `diffusers/dc_solver/cpr_coeffs_path/sd2.1.npy`, both read from
a checkout named by DC_SOLVER_DIR (nothing of it is copied here; the module is loaded as fixtures_dc_solver.py loads
it). Records the 36 coefficients and the ratios for guidance scales 3, 5, 6, 7.5, 9, 11 and 5, 6, 7, 8, 10, 12,
15, 20 steps.

Output: Tests/DiffusionSolversTests/Fixtures/cpr_ratios.json. Test: DynamicCompensationTests.cprVectors.
Run:  DC_SOLVER_DIR=/path/to/DC-Solver tools/.venv/bin/python tools/fixtures_cpr.py
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures_dc_solver import load_reference  # noqa: E402
from fixtures_foundation import FIXTURES, versions  # noqa: E402

GENERATOR = "tools/fixtures_cpr.py"
COMMIT = "f82d0601851b483d1dc06fc97e443588c6c9d9b0"


def main():
    root = os.environ.get("DC_SOLVER_DIR")
    if not root:
        sys.exit("set DC_SOLVER_DIR to a checkout of wl-zhao/DC-Solver at " + COMMIT)
    module = load_reference(str(Path(root) / "diffusers" / "src" / "diffusers" / "schedulers" / "scheduling_dcsolver_multistep.py"))
    coefficients_path = Path(root) / "diffusers" / "dc_solver" / "cpr_coeffs_path" / "sd2.1.npy"
    scheduler = module()  # load_reference returns the scheduler class
    cases = []
    for cfg in [3.0, 5.0, 6.0, 7.5, 9.0, 11.0]:
        for nfe in [5, 6, 7, 8, 10, 12, 15, 20]:
            ratios = scheduler.cascade_polynomial_regression(cfg, nfe, str(coefficients_path))
            cases.append({"guidance": cfg, "steps": nfe, "ratios": [float(r) for r in ratios]})
    out = FIXTURES / "cpr_ratios.json"
    out.write_text(json.dumps({"generator": GENERATOR, "dc_solver_commit": COMMIT, "versions": versions(),
                               "coefficients": [float(c) for c in np.load(coefficients_path).ravel()],
                               "cases": cases}, indent=1) + "\n")
    print(f"wrote {out} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
