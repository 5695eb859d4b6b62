#!/usr/bin/env python3
"""Fixture for the probability-flow likelihood: k-diffusion's `log_likelihood` on the exact mixtures.

Writes Tests/DiffusionSolversTests/Fixtures/parity_likelihood.json.  For mixture_2d and
mixture_16d (read from their committed safetensors files) it draws 4 points from the mixture
(numpy seed), rounds them to float32 (what Swift reads), and runs
`k_diffusion.sampling.log_likelihood(model, x, sigma_min, sigma_max, atol, rtol)` in float64 with
the exact mixture denoiser (differentiable, float64 throughout) on the EDM/VE ODE
(alpha = 1, sigma from 0.002 to 80).  k-diffusion estimates the divergence with ONE Rademacher
probe `v = torch.randint_like(x, 2) * 2 - 1` drawn inside the call; the script seeds torch, draws
the same `v` beforehand with the same seed, and records it, so Swift can feed the same probe.
It also records the closed-form log-density of the mixture's marginal at sigma_min (the value
an exact-divergence integration would approach) as a sanity reference.

Run: tools/.venv/bin/python tools/fixtures_likelihood.py   (about a second; byte-identical output)
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file
from scipy.special import logsumexp

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures_foundation import FIXTURES, import_k_diffusion_sampling, versions, write_json_cases  # noqa: E402

SIGMA_MIN, SIGMA_MAX = 0.002, 80.0
TOL = 1e-8
POINTS = 4


def load_mixture(name: str):
    t = load_file(str(FIXTURES / f"{name}.safetensors"))
    w = t["weights"].astype(np.float64)
    return w / w.sum(), t["means"].astype(np.float64), t["stds"].astype(np.float64)


def denoiser_for(w, mu, s):
    """Exact x0-hat of N-mixture data at x = x0 + sigma*eps, float64, differentiable in x."""
    w64, mu64, s2 = (torch.from_numpy(a) for a in (w, mu, s * s))

    def model(x, sigma_vec):
        sig = sigma_vec.to(torch.float64)[:, None, None]          # [B,1,1]
        v = s2[None] + sig ** 2                                    # [B,K,D]
        diff = x[:, None, :] - mu64[None]                          # [B,K,D]
        logr = torch.log(w64)[None] - 0.5 * (diff ** 2 / v + torch.log(2 * math.pi * v)).sum(-1)
        r = torch.softmax(logr, dim=1)
        post = mu64[None] + (s2[None] / v) * diff
        return (r[:, :, None] * post).sum(1)
    return model


def closed_form(w, mu, s, x, sigma):
    v = s * s + sigma * sigma                                      # [K,D]
    diff = x[:, None, :] - mu[None]
    logc = np.log(w)[None] - 0.5 * (diff ** 2 / v[None] + np.log(2 * math.pi * v)[None]).sum(-1)
    return logsumexp(logc, axis=1)


def main():
    kd = import_k_diffusion_sampling()
    torch.set_default_dtype(torch.float64)
    cases = []
    for seed, name in enumerate(["mixture_2d", "mixture_16d"]):
        w, mu, s = load_mixture(name)
        rng = np.random.default_rng(100 + seed)
        comp = rng.choice(len(w), size=POINTS, p=w)
        x32 = (mu[comp] + s[comp] * rng.standard_normal((POINTS, mu.shape[1]))).astype(np.float32)
        x = torch.from_numpy(x32.astype(np.float64))
        torch.manual_seed(1234 + seed)
        probe = torch.randint_like(x, 2) * 2 - 1                   # the draw log_likelihood makes first
        torch.manual_seed(1234 + seed)
        ll, info = kd.log_likelihood(denoiser_for(w, mu, s), x, SIGMA_MIN, SIGMA_MAX, atol=TOL, rtol=TOL)
        torch.manual_seed(1234 + seed)
        ll_again, _ = kd.log_likelihood(denoiser_for(w, mu, s), x, SIGMA_MIN, SIGMA_MAX, atol=TOL, rtol=TOL)
        assert torch.equal(ll, ll_again), "log_likelihood is not reproducible from the seed"
        exact = closed_form(w, mu, s, x32.astype(np.float64), SIGMA_MIN)
        cases.append({
            "name": f"kd_log_likelihood_{name}", "mixture": name, "reference": "k_diffusion.sampling.log_likelihood",
            "sigma_min": SIGMA_MIN, "sigma_max": SIGMA_MAX, "atol": TOL, "rtol": TOL,
            "x": [[float(v) for v in row] for row in x32],
            "probe": [[float(v) for v in row] for row in probe.numpy()],
            "log_likelihood": [float(v) for v in ll.numpy()],
            "closed_form_at_sigma_min": [float(v) for v in exact],
            "fevals": int(info["fevals"]),
        })
        print(name, "k-diffusion", ll.numpy(), "closed form", exact, "fevals", info["fevals"])
    header = {"generator": "tools/fixtures_likelihood.py", "versions": versions(),
              "note": "one fixed Rademacher probe per point (k-diffusion's estimator); VE ODE, alpha = 1"}
    write_json_cases(FIXTURES / "parity_likelihood.json", header, cases)


if __name__ == "__main__":
    main()
