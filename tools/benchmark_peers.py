#!/usr/bin/env python3
"""Peer endpoints for the DiffusionSolvers benchmark: where diffusers and k-diffusion samplers end
up on our benchmark models, starting from the same initial noise.

Python is a *tool* here (see tools/README.md): this script is run by hand and only its outputs are
committed.  The Swift benchmark reads them, computes each peer's error against its own ground truth
(the probability-flow ODE solved accurately from the recorded x_init at sigmas[0] down to
final_sigma), and shows that next to the errors of our solvers.

Models (all diagonal Gaussian mixtures with an exact denoiser):
  mixture-2d, glyphs-8x8   the Swift built-in models, exported with the built Swift binary
                           (`.build/debug/diffuse export-model NAME FILE`; run `swift build` first)
  digits-mixture           models/digits-mixture.safetensors (tools/make_digits_mixture.py)

Noise schedule: Stable Diffusion's discrete VP schedule (scaled_linear 0.00085..0.012, T = 1000,
steps_offset 1, prediction_type epsilon).  Peers (each at an NFE budget of 5, 10 and 20 model
evaluations; 2-evaluation-per-step samplers use the largest step count within the budget):
  diffusers  DPMSolverMultistep dpmsolver++ order 2 and 3, UniPCMultistep bh2 order 2 (defaults)
             and bh1 order 3, DEISMultistep order 3, EulerDiscrete, HeunDiscrete -- each with the
             default "linspace" spacing and with use_karras_sigmas=True -- and DDIM ("leading",
             steps_offset 1, set_alpha_to_one True); final_sigmas_type "zero" where it exists
  k-diffusion sample_dpmpp_2m, sample_heun, sample_euler, sample_dpm_2, sample_lms on
             get_sigmas_karras(n, sigma_min, sigma_max) with the VP schedule's own sigma_min/max,
             and sample_dpm_fast(n = NFE) between the same sigma_min/max (ends at sigma_min)

Outputs (Benchmarks/peers/):
  noise-<model>.npy     the standard-normal initial noise [64, D] (float32, np.save), fixed seed
  peers.json            one record per (model, peer config, NFE budget); byte-identical on every run
  peers-timing.json     wall seconds of every record's sampling loop (the only output that varies
                        from run to run, hence kept out of peers.json)

Checks (asserted): every record is recomputed by an independent float64 numpy implementation
(tools/fixtures_foundation.py / tools/fixtures_solvers.py) on the recorded grid, relative RMS
<= 1e-4; the order patterns of the diffusers multistep schedulers equal the numpy ones; the
timing repeats give bit-identical endpoints; the fast denoiser used here equals the reference one.

Run:  /root/venv-tools/bin/python tools/benchmark_peers.py      (or tools/.venv/bin/python)
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixtures_foundation as ff  # noqa: E402
import fixtures_solvers as fs  # noqa: E402
from fixtures_foundation import REPO_ROOT, SD_BETAS, T_TRAIN, rel_rms  # noqa: E402

GENERATOR = "tools/benchmark_peers.py"
OUT_DIR = REPO_ROOT / "Benchmarks" / "peers"
BATCH = 64
NFE_BUDGETS = [5, 10, 20]
THREADS = 2
TOL = 1e-4
NOISE_SEED = {"mixture-2d": 7001, "glyphs-8x8": 7002, "digits-mixture": 7003}
MODEL_ORDER = ["mixture-2d", "glyphs-8x8", "digits-mixture"]
NS = {"kind": "vp-discrete", **SD_BETAS, "num_train_timesteps": T_TRAIN, "steps_offset": 1,
      "prediction_type": "epsilon"}
SCHED_KW = dict(num_train_timesteps=T_TRAIN, **SD_BETAS, steps_offset=1, prediction_type="epsilon")
REF_ID = "diffusers.dpmpp_3m.karras.nfe20"     # the sanity table's reference endpoint (per model)


# ----------------------------------------------------------------------------
# models
# ----------------------------------------------------------------------------

class FastMixture(ff.Mixture):
    """ff.Mixture with the same exact float64 denoiser written as matrix products (the [B, K, D]
    broadcast of the reference costs ~0.7 s per call for the 1,797-component digits model; this
    costs a few ms).  With v = a^2 s^2 + sigma^2 and g = a s^2 / v:
      sum_d (x_d - a mu_d)^2 / v_d = x^2 . (1/v) - 2a x . (mu/v) + a^2 sum_d mu_d^2 / v_d
      E[x0 | x, k] = mu (1 - a g) + g x.
    check_against_reference() asserts agreement with ff.Mixture.posterior_x0 (float64, ~1e-12)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.s2 = self.s64 ** 2
        self.logw = torch.log(self.w64)
        self.mu2 = self.mu64 ** 2

    def posterior_x0(self, x, alpha, sigma):
        alpha, sigma = float(alpha), float(sigma)
        x64 = x.detach().to(torch.float64)
        v = alpha * alpha * self.s2 + sigma * sigma                     # [K, D]
        iv = 1.0 / v
        quad = (x64 * x64) @ iv.T - (2.0 * alpha) * (x64 @ (self.mu64 * iv).T) \
            + (alpha * alpha) * (self.mu2 * iv).sum(1)                  # [B, K]
        logr = self.logw - 0.5 * (quad + torch.log(2.0 * math.pi * v).sum(1))
        r = torch.softmax(logr, dim=1)
        g = alpha * self.s2 * iv
        return r @ (self.mu64 * (1.0 - alpha * g)) + x64 * (r @ g)

    def check_against_reference(self, seed: int):
        rng = np.random.default_rng(seed)
        worst = 0.0
        for st in [14.6, 3.0, 1.0, 0.3, 0.1, 0.0292]:
            a = 1.0 / math.sqrt(1.0 + st * st)
            x0 = self.means[rng.integers(0, self.K, 16)].astype(np.float64)
            x = torch.from_numpy((a * x0 + a * st * rng.standard_normal(x0.shape)).astype(np.float32))
            fast = self.posterior_x0(x, a, st * a)
            ref = ff.Mixture.posterior_x0(self, x, a, st * a)
            worst = max(worst, float((fast - ref).abs().max() / ref.abs().max()))
        assert worst < 1e-10, (self.name, worst)
        return worst


def params_sha256(tensors: dict) -> str:
    h = hashlib.sha256()
    for k in ["weights", "means", "stds", "labels"]:
        if k in tensors:
            dt = "<i4" if k == "labels" else "<f4"
            h.update(k.encode() + b"\0" + np.ascontiguousarray(tensors[k], dtype=dt).tobytes())
    return h.hexdigest()


def load_mixture(name: str, path: Path, origin: str):
    from safetensors import safe_open
    from safetensors.numpy import load_file
    t = load_file(str(path))
    with safe_open(str(path), framework="np") as f:
        meta = f.metadata() or {}
    shape = meta.get("shape", str(t["means"].shape[1]))
    mix = FastMixture(name, t["weights"], t["means"], t["stds"], shape)
    info = {"source": origin, "K": mix.K, "D": mix.D, "shape": [int(s) for s in shape.split(",")],
            "params_sha256": params_sha256(t),
            "params_sha256_of": "sha256 over name+NUL+little-endian bytes of weights (f32), means (f32), stds (f32), "
                                "labels (i32, if present), in that order"}
    return mix, info


def export_builtin(diffuse: Path, name: str, tmp: Path) -> Path:
    if not diffuse.exists():
        sys.exit(f"{diffuse} not found: build the Swift package first (cd {REPO_ROOT} && swift build)")
    out = tmp / f"{name}.safetensors"
    subprocess.run([str(diffuse), "export-model", name, str(out)], check=True, capture_output=True)
    return out


def initial_noise(name: str, d: int) -> np.ndarray:
    return np.random.default_rng(NOISE_SEED[name]).standard_normal((BATCH, d)).astype(np.float32)


# ----------------------------------------------------------------------------
# the model as the peers see it: counted and timed
# ----------------------------------------------------------------------------

class Model:
    def __init__(self, mix: FastMixture):
        self.mix = mix
        self.reset()

    def reset(self):
        self.calls, self.seconds = [], 0.0

    def eps_vp(self, x, alpha, sigma):
        """epsilon prediction for the VP state x = alpha x0 + sigma eps (diffusers schedulers)."""
        t0 = time.perf_counter()
        out = self.mix.eps(x.reshape(x.shape[0], -1), alpha, sigma).reshape(x.shape)
        self.seconds += time.perf_counter() - t0
        self.calls.append(sigma / alpha)
        return out

    def kd_denoiser(self, x, sigma_vec):
        """k-diffusion's wrapping of a VP eps model (DiscreteEpsDDPMDenoiser): D(x~, s~) = x~ - s~ eps(a x~, t(s~)),
        a = 1/sqrt(1 + s~^2).  With the exact eps this is the exact x0_hat at (a, s~ a), fed x_VP = a x~."""
        t0 = time.perf_counter()
        st = float(sigma_vec[0])
        assert torch.all(sigma_vec == sigma_vec[0])
        a = 1.0 / math.sqrt(1.0 + st * st)
        out = self.mix.posterior_x0(x.to(torch.float64) * a, a, st * a).to(torch.float32)
        self.seconds += time.perf_counter() - t0
        self.calls.append(st)
        return out


def vp_of(st: float):
    a = 1.0 / math.sqrt(1.0 + st * st)
    return a, st * a


def f64(v) -> list:
    return [float(x) for x in np.asarray(v, dtype=np.float64)]


# ----------------------------------------------------------------------------
# peer configurations
# ----------------------------------------------------------------------------
# Each runner: run(model, z, budget) -> dict(steps, timesteps, sigmas, init_noise_sigma, x_init (VP, f64),
def short32(a):
    """Samples as float32 written in their shortest decimal form (each value reads back to the exact
    float32): the endpoints feed RMSEs of 1e-4 and more, and full float64 digits would double the file."""
    if a is None:
        return None
    return [[float(str(np.float32(v))) for v in row] for row in np.asarray(a)]


# x_final (VP, f64 or None on NaN), orders (or None), extra options, wall seconds).  A fresh scheduler is
# built on every call (the schedulers are stateful).

def steps_for(budget: int, per_step: int) -> int:
    return budget if per_step == 1 else (budget + 1) // 2     # 2N - 1 <= budget


def instrument_orders(sch, kind: str):
    log = []
    names = {
        "dpm": ["dpm_solver_first_order_update", "multistep_dpm_solver_second_order_update",
                "multistep_dpm_solver_third_order_update"],
        "deis": ["deis_first_order_update", "multistep_deis_second_order_update",
                 "multistep_deis_third_order_update"],
    }
    if kind == "unipc":
        fs.instrument(sch, "multistep_uni_p_bh_update", log, lambda s, a, k: ("p", k["order"]))
        fs.instrument(sch, "multistep_uni_c_bh_update", log, lambda s, a, k: ("c", k["order"]))
    else:
        for order, meth in enumerate(names[kind], start=1):
            fs.instrument(sch, meth, log, lambda s, a, k, order=order: order)
    return log


def run_vp_multistep(cls_name, kw, kind):
    """DPMSolverMultistep / UniPCMultistep / DEISMultistep: VP state, model at sigmas[i] (sigma~, float32)."""
    def run(model, z, budget):
        import diffusers
        n = budget
        sch = getattr(diffusers, cls_name)(**SCHED_KW, **kw)
        log = instrument_orders(sch, kind)
        sch.set_timesteps(n)
        raw_sig = sch.sigmas.numpy().astype(np.float64)
        assert len(sch.timesteps) == n and len(raw_sig) == n + 1
        assert float(sch.init_noise_sigma) == 1.0
        x = torch.from_numpy(z.copy()) * sch.init_noise_sigma
        x_init = x.numpy().astype(np.float64)
        model.reset()
        t0 = time.perf_counter()
        for i, t in enumerate(sch.timesteps):
            a, s = vp_of(float(raw_sig[i]))
            x = sch.step(model.eps_vp(x, a, s), t, x).prev_sample
        wall = time.perf_counter() - t0
        xf = x.numpy().astype(np.float64)
        return dict(steps=n, timesteps=[int(t) for t in sch.timesteps], sigmas=f64(raw_sig), init_noise_sigma=1.0,
                    x_init=x_init, x_final=xf if np.all(np.isfinite(xf)) else None, orders=log, wall=wall)
    return run


def run_euler_heun(solver, karras):
    def run(model, z, budget):
        from diffusers import EulerDiscreteScheduler, HeunDiscreteScheduler
        n = steps_for(budget, 1 if solver == "euler" else 2)
        if solver == "euler":
            sch = EulerDiscreteScheduler(**SCHED_KW, timestep_spacing="linspace", use_karras_sigmas=karras,
                                         final_sigmas_type="zero")
        else:
            sch = HeunDiscreteScheduler(**SCHED_KW, timestep_spacing="linspace", use_karras_sigmas=karras)
        sch.set_timesteps(n)
        raw_sig = sch.sigmas.numpy().astype(np.float64)
        raw_ts = sch.timesteps.numpy().astype(np.float64)
        if solver == "euler":
            grid, ts = raw_sig, raw_ts
        else:   # Heun interleaves [s0, s1, s1, ..., s_{N-1}, s_{N-1}, 0] / [t0, t1, t1, ..., t_{N-1}, t_{N-1}]
            assert len(raw_sig) == 2 * n and len(raw_ts) == 2 * n - 1
            grid = np.concatenate([raw_sig[:1], raw_sig[1::2]])
            ts = np.concatenate([raw_ts[:1], raw_ts[1::2]])
        assert len(grid) == n + 1 and grid[-1] == 0.0
        init_sigma = float(sch.init_noise_sigma)
        assert init_sigma == float(raw_sig.max())            # "linspace": sigma_max (not sqrt(sigma_max^2 + 1))
        x = torch.from_numpy(z.copy()) * sch.init_noise_sigma   # k-diffusion ("tilde") coordinates
        x_init = x.numpy().astype(np.float64) * vp_of(float(grid[0]))[0]
        model.reset()
        t0 = time.perf_counter()
        for t in sch.timesteps:
            x_vp = sch.scale_model_input(x, t)
            a, s = vp_of(float(sch.sigmas[sch.step_index]))
            x = sch.step(model.eps_vp(x_vp, a, s), t, x).prev_sample
        wall = time.perf_counter() - t0
        return dict(steps=n, timesteps=f64(ts), sigmas=f64(grid), init_noise_sigma=init_sigma, x_init=x_init,
                    x_final=x.numpy().astype(np.float64), orders=None, wall=wall)
    return run


def run_ddim():
    def run(model, z, budget):
        from diffusers import DDIMScheduler
        n = budget
        sch = DDIMScheduler(**SCHED_KW, timestep_spacing="leading", set_alpha_to_one=True, clip_sample=False)
        sch.set_timesteps(n)
        abar = sch.alphas_cumprod.to(torch.float64).numpy()
        ts = [int(t) for t in sch.timesteps]
        for i, t in enumerate(ts):       # leading with N | T: each step lands on the next grid point, the last on t < 0
            assert (t - T_TRAIN // n == ts[i + 1]) if i + 1 < n else (t - T_TRAIN // n < 0)
        sig = [math.sqrt((1 - abar[t]) / abar[t]) for t in ts] + [0.0]     # set_alpha_to_one: final abar = 1
        assert float(sch.init_noise_sigma) == 1.0
        x = torch.from_numpy(z.copy()) * sch.init_noise_sigma
        x_init = x.numpy().astype(np.float64)
        model.reset()
        t0 = time.perf_counter()
        for t in sch.timesteps:
            ab = abar[int(t)]
            x = sch.step(model.eps_vp(x, math.sqrt(ab), math.sqrt(1 - ab)), t, x, eta=0.0).prev_sample
        wall = time.perf_counter() - t0
        return dict(steps=n, timesteps=ts, sigmas=sig, init_noise_sigma=1.0, x_init=x_init,
                    x_final=x.numpy().astype(np.float64), orders=None, wall=wall)
    return run


def run_kdiff(fn_name, per_step, smin, smax):
    def run(model, z, budget):
        K = ff.import_k_diffusion_sampling()
        n = steps_for(budget, per_step)
        sig_t = K.get_sigmas_karras(n, smin, smax)              # float32, rho = 7, final 0 appended
        x = torch.from_numpy(z.copy()) * sig_t[0]
        x_init = x.numpy().astype(np.float64) * vp_of(float(sig_t[0]))[0]
        torch.manual_seed(0)   # sample_euler/heun/dpm_2 draw randn_like noise that s_churn = 0 leaves unused
        model.reset()
        t0 = time.perf_counter()
        out = getattr(K, fn_name)(model.kd_denoiser, x, sig_t, disable=True)
        wall = time.perf_counter() - t0
        return dict(steps=n, timesteps=None, sigmas=f64(sig_t), init_noise_sigma=float(sig_t[0]), x_init=x_init,
                    x_final=out.numpy().astype(np.float64), orders=None, wall=wall)
    return run


def run_dpm_fast(smin, smax):
    def run(model, z, budget):
        K = ff.import_k_diffusion_sampling()
        n = budget
        m, orders = fs.dpm_fast_orders(n)
        x = torch.from_numpy(z.copy()) * smax
        # DPMSolver works in t = -log(sigma): m + 1 points linspace'd in float32 from t(sigma_max) to t(sigma_min)
        grid = torch.linspace(-torch.tensor(smax).log(), -torch.tensor(smin).log(), m + 1).neg().exp()
        x_init = x.numpy().astype(np.float64) * vp_of(smax)[0]
        model.reset()
        t0 = time.perf_counter()
        out = K.sample_dpm_fast(model.kd_denoiser, x, sigma_min=smin, sigma_max=smax, n=n, disable=True)
        wall = time.perf_counter() - t0
        sig = f64(grid)
        return dict(steps=m, timesteps=None, sigmas=sig, init_noise_sigma=smax, x_init=x_init,
                    x_final=out.numpy().astype(np.float64) * vp_of(sig[-1])[0], orders=orders, wall=wall,
                    extra={"orders": orders, "sigma_min": smin, "sigma_max": smax, "eta": 0.0})
    return run


def peer_configs(smin: float, smax: float) -> list[dict]:
    cfgs = []
    for spacing, karras in [("linspace", False), ("karras", True)]:
        for cid, order in [("dpmpp_2m", 2), ("dpmpp_3m", 3)]:
            kw = dict(algorithm_type="dpmsolver++", solver_order=order, solver_type="midpoint",
                      lower_order_final=True, final_sigmas_type="zero", timestep_spacing="linspace",
                      use_karras_sigmas=karras)
            cfgs.append(dict(config=cid, library="diffusers", sampler="DPMSolverMultistepScheduler", spacing=spacing,
                             options=kw, per_step=1, run=run_vp_multistep("DPMSolverMultistepScheduler", kw, "dpm"),
                             check=("dpm", order)))
    for spacing, karras in [("linspace", False), ("karras", True)]:
        for cid, bh, order, final in [("unipc_bh2", "bh2", 2, "zero"), ("unipc_bh1_o3", "bh1", 3, "zero"),
                                      ("unipc_bh1_o3_final-min", "bh1", 3, "sigma_min")]:
            kw = dict(solver_type=bh, solver_order=order, predict_x0=True, lower_order_final=True,
                      disable_corrector=[], final_sigmas_type=final, timestep_spacing="linspace",
                      use_karras_sigmas=karras)
            cfgs.append(dict(config=cid, library="diffusers", sampler="UniPCMultistepScheduler", spacing=spacing,
                             options=kw, per_step=1, run=run_vp_multistep("UniPCMultistepScheduler", kw, "unipc"),
                             check=("unipc", order, bh)))
    for spacing, karras in [("linspace", False), ("karras", True)]:
        kw = dict(algorithm_type="deis", solver_type="logrho", solver_order=3, lower_order_final=True,
                  timestep_spacing="linspace", use_karras_sigmas=karras)
        cfgs.append(dict(config="deis_3m", library="diffusers", sampler="DEISMultistepScheduler", spacing=spacing,
                         options=kw, per_step=1, run=run_vp_multistep("DEISMultistepScheduler", kw, "deis"),
                         check=("deis",)))
    for solver, cls in [("euler", "EulerDiscreteScheduler"), ("heun", "HeunDiscreteScheduler")]:
        for spacing, karras in [("linspace", False), ("karras", True)]:
            kw = dict(timestep_spacing="linspace", use_karras_sigmas=karras)
            if solver == "euler":
                kw["final_sigmas_type"] = "zero"
            cfgs.append(dict(config=solver, library="diffusers", sampler=cls, spacing=spacing, options=kw,
                             per_step=1 if solver == "euler" else 2, run=run_euler_heun(solver, karras),
                             check=(solver,)))
    cfgs.append(dict(config="ddim", library="diffusers", sampler="DDIMScheduler", spacing="leading",
                     options=dict(timestep_spacing="leading", set_alpha_to_one=True, clip_sample=False, eta=0.0),
                     per_step=1, run=run_ddim(), check=("ddim",)))
    for cid, fn, per_step, opts in [("dpmpp_2m", "sample_dpmpp_2m", 1, {}),
                                    ("heun", "sample_heun", 2, {"s_churn": 0.0}),
                                    ("euler", "sample_euler", 1, {"s_churn": 0.0}),
                                    ("dpm_2", "sample_dpm_2", 2, {"s_churn": 0.0}),
                                    ("lms", "sample_lms", 1, {"order": 4})]:
        cfgs.append(dict(config=cid, library="k-diffusion", sampler=fn, spacing="karras",
                         options=dict(opts, rho=7.0, sigma_min=smin, sigma_max=smax), per_step=per_step,
                         run=run_kdiff(fn, per_step, smin, smax), check=("kd_" + cid,)))
    cfgs.append(dict(config="dpm_fast", library="k-diffusion", sampler="sample_dpm_fast", spacing="log-uniform",
                     options={}, per_step=1, run=run_dpm_fast(smin, smax), check=("kd_dpm_fast",)))
    return cfgs


# ----------------------------------------------------------------------------
# independent float64 numpy recomputation on the recorded grid
# ----------------------------------------------------------------------------

def f64_check(cfg, mix, r):
    """Returns (x_final reference in VP coordinates, order pattern or None)."""
    kind = cfg["check"]
    sig = r["sigmas"]
    x0_np = fs.mix_np_x0(mix)
    a0 = vp_of(sig[0])[0]
    a_end = vp_of(sig[-1])[0]
    x_ve = r["x_init"] / a0                        # k-diffusion / "tilde" coordinates
    if kind[0] == "dpm":
        x, orders = fs.ref_dpm_multistep(x0_np, r["x_init"], sig, "dpmsolver++", kind[1], "midpoint", True, False)
        return x, orders
    if kind[0] == "unipc":
        x, po, co = fs.ref_unipc(x0_np, r["x_init"], sig, kind[1], kind[2], True, True, [])
        log = []
        for i in range(len(po)):
            if i > 0 and co[i] > 0:
                log.append(("c", co[i]))
            log.append(("p", po[i]))
        return x, log
    if kind[0] == "deis":
        return fs.ref_deis(x0_np, r["x_init"], sig, 3, True)
    if kind[0] == "ddim":
        return ff.ref_ddim_vp(mix, r["x_init"], sig), None
    if kind[0] in ("euler", "kd_euler"):
        return ff.ref_ddim_ve(mix, x_ve, sig) * a_end, None       # Euler on sigma~ is DDIM
    if kind[0] in ("heun", "kd_heun"):
        return ff.ref_heun_ve(mix, x_ve, sig) * a_end, None
    if kind[0] == "kd_dpm_2":
        return fs.ref_kd_dpm2(mix, x_ve, sig) * a_end, None
    if kind[0] == "kd_lms":
        return fs.ref_kd_lms(mix, x_ve, sig, 4) * a_end, None
    if kind[0] == "kd_dpmpp_2m":
        return fs.ref_kd_dpmpp_2m(mix, x_ve, sig) * a_end, None
    if kind[0] == "kd_dpm_fast":
        smin, smax = r["extra"]["sigma_min"], r["extra"]["sigma_max"]
        x, _calls, orders = fs.ref_kd_dpm_fast(mix, x_ve, smin, smax, len(r["calls"]))
        return x * vp_of(smin)[0], orders
    raise ValueError(kind)


# ----------------------------------------------------------------------------

def versions() -> dict:
    v = ff.versions()
    v["scikit_learn"] = importlib.metadata.version("scikit-learn")
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--diffuse", type=Path, default=REPO_ROOT / ".build" / "debug" / "diffuse",
                    help="the built Swift CLI used to export the built-in models (default: .build/debug/diffuse)")
    ap.add_argument("--repeats", type=int, default=5, help="timing repeats per record (the fastest is kept; default 5)")
    ap.add_argument("--models", default=",".join(MODEL_ORDER), help="comma-separated subset for quick tries (then only the noise files are written)")
    args = ap.parse_args()

    torch.set_num_threads(THREADS)
    load_start = list(os.getloadavg())
    fs.quiet_diffusers()
    vers = versions()
    OUT_DIR.mkdir(parents=True, exist_ok=True)

    # k-diffusion's sigma range of the VP schedule: sqrt((1 - abar) / abar) at t = 0 and t = 999, computed
    # as k-diffusion's DiscreteSchedule does (float32, from diffusers' float32 alphas_cumprod)
    from diffusers import DDIMScheduler
    abar32 = DDIMScheduler(**SCHED_KW).alphas_cumprod
    kd_sig = ((1 - abar32) / abar32) ** 0.5
    smin, smax = float(kd_sig[0]), float(kd_sig[-1])
    configs = peer_configs(smin, smax)

    models, model_info, fast_diff = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODEL_ORDER:
            if name == "digits-mixture":
                path, origin = REPO_ROOT / "models" / "digits-mixture.safetensors", "models/digits-mixture.safetensors"
            else:
                path, origin = export_builtin(args.diffuse, name, Path(tmp)), f"diffuse export-model {name}"
            mix, info = load_mixture(name, path, origin)
            fast_diff[name] = mix.check_against_reference(NOISE_SEED[name])
            z = initial_noise(name, mix.D)
            np.save(OUT_DIR / f"noise-{name}.npy", z)
            assert np.array_equal(np.load(OUT_DIR / f"noise-{name}.npy"), z)
            info.update(noise_file=f"noise-{name}.npy", noise_seed=NOISE_SEED[name], batch=BATCH,
                        noise=f"np.random.default_rng({NOISE_SEED[name]}).standard_normal(({BATCH}, {mix.D}))"
                              ".astype(np.float32)")
            models[name], model_info[name] = (mix, z), info

    selected = [m for m in MODEL_ORDER if m in args.models.split(",")]
    cases, timings, checks = [], [], []
    for name in selected:
        mix, z = models[name]
        model = Model(mix)
        for cfg in configs:
            for budget in NFE_BUDGETS:
                rec_id = f"{cfg['library']}.{cfg['config']}.{cfg['spacing']}.nfe{budget}"
                runs = []
                for _ in range(args.repeats):
                    r = cfg["run"](model, z, budget)
                    r["calls"], r["model_seconds"] = list(model.calls), model.seconds
                    runs.append(r)
                r = runs[0]
                for o in runs[1:]:
                    same = (o["x_final"] is None and r["x_final"] is None) or (
                        o["x_final"] is not None and r["x_final"] is not None
                        and np.array_equal(o["x_final"], r["x_final"]))
                    assert same and o["calls"] == r["calls"], f"{name} {rec_id}: repeat differs"
                nfe = len(r["calls"])
                assert nfe == (budget if cfg["per_step"] == 1 else 2 * r["steps"] - 1) and nfe <= budget, (rec_id, nfe)
                # independent float64 recomputation
                ref, ref_orders = f64_check(cfg, mix, r)
                if r["orders"] is not None and ref_orders is not None:
                    assert [tuple(o) if isinstance(o, (list, tuple)) else o for o in r["orders"]] == \
                        [tuple(o) if isinstance(o, (list, tuple)) else o for o in ref_orders], (rec_id, r["orders"], ref_orders)
                if r["x_final"] is None:
                    assert not np.all(np.isfinite(ref)), f"{name} {rec_id}: NaN in the reference run only"
                    err = None
                else:
                    err = rel_rms(r["x_final"], ref)
                    assert err <= TOL, (name, rec_id, err)
                checks.append((name, rec_id, nfe, err))
                step_orders, corrector_orders = None, None
                if cfg["check"][0] == "unipc":
                    step_orders = [o[1] for o in r["orders"] if o[0] == "p"]
                    corrector_orders = [0] * len(step_orders)          # order of the corrector run at step i
                    i = -1
                    for o in r["orders"]:
                        if o[0] == "p":
                            i += 1
                        else:
                            corrector_orders[i + 1] = o[1]
                elif r["orders"] is not None:
                    step_orders = list(r["orders"])
                options = dict(cfg["options"])
                options.update(r.get("extra", {}))
                cases.append({
                    "id": f"{name}/{rec_id}", "model": name, "library": cfg["library"],
                    "library_version": vers["diffusers" if cfg["library"] == "diffusers" else "k_diffusion"],
                    "sampler": cfg["sampler"], "config": cfg["config"], "spacing": cfg["spacing"],
                    "options": options, "nfe_budget": budget, "nfe": nfe, "steps": r["steps"],
                    "timesteps": r["timesteps"], "sigmas": r["sigmas"], "call_sigmas": r["calls"],
                    "step_orders": step_orders, "corrector_orders": corrector_orders,
                    "init_noise_sigma": r["init_noise_sigma"], "final_sigma": r["sigmas"][-1],
                    "reference_nan": r["x_final"] is None, "x_init": short32(r["x_init"]), "x_final": short32(r["x_final"]),
                    "f64_check_rel_rms": err,
                })
                best = min(runs, key=lambda o: o["wall"])
                timings.append({"id": f"{name}/{rec_id}", "nfe": nfe, "wall_seconds": best["wall"],
                                "model_seconds": best["model_seconds"],
                                "wall_seconds_median": sorted(o["wall"] for o in runs)[len(runs) // 2],
                                "wall_seconds_all": [o["wall"] for o in runs]})

    header = {
        "generator": GENERATOR, "versions": vers,
        "noise_schedule": NS,
        "kd_sigma_min": smin, "kd_sigma_max": smax,
        "kd_sigma_range": "sqrt((1 - abar) / abar) at t = 0 and t = 999, float32 as k-diffusion's DiscreteSchedule "
                          "computes it from diffusers' float32 alphas_cumprod",
        "coordinates": "x_init / x_final: VP coordinates (x = alpha x0 + sigma eps) at sigmas[0] / final_sigma, "
                       "alpha = 1/sqrt(1 + s~^2); sigmas, call_sigmas, final_sigma: k-diffusion sigma s~ = sigma/alpha. "
                       "x_final of a final_sigma = 0 record is the sample x0. Samplers that keep k-diffusion coordinates "
                       "(Euler/Heun, k-diffusion) are converted with float64 alpha.",
        "model_evaluation": "diffusers: the exact eps at the scheduler's own noise level (sigmas[step_index], float32; DDIM: "
                            "alphas_cumprod[t]); k-diffusion: D(x~, s~) = exact x0_hat at (alpha, s~ alpha) fed alpha x~ "
                            "(k-diffusion's VP-eps wrapping with a continuous, unquantized sigma). Denoiser: float64 from "
                            "the stored float32 parameters, float32 in and out.",
        "nfe": "nfe = counted model calls; nfe_budget = 5, 10, 20; Heun / dpm_2 use N = (budget + 1) // 2 steps "
               "(2N - 1 calls: the step to sigma 0 is an Euler step)",
        "batch": BATCH, "models": {m: model_info[m] for m in selected},
        "timing_file": "peers-timing.json",
        "f64_check": "every record recomputed by a float64 numpy implementation of the sampler on the recorded grid "
                     "from x_init (tools/fixtures_foundation.py, tools/fixtures_solvers.py); asserted relative RMS "
                     f"<= {TOL} (f64_check_rel_rms: the value found, null for NaN); for reference_nan records the float64 run breaks down as well",
        "notes": [
            "UniPCMultistepScheduler bh1 with final_sigmas_type 'zero' returns NaN in diffusers 0.42.1 (B(h) = hh = -inf "
            "times a zero residual at the last step): reference_nan true, x_final null. unipc_bh1_o3_final-min is the same "
            "solver ending at sigma_min (final_sigmas_type 'sigma_min').",
            "DEISMultistepScheduler has no final_sigmas_type: it ends at sigma(t=0) ('linspace') or repeats the last Karras "
            "sigma (zero-length final step); final_sigma records where it ends. Its lower_order_final applies only below 15 "
            "steps, so at NFE 20 the last step (linspace: sigma 0.2256 -> 0.0292, 2.0 in log sigma against ~0.3 before) is "
            "taken at order 3: the linspace NFE-20 endpoint is further from the ODE solution than the NFE-10 one.",
            "sample_dpm_fast ends at kd_sigma_min, not 0 (sigmas = its log-uniform step grid, options.orders = step orders).",
            "DDIM 'leading' with steps_offset 1 starts at t = 801 / 901 / 951 (N = 5 / 10 / 20), not 999: x_init is the "
            "initial noise at that level. clip_sample is False (the SD config).",
            "EulerDiscrete/HeunDiscrete ('linspace') and k-diffusion start from z * sigma_max in k-diffusion coordinates: "
            "x_init = z * sigma_max / sqrt(1 + sigma_max^2) (x 0.99767). The VP schedulers start from x_init = z.",
        ],
    }
    if selected != MODEL_ORDER:
        print("(--models subset: peers.json / peers-timing.json not written)")
    else:
        ff.write_json_cases(OUT_DIR / "peers.json", header, cases)
    t_header = {"generator": GENERATOR, "torch_threads": THREADS, "repeats": args.repeats,
                "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                            "loadavg_start": load_start, "loadavg_end": list(os.getloadavg())},
                "what": "wall_seconds = the fastest of the repeats: wall time of the sampling loop on the CPU, model calls "
                        "included; model_seconds = time inside the model (exact float64 mixture denoiser, matrix-product "
                        "form) in that repeat, so wall_seconds - model_seconds is the sampler's own overhead. On a shared "
                        "machine other processes inflate single repeats: compare wall_seconds_all and the load averages."}
    if selected == MODEL_ORDER:
        ff.write_json_cases(OUT_DIR / "peers-timing.json", t_header, timings)

    # --------------------------- report ---------------------------
    print(f"{'model':<15} {'record':<52} {'nfe':>4} {'relRMS vs np64':>15}")
    for name, rid, nfe, err in checks:
        print(f"{name:<15} {rid:<52} {nfe:>4} {('NaN (both)' if err is None else f'{err:.3e}'):>15}")
    errs = [c[3] for c in checks if c[3] is not None]
    print(f"\n{len(cases)} records; max relRMS vs numpy float64: {max(errs):.3e}")
    for name in selected:
        print(f"fast denoiser vs reference ({name}): max rel diff {fast_diff[name]:.2e}")
    print(f"kd sigma_min {smin!r}, sigma_max {smax!r}")
    print("\nRMS distance of x_final (VP) to the diffusers dpmpp_3m karras NFE-20 endpoint, per model:")
    for name in selected:
        recs = [c for c in cases if c["model"] == name]
        ref = next(c for c in recs if c["id"] == f"{name}/{REF_ID}")["x_final"]
        print(f"\n{name}\n| peer | spacing | final σ | " + " | ".join(f"NFE {b}" for b in NFE_BUDGETS) + " |")
        print("|---|---|---|" + "---|" * len(NFE_BUDGETS))
        keys = []
        for c in recs:
            k = (c["library"], c["config"], c["spacing"])
            if k not in keys:
                keys.append(k)
        for k in keys:
            cells, fin = [], None
            for b in NFE_BUDGETS:
                c = next(c for c in recs if (c["library"], c["config"], c["spacing"]) == k and c["nfe_budget"] == b)
                fin = c["final_sigma"]
                d = "NaN" if c["x_final"] is None else f"{ff.rms(np.asarray(c['x_final']) - ref):.2e}"
                cells.append(f"{c['nfe']}: {d}")
            print(f"| {k[0]} {k[1]} | {k[2]} | {fin:.4g} | " + " | ".join(cells) + " |")
    print("\nfiles:")
    for p in sorted(OUT_DIR.iterdir()):
        print(f"  {p.relative_to(REPO_ROOT)}  {p.stat().st_size} bytes")
    slow = sorted(timings, key=lambda t: -t["wall_seconds"])[:3]
    print("slowest records:", ", ".join(f"{t['id']} {t['wall_seconds']:.3f}s" for t in slow))


if __name__ == "__main__":
    main()
