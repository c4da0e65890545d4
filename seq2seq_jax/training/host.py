"""The machine a number was measured on: CPU model, the cores this process may use, backend,
and the versions of the libraries the numbers depend on.

Result tables, benchmarks and decode timings all describe their machine through
these, so a run pinned with ``taskset -c 0`` on a 2-core machine says "1 CPU core"
everywhere rather than the machine's total.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
from pathlib import Path

import jax


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """The cores this process may run on (``taskset`` narrows them), not all the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def host_description() -> str:
    """CPU model, usable core count and JAX backend, for result tables."""
    dev = jax.devices()[0]
    backend = (f"JAX {dev.platform}" if dev.platform == "cpu"
               else f"JAX {dev.platform} ({dev.device_kind})")
    cores = usable_cores()
    return f"{cpu_model()}, {cores} CPU core{'' if cores == 1 else 's'}, {backend}"


# What a training run's numbers depend on, bit for bit: another XLA (jaxlib) or optimiser
# release changes float rounding, and a retrained run drifts from the first one.
NUMERIC_PACKAGES = ("jax", "jaxlib", "optax", "flax", "orbax-checkpoint", "numpy")


@functools.cache  # fixed for the process; every checkpoint's meta asks again
def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None when it is not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def library_versions(names: tuple[str, ...] = NUMERIC_PACKAGES) -> dict[str, str | None]:
    """``{package: version}`` for ``names`` (None for one not installed)."""
    return {name: package_version(name) for name in names}


def version_changes(recorded: dict[str, str | None] | None,
                    current: dict[str, str | None]) -> list[str]:
    """``"jax 0.9.0 -> 0.10.2"`` for each package whose recorded version differs from
    ``current``; [] when they agree or nothing was recorded (a run from before versions
    were kept)."""
    if not recorded:
        return []
    return [f"{name} {recorded.get(name)} -> {version}" for name, version in current.items()
            if name in recorded and recorded[name] != version]
