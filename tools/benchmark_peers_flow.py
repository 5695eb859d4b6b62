#!/usr/bin/env python3
"""Peer endpoints for the flow section of the DiffusionSolvers benchmark (`diffuse-benchmarks --flow`):
where diffusers' flow-matching schedulers end up on a flow mixture and on the shipped `digits-flow`
network, from recorded initial noise.

Python is a *tool* here (see tools/README.md): this script is run by hand and only its outputs are
committed.  The Swift benchmark reads them and measures each peer's endpoints against the
ground-truth solution of the probability-flow ODE from the peer's own first level (every peer here
starts from x = noise, the flow prior, at its first sigma: 1 for FlowMatch*, shift(0.999) for the
multistep schedulers' flow sigmas).

Models (rectified flow x = (1 - s) x0 + s eps, velocity v = eps - x0):
  mixture-2d    the Swift built-in 2-D mixture (exported with `.build/debug/diffuse export-model`; run
                `swift build` first), exact velocity (x - x0_hat)/s (float64 inside, float32 in and out);
                shift 3 (SD3's), 64 draws numpy default_rng(7011)
  digits-flow   Sources/DiffusionNeural/Resources/Models/digits-flow (UNet2DModel, class label 10 = null,
                called with the scheduler's own timestep = sigma*1000); its config's shift 1;
                32 draws numpy default_rng(7012)
Peers, at NFE budgets 5, 10 and 20 (FlowMatchHeun: the largest step count with 2N - 1 <= budget):
  FlowMatchEulerDiscreteScheduler (shift S; and with use_karras_sigmas, use_exponential_sigmas,
  use_beta_sigmas), FlowMatchHeunDiscreteScheduler (shift S), DPMSolverMultistepScheduler
  (dpmsolver++, order 2 and 3) and UniPCMultistepScheduler (bh2, order 2) with use_flow_sigmas,
  flow_shift S, prediction_type flow_prediction.  (DEIS and SA-Solver with flow sigmas repeat their
  last sigma and stop short of 0, so they are left out; UniPC bh1 order 3 with flow sigmas starts at
  1 - 1e-6 and returns non-finite endpoints on mixture-2d, so it is left out too.)
Our euler, heun, dpmpp_2m and uni_pc_bh2 reproduce the FlowMatchEuler, FlowMatchHeun, DPM-Solver++(2M)
and UniPC-bh2 runs to 5e-5 (tests: FlowParityTests), so the records are not recomputed here.

Outputs (Benchmarks/peers/flow/<model>.safetensors, byte-identical on every run):
  noise [B, D] F32; for each record R: "R.x_final" [B, D] F32, "R.sigmas" [N+1] F64 (Heun de-interleaved);
  metadata "records": JSON list of {id, scheduler, label, shift, nfe, steps}, "generator", "versions".

Run:  /work/main/tools/.venv/bin/python tools/benchmark_peers_flow.py      (~2 min, 1 thread)
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "neural"))
import fixtures_solvers as fs  # noqa: E402
from benchmark_peers import export_builtin, load_mixture  # noqa: E402
from common import MODELS, versions, write_safetensors  # noqa: E402
from fixtures_foundation import REPO_ROOT  # noqa: E402

GENERATOR = "tools/benchmark_peers_flow.py"
OUT_DIR = REPO_ROOT / "Benchmarks" / "peers" / "flow"
NFE_BUDGETS = [5, 10, 20]
MODELS_SPEC = {  # name: (draws, noise seed, shift)
    "mixture-2d": (64, 7011, 3.0),
    "digits-flow": (32, 7012, 1.0),
}
NULL_LABEL = 10


def peers(shift: float):
    """(id, diffusers class, kwargs, per-step evaluations, label)."""
    flow = dict(use_flow_sigmas=True, flow_shift=shift, prediction_type="flow_prediction")
    return [
        ("flowmatch_euler", "FlowMatchEulerDiscreteScheduler", dict(shift=shift), 1, "FlowMatchEuler"),
        ("flowmatch_euler_karras", "FlowMatchEulerDiscreteScheduler", dict(shift=shift, use_karras_sigmas=True), 1,
         "FlowMatchEuler karras"),
        ("flowmatch_euler_exponential", "FlowMatchEulerDiscreteScheduler", dict(shift=shift, use_exponential_sigmas=True), 1,
         "FlowMatchEuler exponential"),
        ("flowmatch_euler_beta", "FlowMatchEulerDiscreteScheduler", dict(shift=shift, use_beta_sigmas=True), 1,
         "FlowMatchEuler beta"),
        ("flowmatch_heun", "FlowMatchHeunDiscreteScheduler", dict(shift=shift), 2, "FlowMatchHeun"),
        ("dpmpp_2m", "DPMSolverMultistepScheduler", dict(**flow, algorithm_type="dpmsolver++", solver_order=2), 1,
         "DPMSolverMultistep++ 2M flow sigmas"),
        ("dpmpp_3m", "DPMSolverMultistepScheduler", dict(**flow, algorithm_type="dpmsolver++", solver_order=3), 1,
         "DPMSolverMultistep++ 3M flow sigmas"),
        ("unipc_bh2", "UniPCMultistepScheduler", dict(**flow, solver_type="bh2", solver_order=2), 1,
         "UniPCMultistep bh2 flow sigmas"),
    ]


def run(cls_name, kw, steps, z, velocity, heun):
    """Drive the scheduler from x = z; call i gets the scheduler's sigmas[i] and timesteps[i]."""
    import diffusers
    sch = getattr(diffusers, cls_name)(**kw)
    sch.set_timesteps(steps)
    raw = sch.sigmas.numpy().astype(np.float64)
    x = torch.from_numpy(z.copy())
    for i, t in enumerate(sch.timesteps):
        x = sch.step(velocity(x, float(raw[i]), t), t, x).prev_sample
    sig = raw
    if heun:   # [s0, s1, s1, ..., s_{N-1}, s_{N-1}, 0] -> [s0, ..., s_{N-1}, 0]
        sig = np.concatenate([raw[:1], raw[1:-1:2], raw[-1:]])
        assert np.array_equal(raw[1:-1:2], raw[2:-1:2])
    assert len(sig) == steps + 1 and sig[-1] == 0.0, (cls_name, kw, sig)
    xf = x.numpy()
    assert np.all(np.isfinite(xf))
    return sig, len(sch.timesteps), xf


def mixture_velocity(mix):
    def v(x, s, t):
        x0 = mix.posterior_x0(x, 1.0 - s, s)
        return ((x.to(torch.float64) - x0) / s).to(torch.float32)
    return v


def network_velocity(model):
    @torch.no_grad()
    def v(x, s, t):
        b = x.shape[0]
        out = model(x.reshape(b, 1, 8, 8), t.expand(b), class_labels=torch.full((b,), NULL_LABEL)).sample
        return out.reshape(x.shape)
    return v


def main():
    torch.set_num_threads(1)
    fs.quiet_diffusers()
    from diffusers import UNet2DModel
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = export_builtin(REPO_ROOT / ".build" / "debug" / "diffuse", "mixture-2d", Path(tmp))
        mix, _ = load_mixture("mixture-2d", path, "Swift built-in")
    velocities = {
        "mixture-2d": (mixture_velocity(mix), 2),
        "digits-flow": (network_velocity(UNet2DModel.from_pretrained(MODELS / "digits-flow").eval()), 64),
    }
    for name, (count, seed, shift) in MODELS_SPEC.items():
        velocity, d = velocities[name]
        z = np.random.default_rng(seed).standard_normal((count, d)).astype(np.float32)
        tensors, records = {"noise": z}, []
        for pid, cls, kw, per_step, label in peers(shift):
            for budget in NFE_BUDGETS:
                steps = budget if per_step == 1 else (budget + 1) // 2
                sig, nfe, xf = run(cls, kw, steps, z, velocity, heun=per_step == 2)
                rid = f"{pid}.nfe{budget}"
                tensors[f"{rid}.x_final"] = xf.astype(np.float32)
                tensors[f"{rid}.sigmas"] = sig
                records.append(dict(id=rid, scheduler=cls, label=label, shift=shift, nfe=nfe, steps=steps, budget=budget))
                print(f"{name:12} {rid:36} nfe {nfe:3} sigma0 {sig[0]:.6f} rms {np.sqrt(np.mean(xf.astype(np.float64) ** 2)):.4f}",
                      flush=True)
        meta = {"generator": GENERATOR, "versions": json.dumps(versions(), sort_keys=True), "model": name,
                "shift": repr(shift), "noise": f"numpy default_rng({seed}).standard_normal(({count}, {d})) as float32",
                "records": json.dumps(records, sort_keys=True)}
        out = OUT_DIR / f"{name}.safetensors"
        write_safetensors(out, tensors, meta)
        print(f"wrote {out.relative_to(REPO_ROOT)} ({out.stat().st_size} bytes, {len(records)} records)")


if __name__ == "__main__":
    main()
