#!/usr/bin/env python3
"""MLP feature classifier for the 8x8 digits (the FID-style feature space of the digits model).

Command (from the repository root, about 1 min on one thread):

    /root/venv-tools/bin/python tools/neural/train_classifier.py

Network (as read by Sources/DiffusionEvaluation/FeatureClassifier.swift):
    x        = the [-1,1] pixels (pixel/16*2-1), flattened row-major from [1,8,8] to 64
    features = silu(fc2(silu(fc1(x))))      fc1: 64 -> 256, fc2: 256 -> 128
    logits   = fc3(features)                fc3: 128 -> 10
Training: stratified 80/20 split of the 1,797 digits (seed 0), AdamW, label smoothing 0.05,
Gaussian input noise (std 0.1) as augmentation; the reported test accuracy is on the held-out 20 %.
The feature statistics are computed in float64 from the float32 weights over all 1,797 images
(covariance with ddof=1, as in FID).

Writes:
  Sources/DiffusionNeural/Resources/Models/digits-classifier.safetensors
      fc1.weight [256,64], fc1.bias, fc2.weight [128,256], fc2.bias, fc3.weight [10,128], fc3.bias (F32),
      data_feature_mean [128], data_feature_cov [128,128] (F64), metadata input_shape, activation,
      feature, data_count, test_accuracy, ...
  Tests/DiffusionSolversTests/Fixtures/neural/classifier-features.safetensors
      input [16,64] F32 (10 digits, one per class, then 6 noise images), features [16,128] and
      logits [16,10] F64 (float64 evaluation of the float32 weights, as the Swift code does)
  Tests/DiffusionSolversTests/Fixtures/neural/frechet-distance.safetensors
      a, b [200,128] F64 (classifier features of 200 digits, and of 200 other digits with noise
      std 0.3 added), fd (scalar [1], F64), fd_a_data [1] (a vs the stored data statistics)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (FIXTURES, MODELS, frechet_distance, frechet_distance_scipy,  # noqa: E402
                    load_digits_images, versions, write_safetensors)

GENERATOR = "tools/neural/train_classifier.py"


class MLP(torch.nn.Module):
    def __init__(self, d_in: int, h1: int = 256, h2: int = 128, k: int = 10):
        super().__init__()
        self.fc1 = torch.nn.Linear(d_in, h1)
        self.fc2 = torch.nn.Linear(h1, h2)
        self.fc3 = torch.nn.Linear(h2, k)

    def features(self, x):
        return torch.nn.functional.silu(self.fc2(torch.nn.functional.silu(self.fc1(x))))

    def forward(self, x, dropout: float = 0.0):
        f = self.features(x)
        if dropout > 0 and self.training:
            f = torch.nn.functional.dropout(f, dropout)
        return self.fc3(f)


def stratified_split(y: np.ndarray, test_fraction: float, seed: int):
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        test.extend(idx[: int(round(len(idx) * test_fraction))])
    test = np.sort(np.array(test))
    train = np.setdiff1d(np.arange(len(y)), test)
    return train, test


def train_mlp(x: np.ndarray, y: np.ndarray, *, k: int, epochs: int, seed: int = 0, lr: float = 2e-3,
              noise: float = 0.1, batch: int = 64, wd: float = 1e-3, dropout: float = 0.1,
              log=print) -> tuple[MLP, float, np.ndarray, np.ndarray]:
    """Train on a stratified 80 % split; returns (model, held-out accuracy, train idx, test idx)."""
    torch.manual_seed(seed)
    train, test = stratified_split(y, 0.2, seed)
    xt, yt = torch.from_numpy(x[train]), torch.from_numpy(y[train])
    xv, yv = torch.from_numpy(x[test]), torch.from_numpy(y[test])
    model = MLP(x.shape[1], k=k)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    steps_per_epoch = (len(train) + batch - 1) // batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
    g = torch.Generator().manual_seed(seed)
    acc = 0.0
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(train), generator=g)
        for i in range(0, len(train), batch):
            idx = perm[i:i + batch]
            xb = xt[idx] + noise * torch.randn(xt[idx].shape, generator=g)
            loss = torch.nn.functional.cross_entropy(model(xb, dropout), yt[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        if (ep + 1) % max(1, epochs // 10) == 0 or ep + 1 == epochs:
            model.eval()
            with torch.no_grad():
                acc = (model(xv).argmax(1) == yv).float().mean().item()
            log(f"epoch {ep + 1}/{epochs}: loss {loss.item():.4f}, held-out accuracy {acc:.4f}")
    return model.eval(), acc, train, test


def weights_f32(model: MLP) -> dict:
    return {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}


def np_forward(w: dict, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64 evaluation of the float32 weights: (features, logits)."""
    def silu(z):
        return z / (1.0 + np.exp(-z))
    x = np.asarray(x, np.float64)
    h = silu(x @ w["fc1.weight"].astype(np.float64).T + w["fc1.bias"].astype(np.float64))
    f = silu(h @ w["fc2.weight"].astype(np.float64).T + w["fc2.bias"].astype(np.float64))
    logits = f @ w["fc3.weight"].astype(np.float64).T + w["fc3.bias"].astype(np.float64)
    return f, logits


def feature_stats(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return f.mean(axis=0), np.cov(f, rowvar=False, ddof=1)


def save_classifier(path: Path, w: dict, x_all: np.ndarray, meta: dict):
    f_all, _ = np_forward(w, x_all)
    mean, cov = feature_stats(f_all)
    tensors = dict(w)
    tensors["data_feature_mean"] = mean.astype(np.float64)
    tensors["data_feature_cov"] = cov.astype(np.float64)
    write_safetensors(path, tensors, meta)
    return mean, cov


def main():
    torch.set_num_threads(1)
    x, y = load_digits_images()
    x = x.reshape(len(x), -1)
    model, acc, train, test = train_mlp(x, y, k=10, epochs=150)
    assert acc > 0.97, acc
    w = weights_f32(model)
    _, logits_test = np_forward(w, x[test])
    acc64 = float((logits_test.argmax(1) == y[test]).mean())
    print(f"held-out accuracy {acc:.4f} (float64 re-evaluation {acc64:.4f}, {len(test)} images)")
    vers = json.dumps(versions(), sort_keys=True)
    meta = {
        "input_shape": "1,8,8", "activation": "silu", "feature": "fc2", "data_count": str(len(x)),
        "test_accuracy": f"{acc64:.4f}", "test_count": str(len(test)), "generator": GENERATOR, "versions": vers,
        "description": (
            "MLP classifier of sklearn's 8x8 digits (UCI Optical Recognition of Handwritten Digits, CC BY 4.0). "
            "Input: pixels/16*2-1 in [-1,1], flattened row-major (64). features = silu(fc2(silu(fc1(x)))) [128], "
            "logits = fc3(features) [10]. test_accuracy: stratified 20 % held out (seed 0). data_feature_mean / "
            "data_feature_cov: float64 statistics of the features of all 1,797 images (covariance ddof=1)."),
    }
    MODELS.mkdir(parents=True, exist_ok=True)
    mean, cov = save_classifier(MODELS / "digits-classifier.safetensors", w, x, meta)

    # feature fixture: one digit per class, then 6 noise images
    rng = np.random.default_rng(5)
    picks = [int(np.flatnonzero(y == c)[3]) for c in range(10)]
    noise_imgs = [rng.uniform(-1, 1, 64), rng.standard_normal(64), np.full(64, -1.0), np.full(64, 1.0),
                  np.clip(x[picks[0]] + 0.5 * rng.standard_normal(64), -1, 1), 0.3 * rng.standard_normal(64)]
    inp = np.concatenate([x[picks], np.array(noise_imgs)]).astype(np.float32)
    feats, logits = np_forward(w, inp)
    with torch.no_grad():
        tf = model.features(torch.from_numpy(inp)).double().numpy()
    assert np.max(np.abs(tf - feats)) < 1e-4
    write_safetensors(FIXTURES / "classifier-features.safetensors",
                      {"input": inp, "features": feats, "logits": logits, "labels": np.array(list(range(10)) + [-1] * 6, np.int64)},
                      {"generator": GENERATOR, "versions": vers, "classifier": "Sources/DiffusionNeural/Resources/Models/digits-classifier.safetensors",
                       "description": (
                           "input [16,64] F32: rows 0-9 are digits of class 0..9 (labels), rows 10-15 noise images "
                           "(uniform, standard normal, all -1, all +1, digit 0 plus noise clipped, 0.3*normal). "
                           "features [16,128] = silu(fc2(silu(fc1(x)))) and logits [16,10] = fc3(features), "
                           "evaluated in float64 from the float32 weights of digits-classifier.safetensors.")})

    # Frechet distance fixture
    rng = np.random.default_rng(6)
    order = rng.permutation(len(x))
    a_img = x[order[:200]]
    b_img = np.clip(x[order[200:400]] + 0.3 * rng.standard_normal((200, 64)), -1, 1)
    a, _ = np_forward(w, a_img)
    b, _ = np_forward(w, b_img)
    ma, ca = feature_stats(a)
    mb, cb = feature_stats(b)
    fd = frechet_distance(ma, ca, mb, cb)
    fd_scipy = frechet_distance_scipy(ma, ca, mb, cb)
    fd_a_data = frechet_distance(ma, ca, mean, cov)
    assert abs(fd - fd_scipy) <= 1e-6 * max(1.0, abs(fd)), (fd, fd_scipy)
    print(f"FD fixture: fd {fd:.10g} (scipy sqrtm {fd_scipy:.10g}), fd(a, data) {fd_a_data:.10g}")
    write_safetensors(FIXTURES / "frechet-distance.safetensors",
                      {"a": a, "b": b, "fd": np.array([fd]), "fd_a_data": np.array([fd_a_data])},
                      {"generator": GENERATOR, "versions": vers,
                       "fd": repr(fd), "fd_scipy_sqrtm": repr(fd_scipy), "fd_a_data": repr(fd_a_data),
                       "formula": ("FD = |mu_a - mu_b|^2 + tr(C_a) + tr(C_b) - 2 tr((C_a C_b)^(1/2)), mu = row mean, "
                                   "C = covariance with ddof=1 (n-1); tr((C_a C_b)^(1/2)) = sum sqrt(eig(S C_b S)), "
                                   "S = C_a^(1/2) (float64 eigh; agrees with scipy.linalg.sqrtm)"),
                       "description": (
                           "a [200,128], b [200,128] F64: digits-classifier features of 200 digits, and of 200 other "
                           "digits with N(0, 0.3^2) noise added (clipped to [-1,1]). fd [1] = FD(a, b). fd_a_data [1] = "
                           "FD of a against data_feature_mean / data_feature_cov of digits-classifier.safetensors.")})
    # the floor: FD of 256 real digits vs the data statistics
    idx = np.random.default_rng(7).choice(len(x), 256, replace=False)
    f256, _ = np_forward(w, x[idx])
    print(f"FD(256 real digits, data) = {frechet_distance(*feature_stats(f256), mean, cov):.4f}")


if __name__ == "__main__":
    main()
