"""Shared helpers for the tools/neural/ scripts (paths, safetensors writer, digits data, plots).

Python is a tool here, never a runtime dependency: see tools/README.md.
"""
from __future__ import annotations

import importlib.metadata
import json
import platform
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURES = REPO_ROOT / "Tests" / "DiffusionSolversTests" / "Fixtures" / "neural"
MODELS = REPO_ROOT / "Sources" / "DiffusionNeural" / "Resources" / "Models"
LOGS = Path(__file__).resolve().parent / "logs"

_DTYPES = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64", np.dtype("<i8"): "I64",
           np.dtype("<i4"): "I32", np.dtype("<f2"): "F16"}


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in ["torch", "diffusers", "numpy", "scipy", "safetensors", "scikit-learn", "scikit-image"]:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def to_numpy(v) -> np.ndarray:
    if hasattr(v, "detach"):
        v = v.detach().cpu().numpy()
    arr = np.asarray(v)
    if arr.dtype.newbyteorder("<") not in _DTYPES:
        raise TypeError(f"unsupported dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))


def write_safetensors(path: Path, tensors: dict, metadata: dict):
    """Byte-reproducible safetensors writer (F32, F64, I64, I32, F16), keys sorted.

    Layout: u64 little-endian header length, JSON header padded with spaces to a multiple of 8,
    raw little-endian data packed in sorted-name order.  Read back with safetensors and compared.
    """
    from safetensors.numpy import load_file
    arrays = {k: to_numpy(v) for k, v in tensors.items()}
    header = {"__metadata__": {k: str(metadata[k]) for k in sorted(metadata)}}
    blobs, offset = [], 0
    for name in sorted(arrays):
        arr = arrays[name]
        data = arr.tobytes()
        header[name] = {"dtype": _DTYPES[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * (-len(hjson) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(len(hjson).to_bytes(8, "little") + hjson + b"".join(blobs))
    back = load_file(str(path))
    assert sorted(back) == sorted(arrays)
    for name, arr in arrays.items():
        assert back[name].dtype == arr.dtype and np.array_equal(back[name], arr), name


def load_digits_images() -> tuple[np.ndarray, np.ndarray]:
    """sklearn's 1,797 8x8 digits as float32 [N,1,8,8] in [-1,1] (pixel/16*2-1) and int64 labels."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0) * 2.0 - 1.0
    return x[:, None, :, :].astype(np.float32), d.target.astype(np.int64)


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """FD = |mu1-mu2|^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^{1/2}), float64.

    tr((C1 C2)^{1/2}) is computed exactly as the sum of sqrt of the eigenvalues of
    S C2 S with S = C1^{1/2} (symmetric PSD, eigh), which equals tr(sqrtm(C1 C2)).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    w, v = np.linalg.eigh(cov1)
    s = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = s @ cov2 @ s
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    tr_sqrt = float(np.sum(np.sqrt(np.clip(ev, 0, None))))
    d = mu1 - mu2
    return float(d @ d + np.trace(cov1) + np.trace(cov2) - 2.0 * tr_sqrt)


def frechet_distance_scipy(mu1, cov1, mu2, cov2) -> float:
    """The same with scipy.linalg.sqrtm (as in pytorch-fid), for cross-checking."""
    from scipy import linalg
    covmean = linalg.sqrtm(np.asarray(cov1, np.float64) @ np.asarray(cov2, np.float64))
    covmean = np.real(covmean)
    d = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    return float(d @ d + np.trace(cov1) + np.trace(cov2) - 2.0 * np.trace(covmean))


def loss_curve_png(csv_path: Path, png_path: Path, title: str):
    """A small loss-curve PNG drawn with Pillow (matplotlib is not in the venv)."""
    from PIL import Image, ImageDraw
    rows = [line.split(",") for line in csv_path.read_text().strip().splitlines()[1:]]
    if len(rows) < 2:
        return
    steps = np.array([float(r[0]) for r in rows])
    loss = np.array([float(r[1]) for r in rows])
    ema = np.array([float(r[2]) for r in rows]) if len(rows[0]) > 2 else None
    W, H, L, R, T, B = 720, 420, 70, 20, 40, 50
    img = Image.new("RGB", (W, H), "white")
    dr = ImageDraw.Draw(img)
    ly = np.log10(np.clip(loss, 1e-8, None))
    lo, hi = float(np.floor(ly.min() * 4) / 4), float(np.ceil(ly.max() * 4) / 4)
    if hi <= lo:
        hi = lo + 0.25
    def px(s, v):
        return (L + (s - steps[0]) / max(steps[-1] - steps[0], 1) * (W - L - R),
                T + (hi - v) / (hi - lo) * (H - T - B))
    dr.rectangle([L, T, W - R, H - B], outline="black")
    k = lo
    while k <= hi + 1e-9:
        y = px(steps[0], k)[1]
        dr.line([L - 4, y, L, y], fill="black")
        dr.text((4, y - 6), f"{10 ** k:.3g}", fill="black")
        k += 0.25
    for frac in np.linspace(0, 1, 6):
        s = steps[0] + frac * (steps[-1] - steps[0])
        x = px(s, lo)[0]
        dr.line([x, H - B, x, H - B + 4], fill="black")
        dr.text((x - 15, H - B + 8), f"{int(s)}", fill="black")
    dr.line([px(s, v) for s, v in zip(steps, ly)], fill=(150, 150, 220), width=1)
    if ema is not None:
        dr.line([px(s, v) for s, v in zip(steps, np.log10(np.clip(ema, 1e-8, None)))], fill=(200, 30, 30), width=2)
    dr.text((L, 12), title + "  (log scale; blue: window mean, red: smoothed)", fill="black")
    dr.text((W // 2 - 20, H - 18), "step", fill="black")
    img.save(png_path)
