#!/usr/bin/env python3
"""Reference-fixture generator for the DiffusionSolvers foundation tests.

Python is a *tool* here, never a runtime dependency of the Swift package: this
script is run by hand (see tools/README.md), and only its outputs are committed
and read by the Swift tests.  Everything is deterministic (fixed seeds, CPU,
float64 model arithmetic), so re-running it with the pinned versions in
tools/requirements.txt reproduces the files.

Outputs (in Tests/DiffusionSolversTests/Fixtures/, found from this file's location):

  diffusers_timesteps.json   golden timestep / sigma lists of several diffusers schedulers
  scheduler_config_sd.json   a diffusers scheduler_config.json (DDIMScheduler, SD-1.5-like)
  mixture_2d.safetensors     Gaussian mixture, D=2,  K=4  (weights [K], means [K,D], stds [K,D])
  mixture_16d.safetensors    Gaussian mixture, D=16, K=5, sample shape "1,4,4"
  parity_foundation.json     DDIM / Euler / Heun trajectories (diffusers and k-diffusion) driven by
                             the exact mixture denoiser: grids, model-call levels, x_init, x_final

k-diffusion note: the k_diffusion package's __init__ imports many heavy modules
(skimage, clip, wandb, ...).  We only need k_diffusion.sampling, so we register
an empty package module for "k_diffusion" whose __path__ points at the
installed package directory and then import k_diffusion.sampling normally.
That executes the *real* k_diffusion/sampling.py and k_diffusion/utils.py of the
installed version (utils needs PIL, safetensors and torchvision, which are
installed; no shim of utils is used).

Coordinates used in parity_foundation.json:
  VP:   x = alpha * x0 + sigma * eps          (what the model is called with)
  k-diffusion / "tilde": x_tilde = x / alpha = x0 + sigma_tilde * eps,
        sigma_tilde = sigma / alpha, alpha = 1/sqrt(1 + sigma_tilde^2)
  EDM (k-diffusion samplers): alpha = 1, sigma = sigma_tilde.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import math
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch
from scipy.special import logsumexp

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "Tests" / "DiffusionSolversTests" / "Fixtures"
GENERATOR = "tools/fixtures_foundation.py"

T_TRAIN = 1000
SD_BETAS = dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
LINEAR_BETAS = dict(beta_schedule="linear", beta_start=0.0001, beta_end=0.02)


# ----------------------------------------------------------------------------
# imports / versions
# ----------------------------------------------------------------------------

def import_k_diffusion_sampling():
    """Import k_diffusion.sampling without running k_diffusion/__init__.py."""
    if "k_diffusion.sampling" in sys.modules:
        return sys.modules["k_diffusion.sampling"]
    spec = importlib.util.find_spec("k_diffusion")  # does not execute __init__
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError("k-diffusion is not installed (pip install --no-deps k-diffusion==0.1.1.post1)")
    pkg = types.ModuleType("k_diffusion")
    pkg.__path__ = list(spec.submodule_search_locations)
    pkg.__package__ = "k_diffusion"
    sys.modules["k_diffusion"] = pkg
    return importlib.import_module("k_diffusion.sampling")


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for dist in ["diffusers", "torch", "numpy", "scipy", "k-diffusion", "torchsde", "torchdiffeq",
                 "torchvision", "safetensors"]:
        try:
            out[dist.replace("-", "_")] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist.replace("-", "_")] = None
    return out


# ----------------------------------------------------------------------------
# JSON helpers: floats as repr(float(v)) (full precision), ints as ints
# ----------------------------------------------------------------------------

def to_json_value(v):
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu().numpy()
    if isinstance(v, np.ndarray):
        if np.issubdtype(v.dtype, np.integer):
            return v.astype(np.int64).tolist()
        assert np.all(np.isfinite(v)), "non-finite value in fixture"
        return v.astype(np.float64).tolist()  # exact widening; json uses repr(float)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        assert math.isfinite(float(v))
        return float(v)
    if isinstance(v, float):
        assert math.isfinite(v)
        return v
    if isinstance(v, dict):
        return {k: to_json_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_json_value(x) for x in v]
    return v


def write_json_cases(path: Path, header: dict, cases: list[dict]):
    """Header pretty-printed, one compact case per line (diff-friendly, small)."""
    head = json.dumps(to_json_value(header), indent=2)
    assert head.endswith("}")
    lines = [json.dumps(to_json_value(c), separators=(",", ":"), allow_nan=False) for c in cases]
    body = head[:-1].rstrip() + ',\n  "cases": [\n    ' + ",\n    ".join(lines) + "\n  ]\n}\n"
    json.loads(body)  # round-trip check
    path.write_text(body)


def timesteps_list(ts: torch.Tensor):
    arr = ts.detach().cpu().numpy()
    if np.issubdtype(arr.dtype, np.integer):
        return [int(v) for v in arr]
    return [float(v) for v in arr]


def write_safetensors(path: Path, tensors: dict, metadata: dict):
    """Byte-reproducible safetensors writer (float32 only).

    safetensors' own save_file writes __metadata__ from a hash map, so its key order (and the
    file's bytes) change from run to run.  The format is simple: u64 little-endian header
    length, JSON header (tensor names -> dtype/shape/data_offsets, plus string metadata)
    padded with spaces to a multiple of 8, then the raw little-endian data.  We write it with
    sorted keys and check that safetensors reads it back identically.
    """
    from safetensors.numpy import load_file
    header = {"__metadata__": {k: str(metadata[k]) for k in sorted(metadata)}}
    blobs, offset = [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name], dtype="<f4")
        data = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * (-len(hjson) % 8)
    path.write_bytes(len(hjson).to_bytes(8, "little") + hjson + b"".join(blobs))
    back = load_file(str(path))
    assert sorted(back) == sorted(tensors)
    for name in tensors:
        assert np.array_equal(back[name], np.asarray(tensors[name], dtype=np.float32))


# ----------------------------------------------------------------------------
# Gaussian mixtures and their exact denoiser
# ----------------------------------------------------------------------------

class Mixture:
    def __init__(self, name: str, weights, means, stds, shape: str):
        self.name = name
        self.weights = np.asarray(weights, dtype=np.float32)
        self.means = np.asarray(means, dtype=np.float32)
        self.stds = np.asarray(stds, dtype=np.float32)
        self.shape = shape
        K, D = self.means.shape
        assert self.weights.shape == (K,) and self.stds.shape == (K, D)
        assert int(np.prod([int(s) for s in shape.split(",")])) == D
        self.K, self.D = K, D
        # float64 copies of the *stored* float32 parameters (Swift reads the same values)
        self.w64 = torch.from_numpy(self.weights.astype(np.float64))
        self.mu64 = torch.from_numpy(self.means.astype(np.float64))
        self.s64 = torch.from_numpy(self.stds.astype(np.float64))

    def save(self, path: Path):
        write_safetensors(
            path,
            {"weights": self.weights, "means": self.means, "stds": self.stds},
            metadata={"shape": self.shape, "kind": "diagonal-gaussian-mixture", "generator": GENERATOR},
        )

    # torch denoiser: float32 in, float64 inside, float32 out
    def posterior_x0(self, x: torch.Tensor, alpha: float, sigma: float) -> torch.Tensor:
        alpha = float(alpha)
        sigma = float(sigma)
        x64 = x.detach().to(torch.float64)                       # [B, D]
        s2 = self.s64 ** 2                                        # [K, D]
        v = alpha * alpha * s2 + sigma * sigma                    # [K, D]
        diff = x64[:, None, :] - alpha * self.mu64[None, :, :]    # [B, K, D]
        logr = torch.log(self.w64)[None, :] - 0.5 * (diff ** 2 / v + torch.log(2 * math.pi * v)).sum(-1)
        r = torch.softmax(logr, dim=1)                            # [B, K]
        post = self.mu64[None] + (alpha * s2 / v)[None] * diff    # [B, K, D]
        return (r[:, :, None] * post).sum(1)                      # [B, D] float64

    def x0(self, x: torch.Tensor, alpha: float, sigma: float) -> torch.Tensor:
        return self.posterior_x0(x, alpha, sigma).to(torch.float32)

    def eps(self, x: torch.Tensor, alpha: float, sigma: float) -> torch.Tensor:
        x0 = self.posterior_x0(x, alpha, sigma)
        return ((x.detach().to(torch.float64) - float(alpha) * x0) / float(sigma)).to(torch.float32)

    # independent pure-numpy float64 version (used only by the sanity checks)
    def np_x0(self, x: np.ndarray, alpha: float, sigma: float) -> np.ndarray:
        w = self.weights.astype(np.float64)
        mu = self.means.astype(np.float64)
        s = self.stds.astype(np.float64)
        x = np.asarray(x, dtype=np.float64)
        v = alpha ** 2 * s ** 2 + sigma ** 2
        out = np.empty_like(x)
        for b in range(x.shape[0]):
            d = x[b][None, :] - alpha * mu                                   # [K, D]
            logr = np.log(w) - 0.5 * np.sum(d * d / v + np.log(2 * np.pi * v), axis=1)
            r = np.exp(logr - logsumexp(logr))
            out[b] = r @ (mu + alpha * s ** 2 / v * d)
        return out


def make_mixtures() -> list[Mixture]:
    m2 = Mixture(
        "mixture_2d",
        weights=[0.4, 0.3, 0.2, 0.1],
        means=[[-1.2, -0.8], [1.0, 1.3], [0.9, -1.1], [-0.6, 1.5]],
        stds=[[0.30, 0.10], [0.15, 0.40], [0.05, 0.20], [0.25, 0.08]],
        shape="2",
    )
    rng = np.random.default_rng(20240516)
    K, D = 5, 16
    means = rng.uniform(-1.0, 1.0, size=(K, D))
    stds = rng.uniform(0.05, 0.3, size=(K, D))
    w = rng.uniform(0.2, 1.0, size=K)
    w = w / w.sum()
    m16 = Mixture("mixture_16d", weights=w, means=means, stds=stds, shape="1,4,4")
    return [m2, m16]


BATCH = {"mixture_2d": 16, "mixture_16d": 8}
Z_SEED = {"mixture_2d": 1001, "mixture_16d": 1602}


def initial_noise(mix: Mixture) -> np.ndarray:
    rng = np.random.default_rng(Z_SEED[mix.name])
    return rng.standard_normal((BATCH[mix.name], mix.D)).astype(np.float32)


def step_noise(mix: Mixture, n: int) -> np.ndarray:
    rng = np.random.default_rng([Z_SEED[mix.name], 77, n])
    return rng.standard_normal((n, BATCH[mix.name], mix.D)).astype(np.float32)


# ----------------------------------------------------------------------------
# independent float64 numpy reference solvers (sanity checks only)
# ----------------------------------------------------------------------------

def ref_ddim_vp(mix: Mixture, x_init, sigmas, eta=0.0, noise=None):
    """DDIM in VP coordinates on the sigma_tilde grid; abar = 1/(1+sigma_tilde^2)."""
    x = np.asarray(x_init, dtype=np.float64)
    for i in range(len(sigmas) - 1):
        ab = 1.0 / (1.0 + sigmas[i] ** 2)
        ab_n = 1.0 / (1.0 + sigmas[i + 1] ** 2)
        a, s = math.sqrt(ab), math.sqrt(1.0 - ab)
        x0 = mix.np_x0(x, a, s)
        eps = (x - a * x0) / s
        std = 0.0
        if eta > 0:
            std = eta * math.sqrt((1.0 - ab_n) / (1.0 - ab) * (1.0 - ab / ab_n))
        x = math.sqrt(ab_n) * x0 + math.sqrt(max(1.0 - ab_n - std ** 2, 0.0)) * eps
        if eta > 0:
            x = x + std * np.asarray(noise[i], dtype=np.float64)
    return x


def ref_ddim_ve(mix: Mixture, x_init_ve, sigmas):
    """DDIM written in VE form: x_{i+1} = x0_hat + sigma_{i+1} * eps_hat (x = x0 + sigma*eps)."""
    x = np.asarray(x_init_ve, dtype=np.float64)
    for i in range(len(sigmas) - 1):
        x0 = mix.np_x0(x, 1.0, sigmas[i])
        eps = (x - x0) / sigmas[i]
        x = x0 + sigmas[i + 1] * eps
    return x


def ref_heun_ve(mix: Mixture, x_init_ve, sigmas):
    """Heun (EDM Algorithm 1, no churn) in VE form; Euler for the step to sigma = 0."""
    x = np.asarray(x_init_ve, dtype=np.float64)
    for i in range(len(sigmas) - 1):
        s, sn = sigmas[i], sigmas[i + 1]
        d = (x - mix.np_x0(x, 1.0, s)) / s
        x2 = x + d * (sn - s)
        if sn == 0:
            x = x2
        else:
            d2 = (x2 - mix.np_x0(x2, 1.0, sn)) / sn
            x = x + 0.5 * (d + d2) * (sn - s)
    return x


def rel_rms(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.sqrt(np.mean((a - b) ** 2)) / np.sqrt(np.mean(b ** 2)))


def rms(a) -> float:
    return float(np.sqrt(np.mean(np.asarray(a, dtype=np.float64) ** 2)))


# ----------------------------------------------------------------------------
# A. diffusers timesteps / sigmas
# ----------------------------------------------------------------------------

def gen_timesteps(vers: dict):
    import diffusers

    classes = ["DPMSolverMultistepScheduler", "UniPCMultistepScheduler", "DEISMultistepScheduler",
               "DDIMScheduler", "EulerDiscreteScheduler"]
    with_sigmas = {"DPMSolverMultistepScheduler", "EulerDiscreteScheduler"}
    cases = []
    for cls_name in classes:
        cls = getattr(diffusers, cls_name)
        for spacing in ["linspace", "leading", "trailing"]:
            for steps in [5, 10, 20, 50]:
                for offset in [0, 1]:
                    finals = ["zero", "sigma_min"] if cls_name in with_sigmas else [None]
                    for final in finals:
                        kw = dict(num_train_timesteps=T_TRAIN, timestep_spacing=spacing, steps_offset=offset, **SD_BETAS)
                        if final is not None:
                            kw["final_sigmas_type"] = final
                        sch = cls(**kw)
                        sch.set_timesteps(steps)
                        cases.append({
                            "scheduler": cls_name, "spacing": spacing, "steps": steps, "steps_offset": offset,
                            "sigma_schedule": "default", "final_sigmas_type": final,
                            "timesteps": timesteps_list(sch.timesteps),
                            "sigmas": sch.sigmas.numpy() if final is not None else None,
                        })
    for sched_kind, flag in [("karras", "use_karras_sigmas"), ("exponential", "use_exponential_sigmas")]:
        for steps in [5, 10, 20]:
            sch = diffusers.DPMSolverMultistepScheduler(
                num_train_timesteps=T_TRAIN, timestep_spacing="linspace", steps_offset=0,
                final_sigmas_type="zero", **{flag: True}, **SD_BETAS)
            sch.set_timesteps(steps)
            cases.append({
                "scheduler": "DPMSolverMultistepScheduler", "spacing": "linspace", "steps": steps,
                "steps_offset": 0, "sigma_schedule": sched_kind, "final_sigmas_type": "zero",
                "timesteps": timesteps_list(sch.timesteps), "sigmas": sch.sigmas.numpy(),
            })

    # sanity: the sigma lists are sqrt((1-abar)/abar) of the scheduler's (float32) alphas_cumprod
    for c in cases:
        if c["sigmas"] is None or c["sigma_schedule"] != "default":
            continue
        assert len(c["sigmas"]) == len(c["timesteps"]) + 1
        ab = diffusers.EulerDiscreteScheduler(**SD_BETAS).alphas_cumprod.numpy().astype(np.float64)
        table = np.sqrt((1 - ab) / ab)
        expect = np.interp(np.asarray(c["timesteps"], dtype=np.float64), np.arange(T_TRAIN), table)
        assert np.allclose(c["sigmas"][:-1], expect, rtol=2e-6), c
        last = 0.0 if c["final_sigmas_type"] == "zero" else table[0]
        assert abs(c["sigmas"][-1] - last) <= 1e-6 * max(last, 1.0)

    header = {"generator": GENERATOR,
              "versions": {"diffusers": vers["diffusers"], "torch": vers["torch"], "numpy": vers["numpy"]},
              "num_train_timesteps": T_TRAIN, **{k: SD_BETAS[k] for k in ["beta_schedule", "beta_start", "beta_end"]}}
    write_json_cases(FIXTURES / "diffusers_timesteps.json", header, cases)
    return cases


def gen_scheduler_config():
    from diffusers import DDIMScheduler
    sch = DDIMScheduler(num_train_timesteps=T_TRAIN, steps_offset=1, set_alpha_to_one=False, clip_sample=False,
                        prediction_type="epsilon", timestep_spacing="leading", **SD_BETAS)
    with tempfile.TemporaryDirectory() as tmp:
        sch.save_config(tmp)
        text = (Path(tmp) / "scheduler_config.json").read_text()
    json.loads(text)
    (FIXTURES / "scheduler_config_sd.json").write_text(text)


# ----------------------------------------------------------------------------
# C. parity trajectories
# ----------------------------------------------------------------------------

NOISE_SCHEDULES = [
    ("sd", {"kind": "vp-discrete", **SD_BETAS, "num_train_timesteps": T_TRAIN, "steps_offset": 1}),
    ("lin", {"kind": "vp-discrete", **LINEAR_BETAS, "num_train_timesteps": T_TRAIN, "steps_offset": 0}),
]


def sched_kwargs(ns: dict) -> dict:
    return dict(num_train_timesteps=ns["num_train_timesteps"], beta_schedule=ns["beta_schedule"],
                beta_start=ns["beta_start"], beta_end=ns["beta_end"], steps_offset=ns["steps_offset"])


def run_ddim(mix: Mixture, z: np.ndarray, ns: dict, spacing: str, final: str, n: int, eta: float, noise):
    from diffusers import DDIMScheduler
    sch = DDIMScheduler(**sched_kwargs(ns), set_alpha_to_one=(final == "zero"), clip_sample=False,
                        prediction_type="epsilon", timestep_spacing=spacing)
    sch.set_timesteps(n)
    abar = sch.alphas_cumprod.to(torch.float64).numpy()
    ts = [int(t) for t in sch.timesteps]
    assert len(ts) == n
    # diffusers' DDIM steps from t to t - T//N; for leading/trailing with N | T that is the next grid point
    for i, t in enumerate(ts):
        prev = t - T_TRAIN // n
        if i + 1 < n:
            assert prev == ts[i + 1], (spacing, n, ts)
        else:
            assert prev < 0, (spacing, n, ts)
    sig = [math.sqrt((1 - abar[t]) / abar[t]) for t in ts]
    sig.append(0.0 if final == "zero" else math.sqrt((1 - abar[0]) / abar[0]))

    x = torch.from_numpy(z) * sch.init_noise_sigma
    assert sch.init_noise_sigma == 1.0
    x_init = x.clone()
    m_alpha, m_sigma = [], []
    for i, t in enumerate(sch.timesteps):
        a = math.sqrt(abar[int(t)])
        s = math.sqrt(1.0 - abar[int(t)])
        m_alpha.append(a)
        m_sigma.append(s)
        eps = mix.eps(x, a, s)
        if eta > 0:
            x = sch.step(eps, t, x, eta=eta, variance_noise=torch.from_numpy(noise[i])).prev_sample
        else:
            x = sch.step(eps, t, x, eta=eta).prev_sample
    return dict(timesteps=ts, sigmas=sig, model_alpha=m_alpha, model_sigma=m_sigma, x_init=x_init.numpy(),
                x_final=x.numpy(), init_noise_sigma=1.0)


def run_euler_heun(mix: Mixture, z: np.ndarray, ns: dict, spacing: str, karras: bool, n: int, solver: str):
    from diffusers import EulerDiscreteScheduler, HeunDiscreteScheduler
    cls = EulerDiscreteScheduler if solver == "euler" else HeunDiscreteScheduler
    sch = cls(**sched_kwargs(ns), prediction_type="epsilon", timestep_spacing=spacing, use_karras_sigmas=karras)
    sch.set_timesteps(n)
    raw_sig = sch.sigmas.numpy().astype(np.float64)
    raw_ts = sch.timesteps.numpy().astype(np.float64)
    if solver == "euler":
        grid, ts = raw_sig.copy(), raw_ts.copy()
        assert len(grid) == n + 1 and len(ts) == n
    else:
        # Heun interleaves: sigmas [s0, s1, s1, ..., s_{N-1}, s_{N-1}, 0] (2N),
        #                   timesteps [t0, t1, t1, ..., t_{N-1}, t_{N-1}] (2N-1)
        assert len(raw_sig) == 2 * n and len(raw_ts) == 2 * n - 1
        grid = np.concatenate([raw_sig[:1], raw_sig[1::2]])
        ts = np.concatenate([raw_ts[:1], raw_ts[1::2]])
        assert np.array_equal(raw_sig[1:-1:2], raw_sig[2:-1:2]) and np.array_equal(raw_ts[1::2], raw_ts[2::2])
        assert len(grid) == n + 1 and len(ts) == n
    assert grid[-1] == 0.0

    # timesteps[i] and sigmas[i] describe the same noise level (log-sigma interpolation of the table)
    ab = sch.alphas_cumprod.numpy().astype(np.float64)
    log_table = np.log(np.sqrt((1 - ab) / ab))
    for t, s in zip(raw_ts, raw_sig[:-1]):
        s_of_t = math.exp(np.interp(t, np.arange(T_TRAIN), log_table))
        assert abs(s_of_t / s - 1) < 1e-3, (solver, spacing, t, s, s_of_t)

    init_sigma = float(sch.init_noise_sigma)
    smax = float(raw_sig.max())
    if spacing in ("linspace", "trailing"):
        assert init_sigma == smax
    else:
        assert abs(init_sigma - math.sqrt(smax ** 2 + 1)) < 1e-5 * init_sigma
    x = torch.from_numpy(z) * sch.init_noise_sigma      # k-diffusion ("tilde") coordinates
    x_init = None
    m_alpha, m_sigma, call_sig = [], [], []
    for i, t in enumerate(sch.timesteps):
        x_vp = sch.scale_model_input(x, t)
        assert sch.step_index == i, (solver, i, sch.step_index)
        s_t = float(sch.sigmas[sch.step_index])
        a = 1.0 / math.sqrt(1.0 + s_t * s_t)
        s = s_t * a
        if x_init is None:
            x_init = x_vp.clone()
        m_alpha.append(a)
        m_sigma.append(s)
        call_sig.append(s_t)
        eps = mix.eps(x_vp, a, s)
        x = sch.step(eps, t, x).prev_sample
    if solver == "euler":
        assert call_sig == list(grid[:-1])
    else:
        # call 2k   -> first-order evaluation at grid[k]
        # call 2k+1 -> corrector evaluation at grid[k+1] (only for k < N-1; the last step is Euler to 0)
        expect = [grid[0]]
        for k in range(1, n):
            expect += [grid[k], grid[k]]
        assert call_sig == expect, (call_sig, expect)
    a_final = 1.0 / math.sqrt(1.0 + grid[-1] ** 2)
    return dict(timesteps=[float(v) for v in ts], sigmas=[float(v) for v in grid], model_alpha=m_alpha,
                model_sigma=m_sigma, x_init=x_init.numpy(), x_final=(x.to(torch.float64) * a_final).numpy(),
                init_noise_sigma=init_sigma)


def run_kdiff(K, mix: Mixture, z: np.ndarray, sigmas: torch.Tensor, solver: str):
    calls = []

    def denoiser(x, sigma_vec):
        s = float(sigma_vec[0])
        assert torch.all(sigma_vec == sigma_vec[0])
        calls.append(s)
        return mix.x0(x, 1.0, s)

    x = torch.from_numpy(z) * sigmas[0]
    x_init = x.clone()
    torch.manual_seed(0)  # samplers draw (unused, s_churn = 0) noise with randn_like
    fn = K.sample_euler if solver == "euler" else K.sample_heun
    out = fn(denoiser, x, sigmas, disable=True, s_churn=0.0)
    return dict(timesteps=None, sigmas=[float(v) for v in sigmas], model_alpha=[1.0] * len(calls),
                model_sigma=calls, x_init=x_init.numpy(), x_final=out.numpy(), init_noise_sigma=float(sigmas[0]))


def gen_parity(mixtures: list[Mixture], vers: dict):
    K = import_k_diffusion_sampling()
    cases = []
    checks = []  # (name, nfe, rms(x_final), rel err vs numpy reference, tolerance)

    def add(case: dict, ref: np.ndarray, tol: float):
        assert np.all(np.isfinite(case["x_final"])), case["name"]
        assert len(case["model_alpha"]) == len(case["model_sigma"]) == case["nfe"]
        err = rel_rms(case["x_final"], ref)
        checks.append((case["name"], case["nfe"], rms(case["x_final"]), err, tol))
        assert err <= tol, (case["name"], err)
        cases.append(case)

    for mix in mixtures:
        z = initial_noise(mix)
        # ---------------- DDIM ----------------
        for tag, ns in NOISE_SCHEDULES:
            for spacing in ["leading", "trailing"]:
                for final in ["zero", "min"]:
                    for eta in [0.0, 0.5]:
                        for n in ([5, 10, 20] if eta == 0 else [5, 10]):
                            noise = step_noise(mix, n) if eta > 0 else None
                            r = run_ddim(mix, z, ns, spacing, final, n, eta, noise)
                            name = f"ddim_eta{'0' if eta == 0 else '0.5'}_{mix.name}_{tag}_{spacing}_final-{final}_n{n}"
                            case = dict(name=name, reference="diffusers.DDIMScheduler", solver="ddim", eta=eta,
                                        mixture=mix.name, noise_schedule=ns, spacing=spacing,
                                        sigma_schedule="default", final=final, steps=n, **r, nfe=n,
                                        step_noise=noise)
                            # model levels must be the grid's levels
                            sg = np.asarray(r["sigmas"][:-1])
                            assert np.allclose(r["model_alpha"], 1 / np.sqrt(1 + sg ** 2), rtol=1e-12)
                            assert np.allclose(r["model_sigma"], sg / np.sqrt(1 + sg ** 2), rtol=1e-12)
                            ref = ref_ddim_vp(mix, r["x_init"], r["sigmas"], eta, noise)
                            add(case, ref, 1e-4)
        # ---------------- diffusers Euler / Heun ----------------
        for solver in ["euler", "heun"]:
            for tag, ns in NOISE_SCHEDULES:
                for spacing, karras in [("linspace", False), ("leading", False), ("trailing", False),
                                        ("linspace", True)]:
                    for n in [5, 10, 20]:
                        r = run_euler_heun(mix, z, ns, spacing, karras, n, solver)
                        nfe = n if solver == "euler" else 2 * n - 1
                        sname = spacing + ("-karras" if karras else "")
                        cls = "EulerDiscreteScheduler" if solver == "euler" else "HeunDiscreteScheduler"
                        case = dict(name=f"{solver}_{mix.name}_{tag}_{sname}_n{n}", reference=f"diffusers.{cls}",
                                    solver=solver, eta=0.0, mixture=mix.name, noise_schedule=ns, spacing=spacing,
                                    sigma_schedule="karras" if karras else "default", final="zero", steps=n,
                                    **r, nfe=nfe, step_noise=None)
                        x_ve = np.asarray(r["x_init"], np.float64) / r["model_alpha"][0]
                        ref = (ref_ddim_ve if solver == "euler" else ref_heun_ve)(mix, x_ve, r["sigmas"])
                        add(case, ref, 1e-4)
        # ---------------- k-diffusion ----------------
        kd_grids = [("karras", n, K.get_sigmas_karras(n, 0.002, 80.0, rho=7.0)) for n in [5, 10, 20]]
        kd_grids.append(("exponential", 10, K.get_sigmas_exponential(10, 0.002, 80.0)))
        for solver in ["euler", "heun"]:
            for kind, n, sig in kd_grids:
                r = run_kdiff(K, mix, z, sig, solver)
                nfe = n if solver == "euler" else 2 * n - 1
                assert len(r["model_sigma"]) == nfe
                case = dict(name=f"kd_{solver}_{mix.name}_{kind}_n{n}", reference=f"k_diffusion.sample_{solver}",
                            solver=solver, eta=0.0, mixture=mix.name, noise_schedule={"kind": "edm"},
                            spacing=kind, sigma_schedule=kind, final="zero", steps=n, **r, nfe=nfe,
                            step_noise=None)
                # Euler in EDM/VE form *is* DDIM on the same sigmas
                ref = (ref_ddim_ve if solver == "euler" else ref_heun_ve)(mix, r["x_init"], r["sigmas"])
                add(case, ref, 1e-4)

    names = [c["name"] for c in cases]
    assert len(set(names)) == len(names)
    key_order = ["name", "reference", "solver", "eta", "mixture", "noise_schedule", "spacing", "sigma_schedule",
                 "final", "steps", "timesteps", "sigmas", "init_noise_sigma", "nfe", "model_alpha", "model_sigma",
                 "x_init", "step_noise", "x_final"]
    cases = [{k: c[k] for k in key_order} for c in cases]
    header = {"generator": GENERATOR, "versions": vers,
              "coordinates": "x_init/x_final/step_noise in VP coordinates (x = alpha*x0 + sigma*eps); "
                             "sigmas = sigma_tilde = sigma/alpha grid incl. final value; "
                             "model_alpha/model_sigma = VP (alpha, sigma) of each model call in call order",
              "batch": BATCH, "z_seeds": Z_SEED}
    write_json_cases(FIXTURES / "parity_foundation.json", header, cases)
    return cases, checks


# ----------------------------------------------------------------------------
# float32 vs float64 alphas_cumprod
# ----------------------------------------------------------------------------

def cumprod_precision_report():
    from diffusers import DDIMScheduler
    out = {}
    for betas_kw in [SD_BETAS, LINEAR_BETAS]:
        sch = DDIMScheduler(num_train_timesteps=T_TRAIN, **betas_kw)
        ab32 = sch.alphas_cumprod.numpy().astype(np.float64)
        s32 = np.sqrt((1 - ab32) / ab32)
        # (i) float64 cumprod of the same float32 betas
        b32 = sch.betas.numpy().astype(np.float64)
        ab64 = np.cumprod(1.0 - b32)
        s64 = np.sqrt((1 - ab64) / ab64)
        # (ii) betas built in float64 from the config (what a Swift Double implementation would do)
        if betas_kw["beta_schedule"] == "scaled_linear":
            b64 = np.linspace(betas_kw["beta_start"] ** 0.5, betas_kw["beta_end"] ** 0.5, T_TRAIN) ** 2
        else:
            b64 = np.linspace(betas_kw["beta_start"], betas_kw["beta_end"], T_TRAIN)
        ab64b = np.cumprod(1.0 - b64)
        s64b = np.sqrt((1 - ab64b) / ab64b)
        r1 = np.abs(s32 / s64 - 1)
        r2 = np.abs(s32 / s64b - 1)
        out[betas_kw["beta_schedule"]] = {
            "same_f32_betas": (float(r1.max()), int(r1.argmax())),
            "f64_betas": (float(r2.max()), int(r2.argmax())),
            "abar_rel_f32_betas": float(np.abs(ab32 / ab64 - 1).max()),
            "abar_rel_f64_betas": float(np.abs(ab32 / ab64b - 1).max()),
            "sigma_rel_by_t": {"t<10": float(r1[:10].max()), "10<=t<100": float(r1[10:100].max()),
                               "t>=100": float(r1[100:].max()), "t=999": float(r1[999])},
        }
    return out


def main():
    FIXTURES.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    vers = versions()
    mixtures = make_mixtures()
    for m in mixtures:
        m.save(FIXTURES / f"{m.name}.safetensors")
        # round-trip
        from safetensors import safe_open
        with safe_open(str(FIXTURES / f"{m.name}.safetensors"), framework="pt") as f:
            assert f.metadata()["shape"] == m.shape
            assert torch.equal(f.get_tensor("means"), torch.from_numpy(m.means))

    ts_cases = gen_timesteps(vers)
    gen_scheduler_config()
    cases, checks = gen_parity(mixtures, vers)

    print(f"{'case':<62} {'nfe':>4} {'rms(x_final)':>13} {'relRMS vs np64':>15}")
    for name, nfe, r, err, tol in checks:
        print(f"{name:<62} {nfe:>4} {r:>13.6f} {err:>15.3e}")
    print(f"\n{len(ts_cases)} timestep cases, {len(cases)} parity cases; max relRMS vs numpy float64 reference: "
          f"{max(c[3] for c in checks):.3e}")
    print("\nfloat32 torch cumprod vs float64 numpy cumprod, max rel. diff of sqrt((1-abar)/abar):")
    for k, v in cumprod_precision_report().items():
        print(f"  {k:<14} same float32 betas: {v['same_f32_betas'][0]:.3e} (t={v['same_f32_betas'][1]}), "
              f"float64 betas: {v['f64_betas'][0]:.3e} (t={v['f64_betas'][1]}); "
              f"abar rel: {v['abar_rel_f32_betas']:.3e} / {v['abar_rel_f64_betas']:.3e}")
        print("  " + " " * 14 + " same-betas profile: " +
              ", ".join(f"{k}: {x:.2e}" for k, x in v["sigma_rel_by_t"].items()))
    print("\nfiles:")
    for p in sorted(FIXTURES.iterdir()):
        print(f"  {p.relative_to(REPO_ROOT)}  {p.stat().st_size} bytes")


if __name__ == "__main__":
    main()
