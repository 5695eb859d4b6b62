#!/usr/bin/env python3
"""Reference-fixture generator for the DiffusionSolvers higher-order solver tests.

Python is a *tool* here (see tools/README.md): this script is run by hand and only its
outputs are committed.  It reuses tools/fixtures_foundation.py (imported as a module):
the mixtures and their exact float64 denoiser, the seeded initial noise, the k-diffusion
import without k_diffusion/__init__.py, the JSON writer and the version record.

Outputs (in Tests/DiffusionSolversTests/Fixtures/):

  mixture_labeled_2d.safetensors  labelled Gaussian mixture (K=6, 3 classes) for guidance cases
  parity_solvers.json             trajectories of diffusers DPMSolverMultistep / DPMSolverSinglestep /
                                  UniPCMultistep / DEISMultistep / PNDM(PLMS) and k-diffusion dpm_2, lms,
                                  dpmpp_2m, dpmpp_2s_ancestral(eta=0), dpm_fast, dpm_adaptive, plus
                                  classifier-free-guidance runs (DPM-Solver++ 2M) on the labelled mixture

Every case is recomputed by an independent float64 numpy implementation of the reference's
stepping and order-selection rules on the recorded grid (asserted: relative RMS <= 1e-4, and
the order pattern must equal the one the reference actually used, which is recorded by
wrapping the reference's update functions).

Run:  /root/venv-tools/bin/python tools/fixtures_solvers.py      (or tools/.venv/bin/python)
"""
from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy import integrate
from scipy.special import logsumexp

sys.dont_write_bytecode = True          # no tools/__pycache__ from importing the foundation script
sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixtures_foundation as ff  # noqa: E402  (shared helpers; importing it writes nothing)
from fixtures_foundation import (  # noqa: E402
    BATCH, FIXTURES, LINEAR_BETAS, REPO_ROOT, SD_BETAS, T_TRAIN, Z_SEED, Mixture, initial_noise,
    import_k_diffusion_sampling, make_mixtures, rel_rms, rms, sched_kwargs, versions, write_json_cases,
)

GENERATOR = "tools/fixtures_solvers.py"
TOL = 1e-4
# DPM-Solver (noise prediction, algorithm_type "dpmsolver") singlestep order 3 on the linear schedule with 5-6
# steps: x_t = (alpha_t/alpha_s) x - sigma_t (e^h - 1) eps - ... cancels terms ~100x larger than the result, so
# float32 rounding of diffusers' coefficients alone moves x_final by up to ~7e-4 (checked: the same run with
# float64 samples/model outputs differs by the same amount; all other solvers agree to <= 5e-5).
TOL_EPS_FORM = 2e-3

NS_SD = {"kind": "vp-discrete", **SD_BETAS, "num_train_timesteps": T_TRAIN, "steps_offset": 1}
NS_LIN = {"kind": "vp-discrete", **LINEAR_BETAS, "num_train_timesteps": T_TRAIN, "steps_offset": 0}
NS_FOR = {"mixture_2d": ("sd", NS_SD), "mixture_16d": ("lin", NS_LIN)}
NS_EDM = {"kind": "edm"}

LABELED = "mixture_labeled_2d"
BATCH_ALL = {**BATCH, LABELED: 16}
Z_SEED_ALL = {**Z_SEED, LABELED: 2001}

STEPS = [5, 10, 20]


# ----------------------------------------------------------------------------
# labelled mixture (guidance) and a typed safetensors writer (F32 + I32)
# ----------------------------------------------------------------------------

def write_safetensors_typed(path: Path, tensors: dict, metadata: dict):
    """Like fixtures_foundation.write_safetensors (sorted keys, byte-reproducible), with I32 support."""
    from safetensors.numpy import load_file
    header = {"__metadata__": {k: str(metadata[k]) for k in sorted(metadata)}}
    blobs, offset = [], 0
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        if np.issubdtype(arr.dtype, np.integer):
            arr, dt = np.ascontiguousarray(arr, dtype="<i4"), "I32"
        else:
            arr, dt = np.ascontiguousarray(arr, dtype="<f4"), "F32"
        data = arr.tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * (-len(hjson) % 8)
    path.write_bytes(len(hjson).to_bytes(8, "little") + hjson + b"".join(blobs))
    back = load_file(str(path))
    assert sorted(back) == sorted(tensors)
    for name in tensors:
        assert np.array_equal(back[name], np.asarray(tensors[name]).astype(back[name].dtype))


class LabeledMixture:
    """K=6 diagonal components, labels 0,0,1,1,2,2.  cond(c) = mixture restricted to label c
    (weights renormalised -- irrelevant numerically, the softmax over components normalises)."""

    def __init__(self):
        self.weights = np.asarray([0.20, 0.15, 0.20, 0.10, 0.20, 0.15], dtype=np.float32)
        self.means = np.asarray([[-1.2, -1.0], [-0.6, -1.4],     # class 0
                                 [1.1, 0.9], [0.5, 1.4],         # class 1
                                 [-1.3, 1.0], [1.4, -1.2]],      # class 2
                                dtype=np.float32)
        self.stds = np.asarray([[0.20, 0.10], [0.15, 0.25], [0.10, 0.30], [0.25, 0.12], [0.30, 0.20], [0.12, 0.18]],
                               dtype=np.float32)
        self.labels = np.asarray([0, 0, 1, 1, 2, 2], dtype=np.int32)
        self.full = Mixture(LABELED, self.weights, self.means, self.stds, "2")
        self.cond = {}
        for c in range(3):
            sel = self.labels == c
            w = self.weights[sel].astype(np.float64)
            self.cond[c] = Mixture(f"{LABELED}[label={c}]", (w / w.sum()).astype(np.float32),
                                   self.means[sel], self.stds[sel], "2")
        self.name, self.D, self.K = LABELED, 2, 6

    def save(self, path: Path):
        write_safetensors_typed(
            path, {"weights": self.weights, "means": self.means, "stds": self.stds, "labels": self.labels},
            metadata={"shape": "2", "kind": "diagonal-gaussian-mixture-labeled", "num_classes": "3",
                      "generator": GENERATOR})


# ----------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------

def vp_of(st: float):
    """(alpha, sigma) of the VP state at sigma_tilde = st (st = 0 -> (1, 0))."""
    a = 1.0 / math.sqrt(1.0 + st * st)
    return a, st * a


def noise_for(name: str, d: int) -> np.ndarray:
    rng = np.random.default_rng(Z_SEED_ALL[name])
    return rng.standard_normal((BATCH_ALL[name], d)).astype(np.float32)


def f64(v) -> list:
    return [float(x) for x in np.asarray(v, dtype=np.float64)]


def has_repeat(v) -> bool:
    v = list(v)
    return any(v[i] == v[i + 1] for i in range(len(v) - 1))


def instrument(sch, method: str, log: list, tag):
    """Wrap sch.<method> so that each call appends tag(sch, args, kwargs) to log."""
    orig = getattr(sch, method)

    def wrapper(*args, **kwargs):
        log.append(tag(sch, args, kwargs))
        return orig(*args, **kwargs)

    setattr(sch, method, wrapper)


def quiet_diffusers():
    from diffusers.utils import logging as dlog
    dlog.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*deprecated.*")


# ----------------------------------------------------------------------------
# generic driver for the diffusers VP schedulers that keep a `sigmas` list
# (DPMSolverMultistep, DPMSolverSinglestep, UniPCMultistep, DEISMultistep)
# ----------------------------------------------------------------------------

def run_sigma_scheduler(sch, n: int, z: np.ndarray, eps_fn, shape=None):
    """Drive sch with the exact model.  The model at step i is evaluated at the scheduler's own noise
    level sigmas[i] (sigma_tilde, float32) -> VP (alpha, sigma); the timestep the scheduler gives
    (timesteps[i], an integer) is recorded as model_t."""
    sch.set_timesteps(n)
    raw_sig = sch.sigmas.numpy().astype(np.float64)
    ts = [int(t) for t in sch.timesteps]
    assert len(ts) == n and len(raw_sig) == n + 1, (len(ts), len(raw_sig))
    assert float(sch.init_noise_sigma) == 1.0
    x = torch.from_numpy(z.copy())
    if shape is not None:
        x = x.reshape(shape)
    x_init = x.reshape(z.shape).clone()
    m_t, m_a, m_s = [], [], []
    for i, t in enumerate(sch.timesteps):
        if i > 0:
            assert sch.step_index == i, (i, sch.step_index)
        a, s = vp_of(float(raw_sig[i]))
        m_t.append(int(t))
        m_a.append(a)
        m_s.append(s)
        eps = eps_fn(x, a, s)
        x = sch.step(eps, t, x).prev_sample
    assert sch.step_index == n
    xf = x.reshape(z.shape).numpy()
    nan = not bool(np.all(np.isfinite(xf)))
    return dict(timesteps=ts, raw_sigmas=raw_sig, model_t=m_t, model_alpha=m_a, model_sigma=m_s,
                x_init=x_init.numpy(), x_final=None if nan else xf, nan=nan, init_noise_sigma=1.0)


def mix_eps_fn(mix: Mixture):
    def fn(x, a, s):
        return mix.eps(x.reshape(x.shape[0], -1), a, s).reshape(x.shape)
    return fn


def mix_np_x0(mix: Mixture):
    return lambda x, a, s: mix.np_x0(x, a, s)


# ----------------------------------------------------------------------------
# independent float64 numpy references (sanity checks)
# ----------------------------------------------------------------------------

def lam_of(sig):
    """lambda = log(alpha/sigma) = -log(sigma_tilde) as numpy float64 (inf at sigma_tilde = 0; divisions by a
    zero-length step give inf/nan like the torch references instead of raising)."""
    return np.asarray([(-math.log(s) if s > 0 else math.inf) for s in sig], dtype=np.float64)


def ref_dpm_multistep(x0_fn, x_init, sig, algo, order, solver_type, lower_order_final, euler_at_final, step_orders=None):
    """DPM-Solver (eps) / DPM-Solver++ (data) multistep, diffusers' order rules (or `step_orders`, one per step)."""
    n = len(sig) - 1
    final_zero = sig[-1] == 0.0
    lam = lam_of(sig)
    x = np.asarray(x_init, dtype=np.float64)
    ms, orders = [], []
    with np.errstate(all="ignore"):
        for i in range(n):
            a, s = vp_of(sig[i])
            x0 = x0_fn(x, a, s)
            ms.append(x0 if algo == "dpmsolver++" else (x - a * x0) / s)
            lof = i == n - 1 and (euler_at_final or (lower_order_final and n < 15) or final_zero)
            los = i == n - 2 and lower_order_final and n < 15
            p = 1 if (order == 1 or i < 1 or lof) else 2 if (order == 2 or i < 2 or los) else 3
            if step_orders is not None:
                p = step_orders[i]
            orders.append(p)
            at, st = vp_of(sig[i + 1])
            h = lam[i + 1] - lam[i]
            m0 = ms[-1]
            if p >= 2:
                r0 = (lam[i] - lam[i - 1]) / h
                d1_0 = (m0 - ms[-2]) / r0
            if p == 3:
                r1 = (lam[i - 1] - lam[i - 2]) / h
                d1_1 = (ms[-2] - ms[-3]) / r1
                d1 = d1_0 + r0 / (r0 + r1) * (d1_0 - d1_1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
            if algo == "dpmsolver++":
                em1 = np.expm1(-h)                      # e^{-h} - 1  (-1 when the target is sigma = 0)
                x = (st / s) * x - at * em1 * m0
                if p == 2:
                    if solver_type == "midpoint":
                        x = x - 0.5 * at * em1 * d1_0
                    else:
                        x = x + at * (em1 / h + 1.0) * d1_0
                elif p == 3:
                    x = x + at * (em1 / h + 1.0) * d1 - at * ((em1 + h) / h ** 2 - 0.5) * d2
            else:
                ep1 = np.expm1(h)                       # e^{h} - 1
                x = (at / a) * x - st * ep1 * m0
                if p == 2:
                    if solver_type == "midpoint":
                        x = x - 0.5 * st * ep1 * d1_0
                    else:
                        x = x - st * (ep1 / h - 1.0) * d1_0
                elif p == 3:
                    x = x - st * (ep1 / h - 1.0) * d1 - st * ((ep1 - h) / h ** 2 - 0.5) * d2
    return x, orders


def singlestep_orders(n, order, lower_order_final, final_zero):
    """diffusers DPMSolverSinglestep order list, incl. the two places set_timesteps forces lower_order_final."""
    lof = lower_order_final or (n % order != 0) or final_zero
    if lof:
        if order == 3:
            q, r = divmod(n, 3)
            orders = [1, 2, 3] * (q - 1) + [1, 2, 1] if r == 0 else [1, 2, 3] * q + ([1] if r == 1 else [1, 2])
        elif order == 2:
            q, r = divmod(n, 2)
            orders = [1, 2] * (q - 1) + [1, 1] if r == 0 else [1, 2] * q + [1]
        else:
            orders = [1] * n
    else:
        orders = list(range(1, order + 1)) * (n // order)
    if final_zero:
        orders[-1] = 1
    return orders, lof


def ref_dpm_singlestep(x0_fn, x_init, sig, algo, orders):
    """Singlestep: an order-p step at index i starts from the sample at b = i-p+1 (where the order was 1)
    and uses the model outputs at b..i; midpoint formulas."""
    n = len(sig) - 1
    lam = lam_of(sig)
    x = np.asarray(x_init, dtype=np.float64)
    ms, base = [], None
    used = []
    for i in range(n):
        a, s = vp_of(sig[i])
        x0 = x0_fn(x, a, s)
        ms.append(x0 if algo == "dpmsolver++" else (x - a * x0) / s)
        p = min(orders[i], i + 1)
        used.append(p)
        if p == 1:
            base = x
        b = i - p + 1
        assert p == 1 or orders[b] == 1
        ab, sb = vp_of(sig[b])
        at, st = vp_of(sig[i + 1])
        h = lam[i + 1] - lam[b]
        mb, mi = ms[b], ms[i]
        if p >= 2:
            r0 = (lam[i] - lam[b]) / h
            d1 = (mi - mb) / r0
        if algo == "dpmsolver++":
            em1 = np.expm1(-h)
            x = (st / sb) * base - at * em1 * mb
            if p == 2:
                x = x - 0.5 * at * em1 * d1
            elif p == 3:
                x = x + at * (em1 / h + 1.0) * d1
        else:
            ep1 = np.expm1(h)
            x = (at / ab) * base - st * ep1 * mb
            if p == 2:
                x = x - 0.5 * st * ep1 * d1
            elif p == 3:
                x = x - st * (ep1 / h - 1.0) * d1
    return x, used


def unipc_coeffs(hh, rks, order, bh):
    """b_j = j! * phi_{j+1}(hh) * hh / B(h) style vector of diffusers (B = hh for bh1, expm1(hh) for bh2)."""
    hh = np.float64(hh)
    h_phi_1 = np.expm1(hh)
    b_h = hh if bh == "bh1" else np.expm1(hh)
    h_phi_k = h_phi_1 / hh - 1.0
    fact = 1
    R, b = [], []
    for j in range(1, order + 1):
        R.append([r ** (j - 1) for r in rks])
        b.append(h_phi_k * fact / b_h)
        fact *= j + 1
        h_phi_k = h_phi_k / hh - 1.0 / fact
    return np.asarray(R, dtype=np.float64), np.asarray(b, dtype=np.float64), h_phi_1, b_h


def ref_unipc(x0_fn, x_init, sig, order, bh, predict_x0, lower_order_final, disable_corrector, zero_limit=False):
    """diffusers' UniPC. With `zero_limit`, a step to sigma = 0 returns the model's x0 at the sample it was evaluated
    at (the first-order limit, alpha_t = 1) instead of diffusers' B(h) = -inf times rho = 0."""
    n = len(sig) - 1
    lam = lam_of(sig)
    x = np.asarray(x_init, dtype=np.float64)
    ms, xs_c = [], []           # converted model outputs, corrected states
    p_orders, c_orders = [], []
    prev_p = None
    with np.errstate(all="ignore"):
        for i in range(n):
            a, s = vp_of(sig[i])
            x0 = x0_fn(x, a, s)                       # model output at the *uncorrected* state
            m_new = x0 if predict_x0 else (x - a * x0) / s
            # --- corrector (UniC) for the step i-1 -> i, reusing m_new ---
            if i > 0 and (i - 1) not in disable_corrector:
                p = prev_p
                j = i - 1                             # the step being corrected started at index j
                h = lam[i] - lam[j]
                hh = -h if predict_x0 else h
                rks = [(lam[j - k] - lam[j]) / h for k in range(1, p)] + [1.0]
                d1s = [(ms[j - k] - ms[j]) / rks[k - 1] for k in range(1, p)]
                R, b, h_phi_1, b_h = unipc_coeffs(hh, rks, p, bh)
                rhos = np.array([0.5]) if p == 1 else np.linalg.solve(R, b)
                at, st = vp_of(sig[i])
                aj, sj = vp_of(sig[j])
                corr = sum((rhos[k] * d1s[k] for k in range(p - 1)), np.zeros_like(x))
                if predict_x0:
                    x = st / sj * xs_c[j] - at * h_phi_1 * ms[j] - at * b_h * (corr + rhos[-1] * (m_new - ms[j]))
                else:
                    x = at / aj * xs_c[j] - st * h_phi_1 * ms[j] - st * b_h * (corr + rhos[-1] * (m_new - ms[j]))
                c_orders.append(p)
            else:
                c_orders.append(0)
            ms.append(m_new)
            xs_c.append(x)
            # --- predictor (UniP) i -> i+1 ---
            p = min(order, n - i) if lower_order_final else order
            p = min(p, i + 1)
            p_orders.append(p)
            prev_p = p
            h = lam[i + 1] - lam[i]
            hh = -h if predict_x0 else h
            rks = [(lam[i - k] - lam[i]) / h for k in range(1, p)] + [1.0]
            d1s = [(ms[i - k] - ms[i]) / rks[k - 1] for k in range(1, p)]
            R, b, h_phi_1, b_h = unipc_coeffs(hh, rks, p, bh)
            if p == 1:
                pred = 0.0
            else:
                rhos_p = np.array([0.5]) if p == 2 else np.linalg.solve(R[:-1, :-1], b[:-1])
                pred = sum(rhos_p[k] * d1s[k] for k in range(p - 1))
            at, st = vp_of(sig[i + 1])
            if zero_limit and sig[i + 1] == 0.0:
                x = x0
            elif predict_x0:
                x = st / s * x - at * h_phi_1 * ms[i] - at * b_h * pred
            else:
                x = at / a * x - st * h_phi_1 * ms[i] - st * b_h * pred
    return x, p_orders, c_orders


def ref_deis(x0_fn, x_init, sig, order, lower_order_final):
    """DEIS (log-rho): x_t = alpha_t (x_s/alpha_s + sum_j c_j eps_j), c_j = int_{rho_s}^{rho_t} L_j(log rho) d rho,
    L_j the Lagrange basis in log rho on the previous `p` nodes -- integrated numerically here."""
    n = len(sig) - 1
    x = np.asarray(x_init, dtype=np.float64)
    es, orders = [], []
    for i in range(n):
        a, s = vp_of(sig[i])
        x0 = x0_fn(x, a, s)
        es.append((x - a * x0) / s)
        lof = i == n - 1 and lower_order_final and n < 15
        los = i == n - 2 and lower_order_final and n < 15
        p = 1 if (order == 1 or i < 1 or lof) else 2 if (order == 2 or i < 2 or los) else 3
        orders.append(p)
        nodes = [math.log(sig[i - k]) for k in range(p)]
        at, _ = vp_of(sig[i + 1])
        acc = x / a
        for j in range(p):
            def basis(rho, j=j):
                lr = math.log(rho)
                v = 1.0
                for k in range(p):
                    if k != j:
                        v *= (lr - nodes[k]) / (nodes[j] - nodes[k])
                return v
            c = integrate.quad(basis, sig[i], sig[i + 1], epsabs=0, epsrel=1e-13, limit=200)[0] if sig[i + 1] != sig[i] else 0.0
            acc = acc + c * es[i - j]
        x = at * acc
    return x, orders


def plms_schedule(timesteps_asc, n):
    """(label of each model call, [(t_cur, t_prev, formula)] per step) of PNDM with skip_prk_steps."""
    d = T_TRAIN // n
    ts = list(reversed([int(v) for v in timesteps_asc]))      # t_{N-1} ... t_0
    labels = [ts[0], ts[1]] + ts[1:]
    steps = [(ts[0], ts[0] - d, "euler"), (ts[1] + d, ts[1], "heun_avg")]
    n_ets = 1
    for t in ts[1:]:                                          # t_{N-2} again, then t_{N-3} ... t_0
        n_ets += 1
        steps.append((t, t - d, f"ab{min(n_ets, 4)}"))
    return labels, steps


def ref_plms(x0_fn, x_init, abar, final_abar, labels, steps):
    """PLMS as DDIM steps with extrapolated eps: x_prev = sqrt(ab_p) x0(e) + sqrt(1-ab_p) e."""
    x = np.asarray(x_init, dtype=np.float64)
    ets, e0, x_save = [], None, None
    for k, (lab, (tc, tp, form)) in enumerate(zip(labels, steps)):
        ab = abar[lab]
        x0 = x0_fn(x, math.sqrt(ab), math.sqrt(1 - ab))
        e = (x - math.sqrt(ab) * x0) / math.sqrt(1 - ab)
        if form == "euler":
            e_use, x_from, x_save = e, x, x
            ets.append(e)
        elif form == "heun_avg":
            e_use, x_from = 0.5 * (e + ets[-1]), x_save
        else:
            ets.append(e)
            ets = ets[-4:]
            c = {"ab2": [3 / 2, -1 / 2], "ab3": [23 / 12, -16 / 12, 5 / 12],
                 "ab4": [55 / 24, -59 / 24, 37 / 24, -9 / 24]}[form]
            e_use = sum(ci * ets[-1 - j] for j, ci in enumerate(c))
            x_from = x
        a_c = abar[tc]
        a_p = abar[tp] if tp >= 0 else final_abar
        x0_hat = (x_from - math.sqrt(1 - a_c) * e_use) / math.sqrt(a_c)
        x = math.sqrt(a_p) * x0_hat + math.sqrt(1 - a_p) * e_use
    return x


# k-diffusion (EDM / VE coordinates: x = x0 + sigma * eps; D = x0_hat)

def ref_kd_dpm2(mix, x_init, sig):
    x = np.asarray(x_init, dtype=np.float64)
    for i in range(len(sig) - 1):
        d = (x - mix.np_x0(x, 1.0, sig[i])) / sig[i]
        if sig[i + 1] == 0:
            x = x + d * (0.0 - sig[i])
        else:
            sm = math.exp(0.5 * (math.log(sig[i]) + math.log(sig[i + 1])))
            x2 = x + d * (sm - sig[i])
            d2 = (x2 - mix.np_x0(x2, 1.0, sm)) / sm
            x = x + d2 * (sig[i + 1] - sig[i])
    return x


def lms_coeff_exact(order, t, i, j):
    """int_{t_i}^{t_{i+1}} prod_{k != j} (tau - t_{i-k}) / (t_{i-j} - t_{i-k}) dtau, exact polynomial integral."""
    p = np.poly1d([1.0])
    for k in range(order):
        if k != j:
            p = p * np.poly1d([1.0, -t[i - k]]) / (t[i - j] - t[i - k])
    P = np.polyint(p)
    return P(t[i + 1]) - P(t[i])


def ref_kd_lms(mix, x_init, sig, order=4):
    x = np.asarray(x_init, dtype=np.float64)
    ds = []
    for i in range(len(sig) - 1):
        ds.append((x - mix.np_x0(x, 1.0, sig[i])) / sig[i])
        ds = ds[-order:]
        cur = min(i + 1, order)
        x = x + sum(lms_coeff_exact(cur, sig, i, j) * ds[-1 - j] for j in range(cur))
    return x


def ref_kd_dpmpp_2m(mix, x_init, sig):
    x = np.asarray(x_init, dtype=np.float64)
    old = None
    for i in range(len(sig) - 1):
        den = mix.np_x0(x, 1.0, sig[i])
        if sig[i + 1] == 0:
            x = den
        else:
            h = math.log(sig[i]) - math.log(sig[i + 1])
            if old is None:
                dd = den
            else:
                r = (math.log(sig[i - 1]) - math.log(sig[i])) / h
                dd = (1 + 1 / (2 * r)) * den - (1 / (2 * r)) * old
            x = (sig[i + 1] / sig[i]) * x - math.expm1(-h) * dd
        old = den
    return x


def ref_kd_dpmpp_2s(mix, x_init, sig):
    x = np.asarray(x_init, dtype=np.float64)
    for i in range(len(sig) - 1):
        den = mix.np_x0(x, 1.0, sig[i])
        if sig[i + 1] == 0:
            x = den                                     # Euler to 0
        else:
            h = math.log(sig[i]) - math.log(sig[i + 1])
            s_mid = sig[i] * math.exp(-0.5 * h)
            x2 = (s_mid / sig[i]) * x - math.expm1(-0.5 * h) * den
            x = (sig[i + 1] / sig[i]) * x - math.expm1(-h) * mix.np_x0(x2, 1.0, s_mid)
    return x


class NpDPMSolver:
    """eps-based DPM-Solver-1/2/3 in t = -log sigma (k-diffusion's DPMSolver), float64."""

    def __init__(self, mix):
        self.mix, self.calls = mix, []

    def eps(self, x, t):
        s = math.exp(-t)
        self.calls.append(s)
        return (x - self.mix.np_x0(x, 1.0, s)) / s

    def step(self, x, t, tn, order, r1=None, eps0=None):
        h = tn - t
        sig = lambda u: math.exp(-u)  # noqa: E731
        e = self.eps(x, t) if eps0 is None else eps0
        if order == 1:
            return x - sig(tn) * math.expm1(h) * e
        if order == 2:
            r1 = 0.5 if r1 is None else r1
            s1 = t + r1 * h
            u1 = x - sig(s1) * math.expm1(r1 * h) * e
            e1 = self.eps(u1, s1)
            return x - sig(tn) * math.expm1(h) * e - sig(tn) / (2 * r1) * math.expm1(h) * (e1 - e)
        r1, r2 = 1 / 3, 2 / 3
        s1, s2 = t + r1 * h, t + r2 * h
        u1 = x - sig(s1) * math.expm1(r1 * h) * e
        e1 = self.eps(u1, s1)
        u2 = x - sig(s2) * math.expm1(r2 * h) * e - sig(s2) * (r2 / r1) * (math.expm1(r2 * h) / (r2 * h) - 1) * (e1 - e)
        e2 = self.eps(u2, s2)
        return x - sig(tn) * math.expm1(h) * e - sig(tn) / r2 * (math.expm1(h) / h - 1) * (e2 - e)


def dpm_fast_orders(nfe):
    m = nfe // 3 + 1
    orders = [3] * (m - 2) + [2, 1] if nfe % 3 == 0 else [3] * (m - 1) + [nfe % 3]
    return m, orders


def ref_kd_dpm_fast(mix, x_init, sigma_min, sigma_max, nfe):
    s = NpDPMSolver(mix)
    m, orders = dpm_fast_orders(nfe)
    ts = np.linspace(-math.log(sigma_max), -math.log(sigma_min), m + 1)
    x = np.asarray(x_init, dtype=np.float64)
    for i, o in enumerate(orders):
        x = s.step(x, ts[i], ts[i + 1], o)
    return x, s.calls, orders


def ref_kd_dpm_adaptive(mix, x_init, sigma_min, sigma_max, rtol=0.05, atol=0.0078, h_init=0.05, pcoeff=0.,
                        icoeff=1., dcoeff=0., accept_safety=0.81, order=3):
    """float64 re-implementation of DPMSolver.dpm_solver_adaptive (eta = 0, order 3: DPM-Solver-2(r1=1/3) vs 3)."""
    s = NpDPMSolver(mix)
    t_start, t_end = -math.log(sigma_max), -math.log(sigma_min)
    b1, b2, b3 = (pcoeff + icoeff + dcoeff) / order, -(pcoeff + 2 * dcoeff) / order, dcoeff / order
    h, errs = h_init, []
    x = np.asarray(x_init, dtype=np.float64)
    x_prev, cur = x, t_start
    n_acc = n_rej = 0
    while cur < t_end - 1e-5:
        t = min(t_end, cur + h)
        e = s.eps(x, cur)
        x_low = s.step(x, cur, t, 2, r1=1 / 3, eps0=e)
        # dpm_solver_3_step reuses eps (cache) and eps_r1 (same r1 = 1/3 point): do not re-count it
        calls_before = len(s.calls)
        x_high = s.step(x, cur, t, 3, eps0=e)
        del s.calls[calls_before]                   # the r1 evaluation is cached in k-diffusion
        delta = np.maximum(atol, rtol * np.maximum(np.abs(x_low), np.abs(x_prev)))
        err = np.linalg.norm((x_low - x_high) / delta) / math.sqrt(x.size)
        inv = 1 / (float(err) + 1e-8)
        if not errs:
            errs = [inv, inv, inv]
        errs[0] = inv
        fac = errs[0] ** b1 * errs[1] ** b2 * errs[2] ** b3
        fac = 1 + math.atan(fac - 1)
        if fac >= accept_safety:
            errs[2], errs[1] = errs[1], errs[0]
            x_prev, x, cur = x_low, x_high, t
            n_acc += 1
        else:
            n_rej += 1
        h *= fac
    return x, s.calls, n_acc, n_rej


# ----------------------------------------------------------------------------
# the case record
# ----------------------------------------------------------------------------

KEY_ORDER = ["name", "reference", "solver", "eta", "mixture", "noise_schedule", "spacing", "sigma_schedule", "final",
             "steps", "options", "timesteps", "scheduler_timesteps", "sigmas", "scheduler_sigmas", "init_noise_sigma",
             "nfe", "model_t", "model_alpha", "model_sigma", "step_orders", "corrector_orders", "plms_steps",
             "kd_grid_sigmas", "kd_info", "kd_attempts", "x_init", "step_noise", "reference_nan", "x_final", "f64_check_rel_rms"]


class Collector:
    def __init__(self):
        self.cases, self.checks, self.skipped, self.notes = [], [], [], []

    def add(self, case: dict, ref, tol=TOL):
        c = {k: case[k] for k in KEY_ORDER if k in case}
        for k in ["name", "reference", "solver", "mixture", "steps", "sigmas", "nfe", "x_init", "model_alpha",
                  "model_sigma", "options"]:
            assert k in c, (k, c["name"])
        c.setdefault("step_noise", None)
        c["step_noise"] = None
        assert len(c["model_alpha"]) == len(c["model_sigma"]) == c["nfe"], c["name"]
        if c.get("model_t") is not None:
            assert len(c["model_t"]) == c["nfe"], c["name"]
        if c.get("reference_nan"):
            assert c["x_final"] is None
            ref = np.asarray(ref)
            # the float64 reference must break down in the same place
            assert not np.all(np.isfinite(ref)), (c["name"], "reference is NaN but numpy reference is finite")
            self.checks.append((c["name"], c["nfe"], float("nan"), float("nan"), tol))
        else:
            c["reference_nan"] = False
            assert c["x_final"] is not None and np.all(np.isfinite(c["x_final"])), c["name"]
            err = rel_rms(c["x_final"], ref)
            c["f64_check_rel_rms"] = float(f"{err:.3g}")
            self.checks.append((c["name"], c["nfe"], rms(c["x_final"]), err, tol))
            assert err <= tol, (c["name"], err)
        # exact key order incl. step_noise / reference_nan
        self.cases.append({k: c[k] for k in KEY_ORDER if k in c})


def base_case(name, reference, solver, mixname, ns, spacing, sigma_schedule, final, steps, options, r, nfe):
    d = dict(name=name, reference=reference, solver=solver, eta=0.0, mixture=mixname, noise_schedule=ns,
             spacing=spacing, sigma_schedule=sigma_schedule, final=final, steps=steps, options=options,
             init_noise_sigma=r["init_noise_sigma"], nfe=nfe, model_t=r.get("model_t"),
             model_alpha=r["model_alpha"], model_sigma=r["model_sigma"], x_init=r["x_init"],
             x_final=r["x_final"], reference_nan=bool(r.get("nan", False)))
    if "timesteps" in r:
        d["timesteps"] = r["timesteps"]
    return d


# ----------------------------------------------------------------------------
# 1. DPMSolverMultistepScheduler
# ----------------------------------------------------------------------------

DPM_MS_SOLVERS = {
    "dpmpp_2m": ("dpmsolver++", 2, "midpoint"),
    "dpmpp_2m_heun": ("dpmsolver++", 2, "heun"),
    "dpmpp_3m": ("dpmsolver++", 3, "midpoint"),
    "dpm_2m": ("dpmsolver", 2, "midpoint"),
    "dpm_3m": ("dpmsolver", 3, "midpoint"),
}


def dpm_ms_run(col, mix, z, solver, spacing, sched, final_type, n, lower_order_final=True, euler_at_final=False,
               tag_extra="", eps_fn=None, x0_np=None, extra_options=None, mixname=None, shape=None,
               thresholding=None):
    from diffusers import DPMSolverMultistepScheduler
    algo, order, stype = DPM_MS_SOLVERS[solver]
    mixname = mixname or mix.name
    tag, ns = NS_FOR.get(mixname, ("sd", NS_SD))
    flags = {"karras": "use_karras_sigmas", "exponential": "use_exponential_sigmas", "lu": "use_lu_lambdas"}
    kw = dict(**sched_kwargs(ns), solver_order=order, algorithm_type=algo, solver_type=stype,
              prediction_type="epsilon", lower_order_final=lower_order_final, euler_at_final=euler_at_final,
              final_sigmas_type=final_type, timestep_spacing=spacing)
    if sched != "default":
        kw[flags[sched]] = True
    if thresholding:
        kw.update(thresholding=True, dynamic_thresholding_ratio=thresholding[0], sample_max_value=thresholding[1])
    final = "zero" if final_type == "zero" else "min"
    sname = spacing if sched == "default" else sched
    name = f"{solver}_{mixname}_{tag}_{sname}_final-{final}_n{n}{tag_extra}"
    try:
        sch = DPMSolverMultistepScheduler(**kw)
    except ValueError as e:
        col.skipped.append({"reference": "diffusers.DPMSolverMultistepScheduler", "solver": solver,
                            "final_sigmas_type": final_type, "reason": str(e).split(". ")[0]})
        return None
    log = []
    instrument(sch, "dpm_solver_first_order_update", log, lambda s, a, k: 1)
    instrument(sch, "multistep_dpm_solver_second_order_update", log, lambda s, a, k: 2)
    instrument(sch, "multistep_dpm_solver_third_order_update", log, lambda s, a, k: 3)
    r = run_sigma_scheduler(sch, n, z, eps_fn or mix_eps_fn(mix), shape=shape)
    assert len(log) == n
    options = {"algorithm_type": algo, "solver_order": order, "solver_type": stype, "prediction_type": "epsilon",
               "lower_order_final": lower_order_final, "euler_at_final": euler_at_final,
               "final_sigmas_type": final_type, "timestep_spacing": spacing,
               "use_karras_sigmas": sched == "karras", "use_exponential_sigmas": sched == "exponential",
               "use_lu_lambdas": sched == "lu", "thresholding": bool(thresholding)}
    if thresholding:
        options.update(dynamic_thresholding_ratio=thresholding[0], sample_max_value=thresholding[1])
    options.update(extra_options or {})
    case = base_case(name, "diffusers.DPMSolverMultistepScheduler", solver, mixname, ns, spacing,
                     sched if sched != "lu" else "lu", final, n, options, r, n)
    sig = f64(r["raw_sigmas"])
    case["sigmas"] = sig
    if has_repeat(sig):
        case["scheduler_sigmas"] = sig
    case["step_orders"] = log
    x_ref, orders = ref_dpm_multistep(x0_np or mix_np_x0(mix), r["x_init"], sig, algo, order, stype,
                                      lower_order_final, euler_at_final)
    assert orders == log, (name, orders, log)
    col.add(case, x_ref)
    return case


def gen_dpm_multistep(col, mixtures):
    for mix in mixtures:
        z = initial_noise(mix)
        for solver in DPM_MS_SOLVERS:
            for spacing, sched in [("linspace", "default"), ("leading", "default"), ("trailing", "default"),
                                   ("linspace", "karras")]:
                for final_type in ["zero", "sigma_min"]:
                    for n in STEPS:
                        dpm_ms_run(col, mix, z, solver, spacing, sched, final_type, n)
    mix2 = mixtures[0]
    z = initial_noise(mix2)
    for sched in ["exponential", "lu"]:
        for final_type in ["zero", "sigma_min"]:
            dpm_ms_run(col, mix2, z, "dpmpp_2m", "linspace", sched, final_type, 10)
    # pin lower_order_final=False / euler_at_final=True (mixture_2d, trailing)
    for solver in ["dpmpp_2m", "dpmpp_3m"]:
        for final_type in ["zero", "sigma_min"]:
            for n in STEPS:
                dpm_ms_run(col, mix2, z, solver, "trailing", "default", final_type, n, lower_order_final=False,
                           tag_extra="_lof-false")
    for final_type in ["zero", "sigma_min"]:
        for n in STEPS:
            dpm_ms_run(col, mix2, z, "dpmpp_2m", "trailing", "default", final_type, n, euler_at_final=True,
                       tag_extra="_euler-at-final")


# ----------------------------------------------------------------------------
# 2. DPMSolverSinglestepScheduler
# ----------------------------------------------------------------------------

DPM_SS_SOLVERS = {
    "dpmpp_2s_diffusers": ("dpmsolver++", 2),
    "dpmpp_3s_diffusers": ("dpmsolver++", 3),
    "dpm_solver_2_diffusers": ("dpmsolver", 2),
    "dpm_solver_3_diffusers": ("dpmsolver", 3),
}


def gen_dpm_singlestep(col, mixtures):
    from diffusers import DPMSolverSinglestepScheduler
    for mix in mixtures:
        z = initial_noise(mix)
        tag, ns = NS_FOR[mix.name]
        for solver, (algo, order) in DPM_SS_SOLVERS.items():
            for sched in ["default", "karras"]:
                for final_type in ["zero", "sigma_min"]:
                    for n in [5, 6, 10, 20]:
                        for lof_cfg in [False, True]:
                            if lof_cfg and not (final_type == "sigma_min" and sched == "default" and n % order == 0):
                                continue  # where True is forced anyway or the combination is not pinned
                            kw = dict(num_train_timesteps=T_TRAIN, beta_schedule=ns["beta_schedule"],
                                      beta_start=ns["beta_start"], beta_end=ns["beta_end"], solver_order=order,
                                      algorithm_type=algo, solver_type="midpoint", prediction_type="epsilon",
                                      final_sigmas_type=final_type, lower_order_final=lof_cfg,
                                      use_karras_sigmas=sched == "karras")
                            try:
                                sch = DPMSolverSinglestepScheduler(**kw)
                            except ValueError as e:
                                if n == 5 and sched == "default" and not lof_cfg:
                                    col.skipped.append({"reference": "diffusers.DPMSolverSinglestepScheduler",
                                                        "solver": solver, "final_sigmas_type": final_type,
                                                        "reason": str(e).split(". ")[0]})
                                continue
                            log = []
                            instrument(sch, "singlestep_dpm_solver_update", log, lambda s, a, k: k["order"])
                            r = run_sigma_scheduler(sch, n, z, mix_eps_fn(mix))
                            order_list = [int(v) for v in sch.order_list]
                            lof_used = bool(sch.config.lower_order_final)
                            exp_orders, exp_lof = singlestep_orders(n, order, lof_cfg, final_type == "zero")
                            assert order_list == exp_orders and lof_used == exp_lof, (solver, n, order_list, exp_orders)
                            final = "zero" if final_type == "zero" else "min"
                            sname = "linspace" if sched == "default" else "karras"
                            extra = "_lof-true" if lof_cfg else ""
                            name = f"{solver}_{mix.name}_{tag}_{sname}_final-{final}_n{n}{extra}"
                            options = {"algorithm_type": algo, "solver_order": order, "solver_type": "midpoint",
                                       "prediction_type": "epsilon", "lower_order_final": lof_used,
                                       "lower_order_final_config": lof_cfg, "final_sigmas_type": final_type,
                                       "use_karras_sigmas": sched == "karras", "thresholding": False,
                                       "order_list": order_list}
                            case = base_case(name, "diffusers.DPMSolverSinglestepScheduler", solver, mix.name, ns,
                                             "linspace", sched, final, n, options, r, n)
                            sig = f64(r["raw_sigmas"])
                            case["sigmas"] = sig
                            if has_repeat(sig):
                                case["scheduler_sigmas"] = sig
                            case["step_orders"] = log
                            x_ref, used = ref_dpm_singlestep(mix_np_x0(mix), r["x_init"], sig, algo, order_list)
                            assert used == log, (name, used, log)
                            col.add(case, x_ref, TOL_EPS_FORM if algo == "dpmsolver" else TOL)


# ----------------------------------------------------------------------------
# 3. UniPCMultistepScheduler
# ----------------------------------------------------------------------------

def unipc_run(col, mix, z, solver, spacing, sched, final_type, n, order=None, predict_x0=True, disable_corrector=(),
              tag_extra=""):
    from diffusers import UniPCMultistepScheduler
    bh = "bh1" if solver == "uni_pc" else "bh2"
    order = order or (3 if bh == "bh1" else 2)
    tag, ns = NS_FOR[mix.name]
    sch = UniPCMultistepScheduler(**sched_kwargs(ns), solver_order=order, solver_type=bh, predict_x0=predict_x0,
                                  disable_corrector=list(disable_corrector), lower_order_final=True,
                                  prediction_type="epsilon", final_sigmas_type=final_type, timestep_spacing=spacing,
                                  use_karras_sigmas=sched == "karras")
    plog, clog = [], []
    instrument(sch, "multistep_uni_p_bh_update", plog, lambda s, a, k: (s.step_index, k["order"]))
    instrument(sch, "multistep_uni_c_bh_update", clog, lambda s, a, k: (s.step_index, k["order"]))
    r = run_sigma_scheduler(sch, n, z, mix_eps_fn(mix))
    assert [p[0] for p in plog] == list(range(n))
    p_orders = [p[1] for p in plog]
    c_orders = [0] * n
    for si, o in clog:
        c_orders[si] = o
    final = "zero" if final_type == "zero" else "min"
    sname = spacing if sched == "default" else sched
    name = f"{solver}_{mix.name}_{tag}_{sname}_final-{final}_n{n}{tag_extra}"
    options = {"solver_type": bh, "solver_order": order, "predict_x0": predict_x0,
               "disable_corrector": list(disable_corrector), "lower_order_final": True, "prediction_type": "epsilon",
               "final_sigmas_type": final_type, "timestep_spacing": spacing, "use_karras_sigmas": sched == "karras",
               "thresholding": False}
    case = base_case(name, "diffusers.UniPCMultistepScheduler", solver, mix.name, ns, spacing, sched, final, n,
                     options, r, n)
    sig = f64(r["raw_sigmas"])
    case["sigmas"] = sig
    if has_repeat(sig):
        case["scheduler_sigmas"] = sig
    case["step_orders"] = p_orders
    case["corrector_orders"] = c_orders
    x_ref, po, co = ref_unipc(mix_np_x0(mix), r["x_init"], sig, order, bh, predict_x0, True, list(disable_corrector))
    assert po == p_orders and co == c_orders, (name, po, p_orders, co, c_orders)
    col.add(case, x_ref)
    return case


def gen_unipc(col, mixtures):
    for mix in mixtures:
        z = initial_noise(mix)
        for solver in ["uni_pc", "uni_pc_bh2"]:
            for spacing, sched in [("linspace", "default"), ("leading", "default"), ("trailing", "default"),
                                   ("linspace", "karras")]:
                for final_type in ["zero", "sigma_min"]:
                    for n in STEPS:
                        unipc_run(col, mix, z, solver, spacing, sched, final_type, n)
    mix2 = mixtures[0]
    z = initial_noise(mix2)
    for final_type in ["zero", "sigma_min"]:
        for solver in ["uni_pc", "uni_pc_bh2"]:
            unipc_run(col, mix2, z, solver, "trailing", "default", final_type, 10, predict_x0=False,
                      tag_extra="_predict-eps")
            unipc_run(col, mix2, z, solver, "trailing", "default", final_type, 10, disable_corrector=[0],
                      tag_extra="_disable-corrector-0")
        for order in [1, 2]:
            unipc_run(col, mix2, z, "uni_pc", "trailing", "default", final_type, 10, order=order,
                      tag_extra=f"_order{order}")


# ----------------------------------------------------------------------------
# 4. DEISMultistepScheduler
# ----------------------------------------------------------------------------

def gen_deis(col, mixtures):
    from diffusers import DEISMultistepScheduler
    for mix in mixtures:
        z = initial_noise(mix)
        tag, ns = NS_FOR[mix.name]
        for spacing, sched in [("linspace", "default"), ("leading", "default"), ("trailing", "default"),
                               ("linspace", "karras")]:
            for n in STEPS:
                sch = DEISMultistepScheduler(**sched_kwargs(ns), solver_order=3, prediction_type="epsilon",
                                             algorithm_type="deis", solver_type="logrho", lower_order_final=True,
                                             timestep_spacing=spacing, use_karras_sigmas=sched == "karras")
                log = []
                instrument(sch, "deis_first_order_update", log, lambda s, a, k: 1)
                instrument(sch, "multistep_deis_second_order_update", log, lambda s, a, k: 2)
                instrument(sch, "multistep_deis_third_order_update", log, lambda s, a, k: 3)
                r = run_sigma_scheduler(sch, n, z, mix_eps_fn(mix))
                sig = f64(r["raw_sigmas"])
                # DEIS always ends at sigma_min: sigma(t=0) of the table, or (Karras) a repeat of the last
                # Karras sigma, i.e. a zero-length final step
                sname = spacing if sched == "default" else sched
                name = f"deis_{mix.name}_{tag}_{sname}_final-min_n{n}"
                options = {"algorithm_type": "deis", "solver_type": "logrho", "solver_order": 3,
                           "lower_order_final": True, "prediction_type": "epsilon", "timestep_spacing": spacing,
                           "use_karras_sigmas": sched == "karras", "thresholding": False,
                           "final_sigmas_type": "sigma_min"}     # implicit: DEIS has no final_sigmas_type
                case = base_case(name, "diffusers.DEISMultistepScheduler", "deis", mix.name, ns, spacing, sched,
                                 "min", n, options, r, n)
                case["sigmas"] = sig
                if has_repeat(sig):
                    case["scheduler_sigmas"] = sig
                case["step_orders"] = log
                x_ref, orders = ref_deis(mix_np_x0(mix), r["x_init"], sig, 3, True)
                assert orders == log, (name, orders, log)
                col.add(case, x_ref)


# ----------------------------------------------------------------------------
# 5. PNDMScheduler (PLMS)
# ----------------------------------------------------------------------------

def gen_pndm(col, mixtures):
    from diffusers import PNDMScheduler
    for mix in mixtures:
        z = initial_noise(mix)
        tag, ns = NS_FOR[mix.name]
        for set_one in [False, True]:
            for spacing in ["leading", "linspace", "trailing"]:
                for n in STEPS:
                    sch = PNDMScheduler(**sched_kwargs(ns), skip_prk_steps=True, set_alpha_to_one=set_one,
                                        prediction_type="epsilon", timestep_spacing=spacing)
                    sch.set_timesteps(n)
                    abar = sch.alphas_cumprod.numpy().astype(np.float64)
                    final_abar = float(sch.final_alpha_cumprod)
                    raw_ts = [int(t) for t in sch.timesteps]
                    ts_asc = [int(t) for t in sch._timesteps]
                    labels, steps = plms_schedule(ts_asc, n)
                    assert raw_ts == labels, (raw_ts, labels)
                    log = []
                    instrument(sch, "_get_prev_sample", log, lambda s, a, k: (
                        int(a[1]), int(a[2]),
                        "euler" if s.counter == 0 else "heun_avg" if s.counter == 1 else f"ab{min(len(s.ets), 4)}"))
                    x = torch.from_numpy(z.copy())
                    assert float(sch.init_noise_sigma) == 1.0
                    x_init = x.clone()
                    m_a, m_s = [], []
                    for t in sch.timesteps:
                        ab = abar[int(t)]
                        m_a.append(math.sqrt(ab))
                        m_s.append(math.sqrt(1 - ab))
                        x = sch.step(mix.eps(x, m_a[-1], m_s[-1]), t, x).prev_sample
                    assert [tuple(v) for v in log] == steps, (log, steps)
                    distinct = list(reversed(ts_asc))
                    sig = [math.sqrt((1 - abar[t]) / abar[t]) for t in distinct]
                    sig.append(math.sqrt((1 - final_abar) / final_abar))
                    final = "zero" if set_one else "min"
                    name = f"plms_{mix.name}_{tag}_{spacing}_final-{final}_n{n}"
                    options = {"skip_prk_steps": True, "set_alpha_to_one": set_one, "prediction_type": "epsilon",
                               "timestep_spacing": spacing}
                    r = dict(init_noise_sigma=1.0, model_t=raw_ts, model_alpha=m_a, model_sigma=m_s,
                             x_init=x_init.numpy(), x_final=x.numpy())
                    case = base_case(name, "diffusers.PNDMScheduler", "plms", mix.name, ns, spacing, "default",
                                     final, n, options, r, n + 1)
                    case["timesteps"] = distinct
                    case["scheduler_timesteps"] = raw_ts
                    case["sigmas"] = sig
                    case["plms_steps"] = [list(v) for v in log]
                    x_ref = ref_plms(mix_np_x0(mix), x_init.numpy(), abar, final_abar, labels, steps)
                    col.add(case, x_ref)


# ----------------------------------------------------------------------------
# 6. k-diffusion (EDM: alpha = 1, sigma = t, D = exact x0_hat)
# ----------------------------------------------------------------------------

def kd_model(mix, calls):
    def denoiser(x, sigma_vec):
        s = float(sigma_vec[0])
        assert torch.all(sigma_vec == sigma_vec[0])
        calls.append(s)
        return mix.x0(x, 1.0, s)
    return denoiser


def gen_kdiff(col, mixtures):
    K = import_k_diffusion_sampling()
    for mix in mixtures:
        z = initial_noise(mix)
        for solver in ["dpm_2", "lms", "dpmpp_2m", "dpmpp_2s"]:
            for n in STEPS:
                sig_t = K.get_sigmas_karras(n, 0.002, 80.0, rho=7.0)
                sig = f64(sig_t)
                x = torch.from_numpy(z) * sig_t[0]
                calls = []
                model = kd_model(mix, calls)
                torch.manual_seed(0)
                if solver == "dpm_2":
                    out = K.sample_dpm_2(model, x, sig_t, disable=True)
                    torch.manual_seed(12345)   # its (unused, s_churn = 0) randn_like draws must not matter
                    out_b = K.sample_dpm_2(kd_model(mix, []), x, sig_t, disable=True)
                    assert torch.equal(out, out_b)
                    fn, options, ref = "sample_dpm_2", {"s_churn": 0.0, "s_noise": 1.0}, ref_kd_dpm2(mix, x.numpy(), sig)
                    nfe = 2 * n - 1
                elif solver == "lms":
                    out = K.sample_lms(model, x, sig_t, disable=True, order=4)
                    fn, options, ref = "sample_lms", {"order": 4}, ref_kd_lms(mix, x.numpy(), sig, 4)
                    nfe = n
                elif solver == "dpmpp_2m":
                    out = K.sample_dpmpp_2m(model, x, sig_t, disable=True)
                    fn, options, ref = "sample_dpmpp_2m", {}, ref_kd_dpmpp_2m(mix, x.numpy(), sig)
                    nfe = n
                else:
                    out = K.sample_dpmpp_2s_ancestral(model, x, sig_t, disable=True, eta=0.0, s_noise=1.0,
                                                      noise_sampler=lambda s, sn: torch.zeros_like(x))
                    g = torch.Generator().manual_seed(7)
                    out_b = K.sample_dpmpp_2s_ancestral(kd_model(mix, []), x, sig_t, disable=True, eta=0.0,
                                                        s_noise=1.0,
                                                        noise_sampler=lambda s, sn: torch.randn(x.shape, generator=g))
                    assert torch.equal(out, out_b), "eta = 0 must make the noise irrelevant"
                    fn, options = "sample_dpmpp_2s_ancestral", {"eta": 0.0, "s_noise": 1.0, "r": 0.5}
                    ref = ref_kd_dpmpp_2s(mix, x.numpy(), sig)
                    nfe = 2 * n - 1
                assert len(calls) == nfe, (solver, n, len(calls))
                r = dict(init_noise_sigma=float(sig_t[0]), model_t=None, model_alpha=[1.0] * nfe, model_sigma=calls,
                         x_init=x.numpy(), x_final=out.numpy())
                case = base_case(f"kd_{solver}_{mix.name}_karras_n{n}", f"k_diffusion.{fn}", solver, mix.name,
                                 NS_EDM, "karras", "karras", "zero", n, options, r, nfe)
                case["timesteps"] = None
                case["sigmas"] = sig
                col.add(case, ref)
        # dpm_fast
        for n in [5, 6, 7, 10, 20]:
            x = torch.from_numpy(z) * 80.0
            calls = []
            out = K.sample_dpm_fast(kd_model(mix, calls), x, sigma_min=0.002, sigma_max=80.0, n=n, disable=True)
            ref, ref_calls, orders = ref_kd_dpm_fast(mix, x.numpy(), 0.002, 80.0, n)
            assert len(calls) == n == len(ref_calls)
            assert np.allclose(calls, ref_calls, rtol=1e-5), (calls, ref_calls)
            m, _ = dpm_fast_orders(n)
            ts = torch.linspace(-torch.tensor(80.0).log(), -torch.tensor(0.002).log(), m + 1)
            r = dict(init_noise_sigma=80.0, model_t=None, model_alpha=[1.0] * n, model_sigma=calls,
                     x_init=x.numpy(), x_final=out.numpy())
            case = base_case(f"kd_dpm_fast_{mix.name}_n{n}", "k_diffusion.sample_dpm_fast", "dpm_fast", mix.name,
                             NS_EDM, "exponential", "exponential", "min", n,
                             {"eta": 0.0, "s_noise": 1.0, "n": n, "sigma_min": 0.002, "sigma_max": 80.0,
                              "order_list": orders}, r, n)
            case["timesteps"] = None
            case["sigmas"] = [80.0, 0.002]
            case["step_orders"] = orders
            case["kd_grid_sigmas"] = f64(ts.neg().exp())
            col.add(case, ref)
        # dpm_adaptive
        for tol_name, kw in [("default", {}), ("tol1e-3", {"rtol": 1e-3, "atol": 1e-3})]:
            x = torch.from_numpy(z) * 80.0
            calls = []
            attempts = kd_adaptive_attempt_log(K)
            try:
                out, info = K.sample_dpm_adaptive(kd_model(mix, calls), x, sigma_min=0.002, sigma_max=80.0,
                                                  disable=True, return_info=True, **kw)
            finally:
                attempts = attempts()
            assert info["nfe"] == len(calls) == 3 * len(attempts)
            assert sum(a[3] for a in attempts) == info["n_accept"]
            full = {"order": 3, "rtol": 0.05, "atol": 0.0078, "h_init": 0.05, "pcoeff": 0.0, "icoeff": 1.0,
                    "dcoeff": 0.0, "accept_safety": 0.81, "eta": 0.0, "s_noise": 1.0}
            full.update(kw)
            # (i) replay the recorded attempts (t, t_next, accepted) with float64 DPM-Solver-2(r1=1/3)/3 steps
            ref, ref_calls = ref_kd_dpm_adaptive_replay(mix, x.numpy(), attempts)
            assert np.allclose(calls, ref_calls, rtol=1e-6), "adaptive call sigmas are not the replayed ones"
            # (ii) free-running float64 controller (informative only: its accept decisions and step sizes are
            #      driven by float32 round-off in the embedded error estimate, so they need not coincide)
            free, free_calls, n_acc, n_rej = ref_kd_dpm_adaptive(mix, x.numpy(), 0.002, 80.0, **{
                k: full[k] for k in ["rtol", "atol", "h_init", "pcoeff", "icoeff", "dcoeff", "accept_safety", "order"]})
            col.notes.append(f"kd_dpm_adaptive_{mix.name}_{tol_name}: torch nfe {len(calls)} "
                             f"(accept {info['n_accept']}, reject {info['n_reject']}); free-running float64 controller "
                             f"nfe {len(free_calls)} (accept {n_acc}, reject {n_rej}), x_final relRMS "
                             f"{rel_rms(out.numpy(), free):.2e}")
            options = dict(full, sigma_min=0.002, sigma_max=80.0, passed=sorted(kw))
            r = dict(init_noise_sigma=80.0, model_t=None, model_alpha=[1.0] * len(calls), model_sigma=calls,
                     x_init=x.numpy(), x_final=out.numpy())
            case = base_case(f"kd_dpm_adaptive_{mix.name}_{tol_name}", "k_diffusion.sample_dpm_adaptive",
                             "dpm_adaptive", mix.name, NS_EDM, "adaptive", "adaptive", "min", info["n_accept"],
                             options, r, len(calls))
            case["timesteps"] = None
            case["sigmas"] = [80.0, 0.002]
            case["kd_info"] = {k: int(v) for k, v in info.items()}
            case["kd_attempts"] = [[a[0], a[1], a[2], a[3]] for a in attempts]
            col.add(case, ref)


def kd_adaptive_attempt_log(K):
    """Temporarily wrap DPMSolver.dpm_solver_3_step and PIDStepSizeController.propose_step to log every attempt
    of dpm_solver_adaptive as (t, t_next, error, accepted) with t = -log(sigma) (float32 values, widened).
    Returns a function that restores the originals and returns the log."""
    log = []
    orig3, orig_p = K.DPMSolver.dpm_solver_3_step, K.PIDStepSizeController.propose_step

    def step3(self, x, t, t_next, *a, **k):
        log.append([float(t), float(t_next)])
        return orig3(self, x, t, t_next, *a, **k)

    def propose(self, error):
        acc = orig_p(self, error)
        log[-1] += [float(error), bool(acc)]
        return acc

    K.DPMSolver.dpm_solver_3_step, K.PIDStepSizeController.propose_step = step3, propose

    def finish():
        K.DPMSolver.dpm_solver_3_step, K.PIDStepSizeController.propose_step = orig3, orig_p
        return log
    return finish


def ref_kd_dpm_adaptive_replay(mix, x_init, attempts):
    s = NpDPMSolver(mix)
    x = np.asarray(x_init, dtype=np.float64)
    for t, tn, _err, acc in attempts:
        e = s.eps(x, t)
        s.step(x, t, tn, 2, r1=1 / 3, eps0=e)           # x_low (only its model call matters here)
        k = len(s.calls)
        x_high = s.step(x, t, tn, 3, eps0=e)
        del s.calls[k]                                    # cached eps_r1 in k-diffusion
        if acc:
            x = x_high
    return x, s.calls


# ----------------------------------------------------------------------------
# 7. classifier-free guidance (DPM-Solver++ 2M) on the labelled mixture
# ----------------------------------------------------------------------------

def rescale_noise_cfg_ref():
    # diffusers/guiders/guider_utils.py::rescale_noise_cfg, identical to the copy in
    # diffusers/pipelines/stable_diffusion/pipeline_stable_diffusion.py (which needs transformers to import)
    from diffusers.guiders.guider_utils import rescale_noise_cfg
    return rescale_noise_cfg


def np_threshold(x0, ratio, max_value):
    s = np.quantile(np.abs(x0), ratio, axis=1)            # linear interpolation, like torch.quantile
    s = np.clip(s, 1.0, max_value)[:, None]
    return np.clip(x0, -s, s) / s


def gen_guidance(col, lab: LabeledMixture):
    rescale = rescale_noise_cfg_ref()
    z = noise_for(LABELED, 2)
    c = 1
    w = 7.5
    variants = [("plain", None, 0.0), ("thresh-1.0", (0.995, 1.0), 0.0), ("thresh-3.0", (0.995, 3.0), 0.0),
                ("rescale-0.7", None, 0.7)]
    for spacing, sched in [("trailing", "default"), ("linspace", "karras")]:
        for n in [10, 20]:
            for vname, thr, gr in variants:
                def eps_fn(x, a, s, gr=gr):
                    xb = x.reshape(x.shape[0], -1)
                    eu = lab.full.eps(xb, a, s)
                    ec = lab.cond[c].eps(xb, a, s)
                    g = eu + w * (ec - eu)
                    if gr > 0:
                        g = rescale(g.reshape(x.shape), ec.reshape(x.shape), guidance_rescale=gr)
                    return g.reshape(x.shape)

                def x0_np(x, a, s, thr=thr, gr=gr):
                    eu = (x - a * lab.full.np_x0(x, a, s)) / s
                    ec = (x - a * lab.cond[c].np_x0(x, a, s)) / s
                    g = eu + w * (ec - eu)
                    if gr > 0:
                        std_t = np.std(ec, axis=1, ddof=1, keepdims=True)
                        std_g = np.std(g, axis=1, ddof=1, keepdims=True)
                        g = gr * (g * std_t / std_g) + (1 - gr) * g
                    x0 = (x - s * g) / a
                    return np_threshold(x0, thr[0], thr[1]) if thr else x0

                opts = {"guidance_scale": w, "guidance_rescale": gr, "class_label": c}
                dpm_ms_run(col, lab.full, z, "dpmpp_2m", spacing, sched, "zero", n, tag_extra=f"_cfg7.5_{vname}",
                           eps_fn=eps_fn, x0_np=x0_np, extra_options=opts, mixname=LABELED,
                           shape=(z.shape[0], 1, 2), thresholding=thr)
    # rename the guidance cases (they carry the mixture name and schedule already)
    for case in col.cases:
        if case["mixture"] == LABELED:
            case["name"] = "cfg_" + case["name"]


# ----------------------------------------------------------------------------

def check_committed_mixtures(mixtures):
    from safetensors.numpy import load_file
    for m in mixtures:
        back = load_file(str(FIXTURES / f"{m.name}.safetensors"))
        for k, v in [("weights", m.weights), ("means", m.means), ("stds", m.stds)]:
            assert np.array_equal(back[k], v), (m.name, k)
        assert np.array_equal(initial_noise(m), noise_for(m.name, m.D))


def main():
    torch.set_num_threads(1)
    quiet_diffusers()
    vers = versions()
    mixtures = make_mixtures()
    check_committed_mixtures(mixtures)
    lab = LabeledMixture()
    lab.save(FIXTURES / f"{LABELED}.safetensors")

    col = Collector()
    gen_dpm_multistep(col, mixtures)
    gen_dpm_singlestep(col, mixtures)
    gen_unipc(col, mixtures)
    gen_deis(col, mixtures)
    gen_pndm(col, mixtures)
    gen_kdiff(col, mixtures)
    gen_guidance(col, lab)

    names = [c["name"] for c in col.cases]
    assert len(set(names)) == len(names)
    skipped, seen = [], set()
    for s in col.skipped:
        key = json.dumps(s, sort_keys=True)
        if key not in seen:
            seen.add(key)
            skipped.append(s)
    header = {"generator": GENERATOR, "versions": vers,
              "coordinates": "x_init/x_final in VP coordinates (x = alpha*x0 + sigma*eps; EDM cases: alpha = 1); "
                             "sigmas = sigma_tilde = sigma/alpha grid incl. final value; "
                             "model_alpha/model_sigma = VP (alpha, sigma) of each model call in call order; "
                             "model_t = timestep the scheduler passes to the model (null for k-diffusion)",
              "batch": BATCH_ALL, "z_seeds": Z_SEED_ALL,
              "guidance": "cfg_* cases: one model evaluation per step = exact denoisers of the full mixture (uncond) "
                          "and of the components with label class_label (cond), both float32 eps; "
                          "eps = eps_uncond + guidance_scale * (eps_cond - eps_uncond) (float32); if guidance_rescale > 0: "
                          "diffusers rescale_noise_cfg(eps, eps_cond, guidance_rescale) (std over all non-batch dims, "
                          "unbiased N-1); thresholding is the scheduler's _threshold_sample on x0 (torch.quantile, linear "
                          "interpolation, per batch item over all non-batch elements; the sample is shaped [B,1,2] because "
                          "diffusers' _threshold_sample needs >= 3 dims); nfe counts guided evaluations",
              "skipped": skipped}
    write_json_cases(FIXTURES / "parity_solvers.json", header, col.cases)

    print(f"{'case':<78} {'nfe':>4} {'rms(x_final)':>13} {'relRMS vs np64':>15}")
    for name, nfe, r, err, tol in col.checks:
        print(f"{name:<78} {nfe:>4} {r:>13.6f} {err:>15.3e}")
    per_solver = {}
    for cs in col.cases:
        key = (cs["reference"], cs["solver"])
        per_solver[key] = per_solver.get(key, 0) + 1
    print("\ncases per (reference, solver):")
    for (ref, solver), k in sorted(per_solver.items()):
        print(f"  {ref:<42} {solver:<24} {k:>4}")
    nans = [cs["name"] for cs in col.cases if cs["reference_nan"]]
    print(f"\n{len(col.cases)} cases; max relRMS vs numpy float64 reference: "
          f"{max(c[3] for c in col.checks if not math.isnan(c[3])):.3e}")
    print(f"reference NaN cases ({len(nans)}):")
    for nm in nans:
        print("  " + nm)
    print("notes:")
    for nt in col.notes:
        print("  " + nt)
    print("skipped combinations:")
    for s in skipped:
        print(f"  {s}")
    print("\nfiles:")
    for p in [FIXTURES / f"{LABELED}.safetensors", FIXTURES / "parity_solvers.json"]:
        print(f"  {p.relative_to(REPO_ROOT)}  {p.stat().st_size} bytes")


if __name__ == "__main__":
    main()
