#!/usr/bin/env bash
# Creates tools/.venv with the pinned fixture-generator environment.
# Usage: bash tools/setup_venv.sh        (PYTHON=/path/to/python3.11 to choose the interpreter)
# Needs only PyPI. torch comes from PyPI with its CUDA runtime wheels (several GB); the
# generators use the CPU only.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="$HERE/.venv"

"$PYTHON" - <<'PY'
import sys
if sys.version_info[:2] != (3, 11):
    print(f"warning: fixtures were generated with Python 3.11, this is {sys.version.split()[0]}", file=sys.stderr)
PY

"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --disable-pip-version-check -r "$HERE/requirements.txt"
# k-diffusion's declared dependencies are heavy and unused; only k_diffusion.sampling is imported.
"$VENV/bin/python" -m pip install --disable-pip-version-check --no-deps k-diffusion==0.1.1.post1
"$VENV/bin/python" -c "import diffusers, torch, torchvision, torchdiffeq, torchsde; print('ok: diffusers', diffusers.__version__, 'torch', torch.__version__, 'torchvision', torchvision.__version__)"
echo "venv ready: $VENV   (run: $VENV/bin/python tools/fixtures_foundation.py)"
