"""Parity fixture for the MR Sampler (mean-reverting diffusion), from the official formulas.

Re-states, in float64 numpy, what grrrute/mr-sampler's `universal-image-restoration` does:
IRSDE's theta schedule and sigma_bar (utils/sde_utils.py), MRSampler.set_timesteps ("linspace" with
lambda_min, alpha/sigma/lambda interpolated linearly and separately), convert_model_output and the
step_ode_1st/2nd/3rd and step_sde_1st/2nd updates and the order rule of `sampling` (utils/sampler.py),
without the final clip to [0, 1]. The model is an exact mean-reverting Gaussian mixture whose
posterior mean is computed here on its own (no Swift code involved). Step noise is recorded.

Writes Tests/DiffusionSolversTests/Fixtures/parity_mrs.json. numpy only:
    tools/.venv/bin/python tools/fixtures_mrs.py
"""
import json
import math
import pathlib

import numpy as np

OUT = pathlib.Path(__file__).resolve().parent.parent / "Tests/DiffusionSolversTests/Fixtures/parity_mrs.json"

WEIGHTS = np.array([0.5, 0.3, 0.2])
MEANS = np.array([[-1.0, 0.5], [1.2, 0.8], [0.3, -1.1]])
STDS = np.array([[0.3, 0.2], [0.25, 0.35], [0.4, 0.15]])


def irsde(schedule, T, max_sigma, eps):
    if schedule == "cosine":
        steps = T + 2
        x = np.linspace(0, steps, steps + 1)
        ac = np.cos(((x / steps) + 0.008) / 1.008 * math.pi * 0.5) ** 2
        ac = ac / ac[0]
        thetas = 1 - ac[1:-1]
    elif schedule == "linear":
        n = T + 1
        scale = 1000 / n
        thetas = np.linspace(scale * 0.0001, scale * 0.02, n)
    else:
        thetas = np.ones(T + 1)
    cs = np.cumsum(thetas)
    dt = -1 / cs[-1] * math.log(eps)
    alpha = np.exp(-cs * dt)
    sigma = np.sqrt(max_sigma ** 2 * (1 - np.exp(-2 * cs * dt)))
    return alpha, sigma


def official_grid(alpha_arr, sigma_arr, M, lambda_min):
    N = len(alpha_arr) - 1
    lam_arr = np.log(alpha_arr) - np.log(sigma_arr)
    clipped = np.searchsorted(lam_arr[::-1], lambda_min)
    max_t = N - clipped
    ts = np.linspace(0, max_t, M + 1)[::-1]
    grid = np.arange(N + 1, dtype=np.float64)
    return ts, np.interp(ts, grid, alpha_arr), np.interp(ts, grid, sigma_arr), np.interp(ts, grid, lam_arr), int(max_t)


def posterior_mean(x, mu, a, s):
    """E[x0 | x, mu] for x = mu + a (x0 - mu) + s eps, x0 from the mixture (per sample, float64)."""
    out = np.zeros_like(x)
    for b in range(x.shape[0]):
        y = x[b] - mu[b] + a * mu[b]  # = a x0 + s eps
        v = a * a * STDS ** 2 + s * s
        logr = np.log(WEIGHTS) - 0.5 * np.sum(np.log(v), 1) - 0.5 * np.sum((y - a * MEANS) ** 2 / v, 1)
        r = np.exp(logr - logr.max())
        r /= r.sum()
        cond = MEANS + a * STDS ** 2 / v * (y - a * MEANS)
        out[b] = r @ cond
    return out


def model(x, mu, a, s, fit_target, s_inf):
    x0 = posterior_mean(x, mu, a, s)
    eps = (x - mu - a * (x0 - mu)) / s
    if fit_target == "noise":
        return eps
    if fit_target == "data":
        return x0
    return s_inf * a * eps - s / s_inf * (x0 - mu)


def convert(score, x, a, s, mu, parameterization, fit_target, s_inf):
    if parameterization == "data":
        if fit_target == "noise":
            return (x - s * score) / a - (1 - a) / a * mu
        if fit_target == "data":
            return score
        return a * x - s / s_inf * score + (1 - a) * mu
    if fit_target == "noise":
        return score
    if fit_target == "data":
        return (x - mu - (score - mu) * a) / s
    return (score * a + (x - mu) * s / s_inf) / s_inf


def clip_output(out, ratio=0.995, s_max=1.5):
    """MRSampler._clip_output: per sample s = clamp(quantile(|out|, ratio), 1, s_max), clip to [-s, s], divide by s."""
    s = np.clip(np.quantile(np.abs(out), ratio, axis=1), 1, s_max)[:, None]
    return np.clip(out, -s, s) / s


def run(case, al, sg, lm, mu, x, noises, s_inf):
    kind, par, order, fit = case["kind"], case["prediction"], case["order"], case["fit_target"]
    thresholding = case.get("thresholding", False)
    q = [None] * order
    draws = iter(noises)

    def step(x, i, k):
        score = model(x, mu, al[i - 1], sg[i - 1], fit, s_inf)
        out = convert(score, x, al[i - 1], sg[i - 1], mu, par, fit, s_inf)
        if thresholding:
            out = clip_output(out)
        for j in reversed(range(order)):
            q[j] = out if j == 0 else q[j - 1]
        h = lm[i] - lm[i - 1]
        if kind == "ode":
            D1 = D2 = 0.0
            if k >= 2:
                r = (lm[i - 1] - lm[i - 2]) / h
                D1 = (q[0] - q[1]) / r
            if k == 3:
                ri = (lm[i - 1] - lm[i - 2]) / h
                ri_1 = (lm[i - 2] - lm[i - 3]) / h
                D1_0 = (q[0] - q[1]) / ri
                D1_1 = (q[1] - q[2]) / ri_1
                D1 = D1_0 + (D1_0 - D1_1) * ri / (ri + ri_1)
                D2 = (D1_0 - D1_1) / (ri + ri_1)
            if par == "data":
                phi1 = math.exp(-h) - 1
                phi2 = phi1 / h + 1
                phi3 = phi2 / h - 0.5
                D = phi1 * q[0] - (phi2 * D1 if k >= 2 else 0) + (phi3 * D2 if k == 3 else 0)
                xn = sg[i] / sg[i - 1] * x - al[i] * D
                return xn + mu * (1 - sg[i] / sg[i - 1] + sg[i] / sg[i - 1] * al[i - 1] - al[i])
            phi1 = math.exp(h) - 1
            phi2 = phi1 / h - 1
            phi3 = phi2 / h - 0.5
            D = phi1 * q[0] + (phi2 * D1 if k >= 2 else 0) + (phi3 * D2 if k == 3 else 0)
            xn = al[i] / al[i - 1] * x - sg[i] * D
            return xn + mu * (1 - al[i] / al[i - 1])
        z = next(draws)
        D1 = 0.0
        if k == 2:
            r = (lm[i - 1] - lm[i - 2]) / h
            D1 = (q[0] - q[1]) / r
        if par == "data":
            phi1 = 1 - math.exp(-2 * h)
            phi2 = 1 - phi1 / 2 / h
            xn = sg[i] / sg[i - 1] * math.exp(-h) * x + al[i] * phi1 * q[0] + al[i] * phi2 * D1 + sg[i] * math.sqrt(phi1) * z
            return xn + mu * (1 - al[i] / al[i - 1] * math.exp(-2 * h) - al[i] * phi1)
        phi1 = math.exp(h) - 1
        phi2 = phi1 / h - 1
        xn = al[i] / al[i - 1] * x - 2 * sg[i] * phi1 * q[0] - 2 * sg[i] * phi2 * D1 + sg[i] * math.sqrt(math.exp(2 * h) - 1) * z
        return xn + mu * (1 - al[i] / al[i - 1])

    M = len(al) - 1
    for i in range(1, order):
        x = step(x, i, i)
    for i in range(order, M):
        k = min(order, M - i) if M < 10 else order
        x = step(x, i, k)
    return step(x, M, order)


def main():
    rng = np.random.default_rng(20240523)
    configs = [("cosine", 100, 50 / 255, 0.005, -5.0), ("linear", 100, 0.5, 0.01, -5.0), ("constant", 40, 1.0, 0.005, -4.0)]
    cases, schedules = [], []
    batch = 4
    for si, (sched, T, s_inf, eps, lam_min) in enumerate(configs):
        alpha, sigma = irsde(sched, T, s_inf, eps)
        sched_entry = {"theta": sched, "T": T, "sigma_inf": s_inf, "eps": eps, "lambda_min": lam_min,
                       "alphas": alpha.tolist(), "sigmas": sigma.tolist()}
        for kind, orders in (("ode", (1, 2, 3)), ("sde", (1, 2))):
            for par in ("data", "noise"):
                for fit in ("noise", "data", "velocity"):
                    for order in orders:
                        # cosine: all fits; the other schedules: the noise fit only, to keep the file small.
                        if si > 0 and fit != "noise":
                            continue
                        for M in (6, 13):
                            ts, al, sg, lm, max_t = official_grid(alpha, sigma, M, lam_min)
                            sched_entry["max_timestep"] = max_t
                            mu = rng.normal(size=(batch, 2)) * 0.8
                            xT = mu + rng.normal(size=(batch, 2)) * s_inf
                            noises = [rng.normal(size=(batch, 2)) for _ in range(M)] if kind == "sde" else []
                            case = {"name": f"{sched}/{kind}/{par}/{fit}/order{order}/M{M}", "schedule": si, "kind": kind,
                                    "prediction": par, "fit_target": fit, "order": order, "steps": M,
                                    "t": ts.tolist(), "alpha": al.tolist(), "sigma": sg.tolist(), "lambda": lm.tolist(),
                                    "mu": mu.ravel().tolist(), "x_T": xT.ravel().tolist(),
                                    "noise": [n.ravel().tolist() for n in noises]}
                            case["expected"] = run(case, al, sg, lm, mu, xT.copy(), noises, s_inf).ravel().tolist()
                            cases.append(case)
        if si == 0:
            # Dynamic thresholding of the data predictions (official threshold_ratio 0.995, threshold_max 1.5).
            for kind, order in (("ode", 2), ("ode", 3), ("sde", 2)):
                M = 13
                ts, al, sg, lm, max_t = official_grid(alpha, sigma, M, lam_min)
                mu = rng.normal(size=(batch, 2)) * 0.8
                xT = mu + rng.normal(size=(batch, 2)) * s_inf
                noises = [rng.normal(size=(batch, 2)) for _ in range(M)] if kind == "sde" else []
                case = {"name": f"{sched}/{kind}/data/noise/order{order}/M{M}/thresholding", "schedule": si, "kind": kind,
                        "prediction": "data", "fit_target": "noise", "order": order, "steps": M, "thresholding": True,
                        "t": ts.tolist(), "alpha": al.tolist(), "sigma": sg.tolist(), "lambda": lm.tolist(),
                        "mu": mu.ravel().tolist(), "x_T": xT.ravel().tolist(), "noise": [n.ravel().tolist() for n in noises]}
                case["expected"] = run(case, al, sg, lm, mu, xT.copy(), noises, s_inf).ravel().tolist()
                case["unthresholded"] = run(dict(case, thresholding=False), al, sg, lm, mu, xT.copy(), noises, s_inf).ravel().tolist()
                cases.append(case)
        schedules.append(sched_entry)
    doc = {"generator": "tools/fixtures_mrs.py: the official MRSampler/IRSDE formulas (grrrute/mr-sampler) in float64 numpy",
           "mixture": {"weights": WEIGHTS.tolist(), "means": MEANS.ravel().tolist(), "stds": STDS.ravel().tolist()},
           "schedules": schedules, "batch": batch, "cases": cases}
    OUT.write_text(json.dumps(doc))
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
