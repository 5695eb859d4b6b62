#!/usr/bin/env python3
"""Scores token samples of `digits-masked` written by `diffuse sample --model digits-masked ... --output X.npy`.

    tools/.venv/bin/python tools/neural/evaluate_masked.py SAMPLES.npy [--class C]

Reads int32 token ids [B, 64] (grey level v/3 of token v, mapped to [-1, 1]) and prints, with the shipped digits
feature classifier (Resources/Models/digits-classifier.safetensors, float64 evaluation as in Swift):
- the share of samples classified as C (with --class), and the same share for the quantized real digits of class C;
- the Frechet distance of the classifier features to those of all 1,797 quantized real digits, and, as the floor,
  of as many quantized real digits drawn without replacement (seed 0);
- the mean per-position token entropy (nats) of the samples and of the quantized data.
Python only reads the files the Swift tool wrote; it samples nothing.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO_ROOT, frechet_distance  # noqa: E402
from train_classifier import np_forward  # noqa: E402
from train_digits_masked import V, load_tokens  # noqa: E402

CLASSIFIER = REPO_ROOT / "Sources" / "DiffusionNeural" / "Resources" / "Models" / "digits-classifier.safetensors"


def pixels(tokens: np.ndarray) -> np.ndarray:
    return tokens.astype(np.float64) / (V - 1) * 2 - 1


def entropy(tokens: np.ndarray) -> float:
    counts = np.stack([(tokens == v).mean(axis=0) for v in range(V)])      # [V, L]
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(counts > 0, counts * np.log(counts), 0).sum(axis=0)
    return float(h.mean())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("samples", type=Path)
    ap.add_argument("--class", dest="label", type=int)
    args = ap.parse_args()
    w = load_file(str(CLASSIFIER))
    samples = np.load(args.samples).astype(np.int64)
    data, labels = load_tokens()
    f_s, logits_s = np_forward(w, pixels(samples))
    f_d, logits_d = np_forward(w, pixels(data))
    fd = frechet_distance(f_s.mean(0), np.cov(f_s, rowvar=False), f_d.mean(0), np.cov(f_d, rowvar=False))
    pick = np.random.default_rng(0).choice(len(data), size=min(len(samples), len(data)), replace=False)
    f_r = f_d[pick]
    floor = frechet_distance(f_r.mean(0), np.cov(f_r, rowvar=False), f_d.mean(0), np.cov(f_d, rowvar=False))
    print(f"{len(samples)} samples: feature FD to the quantized data {fd:.3f} (as many real digits: {floor:.3f}); "
          f"token entropy {entropy(samples):.4f} nats (data {entropy(data):.4f})")
    if args.label is not None:
        share = float((logits_s.argmax(1) == args.label).mean())
        real = float((logits_d[labels == args.label].argmax(1) == args.label).mean())
        print(f"classified as {args.label}: {share:.3f} of the samples (quantized real digits of that class: {real:.3f})")


if __name__ == "__main__":
    main()
