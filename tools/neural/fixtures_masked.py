#!/usr/bin/env python3
"""Reference outputs of the shipped `digits-masked` network for the Swift runtime (issue 24).

Command (from the repository root, a few seconds):

    tools/.venv/bin/python tools/neural/fixtures_masked.py

Reads Sources/DiffusionNeural/Resources/Models/digits-masked (written by train_digits_masked.py) and writes
Tests/DiffusionSolversTests/Fixtures/neural/digits-masked-forward.safetensors:

  tokens  int64 [8, 64]   token ids (mask = 4): digits from the data with 0%, 25%, 50%, 75%, 90%, 100% of their
                          positions masked (seeded), and two fully masked sequences
  labels  int64 [8]       class labels (10 = the null label)
  input   float32 [8, 5, 8, 8]  the one-hot the network takes
  logits  float32 [8, 4, 8, 8]  UNet2DModel(input, timestep 0, class_labels).sample, float32 on the CPU
  probabilities float64 [8, 64, 4]  softmax of the logits over the 4 real tokens, in float64
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import FIXTURES, REPO_ROOT, versions, write_safetensors  # noqa: E402
from train_digits_masked import L, MASK, V, load_tokens, network_input  # noqa: E402

from diffusers import UNet2DModel  # noqa: E402

GENERATOR = "tools/neural/fixtures_masked.py"
MODEL = REPO_ROOT / "Sources" / "DiffusionNeural" / "Resources" / "Models" / "digits-masked"


def main():
    torch.set_num_threads(1)
    model = UNet2DModel.from_pretrained(MODEL).eval()
    tokens, labels = load_tokens()
    rng = np.random.default_rng(2024)
    rows, labs = [], []
    for i, rate in enumerate([0.0, 0.25, 0.5, 0.75, 0.9, 1.0]):
        k = int(rng.integers(len(tokens)))
        seq = tokens[k].copy()
        seq[rng.random(L) < rate] = MASK
        rows.append(seq)
        labs.append(int(labels[k]) if i % 2 == 0 else 10)
    rows += [np.full(L, MASK), np.full(L, MASK)]
    labs += [3, 10]
    tok = torch.from_numpy(np.stack(rows).astype(np.int64))
    lab = torch.tensor(labs, dtype=torch.long)
    x = network_input(tok)
    with torch.no_grad():
        logits = model(x, torch.zeros(len(labs), dtype=torch.long), class_labels=lab).sample
    probs = F.softmax(logits.to(torch.float64).reshape(-1, V, L).permute(0, 2, 1), dim=-1)
    out = FIXTURES / "digits-masked-forward.safetensors"
    write_safetensors(out, {"tokens": tok, "labels": lab, "input": x, "logits": logits, "probabilities": probs},
                      metadata={"generator": GENERATOR, "versions": str(versions())})
    print("wrote", out)


if __name__ == "__main__":
    main()
