#!/usr/bin/env python3
"""Reference trajectories for `ipndm`, written from ComfyUI's `sample_ipndm` (issue 18).

ComfyUI's `comfy/k_diffusion/sampling.py` (comfyanonymous/ComfyUI; the function is unchanged from commit
a125cd84b054a57729b5eecab930ca9408719832 through 02159d81 used by fixtures_comfy_more.py) takes iPNDM from zju-pi/diff-sampler: with
d = (x - denoised)/sigma and the derivatives of up to 3 earlier steps (newest first d1, d2, d3), a step to
sigma' = 0 returns denoised, otherwise x' = x + (sigma' - sigma) * D with, by the order min(4, i + 1),
D = d, (3d - d1)/2, (23d - 16d1 + 5d2)/12, (55d - 59d1 + 37d2 - 9d3)/24. The loop below is that update, in
torch float32 as ComfyUI runs it (nothing of ComfyUI is imported or copied). Grids, model and initial noise are
those of fixtures_comfy.py: the exact mixtures as EDM denoisers, k-diffusion's Karras (rho 7) and exponential
sigmas from 80 to 0.002 with a final 0, N in {5, 10, 20}.

Output: Tests/DiffusionSolversTests/Fixtures/parity_ipndm.json (ParityCase schema; ComfyParityTests reads it).
Run:  tools/.venv/bin/python tools/fixtures_ipndm.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures_foundation import FIXTURES, import_k_diffusion_sampling, initial_noise, make_mixtures, versions, write_json_cases  # noqa: E402
from fixtures_solvers import NS_EDM, check_committed_mixtures, f64, kd_model  # noqa: E402

GENERATOR = "tools/fixtures_ipndm.py"
OUT = FIXTURES / "parity_ipndm.json"
STEPS = [5, 10, 20]
WEIGHTS = {1: [1.0], 2: [3 / 2, -1 / 2], 3: [23 / 12, -16 / 12, 5 / 12], 4: [55 / 24, -59 / 24, 37 / 24, -9 / 24]}


def ipndm(model, x, sigmas, max_order=4):
    history: list[torch.Tensor] = []          # earlier derivatives, newest last
    for i in range(len(sigmas) - 1):
        s, s_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, s * torch.ones(x.shape[0]))
        d = (x - denoised) / s
        order = min(max_order, i + 1)
        if s_next == 0:
            x = denoised
        else:
            ds = [d] + history[::-1][:order - 1]
            x = x + (s_next - s) * sum(w * v for w, v in zip(WEIGHTS[order], ds))
        history = (history + [d])[-(max_order - 1):]
    return x


def main():
    K = import_k_diffusion_sampling()
    mixtures = make_mixtures()
    check_committed_mixtures(mixtures)
    cases = []
    for mix in mixtures:
        z = initial_noise(mix)
        for spacing in ["karras", "exponential"]:
            for n in STEPS:
                sig_t = K.get_sigmas_karras(n, 0.002, 80.0, rho=7.0) if spacing == "karras" else K.get_sigmas_exponential(n, 0.002, 80.0)
                x = torch.from_numpy(z) * sig_t[0]
                calls: list[float] = []
                out = ipndm(kd_model(mix, calls), x, sig_t)
                assert torch.all(torch.isfinite(out))
                cases.append(dict(name=f"comfy_ipndm_{mix.name}_{spacing}_n{n}", reference="ComfyUI sample_ipndm (formula)",
                                  solver="ipndm", eta=0.0, mixture=mix.name, noise_schedule=NS_EDM, spacing=spacing,
                                  sigma_schedule=spacing, final="zero", steps=n, timesteps=None, sigmas=f64(sig_t),
                                  nfe=len(calls), model_alpha=[1.0] * len(calls), model_sigma=calls, x_init=x.numpy(),
                                  x_final=out.numpy()))
    header = {"generator": GENERATOR, "versions": versions(),
              "coordinates": "EDM / VE (alpha = 1): x = x0 + sigma*eps; sigmas = the grid incl. the final 0; "
                             "model_sigma = sigma of every model call in call order"}
    write_json_cases(OUT, header, cases)
    print(f"{len(cases)} cases -> {OUT}")


if __name__ == "__main__":
    main()
