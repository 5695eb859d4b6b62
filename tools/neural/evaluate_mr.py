#!/usr/bin/env python3
"""The digits-mr restoration figures of docs/MEAN-REVERTING.md: RMS to the clean digit and classifier accuracy.

    tools/.venv/bin/python tools/neural/evaluate_mr.py prepare DIR [--count 64]
    diffuse restore --model digits-mr --input DIR/degraded.npy --solver mrs_ode --order 2 --steps 10 --output DIR/ode2-10.npy
    tools/.venv/bin/python tools/neural/evaluate_mr.py score DIR DIR/ode2-10.npy ...

`prepare` writes DIR/clean.npy, DIR/labels.npy and DIR/degraded.npy: `count` digits drawn without replacement
(seed 2023) from scikit-learn's set, pixels in [-1, 1], degraded by Gaussian noise of std 0.5 (the training
degradation; numpy seed 2024). `score` prints, for the degraded inputs and each restored file, the RMS to the clean
digits (over all pixels) and the share labelled correctly by the shipped digits classifier (float64). Both the
network and the classifier saw all 1,797 digits in training (there is no held-out split of this small set);
the degradation noise is fresh. Python only reads what the Swift tool wrote; it samples nothing.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MODELS, load_digits_images  # noqa: E402
from train_classifier import np_forward  # noqa: E402
from train_digits_mr import DEGRADATION_SIGMA  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("dir", type=Path)
    p.add_argument("--count", type=int, default=64)
    s = sub.add_parser("score")
    s.add_argument("dir", type=Path)
    s.add_argument("restored", type=Path, nargs="*")
    args = ap.parse_args()
    if args.command == "prepare":
        images, labels = load_digits_images()
        pick = np.random.default_rng(2023).choice(len(images), args.count, replace=False)
        clean = images[pick]
        degraded = clean + DEGRADATION_SIGMA * np.random.default_rng(2024).standard_normal(clean.shape)
        args.dir.mkdir(parents=True, exist_ok=True)
        np.save(args.dir / "clean.npy", clean.astype(np.float32))
        np.save(args.dir / "labels.npy", labels[pick])
        np.save(args.dir / "degraded.npy", degraded.astype(np.float32))
        print(f"wrote {args.count} clean, degraded (noise std {DEGRADATION_SIGMA}) digits to {args.dir}")
        return
    clean = np.load(args.dir / "clean.npy").astype(np.float64).reshape(-1, 64)
    labels = np.load(args.dir / "labels.npy")
    weights = load_file(str(MODELS / "digits-classifier.safetensors"))
    for path in [args.dir / "degraded.npy"] + args.restored:
        x = np.load(path).astype(np.float64).reshape(-1, 64)
        rms = np.sqrt(np.mean((x - clean) ** 2))
        _, logits = np_forward(weights, x)
        print(f"{path.name}: RMS to clean {rms:.4f}, classifier accuracy {(logits.argmax(1) == labels).mean():.3f}")


if __name__ == "__main__":
    main()
