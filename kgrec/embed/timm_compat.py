"""Make timm (and the pure-Python parts of torchvision it imports) importable beside a CPU torch.

Why this exists: the PyPI wheel of torchvision that matches torch 2.13 is a CUDA build. Its compiled
ops library (``torchvision/_C.so``) cannot be loaded beside the CPU-only torch wheel, and
torchvision's ``_meta_registrations`` then fails at import time because it registers fake kernels
for ``torchvision::nms`` and ``torchvision::qnms`` whose schemas only the compiled library defines.

When, and only when, the compiled ops cannot be loaded, this module defines those two schemas
(no kernels) with ``torch.library`` so that ``import torchvision`` succeeds. Calling
``torchvision.ops.nms`` then still fails with a clear "no kernel" error; timm's image backbones
never call it. With a working torchvision build nothing is changed.

Import this module (or call ``import_timm()``) before anything imports torchvision or timm.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

# The Library object must stay referenced: the schemas are removed when it is garbage-collected.
_SHIM_LIBRARY: torch.library.Library | None = None
SHIM_APPLIED = False

_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)


def _op_defined(name: str) -> bool:
    try:
        getattr(torch.ops.torchvision, name)
        return True
    except (AttributeError, RuntimeError):
        return False


def _compiled_ops_loadable() -> bool:
    """True when torchvision is absent (nothing to fix) or its compiled ops load."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return True
    package_dir = Path(spec.origin).parent
    libs = sorted(package_dir.glob("_C*.so")) + sorted(package_dir.glob("_C*.pyd"))
    if not libs:
        return False
    try:
        torch.ops.load_library(str(libs[0]))
    except (OSError, ImportError, RuntimeError):
        return False
    return True


def apply() -> bool:
    """Define the two op schemas if needed. Returns True when the shim is in effect. Idempotent."""
    global _SHIM_LIBRARY, SHIM_APPLIED
    if SHIM_APPLIED or _op_defined("nms"):
        return SHIM_APPLIED
    if _compiled_ops_loadable():
        return False
    _SHIM_LIBRARY = torch.library.Library("torchvision", "DEF")
    for schema in _SCHEMAS:
        _SHIM_LIBRARY.define(schema)
    SHIM_APPLIED = True
    return True


def import_timm():
    """``timm``, imported after the torchvision shim is in place."""
    apply()
    import timm

    return timm


apply()
