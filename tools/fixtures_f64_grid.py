#!/usr/bin/env python3
"""Float64 recomputations, on our grids, of the parity cases whose reference cannot be compared directly.

Python is a *tool* here (see tools/README.md): run by hand, only its output is committed.

parity_solvers.json (tools/fixtures_solvers.py) holds three kinds of diffusers runs that no grid of ours
reproduces, so their `x_final` cannot be the expected value:

  nan-limit      UniPC to sigma = 0 (final_sigmas_type "zero"): diffusers multiplies B(h) = -inf (bh1) by
                 rho = 0 and returns NaN. Recomputed with the same formulas in float64, the step to sigma = 0
                 returning the first-order limit x0_hat (the model's clean estimate at the sample it was
                 evaluated at).
  repeated-final diffusers' Karras/exponential grids with final_sigmas_type "sigma_min" repeat the last sigma:
                 a zero-length step (NaN for its 2M-heun and 3M updates, a degenerate r = 1 macro step for the
                 singlestep solvers). Recomputed on the grid without the repeated level, with the reference's
                 per-step orders minus the dropped last step.
  plms-on-grid   PNDM (PLMS) with "linspace" spacing evaluates at the grid but steps to t - T//N. Recomputed
                 stepping from each grid point to the next, with the same Adams-Bashforth weights.

parity_stochastic.json (tools/fixtures_stochastic.py) has one more: SDE-DPM-Solver++ 2M-heun and 3M across a
repeated last sigma return NaN; recomputed like the repeated-final cases, fed the same recorded draws.

The recomputations reuse the float64 numpy references of tools/fixtures_solvers.py and fixtures_stochastic.py (which every other case
is checked against at <= 1e-4) and the case's own sigmas, mixture and initial noise.

Output: Tests/DiffusionSolversTests/Fixtures/parity_f64_grid.json  ({"cases": [{name, kind, f32_rel_rms, x_f64}]}),
f32_rel_rms being the distance the same run moves in float32 (singlestep: sample, outputs and coefficients in
float32; the others: the model's inputs and outputs rounded to float32).

Run:  tools/.venv/bin/python tools/fixtures_f64_grid.py
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixtures_foundation as ff  # noqa: E402
import fixtures_solvers as fs  # noqa: E402
import fixtures_stochastic as fst  # noqa: E402

GENERATOR = "tools/fixtures_f64_grid.py"


def repeated_final(sig) -> bool:
    return len(sig) >= 2 and abs(sig[-1] - sig[-2]) <= 1e-6 * sig[-1]


def plms_on_grid(x0_fn, x_init, sig):
    """PLMS (PNDM with skip_prk_steps) stepping from grid point to grid point: fixtures_solvers.ref_plms with the
    levels' indices as its timesteps. Model calls at L0, L1, L1, L2, ...; an Euler step L0 -> L1, its Heun average
    from the same start, then Adams-Bashforth with 2, 3, 4 points in eps."""
    abar = [1.0 / (1.0 + s * s) for s in sig]
    n = len(sig) - 1
    labels = [0, 1] + list(range(1, n))
    steps = [(0, 1, "euler"), (0, 1, "heun_avg")] + [(k, k + 1, f"ab{min(k + 1, 4)}") for k in range(1, n)]
    return fs.ref_plms(x0_fn, x_init, abar, None, labels, steps)


def singlestep_float32(x0_fn, x_init, sig, algo, orders):
    """ref_dpm_singlestep (midpoint forms) with the sample, the model outputs and each coefficient in float32, as
    a float32 sampler stores them: the float32 conditioning of a singlestep run. The noise-prediction form cancels
    terms much larger than its result, so there float32 storage alone moves the endpoint by up to ~6e-4."""
    f = np.float32
    n = len(sig) - 1
    lam = fs.lam_of(sig)
    x = np.asarray(x_init, dtype=f)
    ms, base = [], None
    with np.errstate(all="ignore"):
        for i in range(n):
            a, s = fs.vp_of(sig[i])
            x0 = np.asarray(x0_fn(x.astype(np.float64), a, s), dtype=f)
            ms.append(x0 if algo == "dpmsolver++" else (x - f(a) * x0) / f(s))
            p = min(orders[i], i + 1)
            if p == 1:
                base = x
            b = i - p + 1
            ab, sb = fs.vp_of(sig[b])
            at, st = fs.vp_of(sig[i + 1])
            h = lam[i + 1] - lam[b]
            mb, mi = ms[b], ms[i]
            d1 = (mi - mb) / f((lam[i] - lam[b]) / h) if p >= 2 else None
            if algo == "dpmsolver++":
                em1 = np.expm1(-h)
                x = f(st / sb) * base - f(at * em1) * mb
                if p == 2:
                    x = x - f(0.5 * at * em1) * d1
                elif p == 3:
                    x = x + f(at * (em1 / h + 1.0)) * d1
            else:
                ep1 = np.expm1(h)
                x = f(at / ab) * base - f(st * ep1) * mb
                if p == 2:
                    x = x - f(0.5 * st * ep1) * d1
                elif p == 3:
                    x = x - f(st * (ep1 / h - 1.0)) * d1
            x = x.astype(f)
    return x.astype(np.float64)


def recompute(c, mixtures, float32_io=False):
    """(kind, x_f64) for a case only our grid can run, or None for a case compared with its reference.
    With `float32_io` the model's input and output are rounded to float32, as a float32 sampler stores them."""
    o = c["options"]
    exact = fs.mix_np_x0(mixtures[c["mixture"]]) if c["mixture"] in mixtures else None

    def x0_fn(x, a, s):
        if not float32_io:
            return exact(x, a, s)
        rounded = np.asarray(x, dtype=np.float32).astype(np.float64)
        return np.asarray(exact(rounded, a, s), dtype=np.float32).astype(np.float64)
    x_init = np.asarray(c["x_init"], dtype=np.float64)
    sig = list(c["sigmas"])
    if c["solver"] == "plms":
        if c["spacing"] != "linspace":
            return None
        if repeated_final(sig):
            sig = sig[:-1]
        return "plms-on-grid", plms_on_grid(x0_fn, x_init, sig)
    if c["solver"].startswith("uni_pc") and c.get("reference_nan"):
        assert sig[-1] == 0.0 and not repeated_final(sig), c["name"]
        x, _, _ = fs.ref_unipc(x0_fn, x_init, sig, int(o["solver_order"]), o["solver_type"], o["predict_x0"],
                               o["lower_order_final"], set(o["disable_corrector"]), zero_limit=True)
        return "nan-limit", x
    if not repeated_final(sig) or c["reference"] == "k_diffusion":
        assert not c.get("reference_nan"), c["name"]
        if c["solver"].endswith("_diffusers") and o.get("algorithm_type") == "dpmsolver":
            # Noise-prediction singlestep: diffusers' float32 run is up to 7.3e-4 from float64 here, so the
            # float64 run on the same grid is the sharper reference.
            x, used = fs.ref_dpm_singlestep(x0_fn, x_init, sig, o["algorithm_type"], c["step_orders"])
            assert used == c["step_orders"], (c["name"], used)
            return "eps-singlestep", x
        return None
    orders = c["step_orders"][:-1]
    sig = sig[:-1]
    if c["solver"].endswith("_diffusers"):
        x, used = fs.ref_dpm_singlestep(x0_fn, x_init, sig, o["algorithm_type"], orders)
        assert used == orders, (c["name"], used, orders)
        return "repeated-final", x
    if c.get("reference_nan"):
        x, used = fs.ref_dpm_multistep(x0_fn, x_init, sig, o["algorithm_type"], int(o["solver_order"]), o["solver_type"],
                                       o["lower_order_final"], o.get("euler_at_final", False), step_orders=orders)
        return "repeated-final", x
    return None


def recompute_stochastic(c, mixtures, float32_io=False):
    """diffusers' SDE-DPM-Solver++ 2M-heun and 3M across a repeated last sigma (NaN there), fed the same draws, on
    the grid without the repeated level (the draw of the dropped step unused)."""
    if not c.get("reference_nan"):
        return None
    assert repeated_final(c["sigmas"]) and c["solver"] in ("dpmpp_2m_sde_heun_diffusers", "dpmpp_3m_sde_diffusers"), c["name"]
    o = c["options"]
    mix = mixtures[c["mixture"]]
    if float32_io:
        exact = mix

        class Rounded:
            D = mix.D

            def np_x0(self, x, a, s):
                rounded = np.asarray(x, dtype=np.float32).astype(np.float64)
                return np.asarray(exact.np_x0(rounded, a, s), dtype=np.float32).astype(np.float64)
        mix = Rounded()
    draws = np.asarray(c["step_noise"], dtype=np.float64)[:-1]
    x, _, _, used = fst.np_dpm_sde(mix, c["x_init"], c["sigmas"][:-1], int(o["solver_order"]), o["solver_type"],
                                   o["lower_order_final"], o["euler_at_final"], draws, step_orders=c["step_orders"][:-1])
    return "repeated-final", x


def main():
    mixtures = {m.name: m for m in ff.make_mixtures()}
    out = []
    cases = []
    for source, fn in [("parity_solvers.json", recompute), ("parity_stochastic.json", recompute_stochastic)]:
        cases += [(c, fn) for c in json.loads((ff.FIXTURES / source).read_text())["cases"]]
    for c, fn in cases:
        r = fn(c, mixtures)
        if r is None:
            continue
        kind, x = r
        assert c["mixture"] in mixtures, c["name"]
        assert np.all(np.isfinite(x)), c["name"]
        # How far float32 storage moves this run: the case's conditioning (the whole singlestep run in float32;
        # the model's inputs and outputs rounded to float32 for the others).
        if c["solver"].endswith("_diffusers") and "_sde" not in c["solver"]:
            sig = c["sigmas"][:-1] if kind == "repeated-final" else c["sigmas"]
            orders = c["step_orders"][:-1] if kind == "repeated-final" else c["step_orders"]
            x32 = singlestep_float32(fs.mix_np_x0(mixtures[c["mixture"]]), c["x_init"], sig, c["options"]["algorithm_type"], orders)
        else:
            _, x32 = fn(c, mixtures, float32_io=True)
        sensitivity = ff.rel_rms(x32, x)
        out.append({"name": c["name"], "kind": kind, "f32_rel_rms": float(f"{sensitivity:.3g}"),
                    "x_f64": [[float(v) for v in row] for row in np.asarray(x)]})
    header = {"generator": GENERATOR, "source": ["parity_solvers.json", "parity_stochastic.json"],
              "note": "float64 recomputations on our grids of the cases whose reference no grid of ours reproduces "
                      "(see the generator's docstring); x_f64 is in the case's own coordinates"}
    path = ff.FIXTURES / "parity_f64_grid.json"
    body = ",\n".join(json.dumps(c) for c in out)        # one case per line
    path.write_text(json.dumps(header, indent=1)[:-2] + ',\n "cases": [\n' + body + "\n ]\n}\n")
    kinds = {}
    for c in out:
        kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
    print(f"{len(out)} cases of {len(cases)}: {kinds}; largest f32_rel_rms {max(c['f32_rel_rms'] for c in out):.3g}")
    print(f"  {path.relative_to(ff.REPO_ROOT)}  {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
