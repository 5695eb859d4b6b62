#!/usr/bin/env python3
"""Reference fixtures for the stochastic samplers on rectified flow (issue 19, part 2).

Python is a *tool* here (see tools/README.md): this script is run by hand and only its output is committed.

References:
  * ComfyUI's own code: `comfy/k_diffusion/sampling.py` from a ComfyUI checkout named by COMFYUI_DIR, imported as
    tools/fixtures_comfy.py does (commit a125cd84b054a57729b5eecab930ca9408719832). On a flow model (ComfyUI's
    `model_sampling` is a `comfy.model_sampling.CONST`) `sample_euler_ancestral`, `sample_dpm_2_ancestral` and
    `sample_dpmpp_2s_ancestral` switch to their `_RF` forms; the stand-in `CONST` class makes the isinstance check
    true, and its `noise_scaling` is the flow forward process sigma*noise + (1 - sigma)*latent that `sample_lcm`
    calls. The functions called are the public names, so the switch itself is exercised.
  * diffusers 0.42.1 `FlowMatchEulerDiscreteScheduler(shift=3, stochastic_sampling=True)`: each step takes
    x0 = x - sigma*v and returns (1 - sigma')*x0 + sigma'*z with a fresh z from the generator passed to step().

Every run drives the exact mixture of fixtures_foundation.py on rectified flow x = (1 - s) x0 + s eps (float64
inside, float32 in and out): ComfyUI gets the denoiser x0_hat(x, s); diffusers gets the velocity (x - x0_hat)/s.
Grids (flow sigmas, final 0 included), N in {5, 10, 20}:
  shift3       diffusers' FlowMatchEulerDiscreteScheduler(shift=3).sigmas (starts at s = 1, pure noise)
  shift3_from09  s = 3t/(1 + 2t) at t = linspace(0.9, 0, N + 1) (starts below 1)
Stochastic draws come from a noise_sampler returning successive torch.randn draws of a seeded CPU generator, and
are recorded; replaying them reproduces x_final bit for bit, and fresh draws move it (asserted). For diffusers the
draws are those of the generator passed to step(), recomputed from the same seed and checked by an independent
float64 numpy replay of the update.

Output: Tests/DiffusionSolversTests/Fixtures/parity_flow_stochastic.json (schema as parity_comfy.json).

Run:  COMFYUI_DIR=/path/to/ComfyUI tools/.venv/bin/python tools/fixtures_flow_comfy.py
"""
from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import torch

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures_foundation import (  # noqa: E402
    BATCH, FIXTURES, REPO_ROOT, Z_SEED, initial_noise, make_mixtures, rel_rms, versions, write_json_cases,
)
from fixtures_solvers import check_committed_mixtures, f64, quiet_diffusers  # noqa: E402
import fixtures_comfy as fc  # noqa: E402

GENERATOR = "tools/fixtures_flow_comfy.py"
OUT = FIXTURES / "parity_flow_stochastic.json"
STEPS = [5, 10, 20]
NS_FLOW = {"kind": "flow"}

# (our solver name, ComfyUI function, keyword arguments)
COMFY_CASES = [
    ("euler_ancestral", "sample_euler_ancestral", {"eta": 1.0, "s_noise": 1.0}),
    ("euler_ancestral", "sample_euler_ancestral", {"eta": 0.5, "s_noise": 1.0}),
    ("dpm_2_ancestral", "sample_dpm_2_ancestral", {"eta": 1.0, "s_noise": 1.0}),
    ("dpm_2_ancestral", "sample_dpm_2_ancestral", {"eta": 0.5, "s_noise": 1.0}),
    ("dpmpp_2s_ancestral", "sample_dpmpp_2s_ancestral", {"eta": 1.0, "s_noise": 1.0}),
    ("dpmpp_2s_ancestral", "sample_dpmpp_2s_ancestral", {"eta": 0.5, "s_noise": 1.0}),
    ("lcm", "sample_lcm", {}),
]


def import_comfy_with_flow_marker():
    C = fc.import_comfy_sampling()
    return C, sys.modules["comfy.model_sampling"].CONST


def flow_grid(kind: str, n: int) -> np.ndarray:
    if kind == "shift3":
        import diffusers
        sch = diffusers.FlowMatchEulerDiscreteScheduler(shift=3.0)
        sch.set_timesteps(n)
        return sch.sigmas.numpy().astype(np.float64)
    t = np.linspace(0.9, 0.0, n + 1)
    return 3.0 * t / (1.0 + 2.0 * t)


def flow_denoiser(mix, calls):
    def fn(x, sigma):
        s = float(sigma.reshape(-1)[0])
        calls.append(s)
        return mix.posterior_x0(x, 1.0 - s, s).to(torch.float32)
    return fn


class FlowModel:
    """The flow denoiser with the attributes ComfyUI's samplers read to learn the model kind."""

    def __init__(self, denoiser, const_cls):
        class Flow(const_cls):
            def noise_scaling(self, sigma, noise, latent_image, max_denoise=False):
                return sigma * noise + (1.0 - sigma) * latent_image
        self.denoiser = denoiser
        self.inner_model = types.SimpleNamespace(
            model_patcher=types.SimpleNamespace(get_model_object=lambda name: Flow()),
            inner_model=types.SimpleNamespace(model_sampling=Flow()))

    def __call__(self, x, sigma, **kwargs):
        return self.denoiser(x, sigma)


def run_comfy(C, const_cls, fn_name, mix, x, sig_t, kwargs, seed, replay=None):
    return fc.run(C, fn_name, mix, x, sig_t, kwargs, seed, replay,
                  make_model=lambda calls: FlowModel(flow_denoiser(mix, calls), const_cls))


def run_diffusers(mix, z, n, seed):
    import diffusers
    sch = diffusers.FlowMatchEulerDiscreteScheduler(shift=3.0, stochastic_sampling=True)
    sch.set_timesteps(n)
    sig = sch.sigmas.numpy().astype(np.float64)
    g = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(z.copy())
    calls = []
    for t in sch.timesteps:
        s = float(sch.sigmas[sch.step_index if sch.step_index is not None else 0])
        calls.append(s)
        x0 = mix.posterior_x0(x, 1.0 - s, s)
        v = ((x.to(torch.float64) - x0) / s).to(torch.float32)
        x = sch.step(v, t, x, generator=g).prev_sample
    # the draws diffusers took: randn_tensor on a CPU generator is torch.randn(shape, generator, float32)
    g2 = torch.Generator().manual_seed(seed)
    draws = [torch.randn(z.shape, generator=g2, dtype=torch.float32) for _ in range(n)]
    # independent float64 replay of the update
    y = z.astype(np.float64)
    for i in range(n):
        s, s2 = sig[i], sig[i + 1]
        x0 = mix.np_x0(y.astype(np.float32), 1.0 - s, s)
        v = ((y.astype(np.float32).astype(np.float64) - x0) / s).astype(np.float32).astype(np.float64)
        y = ((1.0 - s2) * (y - s * v) + s2 * draws[i].numpy().astype(np.float64)).astype(np.float32)
    err = rel_rms(x.numpy(), y)
    assert err < 1e-5, err
    return sig, calls, draws, x.numpy(), err


def main():
    torch.set_num_threads(1)
    quiet_diffusers()
    C, const_cls = import_comfy_with_flow_marker()
    mixtures = make_mixtures()
    check_committed_mixtures(mixtures)
    cases, report = [], []
    for mix in mixtures:
        z = initial_noise(mix)
        for grid in ["shift3", "shift3_from09"]:
            for n in STEPS:
                sig = flow_grid(grid, n)
                sig_t = torch.tensor(sig, dtype=torch.float32)
                sig = f64(sig_t)
                x = torch.from_numpy(z)   # the flow prior N(0, I); parity needs only the same start
                for solver, fn_name, kwargs in COMFY_CASES:
                    tag = f"_eta{kwargs['eta']}" if kwargs.get("eta", 1.0) != 1.0 else ""
                    name = f"comfy_rf_{solver}_{mix.name}_{grid}_n{n}{tag}"
                    seed = fc.seed_of(name)
                    out, calls, draws, levels = run_comfy(C, const_cls, fn_name, mix, x, sig_t, kwargs, seed)
                    assert torch.all(torch.isfinite(out)), name
                    out_b, _, _, _ = run_comfy(C, const_cls, fn_name, mix, x, sig_t, kwargs, seed + 1, replay=draws)
                    assert torch.equal(out, out_b), name
                    out_c, _, _, _ = run_comfy(C, const_cls, fn_name, mix, x, sig_t, kwargs, seed + 1)
                    assert rel_rms(out_c.numpy(), out.numpy()) > 1e-2, name
                    cases.append(dict(name=name, reference=f"comfy.k_diffusion.sampling.{fn_name} (flow model)", solver=solver,
                                      eta=float(kwargs.get("eta", 0.0)), mixture=mix.name, noise_schedule=NS_FLOW,
                                      spacing=grid, sigma_schedule=grid, final="zero", steps=n,
                                      options=dict(kwargs, comfyui_commit=fc.COMFY_COMMIT), timesteps=None, sigmas=sig,
                                      nfe=len(calls), model_sigma=calls, x_init=x.numpy(), noise_seed=seed,
                                      step_noise=np.stack([d.numpy() for d in draws]), noise_draw_sigmas=levels,
                                      x_final=out.numpy(), replay_identical=True))
                    report.append((name, len(calls), len(draws), ""))
            if grid == "shift3":
                for n in STEPS:
                    name = f"diffusers_flow_stochastic_{mix.name}_shift3_n{n}"
                    seed = fc.seed_of(name)
                    sig, calls, draws, out, err = run_diffusers(mix, z, n, seed)
                    cases.append(dict(name=name, reference="diffusers.FlowMatchEulerDiscreteScheduler(stochastic_sampling=True)",
                                      solver="lcm", eta=1.0, mixture=mix.name, noise_schedule=NS_FLOW, spacing="shift3",
                                      sigma_schedule="shift3", final="zero", steps=n,
                                      options={"shift": 3.0, "stochastic_sampling": True}, timesteps=None,
                                      sigmas=[float(v) for v in sig], nfe=len(calls), model_sigma=calls, x_init=z,
                                      noise_seed=seed, step_noise=np.stack([d.numpy() for d in draws]),
                                      noise_draw_sigmas=[[float(sig[i]), float(sig[i + 1])] for i in range(n)],
                                      x_final=out, f64_check_rel_rms=err))
                    report.append((name, len(calls), len(draws), f"f64 replay {err:.2e}"))
    names = [c["name"] for c in cases]
    assert len(set(names)) == len(names)
    header = {"generator": GENERATOR, "versions": dict(versions(), comfyui=fc.COMFY_COMMIT),
              "coordinates": "rectified flow x = (1 - s) x0 + s eps; sigmas = the flow sigma s of each level incl. the "
                             "final 0; model_sigma = s of every model call in call order",
              "batch": BATCH, "z_seeds": Z_SEED,
              "draws": "step_noise[k] is the (k+1)-th standard-normal draw (float32, shape [B, D]) the sampler consumed; "
                       "diffusers' last draw is multiplied by sigma' = 0"}
    write_json_cases(OUT, header, cases)
    for name, nfe, nd, extra in report:
        print(f"{name:<64} nfe {nfe:>3} draws {nd:>3} {extra}")
    print(f"{len(cases)} cases -> {OUT.relative_to(REPO_ROOT)} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
