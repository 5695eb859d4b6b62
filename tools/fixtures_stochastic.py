#!/usr/bin/env python3
"""Reference-fixture generator for the DiffusionSolvers stochastic-sampler tests.

Python is a *tool* here (see tools/README.md): this script is run by hand and only its output
is committed.  It reuses tools/fixtures_foundation.py and tools/fixtures_solvers.py (imported as
modules): the mixtures and their exact float64 denoiser, the seeded initial noise, the k-diffusion
import without k_diffusion/__init__.py, the JSON writer, the version record and small helpers.

Output (in Tests/DiffusionSolversTests/Fixtures/):

  parity_stochastic.json   trajectories of stochastic samplers on the exact Gaussian-mixture denoisers,
                           with EVERY random draw the reference consumed, in order ([draw][B][D],
                           standard normal, before any scaling), and per draw: the noise levels it was
                           drawn for, the solver step, its role, the number of model calls made before
                           it, and the factor the update multiplies it by.

  k-diffusion: sample_euler_ancestral (eta 1 and 0.5), sample_dpm_2_ancestral, sample_dpmpp_2s_ancestral,
               sample_dpmpp_sde, sample_dpmpp_2m_sde (midpoint, heun), sample_dpmpp_3m_sde (all given a
               recording noise_sampler returning torch.randn from a seeded torch.Generator), and
               sample_euler / sample_heun with churn (their torch.randn_like is temporarily replaced by
               a recording draw from a seeded generator).
  diffusers:   DDPMScheduler (fixed_small, fixed_large), DDIMScheduler eta 1, DPMSolverMultistepScheduler
               sde-dpmsolver++ (orders 1, 2 midpoint, 2 heun, 3), SASolverScheduler (data / noise
               prediction), ScoreSdeVeScheduler (predictor-corrector loop of ScoreSdeVePipeline), all run
               with generator=<seeded torch.Generator>; the draws are recorded by wrapping the
               scheduler module's `randn_tensor`.

Checks (asserted):
  * replay: the same reference run again with its random source replaced by the recorded draws (returned in
    order, generator ignored) gives a bit-identical x_final -- the recorded draws are exactly what it used;
  * every case is recomputed by an independent float64 numpy implementation that consumes the recorded draws
    in order; it must agree to relative RMS <= 1e-4, and the draw bookkeeping it derives on its own (step,
    role, noise levels, model calls made before the draw) must equal the one recorded from the reference;
  * sensitivity: the numpy implementation fed the draws in reversed order must miss x_final by far more than
    the tolerance (so the endpoint check does pin the draw order down).

Run:  /root/venv-tools/bin/python tools/fixtures_stochastic.py      (or tools/.venv/bin/python)
"""
from __future__ import annotations

import math
import sys
import zlib
from pathlib import Path

import numpy as np
import torch
from scipy import integrate

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures_foundation import (  # noqa: E402
    BATCH, FIXTURES, REPO_ROOT, T_TRAIN, Z_SEED, Mixture, import_k_diffusion_sampling, initial_noise, make_mixtures,
    rel_rms, rms, sched_kwargs, versions, write_json_cases,
)
from fixtures_solvers import (  # noqa: E402
    NS_EDM, NS_FOR, check_committed_mixtures, f64, has_repeat, instrument, kd_model, quiet_diffusers, vp_of,
)

GENERATOR = "tools/fixtures_stochastic.py"
OUT = FIXTURES / "parity_stochastic.json"
TOL = 1e-4
STEPS = [5, 10, 20]
SQRT2M1 = 2 ** 0.5 - 1

KEY_ORDER = ["name", "reference", "solver", "eta", "mixture", "noise_schedule", "spacing", "sigma_schedule", "final",
             "steps", "options", "timesteps", "sigmas", "scheduler_sigmas", "init_noise_sigma", "nfe", "model_t",
             "model_alpha", "model_sigma", "step_orders", "corrector_orders", "x_init", "noise_seed", "step_noise",
             "noise_draw_sigmas", "noise_draw_steps", "noise_draw_roles", "noise_draw_calls", "noise_draw_scales",
             "reference_nan", "x_final", "f64_check_rel_rms", "f64_reversed_draws_rel_rms"]


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


# ----------------------------------------------------------------------------
# recording / replaying random sources
# ----------------------------------------------------------------------------

class Draws:
    """The draws of one reference run: tensors plus (step, role, s_from, s_to, calls_before) per draw."""

    def __init__(self):
        self.tensors, self.meta = [], []

    def add(self, t: torch.Tensor, step, role, s_from, s_to, calls_before):
        self.tensors.append(t.detach().clone())
        self.meta.append((int(step), role, float(s_from), float(s_to), int(calls_before)))

    def array(self, shape2d):
        if not self.tensors:
            return np.zeros((0,) + tuple(shape2d), dtype=np.float32)
        return np.stack([t.reshape(shape2d).numpy() for t in self.tensors]).astype(np.float32)


class PatchedRandn:
    """Replace `randn_tensor` in a diffusers scheduler module.  record mode: call the original (with the
    scheduler's generator) and hand every draw to `on_draw`; replay mode: return the given draws in order."""

    def __init__(self, module, on_draw=None, replay=None):
        self.module, self.on_draw, self.replay, self.k = module, on_draw, replay, 0

    def __enter__(self):
        self.orig = self.module.randn_tensor

        def fake(shape, generator=None, device=None, dtype=None, layout=None):
            if self.replay is not None:
                out = self.replay[self.k].clone()
                assert tuple(out.shape) == tuple(shape), (out.shape, shape)
                self.k += 1
                return out.to(dtype) if dtype is not None else out
            assert generator is not None, "the reference must draw from the generator it was given"
            out = self.orig(shape, generator=generator, device=device, dtype=dtype, layout=layout)
            self.on_draw(out)
            return out

        self.module.randn_tensor = fake
        return self

    def __exit__(self, *exc):
        self.module.randn_tensor = self.orig
        if self.replay is not None and exc[0] is None:
            assert self.k == len(self.replay), ("replay used", self.k, "of", len(self.replay))
        return False


class PatchedRandnLike:
    """k-diffusion sample_euler / sample_heun draw churn noise with torch.randn_like(x) from the global RNG;
    replace it (for the duration of the run) by a draw from a seeded generator that is recorded, or by replay."""

    def __init__(self, gen=None, on_draw=None, replay=None):
        self.gen, self.on_draw, self.replay, self.k = gen, on_draw, replay, 0

    def __enter__(self):
        self.orig = torch.randn_like

        def fake(x, *a, **k):
            assert not a and not k
            if self.replay is not None:
                out = self.replay[self.k].clone()
                self.k += 1
                return out
            out = torch.randn(x.shape, generator=self.gen, dtype=x.dtype)
            self.on_draw(out)
            return out

        torch.randn_like = fake
        return self

    def __exit__(self, *exc):
        torch.randn_like = self.orig
        if self.replay is not None and exc[0] is None:
            assert self.k == len(self.replay)
        return False


# ----------------------------------------------------------------------------
# float64 numpy model wrapper that counts calls (the independent references use it)
# ----------------------------------------------------------------------------

class NpModel:
    def __init__(self, mix: Mixture):
        self.mix, self.calls = mix, []

    def x0(self, x, a, s):
        self.calls.append((float(a), float(s)))
        return self.mix.np_x0(x, a, s)

    def x0_ve(self, x, sigma):
        return self.x0(x, 1.0, sigma)


class NpDraws:
    """Hands out the recorded draws in order and logs (step, role, s_from, s_to, calls_before, scale)."""

    def __init__(self, draws: np.ndarray, model: NpModel):
        self.draws = np.asarray(draws, dtype=np.float64)
        self.model, self.k, self.meta = model, 0, []

    def take(self, step, role, s_from, s_to, scale):
        z = self.draws[self.k]
        self.k += 1
        self.meta.append((int(step), role, float(s_from), float(s_to), len(self.model.calls), float(scale)))
        return z

    def done(self):
        assert self.k == len(self.draws), ("numpy reference used", self.k, "of", len(self.draws), "draws")


# ----------------------------------------------------------------------------
# independent float64 references: k-diffusion (EDM / VE: x = x0 + sigma*eps, alpha = 1)
# ----------------------------------------------------------------------------

def anc_step(s_from, s_to, eta):
    """k-diffusion get_ancestral_step."""
    if not eta:
        return s_to, 0.0
    su = min(s_to, eta * math.sqrt(s_to ** 2 * (s_from ** 2 - s_to ** 2) / s_from ** 2))
    return math.sqrt(s_to ** 2 - su ** 2), su


def np_kd(sampler, mix, x_init, sig, draws, opts):
    m = NpModel(mix)
    nd = NpDraws(draws, m)
    x = np.asarray(x_init, dtype=np.float64)
    n = len(sig) - 1
    eta, s_noise = opts.get("eta", 0.0), opts.get("s_noise", 1.0)
    old, h_last = None, None            # 2m sde
    d1_, d2_, h1_, h2_ = None, None, None, None   # 3m sde
    for i in range(n):
        s, sn = sig[i], sig[i + 1]
        if sampler in ("euler", "heun"):
            gamma = min(opts["s_churn"] / n, SQRT2M1) if opts["s_tmin"] <= s <= opts["s_tmax"] else 0.0
            s_hat = s * (gamma + 1)
            scale = s_noise * math.sqrt(s_hat ** 2 - s ** 2)
            z = nd.take(i, "churn", s, s_hat, scale)          # drawn at every step, used only if gamma > 0
            if gamma > 0:
                x = x + scale * z
            d = (x - m.x0_ve(x, s_hat)) / s_hat
            dt = sn - s_hat
            if sampler == "euler" or sn == 0:
                x = x + d * dt
            else:
                x2 = x + d * dt
                d2 = (x2 - m.x0_ve(x2, sn)) / sn
                x = x + 0.5 * (d + d2) * dt
            continue
        den = m.x0_ve(x, s)
        if sampler == "euler_ancestral":
            sd, su = anc_step(s, sn, eta)
            x = x + (x - den) / s * (sd - s)
            if sn > 0:
                x = x + s_noise * su * nd.take(i, "ancestral", s, sn, s_noise * su)
        elif sampler == "dpm_2_ancestral":
            sd, su = anc_step(s, sn, eta)
            d = (x - den) / s
            if sd == 0:
                x = x + d * (sd - s)
            else:
                sm = math.exp(0.5 * (math.log(s) + math.log(sd)))
                x2 = x + d * (sm - s)
                d2 = (x2 - m.x0_ve(x2, sm)) / sm
                x = x + d2 * (sd - s)
                x = x + s_noise * su * nd.take(i, "ancestral", s, sn, s_noise * su)
        elif sampler == "dpmpp_2s_ancestral":
            sd, su = anc_step(s, sn, eta)
            if sd == 0:
                x = x + (x - den) / s * (sd - s)
            else:
                h = math.log(s) - math.log(sd)
                s_mid = s * math.exp(-0.5 * h)
                x2 = (s_mid / s) * x - math.expm1(-0.5 * h) * den
                x = (sd / s) * x - math.expm1(-h) * m.x0_ve(x2, s_mid)
            if sn > 0:
                x = x + s_noise * su * nd.take(i, "ancestral", s, sn, s_noise * su)
        elif sampler == "dpmpp_sde":
            if sn == 0:
                x = x + (x - den) / s * (sn - s)
            else:
                r = opts["r"]
                t, tn = -math.log(s), -math.log(sn)
                h = tn - t
                sm = math.exp(-(t + h * r))
                fac = 1 / (2 * r)
                sd, su = anc_step(s, sm, eta)
                x2 = (sd / s) * x - math.expm1(t + math.log(sd)) * den
                x2 = x2 + s_noise * su * nd.take(i, "sde_stage1", s, sm, s_noise * su)
                den2 = m.x0_ve(x2, sm)
                sd, su = anc_step(s, sn, eta)
                dd = (1 - fac) * den + fac * den2
                x = (sd / s) * x - math.expm1(t + math.log(sd)) * dd
                x = x + s_noise * su * nd.take(i, "sde_stage2", s, sn, s_noise * su)
        elif sampler == "dpmpp_2m_sde":
            if sn == 0:
                x = den
            else:
                h = math.log(s) - math.log(sn)
                eh = eta * h
                one_m = -math.expm1(-h - eh)
                x = (sn / s) * math.exp(-eh) * x + one_m * den
                if old is not None:
                    r = h_last / h
                    if opts["solver_type"] == "heun":
                        x = x + (one_m / (-h - eh) + 1) * (1 / r) * (den - old)
                    else:
                        x = x + 0.5 * one_m * (1 / r) * (den - old)
                if eta:
                    scale = sn * math.sqrt(-math.expm1(-2 * eh)) * s_noise
                    x = x + scale * nd.take(i, "sde", s, sn, scale)
                h_last = h
            old = den
        elif sampler == "dpmpp_3m_sde":
            h = None
            if sn == 0:
                x = den
            else:
                h = math.log(s) - math.log(sn)
                he = h * (eta + 1)
                x = math.exp(-he) * x - math.expm1(-he) * den
                if h2_ is not None:
                    r0, r1 = h1_ / h, h2_ / h
                    d1_0 = (den - d1_) / r0
                    d1_1 = (d1_ - d2_) / r1
                    d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                    d2 = (d1_0 - d1_1) / (r0 + r1)
                    phi2 = math.expm1(-he) / he + 1
                    phi3 = phi2 / he - 0.5
                    x = x + phi2 * d1 - phi3 * d2
                elif h1_ is not None:
                    r = h1_ / h
                    x = x + (math.expm1(-he) / he + 1) * (den - d1_) / r
                if eta:
                    scale = sn * math.sqrt(-math.expm1(-2 * h * eta)) * s_noise
                    x = x + scale * nd.take(i, "sde", s, sn, scale)
            d1_, d2_ = den, d1_
            h1_, h2_ = h, h1_
        else:
            raise ValueError(sampler)
    nd.done()
    return x, nd.meta, m.calls


# ----------------------------------------------------------------------------
# independent float64 references: diffusers (VP: x = alpha*x0 + sigma*eps)
# ----------------------------------------------------------------------------

def np_ddpm(mix, x_init, ts, abar, variance_type, draws):
    m = NpModel(mix)
    nd = NpDraws(draws, m)
    x = np.asarray(x_init, dtype=np.float64)
    n = len(ts)
    for i, t in enumerate(ts):
        prev = ts[i + 1] if i + 1 < n else -1
        ab = abar[t]
        abp = abar[prev] if prev >= 0 else 1.0
        a_t = ab / abp
        b_t = 1 - a_t
        x0 = m.x0(x, math.sqrt(ab), math.sqrt(1 - ab))
        mean = (math.sqrt(abp) * b_t / (1 - ab)) * x0 + (math.sqrt(a_t) * (1 - abp) / (1 - ab)) * x
        if t > 0:
            var = max((1 - abp) / (1 - ab) * b_t, 1e-20) if variance_type == "fixed_small" else b_t
            st, sp = math.sqrt((1 - ab) / ab), math.sqrt((1 - abp) / abp)
            mean = mean + math.sqrt(var) * nd.take(i, "ddpm", st, sp, math.sqrt(var))
        x = mean
    nd.done()
    return x, nd.meta, m.calls


def np_ddim(mix, x_init, ts, abar, final_abar, eta, draws):
    m = NpModel(mix)
    nd = NpDraws(draws, m)
    x = np.asarray(x_init, dtype=np.float64)
    n = len(ts)
    for i, t in enumerate(ts):
        prev = t - T_TRAIN // n
        ab = abar[t]
        abp = abar[prev] if prev >= 0 else final_abar
        x0 = m.x0(x, math.sqrt(ab), math.sqrt(1 - ab))
        e = (x - math.sqrt(ab) * x0) / math.sqrt(1 - ab)
        std = eta * math.sqrt((1 - abp) / (1 - ab) * (1 - ab / abp))
        x = math.sqrt(abp) * x0 + math.sqrt(max(1 - abp - std ** 2, 0.0)) * e
        st, sp = math.sqrt((1 - ab) / ab), math.sqrt((1 - abp) / abp)
        x = x + std * nd.take(i, "ddim", st, sp, std)          # eta > 0: drawn at every step
    nd.done()
    return x, nd.meta, m.calls


def np_dpm_sde(mix, x_init, sig, order, solver_type, lower_order_final, euler_at_final, draws, step_orders=None):
    """diffusers DPMSolverMultistep, algorithm_type sde-dpmsolver++, with its order rules (or `step_orders`)."""
    m = NpModel(mix)
    nd = NpDraws(draws, m)
    n = len(sig) - 1
    final_zero = sig[-1] == 0.0
    lam = np.asarray([(-math.log(v) if v > 0 else math.inf) for v in sig])
    x = np.asarray(x_init, dtype=np.float64)
    ms, orders = [], []
    with np.errstate(all="ignore"):
        for i in range(n):
            a, s = vp_of(sig[i])
            ms.append(m.x0(x, a, s))
            lof = i == n - 1 and (euler_at_final or (lower_order_final and n < 15) or final_zero)
            los = i == n - 2 and lower_order_final and n < 15
            p = 1 if (order == 1 or i < 1 or lof) else 2 if (order == 2 or i < 2 or los) else 3
            if step_orders is not None:
                p = step_orders[i]
            orders.append(p)
            at, st = vp_of(sig[i + 1])
            h = np.float64(lam[i + 1] - lam[i])
            om = -np.expm1(-2.0 * h)                           # 1 - e^{-2h}
            x = (st / s) * np.exp(-h) * x + at * om * ms[-1]
            if p == 2:
                d1 = (ms[-1] - ms[-2]) / ((lam[i] - lam[i - 1]) / h)
                if solver_type == "midpoint":
                    x = x + 0.5 * at * om * d1
                else:
                    x = x + at * (om / (-2.0 * h) + 1.0) * d1
            elif p == 3:
                r0, r1 = (lam[i] - lam[i - 1]) / h, (lam[i - 1] - lam[i - 2]) / h
                d1_0, d1_1 = (ms[-1] - ms[-2]) / r0, (ms[-2] - ms[-3]) / r1
                d1 = d1_0 + r0 / (r0 + r1) * (d1_0 - d1_1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                x = x + at * (om / (-2.0 * h) + 1.0) * d1 + at * ((om - 2.0 * h) / (2.0 * h) ** 2 - 0.5) * d2
            scale = st * math.sqrt(om)
            x = x + scale * nd.take(i, "sde", sig[i], sig[i + 1], scale)   # drawn at every step
    nd.done()
    return x, nd.meta, m.calls, orders


def lagrange_basis(nodes, k):
    def f(lmb):
        v = 1.0
        for j, nj in enumerate(nodes):
            if j != k:
                v *= (lmb - nj) / (nodes[k] - nj)
        return v
    return f


def sa_coeffs(nodes, lam_s, lam_t, tau, predict_x0):
    """c_k = int_{lam_s}^{lam_t} w(l) L_k(l) dl, w = exp((1+tau^2) l) (data) or exp(-l) (noise); by quadrature
    (diffusers uses closed forms of the monomial integrals)."""
    c = 1.0 + tau * tau
    out = []
    for k in range(len(nodes)):
        basis = lagrange_basis(nodes, k)
        w = (lambda l: math.exp(c * l)) if predict_x0 else (lambda l: math.exp(-l))
        out.append(integrate.quad(lambda l: w(l) * basis(l), lam_s, lam_t, epsabs=0, epsrel=1e-13, limit=200)[0])
    return out


def sa_update(lam, sig, i_from, i_to, node_idx, models, x_from, z, tau, predict_x0, corrector):
    a_s, s_s = vp_of(sig[i_from])
    a_t, s_t = vp_of(sig[i_to])
    ls, lt = lam[i_from], lam[i_to]
    h = lt - ls
    nodes = [lam[j] for j in node_idx]
    cs = sa_coeffs(nodes, ls, lt, tau, predict_x0)
    c = 1.0 + tau * tau
    if predict_x0 and len(nodes) == 2:
        core = h * c - 1 + math.exp(-c * h)
        if corrector:
            extra = math.exp(c * lt) * (h / 2 - core / (c ** 2 * h))
        else:
            extra = math.exp(c * lt) * (h ** 2 / 2 - core / c ** 2) / (lam[node_idx[0]] - lam[node_idx[1]])
        cs[0] += extra
        cs[1] -= extra
    if predict_x0:
        grad = sum(c * s_t * math.exp(-tau * tau * lt) * ck * mk for ck, mk in zip(cs, models))
        scale = s_t * math.sqrt(-math.expm1(-2 * tau * tau * h))
        x = math.exp(-tau * tau * h) * (s_t / s_s) * x_from + grad + scale * z
    else:
        grad = sum(-c * a_t * ck * mk for ck, mk in zip(cs, models))
        scale = tau * s_t * math.sqrt(math.expm1(2 * h))
        x = (a_t / a_s) * x_from + grad + scale * z
    return x, scale


def sa_tau(t):
    """SASolverScheduler's default tau_func."""
    return 1 if 200 <= t <= 800 else 0


def np_sa_solver(mix, x_init, sig, ts, p_order, c_order, predict_x0, draws):
    m = NpModel(mix)
    nd = NpDraws(draws, m)
    n = len(sig) - 1
    lam = [-math.log(v) for v in sig]
    x = np.asarray(x_init, dtype=np.float64)
    ms, p_orders, c_orders = [], [], []
    last_sample, last_noise, this_c, lon = None, None, None, 0
    buf = max(p_order, c_order - 1)
    for i in range(n):
        a, s = vp_of(sig[i])
        x0 = m.x0(x, a, s)
        mi = x0 if predict_x0 else (x - a * x0) / s
        if i > 0 and last_sample is not None:
            cc = this_c
            models = [mi] + [ms[i - k] for k in range(1, cc)]
            x, _ = sa_update(lam, sig, i - 1, i, [i - k for k in range(cc)], models, last_sample, last_noise,
                             sa_tau(ts[i - 1]), predict_x0, corrector=True)
            c_orders.append(cc)
        else:
            c_orders.append(0)
        ms.append(mi)
        p = min(p_order, n - i)
        cc = min(c_order, n - i + 1)
        p = min(p, lon + 1)
        this_c = min(cc, lon + 2)
        p_orders.append(p)
        tau = sa_tau(ts[i])
        # the scale is only known after the coefficients; take the draw with it (recomputed identically below)
        a_t, s_t = vp_of(sig[i + 1])
        h = lam[i + 1] - lam[i]
        scale = s_t * math.sqrt(-math.expm1(-2 * tau * tau * h)) if predict_x0 else tau * s_t * math.sqrt(math.expm1(2 * h))
        z = nd.take(i, "sa_predictor", sig[i], sig[i + 1], scale)
        last_sample, last_noise = x, z
        x, sc = sa_update(lam, sig, i, i + 1, [i - k for k in range(p)], [ms[i - k] for k in range(p)], x, z, tau,
                          predict_x0, corrector=False)
        assert sc == scale
        if lon < buf:
            lon += 1
    nd.done()
    return x, nd.meta, m.calls, p_orders, c_orders


def np_score_sde(mix, x_init, cont_sigmas, disc_sigmas, idxs, snr, correct_steps, draws):
    """ScoreSdeVePipeline loop: Langevin corrector(s) then reverse-diffusion predictor; returns the last mean."""
    m = NpModel(mix)
    nd = NpDraws(draws, m)
    x = np.asarray(x_init, dtype=np.float64)
    x_mean = None

    def score(x, sg):
        return -(x - m.x0_ve(x, sg)) / (sg * sg)

    for i, sg in enumerate(cont_sigmas):
        for _ in range(correct_steps):
            g = score(x, sg)
            z = nd.draws[nd.k]
            grad_norm = np.mean(np.linalg.norm(g, axis=1))
            noise_norm = np.mean(np.linalg.norm(z, axis=1))
            eps = 2 * (snr * noise_norm / grad_norm) ** 2
            z = nd.take(i, "langevin_corrector", sg, sg, math.sqrt(2 * eps))
            x = x + eps * g + math.sqrt(2 * eps) * z
        g = score(x, sg)
        k = idxs[i]
        s_d = disc_sigmas[k]
        s_a = disc_sigmas[k - 1] if k > 0 else 0.0
        diff = math.sqrt(s_d ** 2 - s_a ** 2)
        x_mean = x + diff ** 2 * g
        x = x_mean + diff * nd.take(i, "reverse_diffusion_predictor", s_d, s_a, diff)
    nd.done()
    return x_mean, nd.meta, m.calls


# ----------------------------------------------------------------------------
# case collection and checks
# ----------------------------------------------------------------------------

class Collector:
    def __init__(self):
        self.cases, self.checks, self.notes = [], [], []
        self.call_dev = {}

    def add(self, case: dict, draws: Draws, ref, np_meta, np_calls, np_reversed, tol=TOL):
        """ref: float64 x_final of the numpy implementation; np_meta: its draw bookkeeping
        (step, role, s_from, s_to, calls_before, scale); np_calls: its model calls (alpha, sigma);
        np_reversed: its x_final with the draws in reversed order (or None)."""
        name = case["name"]
        B, D = BATCH[case["mixture"]], len(case["x_init"][0])
        rec = draws.meta
        assert len(rec) == len(np_meta), (name, len(rec), len(np_meta))
        for k, (r, q) in enumerate(zip(rec, np_meta)):
            assert r[0] == q[0] and r[1] == q[1] and r[4] == q[4], (name, k, r, q)
            for a, b in [(r[2], q[2]), (r[3], q[3])]:
                assert abs(a - b) <= 2e-6 * max(abs(b), 1e-30), (name, k, r, q)
        # model-call levels of the numpy implementation = the reference's
        # (k-diffusion's float32 get_ancestral_step cancels in sigma_to^2 - sigma_up^2, which moves its sigma_down,
        # and so dpm_2_ancestral's midpoint call level, by up to ~1e-5 relative: hence the loose bound)
        assert len(np_calls) == case["nfe"] == len(case["model_sigma"]), (name, len(np_calls), case["nfe"])
        dev = 0.0
        for (a, s), ra, rs in zip(np_calls, case["model_alpha"], case["model_sigma"]):
            assert abs(a - ra) <= 1e-6 * ra and abs(s - rs) <= 1e-4 * rs, (name, a, s, ra, rs)
            dev = max(dev, abs(s / rs - 1))
        self.call_dev[case["reference"] + " " + case["solver"]] = max(dev, self.call_dev.get(
            case["reference"] + " " + case["solver"], 0.0))
        # all draws of a case are successive torch.randn calls on one CPU generator seeded with noise_seed
        g = torch.Generator().manual_seed(case["noise_seed"])
        for k, t in enumerate(draws.tensors):
            assert t.dtype == torch.float32 and torch.equal(t, torch.randn(t.shape, generator=g)), (name, k)
        case["step_noise"] = draws.array((B, D))
        case["noise_draw_sigmas"] = [[m[2], m[3]] for m in rec]
        case["noise_draw_steps"] = [m[0] for m in rec]
        case["noise_draw_roles"] = [m[1] for m in rec]
        case["noise_draw_calls"] = [m[4] for m in rec]
        case["noise_draw_scales"] = [q[5] + 0.0 for q in np_meta]          # + 0.0: no -0.0 in the file
        if case.get("reference_nan"):
            assert case["x_final"] is None
            assert not np.all(np.isfinite(ref)), (name, "reference is NaN but the numpy reference is finite")
            self.checks.append((name, case["nfe"], len(rec), float("nan"), float("nan"), float("nan")))
        else:
            case["reference_nan"] = False
            assert case["x_final"] is not None and np.all(np.isfinite(case["x_final"])), name
            err = rel_rms(case["x_final"], ref)
            case["f64_check_rel_rms"] = float(f"{err:.3g}")
            assert err <= tol, (name, err)
            rev = None
            if np_reversed is not None:
                rev = rel_rms(case["x_final"], np_reversed)
                case["f64_reversed_draws_rel_rms"] = float(f"{rev:.3g}")
                assert rev > 100 * tol, (name, "reversing the draws does not change the endpoint", rev)
            self.checks.append((name, case["nfe"], len(rec), rms(case["x_final"]), err,
                                float("nan") if rev is None else rev))
        self.cases.append({k: case[k] for k in KEY_ORDER if k in case})


def reversed_or_none(draws: np.ndarray, scales):
    """Reversed draw order, if at least two draws have a nonzero scale (otherwise the order cannot matter)."""
    if sum(1 for s in scales if s > 0) < 2:
        return None
    return draws[::-1].copy()


def base(name, reference, solver, eta, mixname, ns, spacing, sigma_schedule, final, steps, options):
    return dict(name=name, reference=reference, solver=solver, eta=float(eta), mixture=mixname, noise_schedule=ns,
                spacing=spacing, sigma_schedule=sigma_schedule, final=final, steps=steps, options=options,
                noise_seed=seed_of(name))


# ----------------------------------------------------------------------------
# 1. k-diffusion
# ----------------------------------------------------------------------------

KD_CASES = [
    # (solver, function, kwargs, tag)
    ("euler_ancestral", "sample_euler_ancestral", {"eta": 1.0, "s_noise": 1.0}, ""),
    ("euler_ancestral", "sample_euler_ancestral", {"eta": 0.5, "s_noise": 1.0}, "_eta0.5"),
    ("dpm_2_ancestral", "sample_dpm_2_ancestral", {"eta": 1.0, "s_noise": 1.0}, ""),
    ("dpmpp_2s_ancestral", "sample_dpmpp_2s_ancestral", {"eta": 1.0, "s_noise": 1.0}, ""),
    ("dpmpp_sde", "sample_dpmpp_sde", {"eta": 1.0, "s_noise": 1.0, "r": 0.5}, ""),
    ("dpmpp_2m_sde", "sample_dpmpp_2m_sde", {"eta": 1.0, "s_noise": 1.0, "solver_type": "midpoint"}, ""),
    ("dpmpp_2m_sde_heun", "sample_dpmpp_2m_sde", {"eta": 1.0, "s_noise": 1.0, "solver_type": "heun"}, ""),
    ("dpmpp_3m_sde", "sample_dpmpp_3m_sde", {"eta": 1.0, "s_noise": 1.0}, ""),
    ("euler", "sample_euler", {"s_churn": 40.0, "s_tmin": 0.05, "s_tmax": 50.0, "s_noise": 1.003}, "_churn40"),
    ("heun", "sample_heun", {"s_churn": 40.0, "s_tmin": 0.05, "s_tmax": 50.0, "s_noise": 1.003}, "_churn40"),
]
KD_ROLE = {"euler_ancestral": "ancestral", "dpm_2_ancestral": "ancestral", "dpmpp_2s_ancestral": "ancestral",
           "dpmpp_2m_sde": "sde", "dpmpp_2m_sde_heun": "sde", "dpmpp_3m_sde": "sde", "euler": "churn",
           "heun": "churn"}


def kd_run(K, mix, x, sig_t, fn_name, kwargs, churn, seed, replay=None):
    calls = []
    model = kd_model(mix, calls)
    fn = getattr(K, fn_name)
    sig = f64(sig_t)
    draws = Draws()
    if churn:
        def on_draw(t):
            i = len(draws.tensors)                      # one randn_like per step
            draws.add(t, i, "churn", sig[i], float("nan"), len(calls))
        g = torch.Generator().manual_seed(seed)
        with PatchedRandnLike(gen=g, on_draw=None if replay is not None else on_draw, replay=replay):
            out = fn(model, x, sig_t, disable=True, **kwargs)
        # the churned level is the level of the model call that follows the draw
        draws.meta = [(st, ro, sf, calls[cb], cb) for (st, ro, sf, _, cb) in draws.meta]
    else:
        g = torch.Generator().manual_seed(seed)
        it = iter(replay) if replay is not None else None

        def noise_sampler(sigma, sigma_next):
            if it is not None:
                return next(it).clone()
            d = torch.randn(x.shape, generator=g, dtype=x.dtype)
            sf, sn = float(sigma), float(sigma_next)
            i = int(np.argmin([abs(math.log(sf) - math.log(v)) if v > 0 else math.inf for v in sig]))
            assert abs(math.log(sf) - math.log(sig[i])) < 1e-5
            if fn_name == "sample_dpmpp_sde":
                role = "sde_stage2" if abs(sn / sig[i + 1] - 1) < 1e-6 else "sde_stage1"
            else:
                role = None
            draws.add(d, i, role, sf, sn, len(calls))
            return d
        out = fn(model, x, sig_t, disable=True, noise_sampler=noise_sampler, **kwargs)
        if it is not None:
            assert next(it, None) is None, "replay: not all draws used"
    return out, calls, draws


def gen_kdiff(col, mixtures):
    K = import_k_diffusion_sampling()
    for mix in mixtures:
        z = initial_noise(mix)
        for solver, fn_name, kwargs, tag in KD_CASES:
            for n in STEPS:
                sig_t = K.get_sigmas_karras(n, 0.002, 80.0, rho=7.0)
                sig = f64(sig_t)
                x = torch.from_numpy(z) * sig_t[0]
                name = f"kd_{solver}_{mix.name}_karras_n{n}{tag}"
                churn = solver in ("euler", "heun")
                seed = seed_of(name)
                out, calls, draws = kd_run(K, mix, x, sig_t, fn_name, kwargs, churn, seed)
                role = KD_ROLE.get(solver)
                if role is not None:
                    draws.meta = [(m[0], role, m[2], m[3], m[4]) for m in draws.meta]
                # replay: the recorded draws in order reproduce the endpoint bit for bit
                out_b, _, _ = kd_run(K, mix, x, sig_t, fn_name, kwargs, churn, seed + 1, replay=draws.tensors)
                assert torch.equal(out, out_b), name
                options = dict(kwargs)
                if solver == "dpmpp_2s_ancestral":
                    options["r"] = 0.5                   # fixed inside sample_dpmpp_2s_ancestral
                if churn:
                    options["gammas"] = [min(kwargs["s_churn"] / n, SQRT2M1)
                                         if kwargs["s_tmin"] <= s <= kwargs["s_tmax"] else 0.0 for s in sig[:-1]]
                nfe = len(calls)
                case = base(name, f"k_diffusion.{fn_name}", solver, kwargs.get("eta", 0.0), mix.name, NS_EDM,
                            "karras", "karras", "zero", n, options)
                case.update(timesteps=None, sigmas=sig, init_noise_sigma=float(sig_t[0]), nfe=nfe, model_t=None,
                            model_alpha=[1.0] * nfe, model_sigma=calls, x_init=x.numpy(), x_final=out.numpy())
                arr = draws.array((x.shape[0], mix.D))
                ref, meta, np_calls = np_kd(solver.replace("_heun", ""), mix, x.numpy(), sig, arr, kwargs)
                rev = reversed_or_none(arr, [m[5] for m in meta])
                ref_rev = None if rev is None else np_kd(solver.replace("_heun", ""), mix, x.numpy(), sig, rev,
                                                        kwargs)[0]
                col.add(case, draws, ref, meta, np_calls, ref_rev)


# ----------------------------------------------------------------------------
# 2. diffusers DDPM / DDIM (timestep schedulers; model at alphas_cumprod[t])
# ----------------------------------------------------------------------------

def sched_module(sch):
    return sys.modules[type(sch).__module__]


def drive_timestep_scheduler(sch, mix, z, n, step_kw, seed, replay=None):
    sch.set_timesteps(n)
    abar = sch.alphas_cumprod.to(torch.float64).numpy()
    assert float(sch.init_noise_sigma) == 1.0
    x = torch.from_numpy(z.copy())
    x_init = x.clone()
    g = torch.Generator().manual_seed(seed)
    draws, calls = Draws(), []
    state = {"i": None, "role": None}          # role is filled in by the caller
    ts = [int(t) for t in sch.timesteps]

    def on_draw(t):
        i = state["i"]
        cur = ts[i]
        prev = getattr(sch, "previous_timestep", None)
        prev_t = int(prev(sch.timesteps[i])) if prev is not None else cur - T_TRAIN // n
        ab = abar[cur]
        abp = abar[prev_t] if prev_t >= 0 else float(getattr(sch, "final_alpha_cumprod", torch.tensor(1.0)))
        draws.add(t, i, state["role"], math.sqrt((1 - ab) / ab), math.sqrt((1 - abp) / abp), len(calls))

    m_t, m_a, m_s = [], [], []
    with PatchedRandn(sched_module(sch), on_draw=on_draw, replay=replay):
        for i, t in enumerate(sch.timesteps):
            ab = abar[int(t)]
            a, s = math.sqrt(ab), math.sqrt(1 - ab)
            m_t.append(int(t))
            m_a.append(a)
            m_s.append(s)
            calls.append(s)
            eps = mix.eps(x, a, s)
            state["i"] = i
            x = sch.step(eps, t, x, generator=g, **step_kw).prev_sample
    return dict(timesteps=ts, abar=abar, model_t=m_t, model_alpha=m_a, model_sigma=m_s, x_init=x_init.numpy(),
                x_final=x.numpy()), draws, state


def gen_ddpm_ddim(col, mixtures):
    from diffusers import DDIMScheduler, DDPMScheduler
    for mix in mixtures:
        z = initial_noise(mix)
        tag, ns = NS_FOR[mix.name]
        # ---- DDPM ----
        for vt in ["fixed_small", "fixed_large"]:
            for spacing in ["leading", "trailing"]:
                for n in STEPS:
                    name = f"ddpm_{vt}_{mix.name}_{tag}_{spacing}_n{n}"
                    seed = seed_of(name)

                    def make():
                        return DDPMScheduler(**sched_kwargs(ns), variance_type=vt, clip_sample=False,
                                             prediction_type="epsilon", timestep_spacing=spacing)
                    sch = make()
                    r, draws, _ = drive_timestep_scheduler(sch, mix, z, n, {}, seed)
                    draws.meta = [(m[0], "ddpm", m[2], m[3], m[4]) for m in draws.meta]
                    r2, _, _ = drive_timestep_scheduler(make(), mix, z, n, {}, seed + 1, replay=draws.tensors)
                    assert np.array_equal(r["x_final"], r2["x_final"]), name
                    ts, abar = r["timesteps"], r["abar"]
                    sig = [math.sqrt((1 - abar[t]) / abar[t]) for t in ts] + [0.0]
                    options = {"variance_type": vt, "prediction_type": "epsilon", "clip_sample": False,
                               "thresholding": False, "timestep_spacing": spacing}
                    case = base(name, "diffusers.DDPMScheduler", "ddpm", 0.0, mix.name, ns, spacing, "default",
                                "zero", n, options)
                    case.update(timesteps=ts, sigmas=sig, init_noise_sigma=1.0, nfe=n, model_t=r["model_t"],
                                model_alpha=r["model_alpha"], model_sigma=r["model_sigma"], x_init=r["x_init"],
                                x_final=r["x_final"])
                    arr = draws.array((z.shape[0], mix.D))
                    ref, meta, calls = np_ddpm(mix, r["x_init"], ts, abar, vt, arr)
                    rev = reversed_or_none(arr, [m[5] for m in meta])
                    ref_rev = None if rev is None else np_ddpm(mix, r["x_init"], ts, abar, vt, rev)[0]
                    col.add(case, draws, ref, meta, calls, ref_rev)
        # ---- DDIM eta = 1 ----
        for spacing in ["leading", "trailing"]:
            for final in ["zero", "min"]:
                for n in STEPS:
                    name = f"ddim_eta1_{mix.name}_{tag}_{spacing}_final-{final}_n{n}"
                    seed = seed_of(name)

                    def make():
                        return DDIMScheduler(**sched_kwargs(ns), set_alpha_to_one=(final == "zero"), clip_sample=False,
                                             prediction_type="epsilon", timestep_spacing=spacing)
                    sch = make()
                    r, draws, _ = drive_timestep_scheduler(sch, mix, z, n, {"eta": 1.0}, seed)
                    draws.meta = [(m[0], "ddim", m[2], m[3], m[4]) for m in draws.meta]
                    # replay twice: through randn_tensor, and through step(variance_noise=...)
                    r2, _, _ = drive_timestep_scheduler(make(), mix, z, n, {"eta": 1.0}, seed + 1,
                                                        replay=draws.tensors)
                    assert np.array_equal(r["x_final"], r2["x_final"]), name
                    sch3 = make()
                    sch3.set_timesteps(n)
                    x3 = torch.from_numpy(z.copy())
                    for i, t in enumerate(sch3.timesteps):
                        ab = float(sch3.alphas_cumprod.to(torch.float64)[int(t)])
                        x3 = sch3.step(mix.eps(x3, math.sqrt(ab), math.sqrt(1 - ab)), t, x3, eta=1.0,
                                       variance_noise=draws.tensors[i]).prev_sample
                    assert np.array_equal(r["x_final"], x3.numpy()), name
                    ts, abar = r["timesteps"], r["abar"]
                    final_abar = float(sch.final_alpha_cumprod)
                    for i, t in enumerate(ts):                 # steps land on the next grid point (N | T)
                        assert (t - T_TRAIN // n == ts[i + 1]) if i + 1 < n else (t - T_TRAIN // n < 0), (name, ts)
                    sig = [math.sqrt((1 - abar[t]) / abar[t]) for t in ts]
                    sig.append(0.0 if final == "zero" else math.sqrt((1 - final_abar) / final_abar))
                    options = {"eta": 1.0, "set_alpha_to_one": final == "zero", "prediction_type": "epsilon",
                               "clip_sample": False, "thresholding": False, "use_clipped_model_output": False,
                               "timestep_spacing": spacing}
                    case = base(name, "diffusers.DDIMScheduler", "ddim", 1.0, mix.name, ns, spacing, "default",
                                final, n, options)
                    case.update(timesteps=ts, sigmas=sig, init_noise_sigma=1.0, nfe=n, model_t=r["model_t"],
                                model_alpha=r["model_alpha"], model_sigma=r["model_sigma"], x_init=r["x_init"],
                                x_final=r["x_final"])
                    arr = draws.array((z.shape[0], mix.D))
                    ref, meta, calls = np_ddim(mix, r["x_init"], ts, abar, final_abar, 1.0, arr)
                    rev = reversed_or_none(arr, [m[5] for m in meta])
                    ref_rev = None if rev is None else np_ddim(mix, r["x_init"], ts, abar, final_abar, 1.0, rev)[0]
                    col.add(case, draws, ref, meta, calls, ref_rev)


# ----------------------------------------------------------------------------
# 3. diffusers sigma schedulers: DPMSolverMultistep sde-dpmsolver++, SASolver
# ----------------------------------------------------------------------------

def drive_sigma_scheduler(sch, mix, z, n, seed, role, replay=None):
    """Model at the scheduler's own sigmas[i] (sigma_tilde, float32 -> VP alpha, sigma)."""
    sch.set_timesteps(n)
    raw_sig = sch.sigmas.numpy().astype(np.float64)
    ts = [int(t) for t in sch.timesteps]
    assert len(ts) == n and len(raw_sig) == n + 1
    assert float(sch.init_noise_sigma) == 1.0
    x = torch.from_numpy(z.copy())
    x_init = x.clone()
    g = torch.Generator().manual_seed(seed)
    draws, calls = Draws(), []
    state = {"i": None}

    def on_draw(t):
        i = state["i"]
        draws.add(t, i, role, raw_sig[i], raw_sig[i + 1], len(calls))

    m_t, m_a, m_s = [], [], []
    with PatchedRandn(sched_module(sch), on_draw=on_draw, replay=replay):
        for i, t in enumerate(sch.timesteps):
            a, s = vp_of(float(raw_sig[i]))
            m_t.append(int(t))
            m_a.append(a)
            m_s.append(s)
            calls.append(s)
            eps = mix.eps(x, a, s)
            state["i"] = i
            x = sch.step(eps, t, x, generator=g).prev_sample
            assert sch.step_index == i + 1
    xf = x.numpy()
    nan = not bool(np.all(np.isfinite(xf)))
    return dict(timesteps=ts, raw_sigmas=raw_sig, model_t=m_t, model_alpha=m_a, model_sigma=m_s,
                x_init=x_init.numpy(), x_final=xf, nan=nan), draws


DPM_SDE_SOLVERS = {
    "dpmpp_1_sde_diffusers": (1, "midpoint"),
    "dpmpp_2m_sde_diffusers": (2, "midpoint"),
    "dpmpp_2m_sde_heun_diffusers": (2, "heun"),
    "dpmpp_3m_sde_diffusers": (3, "midpoint"),
}


def gen_dpm_sde(col, mixtures):
    from diffusers import DPMSolverMultistepScheduler
    for mix in mixtures:
        z = initial_noise(mix)
        tag, ns = NS_FOR[mix.name]
        for solver, (order, stype) in DPM_SDE_SOLVERS.items():
            for sched in ["default", "karras"]:
                for final_type in ["zero", "sigma_min"]:
                    for n in STEPS:
                        final = "zero" if final_type == "zero" else "min"
                        sname = "linspace" if sched == "default" else "karras"
                        name = f"{solver}_{mix.name}_{tag}_{sname}_final-{final}_n{n}"
                        seed = seed_of(name)
                        kw = dict(**sched_kwargs(ns), solver_order=order, algorithm_type="sde-dpmsolver++",
                                  solver_type=stype, prediction_type="epsilon", lower_order_final=True,
                                  euler_at_final=False, final_sigmas_type=final_type, timestep_spacing="linspace",
                                  use_karras_sigmas=sched == "karras")
                        sch = DPMSolverMultistepScheduler(**kw)
                        log = []
                        instrument(sch, "dpm_solver_first_order_update", log, lambda s, a, k: 1)
                        instrument(sch, "multistep_dpm_solver_second_order_update", log, lambda s, a, k: 2)
                        instrument(sch, "multistep_dpm_solver_third_order_update", log, lambda s, a, k: 3)
                        r, draws = drive_sigma_scheduler(sch, mix, z, n, seed, "sde")
                        r2, _ = drive_sigma_scheduler(DPMSolverMultistepScheduler(**kw), mix, z, n, seed + 1, "sde",
                                                      replay=draws.tensors)
                        assert np.array_equal(r["x_final"], r2["x_final"], equal_nan=True), name
                        options = {"algorithm_type": "sde-dpmsolver++", "solver_order": order, "solver_type": stype,
                                   "prediction_type": "epsilon", "lower_order_final": True, "euler_at_final": False,
                                   "final_sigmas_type": final_type, "timestep_spacing": "linspace",
                                   "use_karras_sigmas": sched == "karras", "thresholding": False}
                        case = base(name, "diffusers.DPMSolverMultistepScheduler", solver, 0.0, mix.name, ns,
                                    "linspace", sched, final, n, options)
                        sig = f64(r["raw_sigmas"])
                        case.update(timesteps=r["timesteps"], sigmas=sig, init_noise_sigma=1.0, nfe=n,
                                    model_t=r["model_t"], model_alpha=r["model_alpha"], model_sigma=r["model_sigma"],
                                    x_init=r["x_init"], x_final=None if r["nan"] else r["x_final"],
                                    reference_nan=r["nan"], step_orders=log)
                        if has_repeat(sig):
                            case["scheduler_sigmas"] = sig
                        arr = draws.array((z.shape[0], mix.D))
                        ref, meta, calls, orders = np_dpm_sde(mix, r["x_init"], sig, order, stype, True, False, arr)
                        assert orders == log, (name, orders, log)
                        rev = None if r["nan"] else reversed_or_none(arr, [m[5] for m in meta])
                        ref_rev = None if rev is None else np_dpm_sde(mix, r["x_init"], sig, order, stype, True,
                                                                      False, rev)[0]
                        col.add(case, draws, ref, meta, calls, ref_rev)


def gen_sa_solver(col, mixtures):
    from diffusers import SASolverScheduler
    for mix in mixtures:
        z = initial_noise(mix)
        tag, ns = NS_FOR[mix.name]
        for algo in ["data_prediction", "noise_prediction"]:
            for n in STEPS:
                atag = "" if algo == "data_prediction" else "_noise-prediction"
                name = f"sa_solver_{mix.name}_{tag}_linspace_final-min_n{n}{atag}"
                seed = seed_of(name)
                kw = dict(**sched_kwargs(ns), predictor_order=2, corrector_order=2, prediction_type="epsilon",
                          algorithm_type=algo, lower_order_final=True, timestep_spacing="linspace")
                sch = SASolverScheduler(**kw)
                plog, clog = [], []
                instrument(sch, "stochastic_adams_bashforth_update", plog,
                           lambda s, a, k: (s.step_index, k["order"], k["tau"]))
                instrument(sch, "stochastic_adams_moulton_update", clog,
                           lambda s, a, k: (s.step_index, k["order"], k["tau"]))
                r, draws = drive_sigma_scheduler(sch, mix, z, n, seed, "sa_predictor")
                r2, _ = drive_sigma_scheduler(SASolverScheduler(**kw), mix, z, n, seed + 1, "sa_predictor",
                                              replay=draws.tensors)
                assert np.array_equal(r["x_final"], r2["x_final"]), name
                assert [p[0] for p in plog] == list(range(n))
                p_orders = [p[1] for p in plog]
                taus = [int(p[2]) for p in plog]
                c_orders, c_taus = [0] * n, [None] * n
                for si, o, tau in clog:
                    c_orders[si], c_taus[si] = o, int(tau)
                ts = r["timesteps"]
                assert taus == [sa_tau(t) for t in ts], (name, taus)
                assert all(c_taus[i] == taus[i - 1] for i in range(1, n)), "corrector tau = previous predictor tau"
                options = {"predictor_order": 2, "corrector_order": 2, "algorithm_type": algo,
                           "prediction_type": "epsilon", "tau_func": "1 if 200 <= t <= 800 else 0 (default)",
                           "predictor_taus": taus, "lower_order_final": True, "timestep_spacing": "linspace",
                           "use_karras_sigmas": False, "final_sigmas_type": "sigma_min", "thresholding": False}
                case = base(name, "diffusers.SASolverScheduler", "sa_solver", 0.0, mix.name, ns, "linspace",
                            "default", "min", n, options)
                sig = f64(r["raw_sigmas"])
                case.update(timesteps=ts, sigmas=sig, init_noise_sigma=1.0, nfe=n, model_t=r["model_t"],
                            model_alpha=r["model_alpha"], model_sigma=r["model_sigma"], x_init=r["x_init"],
                            x_final=r["x_final"], step_orders=p_orders, corrector_orders=c_orders)
                arr = draws.array((z.shape[0], mix.D))
                px0 = algo == "data_prediction"
                ref, meta, calls, po, co = np_sa_solver(mix, r["x_init"], sig, ts, 2, 2, px0, arr)
                assert po == p_orders and co == c_orders, (name, po, p_orders, co, c_orders)
                rev = reversed_or_none(arr, [m[5] for m in meta])
                ref_rev = None if rev is None else np_sa_solver(mix, r["x_init"], sig, ts, 2, 2, px0, rev)[0]
                col.add(case, draws, ref, meta, calls, ref_rev)


# ----------------------------------------------------------------------------
# 4. ScoreSdeVeScheduler (ScoreSdeVePipeline's predictor-corrector loop)
# ----------------------------------------------------------------------------

VE = {"sigma_min": 0.01, "sigma_max": 50.0, "snr": 0.16, "correct_steps": 1, "sampling_eps": 1e-5}


def drive_score_sde(mix, z, n, seed, replay=None):
    from diffusers import ScoreSdeVeScheduler
    sch = ScoreSdeVeScheduler(snr=VE["snr"], sigma_min=VE["sigma_min"], sigma_max=VE["sigma_max"],
                              sampling_eps=VE["sampling_eps"], correct_steps=VE["correct_steps"])
    sch.set_timesteps(n)
    sch.set_sigmas(n)
    g = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(z.copy()) * sch.init_noise_sigma
    x_init = x.clone()
    disc = sch.discrete_sigmas.numpy().astype(np.float64)
    draws, calls = Draws(), []
    state = {}

    def on_draw(t):
        i = state["i"]
        if state["role"] == "langevin_corrector":
            draws.add(t, i, "langevin_corrector", calls[-1], calls[-1], len(calls))
        else:
            k = state["idx"]
            draws.add(t, i, "reverse_diffusion_predictor", disc[k], disc[k - 1] if k > 0 else 0.0, len(calls))

    def score(x, sg):
        calls.append(float(sg))
        x64 = x.to(torch.float64)
        return (-(x64 - mix.posterior_x0(x, 1.0, float(sg))) / (float(sg) ** 2)).to(torch.float32)

    idxs, x_mean = [], None
    with PatchedRandn(sched_module(sch), on_draw=on_draw, replay=replay):
        for i, t in enumerate(sch.timesteps):
            state["i"] = i
            sigma_t = sch.sigmas[i]
            for _ in range(sch.config.correct_steps):
                state["role"] = "langevin_corrector"
                x = sch.step_correct(score(x, sigma_t), x, generator=g).prev_sample
            state["role"] = "reverse_diffusion_predictor"
            k = int((t * torch.ones(x.shape[0]) * (len(sch.timesteps) - 1)).long()[0])   # step_pred's index
            state["idx"] = k
            idxs.append(k)
            out = sch.step_pred(score(x, sigma_t), t, x, generator=g)
            x, x_mean = out.prev_sample, out.prev_sample_mean
    return dict(timesteps=[float(t) for t in sch.timesteps], cont_sigmas=f64(sch.sigmas), disc=disc, idxs=idxs,
                x_init=x_init.numpy(), x_final=x_mean.numpy(), x_last_sample=x.numpy(), calls=calls), draws


def gen_score_sde(col, mixtures):
    for mix in mixtures:
        z = initial_noise(mix)
        for n in [10, 20]:
            name = f"score_sde_pc_{mix.name}_ve_n{n}"
            seed = seed_of(name)
            r, draws = drive_score_sde(mix, z, n, seed)
            r2, _ = drive_score_sde(mix, z, n, seed + 1, replay=draws.tensors)
            assert np.array_equal(r["x_final"], r2["x_final"]), name
            assert r["idxs"] == list(range(n - 1, -1, -1)), (name, r["idxs"])
            disc = r["disc"]
            grid = [float(disc[k]) for k in r["idxs"]] + [0.0]
            options = dict(VE, num_train_timesteps=2000, discrete_sigma_index=r["idxs"],
                           output="prev_sample_mean of the last step_pred (ScoreSdeVePipeline's output before its "
                                  "clamp(0, 1) image post-processing, which is not applied)")
            case = base(name, "diffusers.ScoreSdeVeScheduler", "score_sde_pc", 0.0, mix.name, NS_EDM, "geometric",
                        "geometric", "zero", n, options)
            nfe = len(r["calls"])
            assert nfe == 2 * n
            case.update(timesteps=r["timesteps"], sigmas=grid, scheduler_sigmas=r["cont_sigmas"],
                        init_noise_sigma=VE["sigma_max"], nfe=nfe, model_t=r["calls"],
                        model_alpha=[1.0] * nfe, model_sigma=r["calls"], x_init=r["x_init"], x_final=r["x_final"])
            arr = draws.array((z.shape[0], mix.D))
            args = (mix, r["x_init"], r["cont_sigmas"], [float(v) for v in disc], r["idxs"], VE["snr"],
                    VE["correct_steps"])
            ref, meta, calls = np_score_sde(*args, arr)
            rev = reversed_or_none(arr, [m[5] for m in meta])
            ref_rev = None if rev is None else np_score_sde(*args, rev)[0]
            col.add(case, draws, ref, meta, calls, ref_rev)


# ----------------------------------------------------------------------------

DRAW_DOC = {
    "step_noise": "[draws][B][D] float32: every standard-normal draw the reference consumed, in consumption order, "
                  "exactly as returned by the random source (before any scaling by sigma_up, s_noise, ...); draws "
                  "that the update then multiplies by 0 are included (see noise_draw_scales)",
    "noise_draw_sigmas": "[draws][2]: the noise levels (sigma_tilde = sigma/alpha; EDM/VE: sigma) the draw was taken "
                         "for. k-diffusion noise_sampler draws: its exact (sigma, sigma_next) arguments; churn: "
                         "(sigma_i, sigma_hat_i); diffusers: (from, to) of the step (DDPM/DDIM: levels of t and of the "
                         "previous timestep, 0 for alpha_bar = 1); score_sde corrector: (sigma_i, sigma_i), predictor: "
                         "(discrete sigma, next lower discrete sigma or 0)",
    "noise_draw_steps": "[draws]: solver step index (0-based) during which the draw was taken",
    "noise_draw_roles": "[draws]: ancestral | sde | sde_stage1 | sde_stage2 | churn | ddpm | ddim | sa_predictor | "
                        "langevin_corrector | reverse_diffusion_predictor",
    "noise_draw_calls": "[draws]: number of model calls made before the draw (pins the interleaving of draws and "
                        "model calls)",
    "noise_draw_scales": "[draws]: the factor the update multiplies the draw by, from the float64 check (0 for draws "
                         "that are taken but unused; score_sde corrector: sqrt(2*step_size), state dependent; "
                         "sa_predictor: also the factor of the same draw in the next step's corrector)",
    "noise_seed": "zlib.crc32(case name): step_noise[k] is the (k+1)-th successive torch.randn(shape, generator=g, "
                  "dtype=float32) of g = torch.Generator().manual_seed(noise_seed) (CPU; shape [B, D], or the sample's "
                  "shape, same numbers); the recorded draws are the data",
}


def main():
    torch.set_num_threads(1)
    quiet_diffusers()
    vers = versions()
    mixtures = make_mixtures()
    check_committed_mixtures(mixtures)

    col = Collector()
    gen_kdiff(col, mixtures)
    gen_ddpm_ddim(col, mixtures)
    gen_dpm_sde(col, mixtures)
    gen_sa_solver(col, mixtures)
    gen_score_sde(col, mixtures)

    names = [c["name"] for c in col.cases]
    assert len(set(names)) == len(names)
    header = {"generator": GENERATOR, "versions": vers,
              "coordinates": "x_init/x_final/step_noise in VP coordinates (x = alpha*x0 + sigma*eps; EDM/VE cases: "
                             "alpha = 1); sigmas = sigma_tilde = sigma/alpha grid incl. final value; "
                             "model_alpha/model_sigma = VP (alpha, sigma) of each model call in call order; "
                             "model_t = timestep the scheduler passes to the model (null for k-diffusion)",
              "batch": BATCH, "z_seeds": Z_SEED,
              "eta": "the sampler's own eta parameter; 0.0 for samplers that have none (euler/heun churn, ddpm, "
                     "dpm*_sde_diffusers, sa_solver, score_sde_pc): their stochasticity is in options",
              "draws": DRAW_DOC,
              "models": "diffusers VP schedulers: eps of the exact denoiser at the scheduler's own level "
                        "(DDPM/DDIM: alphas_cumprod[t]; DPMSolverMultistep/SASolver: sigmas[step_index]); "
                        "k-diffusion: exact x0 at sigma (EDM, alpha = 1); score_sde_pc: exact score "
                        "-(x - x0_hat(x, sigma))/sigma^2 at the continuous sigma the pipeline passes "
                        "(scheduler_sigmas[i]), computed in float64, returned as float32",
              "f64_check": "each case recomputed by an independent float64 numpy implementation consuming step_noise "
                           "in order (relative RMS <= 1e-4, its own draw bookkeeping must equal the recorded one); "
                           "f64_reversed_draws_rel_rms: the same with the draws in reversed order (must be > 1e-2)",
              "notes": col.notes}
    write_json_cases(OUT, header, col.cases)

    print(f"{'case':<70} {'nfe':>4} {'draws':>5} {'rms(x_final)':>13} {'relRMS np64':>12} {'reversed':>10}")
    for name, nfe, nd, r, err, rev in col.checks:
        print(f"{name:<70} {nfe:>4} {nd:>5} {r:>13.6f} {err:>12.3e} {rev:>10.3e}")
    per = {}
    for c in col.cases:
        per[(c["reference"], c["solver"])] = per.get((c["reference"], c["solver"]), 0) + 1
    print("\ncases per (reference, solver):")
    for (ref, solver), k in sorted(per.items()):
        print(f"  {ref:<42} {solver:<30} {k:>4}")
    errs = [c[4] for c in col.checks if not math.isnan(c[4])]
    revs = [c[5] for c in col.checks if not math.isnan(c[5])]
    print(f"\n{len(col.cases)} cases, {sum(c[2] for c in col.checks)} draws; max relRMS vs numpy float64: "
          f"{max(errs):.3e}; min relRMS with reversed draws: {min(revs):.3e}")
    print("max relative deviation of model-call levels, reference (float32) vs numpy float64:")
    for k, v in sorted(col.call_dev.items()):
        print(f"  {k:<72} {v:.2e}")
    nans = [c["name"] for c in col.cases if c.get("reference_nan")]
    print(f"reference NaN cases ({len(nans)}):")
    for nm in nans:
        print("  " + nm)
    print(f"\n{OUT.relative_to(REPO_ROOT)}  {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
