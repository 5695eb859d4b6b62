#!/usr/bin/env python3
"""Reference-fixture generator for the DiffusionSolvers flow-matching tests.

Python is a *tool* here (see tools/README.md): this script is run by hand and only its
outputs are committed.  It reuses tools/fixtures_foundation.py (the mixtures, their seeded
initial noise, the JSON writer, the version record) and tools/fixtures_solvers.py (the
independent float64 DPM-Solver++ and UniPC references).

Outputs (in Tests/DiffusionSolversTests/Fixtures/):

  flow_sigmas.json   golden sigma and timestep lists of diffusers' flow schedulers: the config each
                     scheduler saves (`to_json_string()`, read as is by DiffusersSchedulerConfig), the
                     step count, the image sequence length and mu of dynamic shifting, and the
                     scheduler's `sigmas` (float32, final value included) and `timesteps` after
                     `set_timesteps(N[, mu])`
  parity_flow.json   trajectories of diffusers FlowMatchEulerDiscrete, FlowMatchHeunDiscrete,
                     DPMSolverMultistep (dpmsolver++, order 2) and UniPCMultistep (bh2) with flow sigmas
                     and shift 3, driving the exact flow velocity of the Gaussian mixtures

Rectified flow: x = (1 - s) x0 + s eps.  The exact velocity of a mixture is
v = eps_hat - x0_hat = (x - x0_hat) / s, with x0_hat the mixture's posterior mean at alpha = 1 - s,
sigma = s (float64 inside, float32 in and out, as the other fixtures' denoisers).

Every parity case is recomputed by an independent float64 numpy reference on the recorded grid
(asserted: relative RMS <= 1e-4): Euler and Heun in sigma directly; DPM-Solver++(2M) and UniPC by
fixtures_solvers' VP references on sigma_tilde = s / (1 - s) from x_init / sqrt((1-s)^2 + s^2)
(data-prediction exponential integrators are invariant to rescaling the state, and the final
level s = 0 has scale 1).

Run:  tools/.venv/bin/python tools/fixtures_flow.py
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixtures_foundation as ff  # noqa: E402
from fixtures_foundation import (  # noqa: E402
    BATCH, FIXTURES, REPO_ROOT, Z_SEED, Mixture, initial_noise, make_mixtures, rel_rms, rms, versions,
    write_json_cases,
)
import fixtures_solvers as fs  # noqa: E402

GENERATOR = "tools/fixtures_flow.py"
TOL = 1e-4
STEPS = [5, 10, 20]
NS_FLOW = {"kind": "flow"}


def calculate_shift(image_seq_len, base_seq_len=256, max_seq_len=4096, base_shift=0.5, max_shift=1.15):
    """diffusers.pipelines.flux.pipeline_flux.calculate_shift (copied: importing the pipeline needs transformers)."""
    m = (max_shift - base_shift) / (max_seq_len - base_seq_len)
    b = base_shift - m * base_seq_len
    return image_seq_len * m + b


def config_of(sch) -> dict:
    """The config as the scheduler saves it; non-finite numbers (DPM-Solver's default lambda_min_clipped = -inf,
    written by Python as -Infinity, which is not JSON) become null, which readers take as the default."""
    cfg = json.loads(sch.to_json_string())
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in cfg.items()}


# ----------------------------------------------------------------------------
# A. golden sigma / timestep lists
# ----------------------------------------------------------------------------

GRID_CASES = [
    # (name, class, kwargs, image_seq_lens or None)
    ("euler_shift1", "FlowMatchEulerDiscreteScheduler", {}, None),
    ("euler_shift3", "FlowMatchEulerDiscreteScheduler", {"shift": 3.0}, None),
    ("euler_dynamic_exponential", "FlowMatchEulerDiscreteScheduler",
     {"use_dynamic_shifting": True, "base_shift": 0.5, "max_shift": 1.15, "base_image_seq_len": 256,
      "max_image_seq_len": 4096, "time_shift_type": "exponential"}, [1024, 4096]),
    ("euler_dynamic_linear", "FlowMatchEulerDiscreteScheduler",
     {"use_dynamic_shifting": True, "base_shift": 0.95, "max_shift": 2.05, "base_image_seq_len": 1024,
      "max_image_seq_len": 4096, "time_shift_type": "linear"}, [1024, 4096]),
    ("euler_shift3_terminal", "FlowMatchEulerDiscreteScheduler", {"shift": 3.0, "shift_terminal": 0.1}, None),
    ("euler_dynamic_terminal", "FlowMatchEulerDiscreteScheduler",
     {"use_dynamic_shifting": True, "shift_terminal": 0.05}, [2048]),
    ("euler_shift3_karras", "FlowMatchEulerDiscreteScheduler", {"shift": 3.0, "use_karras_sigmas": True}, None),
    ("euler_shift3_exponential", "FlowMatchEulerDiscreteScheduler", {"shift": 3.0, "use_exponential_sigmas": True}, None),
    ("euler_shift3_beta", "FlowMatchEulerDiscreteScheduler", {"shift": 3.0, "use_beta_sigmas": True}, None),
    ("euler_shift1_karras", "FlowMatchEulerDiscreteScheduler", {"use_karras_sigmas": True}, None),
    ("heun_shift1", "FlowMatchHeunDiscreteScheduler", {}, None),
    ("heun_shift3", "FlowMatchHeunDiscreteScheduler", {"shift": 3.0}, None),
    ("dpm_flow1", "DPMSolverMultistepScheduler", {"use_flow_sigmas": True, "prediction_type": "flow_prediction"}, None),
    ("dpm_flow3", "DPMSolverMultistepScheduler",
     {"use_flow_sigmas": True, "flow_shift": 3.0, "prediction_type": "flow_prediction"}, None),
    ("unipc_flow1", "UniPCMultistepScheduler", {"use_flow_sigmas": True, "prediction_type": "flow_prediction"}, None),
    ("unipc_flow3", "UniPCMultistepScheduler",
     {"use_flow_sigmas": True, "flow_shift": 3.0, "prediction_type": "flow_prediction"}, None),
    ("unipc_flow3_terminal", "UniPCMultistepScheduler",
     {"use_flow_sigmas": True, "flow_shift": 3.0, "shift_terminal": 0.1, "prediction_type": "flow_prediction"}, None),
    ("deis_flow3", "DEISMultistepScheduler",
     {"use_flow_sigmas": True, "flow_shift": 3.0, "prediction_type": "flow_prediction"}, None),
    ("sasolver_flow3", "SASolverScheduler",
     {"use_flow_sigmas": True, "flow_shift": 3.0, "prediction_type": "flow_prediction"}, None),
]


def gen_grids():
    import diffusers
    cases = []
    for name, cls, kw, seq_lens in GRID_CASES:
        for n in STEPS:
            for seq in (seq_lens or [None]):
                sch = getattr(diffusers, cls)(**kw)
                cfg = config_of(sch)
                mu = None
                if seq is not None:
                    mu = calculate_shift(seq, cfg["base_image_seq_len"], cfg["max_image_seq_len"], cfg["base_shift"],
                                         cfg["max_shift"])
                    sch.set_timesteps(n, mu=mu)
                else:
                    sch.set_timesteps(n)
                sig = sch.sigmas.numpy().astype(np.float64)
                ts = sch.timesteps.numpy()
                case = {"name": f"{name}_n{n}" + (f"_seq{seq}" if seq is not None else ""), "class": cls,
                        "config": cfg, "steps": n, "image_seq_len": seq, "mu": mu,
                        "sigmas": [float(v) for v in sig],
                        "timesteps": [int(v) for v in ts] if np.issubdtype(ts.dtype, np.integer) else [float(v) for v in ts]}
                assert cfg["_class_name"] == cls
                assert np.all(np.isfinite(sig))
                cases.append(case)
    return cases


# ----------------------------------------------------------------------------
# B. parity trajectories on the exact flow velocity
# ----------------------------------------------------------------------------

def velocity_fn(mix: Mixture):
    """Exact flow velocity v = (x - x0_hat) / s at alpha = 1 - s (float32 in/out, float64 inside)."""
    def fn(x, s):
        s = float(s)
        x2 = x.reshape(x.shape[0], -1)
        x0 = mix.posterior_x0(x2, 1.0 - s, s)
        v = (x2.detach().to(torch.float64) - x0) / s
        return v.to(torch.float32).reshape(x.shape)
    return fn


def np_velocity(mix: Mixture, x, s):
    x0 = mix.np_x0(x, 1.0 - s, s)
    return (np.asarray(x, dtype=np.float64) - x0) / s


def ref_euler(mix, x_init, sig):
    x = np.asarray(x_init, dtype=np.float64)
    for i in range(len(sig) - 1):
        x = x + (sig[i + 1] - sig[i]) * np_velocity(mix, x, sig[i])
    return x


def ref_heun(mix, x_init, sig):
    """Karras et al. 2022 Alg. 1 in sigma with the velocity as the derivative; Euler on a last step to 0."""
    x = np.asarray(x_init, dtype=np.float64)
    for i in range(len(sig) - 1):
        d = np_velocity(mix, x, sig[i])
        xn = x + (sig[i + 1] - sig[i]) * d
        if sig[i + 1] > 0:
            d2 = np_velocity(mix, xn, sig[i + 1])
            xn = x + (sig[i + 1] - sig[i]) * 0.5 * (d + d2)
        x = xn
    return x


def vp_reference(ref, mix, x_init, sig, **kw):
    """Run a fixtures_solvers VP reference on the flow grid: sigma_tilde = s/(1-s), state x/sqrt((1-s)^2+s^2)."""
    st = [s / (1.0 - s) for s in sig]
    c0 = math.sqrt((1.0 - sig[0]) ** 2 + sig[0] ** 2)
    assert sig[-1] == 0.0
    out = ref(fs.mix_np_x0(mix), np.asarray(x_init, dtype=np.float64) / c0, st, **kw)
    return out[0]


def run_flow_scheduler(sch, n, z, vfn, heun=False, mu=None):
    """Drive sch from z: the model at call i is the exact velocity at the scheduler's sigmas[i]."""
    sch.set_timesteps(n) if mu is None else sch.set_timesteps(n, mu=mu)
    raw = sch.sigmas.numpy().astype(np.float64)
    ts = sch.timesteps
    x = torch.from_numpy(z.copy())
    x_init = x.clone()
    model_sigma, model_t = [], []
    for i, t in enumerate(ts):
        s = float(raw[i])
        model_sigma.append(s)
        model_t.append(float(t))
        v = vfn(x, s)
        x = sch.step(v, t, x).prev_sample
    sig = raw
    if heun:   # de-interleave: [s0, s1, s1, ..., s_{N-1}, s_{N-1}, 0] -> [s0, ..., s_{N-1}, 0]
        sig = np.concatenate([raw[:1], raw[1:-1:2], raw[-1:]])
        assert len(sig) == n + 1 and np.array_equal(raw[1:-1:2], raw[2:-1:2])
    xf = x.numpy()
    assert np.all(np.isfinite(xf))
    return dict(sigmas=[float(v) for v in sig], nfe=len(ts), model_sigma=model_sigma, model_t=model_t,
                x_init=x_init.numpy(), x_final=xf)


PARITY = [
    # solver, class, kwargs
    ("euler", "FlowMatchEulerDiscreteScheduler", {"shift": 3.0}),
    ("heun", "FlowMatchHeunDiscreteScheduler", {"shift": 3.0}),
    ("dpmpp_2m", "DPMSolverMultistepScheduler",
     {"use_flow_sigmas": True, "flow_shift": 3.0, "prediction_type": "flow_prediction", "algorithm_type": "dpmsolver++",
      "solver_order": 2}),
    ("uni_pc_bh2", "UniPCMultistepScheduler",
     {"use_flow_sigmas": True, "flow_shift": 3.0, "prediction_type": "flow_prediction", "solver_type": "bh2",
      "solver_order": 2}),
]


def gen_parity(mixtures):
    import diffusers
    cases, checks = [], []
    for solver, cls, kw in PARITY:
        for mix in mixtures:
            z = initial_noise(mix)
            for n in STEPS:
                sch = getattr(diffusers, cls)(**kw)
                r = run_flow_scheduler(sch, n, z, velocity_fn(mix), heun=solver == "heun")
                sig = r["sigmas"]
                if solver == "euler":
                    x_ref = ref_euler(mix, r["x_init"], sig)
                elif solver == "heun":
                    x_ref = ref_heun(mix, r["x_init"], sig)
                    assert r["nfe"] == 2 * n - 1
                elif solver == "dpmpp_2m":
                    x_ref = vp_reference(fs.ref_dpm_multistep, mix, r["x_init"], sig, algo="dpmsolver++", order=2,
                                         solver_type="midpoint", lower_order_final=True, euler_at_final=False)
                else:
                    x_ref = vp_reference(fs.ref_unipc, mix, r["x_init"], sig, order=2, bh="bh2", predict_x0=True,
                                         lower_order_final=True, disable_corrector=[])
                err = rel_rms(r["x_final"], x_ref)
                assert err <= TOL, (solver, mix.name, n, err)
                config = config_of(sch)
                case = dict(name=f"{solver}_{mix.name}_shift3_n{n}", reference=f"diffusers.{cls}", solver=solver, eta=0.0,
                            mixture=mix.name, noise_schedule=NS_FLOW, spacing="flow", sigma_schedule="flow", final="zero",
                            steps=n, options={"config": config}, nfe=r["nfe"], model_sigma=r["model_sigma"],
                            model_t=r["model_t"], sigmas=sig, x_init=r["x_init"], x_final=r["x_final"],
                            reference_nan=False, f64_check_rel_rms=err)
                cases.append(case)
                checks.append((case["name"], r["nfe"], rms(r["x_final"]), err))
    return cases, checks


def main():
    torch.set_num_threads(1)
    fs.quiet_diffusers()
    vers = versions()
    mixtures = make_mixtures()
    fs.check_committed_mixtures(mixtures)

    grids = gen_grids()
    names = [c["name"] for c in grids]
    assert len(set(names)) == len(names)
    write_json_cases(FIXTURES / "flow_sigmas.json",
                     {"generator": GENERATOR, "versions": vers,
                      "mu": "calculate_shift of diffusers' Flux pipeline: linear in image_seq_len between "
                            "(base_image_seq_len, base_shift) and (max_image_seq_len, max_shift)"}, grids)

    cases, checks = gen_parity(mixtures)
    names = [c["name"] for c in cases]
    assert len(set(names)) == len(names)
    header = {"generator": GENERATOR, "versions": vers,
              "coordinates": "rectified flow x = (1 - s) x0 + s eps; sigmas = the flow sigma s of each level incl. the "
                             "final 0 (Heun: de-interleaved); model_sigma = s of each model call in call order; the model "
                             "is the exact velocity (x - x0_hat) / s",
              "batch": BATCH, "z_seeds": Z_SEED}
    write_json_cases(FIXTURES / "parity_flow.json", header, cases)

    print(f"{'case':<48} {'nfe':>4} {'rms(x_final)':>13} {'relRMS vs np64':>15}")
    for name, nfe, r, err in checks:
        print(f"{name:<48} {nfe:>4} {r:>13.6f} {err:>15.3e}")
    print(f"\n{len(grids)} grids, {len(cases)} parity cases; max relRMS vs numpy float64 reference: "
          f"{max(c[3] for c in checks):.3e}")
    for p in [FIXTURES / "flow_sigmas.json", FIXTURES / "parity_flow.json"]:
        print(f"  {p.relative_to(REPO_ROOT)}  {p.stat().st_size} bytes")


if __name__ == "__main__":
    main()
