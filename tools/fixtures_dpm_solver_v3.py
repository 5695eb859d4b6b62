#!/usr/bin/env python3
"""Reference-fixture generator for the DPM-Solver-v3 parity test.

Python is a *tool* here (see tools/README.md): this script is run by hand and only its output is
committed. It does not contain the official code: it imports `dpm_solver_v3.py` of
thu-ml/DPM-Solver-v3 from a path given on the command line (pinned: commit ba16871, the file at the
repository root), and the mixtures, JSON writer and version record from tools/fixtures_foundation.py.

Output: Tests/DiffusionSolversTests/Fixtures/parity_dpm_solver_v3.json

Setup of every case:
  * noise schedule: the score-SDE linear VP schedule (beta 0.1 -> 20), t in [1e-3, 1], evaluated in
    float64 (a float64 copy of the official NoiseScheduleVP('linear') formulas; the official class
    computes in the dtype of its input, float32 for its time steps);
  * model: the exact noise prediction of mixture_2d in float64 (fixtures_foundation.Mixture);
  * statistics: smooth synthetic, NOT degenerate, on the official logSNR grid of N+1 points between
    t_start = 1 and t_end = 1e-3:  l = 1/(1 + c_d e^{2 lambda}), s = 0.2 sin(0.5 lambda + d),
    b = 0.1 cos(0.3 lambda + d), written as l.npz / sb.npz into a temporary directory and loaded by
    the official class;
  * sampling: the official DPM_Solver_v3(skip_type='logSNR' or 'time_uniform').sample(...) from recorded float32
    initial noise (fixtures_foundation.initial_noise), run in float64.
The official code calls .cuda() on its tensors; on a machine without CUDA this script makes
Tensor.cuda a no-op. torch's default dtype is set to float64, so the official grid is built in
float64 (its torch.FloatTensor time lists stay float32, as in the original).

Run:  /root/venv-tools/bin/python tools/fixtures_dpm_solver_v3.py /path/to/DPM-Solver-v3/dpm_solver_v3.py
      (for example: git -C <mirror> show ba16871:dpm_solver_v3.py > /tmp/dpm_solver_v3.py)
Versions used for the committed fixture: python 3.x, torch 2.15.0, numpy 2.4.6 (recorded in the file).
"""
from __future__ import annotations

import importlib.util
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixtures_foundation as F  # noqa: E402

OUT = F.FIXTURES / "parity_dpm_solver_v3.json"
GENERATOR = "tools/fixtures_dpm_solver_v3.py"
OFFICIAL_COMMIT = "ba16871"
STAT_INTERVALS = 240
T_START, T_END = 1.0, 1e-3
C = [0.09, 0.5]  # per-dimension data variances of the synthetic l


class LinearVP64:
    """The official NoiseScheduleVP('linear') formulas, in float64."""

    def __init__(self, beta_0=0.1, beta_1=20.0):
        self.beta_0, self.beta_1 = beta_0, beta_1
        self.T = 1.0
        self.total_N = 1000

    def marginal_log_mean_coeff(self, t):
        t = torch.as_tensor(t).to(torch.float64)
        return -0.25 * t ** 2 * (self.beta_1 - self.beta_0) - 0.5 * t * self.beta_0

    def marginal_alpha(self, t):
        return torch.exp(self.marginal_log_mean_coeff(t))

    def marginal_std(self, t):
        return torch.sqrt(-torch.expm1(2.0 * self.marginal_log_mean_coeff(t)))

    def marginal_lambda(self, t):
        m = self.marginal_log_mean_coeff(t)
        return m - 0.5 * torch.log(-torch.expm1(2.0 * m))

    def inverse_lambda(self, lamb):
        lamb = torch.as_tensor(lamb).to(torch.float64)
        tmp = 2.0 * (self.beta_1 - self.beta_0) * torch.logaddexp(-2.0 * lamb, torch.zeros((1,), dtype=torch.float64))
        delta = self.beta_0 ** 2 + tmp
        return tmp / (torch.sqrt(delta) + self.beta_0) / (self.beta_1 - self.beta_0)


def load_official(path: str):
    spec = importlib.util.spec_from_file_location("dpm_solver_v3_official", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CASES = [
    # name, steps, order, p_pseudo, use_corrector, c_pseudo, lower_order_final, half, skip_type
    ("v3-o3-corrector-10", 10, 3, False, True, False, True, False, "logSNR"),
    ("v3-o3-predictor-8", 8, 3, False, False, False, True, False, "logSNR"),
    ("v3-o3-ppseudo-5", 5, 3, True, True, False, False, False, "logSNR"),
    ("v3-o2-cpseudo-8", 8, 2, False, True, True, True, False, "logSNR"),
    ("v3-o3-half-12", 12, 3, False, True, False, True, True, "logSNR"),
    ("v3-o1-cpseudo-6", 6, 1, False, True, True, False, False, "logSNR"),
    ("v3-o3-timeuniform-7", 7, 3, False, True, False, True, False, "time_uniform"),
]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: fixtures_dpm_solver_v3.py /path/to/dpm_solver_v3.py")
    torch.set_default_dtype(torch.float64)
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    official = load_official(sys.argv[1])
    ns = LinearVP64()
    mix = [m for m in F.make_mixtures() if m.name == "mixture_2d"][0]

    # The official EMS grid (as DPM_Solver_v3.__init__ builds it).
    lam_T = float(ns.marginal_lambda(torch.tensor(T_START)))
    lam_0 = float(ns.marginal_lambda(torch.tensor(T_END)))
    lambdas = torch.linspace(lam_T, lam_0, STAT_INTERVALS + 1)
    ts = ns.marginal_lambda(ns.inverse_lambda(lambdas)).numpy()
    D = mix.D
    l = np.stack([1.0 / (1.0 + C[d] * np.exp(2 * ts)) for d in range(D)], axis=1)
    s = np.stack([0.2 * np.sin(0.5 * ts + d) for d in range(D)], axis=1)
    b = np.stack([0.1 * np.cos(0.3 * ts + d) for d in range(D)], axis=1)

    def model_fn(x, t):
        t0 = t.reshape(-1)[0]
        assert torch.all(t == t0)
        alpha = float(ns.marginal_alpha(t0))
        sigma = float(ns.marginal_std(t0))
        flat = x.reshape(x.shape[0], -1).to(torch.float64)
        x0 = mix.posterior_x0(flat, alpha, sigma)
        return ((flat - alpha * x0) / sigma).reshape(x.shape)

    z = F.initial_noise(mix)
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        # The official code broadcasts statistics as [N+1, C, H, W]: one sample is [1, 1, D] here.
        as4d = lambda a: a.reshape(STAT_INTERVALS + 1, 1, 1, D)
        np.savez(Path(tmp) / "l.npz", l=as4d(l))
        np.savez(Path(tmp) / "sb.npz", s=as4d(s), b=as4d(b))
        for name, steps, order, p_pseudo, corrector, c_pseudo, lof, half, skip in CASES:
            solver = official.DPM_Solver_v3(tmp, ns, steps=steps, t_start=T_START, t_end=T_END,
                                            skip_type=skip, device="cpu")
            x = torch.from_numpy(z.astype(np.float64))  # the VP prior N(0, I), as the official scripts draw it
            out = solver.sample(x.clone().reshape(-1, 1, 1, D), model_fn, order=order, p_pseudo=p_pseudo, use_corrector=corrector,
                                c_pseudo=c_pseudo, lower_order_final=lof, half=half)
            out = out.reshape(-1, D)
            assert torch.all(torch.isfinite(out))
            cases.append(dict(name=name, steps=steps, order=order, p_pseudo=p_pseudo, use_corrector=corrector,
                              c_pseudo=c_pseudo, lower_order_final=lof, half=half, skip_type=skip,
                              indexes=[int(i) for i in solver.indexes],
                              timesteps=[float(t) for t in solver.timesteps],
                              x_init=x.numpy(), x_final=out.numpy()))
            print(f"{name}: indexes {cases[-1]['indexes']} rms {float(out.pow(2).mean().sqrt()):.4f}")
    header = dict(generator=GENERATOR, reference=f"thu-ml/DPM-Solver-v3@{OFFICIAL_COMMIT} dpm_solver_v3.py DPM_Solver_v3",
                  versions=F.versions(), mixture="mixture_2d.safetensors", schedule="vp-linear(0.1, 20)",
                  t_start=T_START, t_end=T_END, lambda_start=float(ts[0]), lambda_end=float(ts[-1]),
                  statistics=dict(intervals=STAT_INTERVALS, l=l, s=s, b=b))
    F.write_json_cases(OUT, header, cases)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
