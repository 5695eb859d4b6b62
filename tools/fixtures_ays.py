#!/usr/bin/env python3
"""Align Your Steps sigmas from ComfyUI's own node, for the `ays` spacings (issue 18).

The reference is ComfyUI's `comfy_extras/nodes_align_your_steps.py` (comfyanonymous/ComfyUI commit
341667c4d59a67d3b677c6f547f13892b36662cd), imported from a checkout named by COMFYUI_DIR (nothing of it is copied
here): its published NOISE_LEVELS for SD1, SDXL and SVD, `loglinear_interp` (float64) and
`AlignYourStepsScheduler.get_sigmas(model_type, steps, denoise=1)` (float32, last level replaced by 0), for 5, 7,
10, 20 and 30 steps.

Output: Tests/DiffusionSolversTests/Fixtures/ays_sigmas.json. Test: AlignYourStepsTests.
Run:  COMFYUI_DIR=/path/to/ComfyUI tools/.venv/bin/python tools/fixtures_ays.py
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures_foundation import FIXTURES, versions  # noqa: E402

GENERATOR = "tools/fixtures_ays.py"
COMFY_COMMIT = "341667c4d59a67d3b677c6f547f13892b36662cd"


def main():
    root = os.environ.get("COMFYUI_DIR")
    if not root:
        sys.exit("set COMFYUI_DIR to a ComfyUI checkout at " + COMFY_COMMIT)
    spec = importlib.util.spec_from_file_location("nodes_align_your_steps", Path(root) / "comfy_extras" / "nodes_align_your_steps.py")
    ays = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ays)
    cases = []
    for table in ["SD1", "SDXL", "SVD"]:
        levels = ays.NOISE_LEVELS[table]
        for steps in [5, 7, 10, 20, 30]:
            (sigmas,) = ays.AlignYourStepsScheduler().get_sigmas(table, steps, 1.0)
            interp = levels if steps + 1 == len(levels) else ays.loglinear_interp(levels, steps + 1)
            cases.append({"table": table.lower(), "steps": steps,
                          "interpolated": [float(v) for v in np.asarray(interp, dtype=np.float64)],
                          "comfy_sigmas": [float(v) for v in sigmas.numpy().astype(np.float64)]})
    out = FIXTURES / "ays_sigmas.json"
    out.write_text(json.dumps({"generator": GENERATOR, "comfyui_commit": COMFY_COMMIT, "versions": versions(),
                               "published": {t.lower(): ays.NOISE_LEVELS[t] for t in ["SD1", "SDXL", "SVD"]},
                               "cases": cases}, indent=1) + "\n")
    print(f"wrote {out} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
