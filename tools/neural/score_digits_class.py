#!/usr/bin/env python3
"""Scores digit samples written by `diffuse sample --model digits ... --output X.npy` with the shipped classifier.

    tools/.venv/bin/python tools/neural/score_digits_class.py SAMPLES.npy --class C

Prints the mean probability of class C, the share of samples labelled C and the mean log-probability, from
Resources/Models/digits-classifier.safetensors evaluated in float64 (as the Swift `class:C` reward does).
Python only reads the file the Swift tool wrote; it samples nothing.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO_ROOT  # noqa: E402
from train_classifier import np_forward  # noqa: E402

CLASSIFIER = REPO_ROOT / "Sources" / "DiffusionNeural" / "Resources" / "Models" / "digits-classifier.safetensors"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("samples", type=Path)
    ap.add_argument("--class", dest="label", type=int, required=True)
    args = ap.parse_args()
    x = np.load(args.samples).astype(np.float64).reshape(-1, 64)
    _, logits = np_forward(load_file(str(CLASSIFIER)), x)
    logp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    p = np.exp(logp[:, args.label])
    print(f"{len(x)} samples: mean p({args.label}) {p.mean():.3f}, labelled {args.label} {(logits.argmax(1) == args.label).mean():.3f}, "
          f"mean log p {logp[:, args.label].mean():.3f}")


if __name__ == "__main__":
    main()
