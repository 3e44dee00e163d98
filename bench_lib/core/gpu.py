"""What a GPU result is recorded with, and the asv machine name of a GPU machine.

asv's machine file has no GPU fields, so every GPU cell records them itself: the GPU
model and memory and the driver (``nvidia-smi``), the CUDA version the driver supports,
and from the cell's framework the CUDA and cuDNN it was built for (``gpu_conditions``
of each backend).  ``compare`` treats two measurements on different GPUs, drivers or
CUDA builds as not comparable.  Nothing here needs a GPU: without one every field is
absent.
"""

from __future__ import annotations

import re
import shutil
import subprocess

# The fields every GPU cell records (None where its framework cannot say).
FIELDS = ("gpu", "gpu_memory_bytes", "gpu_driver", "cuda_driver", "cuda_build", "cudnn")
_QUERY = ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"]


def _run(command: list[str]) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def parse_query(text: str) -> dict:
    """The first GPU of ``nvidia-smi --query-gpu=name,memory.total,driver_version
    --format=csv,noheader,nounits`` (memory in MiB)."""
    line = text.strip().splitlines()[0] if text and text.strip() else ""
    parts = [part.strip() for part in line.split(",")]
    if len(parts) != 3:
        return {}
    name, memory, driver = parts
    return {"gpu": name, "gpu_memory_bytes": int(float(memory)) * 2**20 if memory.replace(".", "").isdigit() else None,
            "gpu_driver": driver}


def parse_cuda_driver(text: str) -> str | None:
    """The CUDA version the driver supports, from ``nvidia-smi``'s banner."""
    found = re.search(r"CUDA Version:\s*([\d.]+)", text or "")
    return found.group(1) if found else None


def driver_conditions() -> dict:
    """The GPU model, memory and driver, and the driver's CUDA version; empty without
    ``nvidia-smi``."""
    found = parse_query(_run(_QUERY) or "")
    if found:
        found["cuda_driver"] = parse_cuda_driver(_run(["nvidia-smi"]) or "")
    return found


def conditions(backend_module) -> dict:
    """Every field of ``FIELDS`` for a GPU cell of ``backend_module``: the framework's
    own answers first (they name the device it really uses), then the driver's."""
    found = {field: None for field in FIELDS}
    found.update({k: v for k, v in driver_conditions().items() if v is not None})
    found.update({k: v for k, v in backend_module.gpu_conditions().items() if v is not None})
    return found


def machine_name(name: str | None = None) -> str | None:
    """The asv machine name of a GPU machine: its GPU model as a lowercase slug
    ("NVIDIA H200" -> "nvidia-h200"); None without a GPU."""
    name = name if name is not None else driver_conditions().get("gpu")
    if not name:
        return None
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
