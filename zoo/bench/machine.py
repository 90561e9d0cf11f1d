"""What a benchmark ran on: the device, the library versions, the machine's load.

Example:
    >>> from zoo.bench.machine import versions
    >>> versions().startswith("keras ")
    True
"""

from __future__ import annotations

import os
import platform
from importlib import metadata

__all__ = ["accelerator", "versions", "load_average"]


def accelerator():
    """`(kind, description)` of the device Keras computes on: `("gpu", "NVIDIA H200")` or
    `("cpu", "CPU: 2 cores, x86_64")`."""
    import keras

    backend = keras.backend.backend()
    name = None
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            name = details.get("device_name", "GPU")
    elif backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform == "gpu":
            name = device.device_kind
    if name:
        return "gpu", name
    return "cpu", f"CPU: {os.cpu_count()} cores, {platform.processor() or platform.machine()}"


def versions():
    """`keras 3.x, tensorflow 2.x, jax 0.x` (the libraries installed, whichever backend runs)."""
    parts = []
    for dist in ("keras", "tensorflow", "jax"):
        try:
            parts.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(parts)


def load_average():
    """The 1-minute load average, or None where the platform has none."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # pragma: no cover - not on every platform
        return None
