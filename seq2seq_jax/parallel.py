"""Data parallelism over every visible device and host, with ``jax.sharding``.

One code path from one device to a pod: a ``Mesh`` with axes ``("data",
"model")`` covers all devices; batches are split over ``data`` (rows) with a
``NamedSharding``; params and optimizer state are replicated, except that with
``parallel.model_parallel > 1`` the large embedding, feed-forward and output
weights are split over ``model`` (rules by parameter path name, ``PARAM_RULES``);
the train step is jitted with explicit ``in_shardings`` / ``out_shardings``.
XLA's SPMD partitioner inserts the gradient all-reduce. No ``pmap``.

Shapes: B global batch (``data.batch_size``), P processes, Dd devices on the
data axis, Dm on the model axis (``Dd * Dm`` = all devices).

Batch sizes: B is the global batch of one micro-step; each data-parallel device
holds B / Dd rows and each process builds only the rows its devices hold
(``process_rows``). ``train.grad_accum_steps`` = k multiplies the batch of one
optimizer update to k * B.

Multi-host: ``distributed_init`` calls ``jax.distributed.initialize`` before
anything touches a device: explicitly from ``JAX_COORDINATOR_ADDRESS``,
``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` when all three are set, or with
JAX's cluster auto-detection (Cloud TPU, SLURM, Open MPI, Kubernetes) when
``parallel.distributed=True``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import ml_collections
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from seq2seq_jax.errors import ConfigError

log = logging.getLogger(__name__)

DATA, MODEL = "data", "model"
ENV_VARS = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")

# (path pattern, the axes to try in order): the first axis whose size the model
# axis divides is split over it; a weight no axis of which divides stays replicated.
# Paths are the dict keys joined by "/", e.g. "decoder/layers/0/ff/w1/w".
PARAM_RULES: tuple[tuple[str, tuple[int, ...]], ...] = (
    (r"(^|/)(src_embed|tgt_embed|embed)/table$", (1, 0)),  # [V, D]: split D (lookups stay local)
    (r"(^|/)ff/w1/w$", (1,)),  # [D, F]: split F (Megatron column-parallel)
    (r"(^|/)ff/w1/b$", (0,)),  # [F]
    (r"(^|/)ff/w2/w$", (0,)),  # [F, D]: split F (row-parallel)
    (r"(^|/)out/w$", (1, 0)),  # [H, V]: split V
)


class Shardings(NamedTuple):
    """Where the train state and a batch live on the mesh."""

    mesh: Mesh
    state: Any  # a pytree of NamedSharding shaped like the train state
    batch: NamedSharding  # rows over "data", replicated over "model"
    replicated: NamedSharding  # metrics, scalars


def distributed_init(config: ml_collections.ConfigDict | None = None,
                     environ: Mapping[str, str] | None = None) -> bool:
    """Join a multi-process run when the environment or the config asks for it.

    Call before anything touches a device. Explicit variables win: with all of
    ``JAX_COORDINATOR_ADDRESS`` (``host:port`` of process 0),
    ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` set, those are passed to
    ``jax.distributed.initialize``; otherwise ``parallel.distributed=True`` calls
    it without arguments, for JAX's cluster auto-detection.

    Returns:
      True when this call (or an earlier one) initialised the distributed runtime.

    Raises:
      ConfigError: only some of the three variables are set, or they are not integers.
    """
    env = os.environ if environ is None else environ
    if jax.distributed.is_initialized():
        return True
    present = [v for v in ENV_VARS if env.get(v)]
    asked = bool(config is not None and config.get("parallel", {}).get("distributed", False))
    if present and len(present) < len(ENV_VARS):
        missing = [v for v in ENV_VARS if v not in present]
        raise ConfigError(f"multi-host training needs all of {list(ENV_VARS)}; "
                          f"{missing} {'is' if len(missing) == 1 else 'are'} not set")
    if present:
        try:
            count, index = int(env["JAX_NUM_PROCESSES"]), int(env["JAX_PROCESS_ID"])
        except ValueError:
            raise ConfigError("JAX_NUM_PROCESSES and JAX_PROCESS_ID must be integers, got "
                              f"{env['JAX_NUM_PROCESSES']!r} and {env['JAX_PROCESS_ID']!r}"
                              ) from None
        jax.distributed.initialize(env["JAX_COORDINATOR_ADDRESS"], count, index)
    elif asked:
        jax.distributed.initialize()
    else:
        return False
    log.warning("process %d of %d, %d local of %d devices", jax.process_index(),
                jax.process_count(), jax.local_device_count(), jax.device_count())
    return True


def make_mesh(model_parallel: int = 1, devices: Sequence[Any] | None = None) -> Mesh:
    """A ``("data", "model")`` mesh over ``devices`` (default: every visible device).

    Raises:
      ConfigError: ``model_parallel`` does not divide the device count.
    """
    devices = list(jax.devices() if devices is None else devices)
    if model_parallel < 1 or len(devices) % model_parallel:
        raise ConfigError(f"parallel.model_parallel={model_parallel} must divide the "
                          f"{len(devices)} devices")
    shape = (len(devices) // model_parallel, model_parallel)
    return jax.make_mesh(shape, (DATA, MODEL), (AxisType.Auto, AxisType.Auto),
                         devices=devices)


def mesh_from_config(config: ml_collections.ConfigDict,
                     devices: Sequence[Any] | None = None) -> Mesh:
    """The mesh of ``config.parallel`` with its batch sizes checked against it."""
    mesh = make_mesh(int(config.get("parallel", {}).get("model_parallel", 1)), devices)
    check_batch_sizes(config, data_devices(mesh))
    return mesh


def data_devices(mesh: Mesh) -> int:
    """Dd: the devices that split the batch."""
    return int(mesh.shape[DATA])


def check_batch_sizes(config: ml_collections.ConfigDict, n_data: int) -> None:
    """Raise ``ConfigError`` naming ``data.batch_size`` / ``data.eval_batch_size``
    when it is not a multiple of the data-parallel device count ``n_data``."""
    for option in ("batch_size", "eval_batch_size"):
        value = config.data[option]
        if value % n_data:
            up = -(-value // n_data) * n_data
            raise ConfigError(
                f"data.{option}={value} is not divisible by the {n_data} data-parallel "
                f"devices; set it to a multiple of {n_data} (e.g. {up}), or use fewer "
                "devices (CUDA_VISIBLE_DEVICES) or a larger parallel.model_parallel")


def path_name(path: Sequence[Any]) -> str:
    """The dict keys and list indices of a pytree path joined by "/" (attributes dropped)."""
    parts = []
    for k in path:
        if isinstance(k, jax.tree_util.DictKey):
            parts.append(str(k.key))
        elif isinstance(k, jax.tree_util.SequenceKey):
            parts.append(str(k.idx))
    return "/".join(parts)


def param_spec(name: str, shape: Sequence[int], model_size: int) -> P:
    """The ``PartitionSpec`` of one weight by its path ``name`` (``PARAM_RULES``)."""
    if model_size > 1:
        for pattern, axes in PARAM_RULES:
            if re.search(pattern, name):
                for axis in axes:
                    if axis < len(shape) and shape[axis] % model_size == 0:
                        spec: list[str | None] = [None] * len(shape)
                        spec[axis] = MODEL
                        return P(*spec)
                break
    return P()


def tree_shardings(tree: Any, mesh: Mesh) -> Any:
    """A ``NamedSharding`` for every leaf of a params-like tree (the train state,
    its optimizer moments): ``PARAM_RULES`` by path name, else replicated."""
    size = int(mesh.shape[MODEL])

    def one(path: Sequence[Any], leaf: Any) -> NamedSharding:
        return NamedSharding(mesh, param_spec(path_name(path), np.shape(leaf), size))

    return jax.tree_util.tree_map_with_path(one, tree)


def make_shardings(state: Any, mesh: Mesh) -> Shardings:
    """The train step's shardings for a state (arrays or ``jax.eval_shape`` output)."""
    return Shardings(mesh, tree_shardings(state, mesh), NamedSharding(mesh, P(DATA)),
                     NamedSharding(mesh, P()))


def place(tree: Any, shardings: Any) -> Any:
    """Put a host-identical pytree onto the mesh, leaf by leaf.

    Every process holds the same values (same seed); each transfers only the
    pieces its own devices hold.
    """
    def one(x: Any, s: NamedSharding) -> jax.Array:
        if jax.process_count() == 1:
            return jax.device_put(x, s)
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, s, lambda idx: host[idx])

    return jax.tree.map(one, tree, shardings)


def process_rows(mesh: Mesh, global_rows: int) -> tuple[int, int]:
    """The rows ``[start, stop)`` of a ``global_rows`` batch that this process's
    devices hold under ``P("data")``; ``(0, global_rows)`` on one process."""
    sharding = NamedSharding(mesh, P(DATA))
    index = sharding.addressable_devices_indices_map((global_rows,))
    spans = sorted({s[0].indices(global_rows)[:2] for s in index.values() if s is not None})
    start, stop = spans[0][0], spans[-1][1]
    if sum(b - a for a, b in spans) != stop - start:
        raise ValueError(f"this process's devices hold rows {spans} of the batch, not one "
                         "contiguous block; build the mesh with jax.make_mesh")
    return start, stop


def shard_batch(local: Mapping[str, np.ndarray], mesh: Mesh,
                global_rows: int) -> dict[str, jax.Array]:
    """One global batch from each process's rows (``process_rows``).

    Args:
      local: arrays ``[rows of this process, ...]``.
      mesh: the mesh; rows go over "data".
      global_rows: B.

    Returns:
      Global arrays ``[B, ...]`` sharded ``P("data")``.
    """
    sharding = NamedSharding(mesh, P(DATA))
    return {k: jax.make_array_from_process_local_data(
        sharding, np.asarray(v), (global_rows, *np.shape(v)[1:])) for k, v in local.items()}


def shard_global(x: np.ndarray, mesh: Mesh) -> jax.Array:
    """Shard a batch every process holds in full (eval inputs) over "data"."""
    start, stop = process_rows(mesh, x.shape[0])
    return shard_batch({"x": x[start:stop]}, mesh, x.shape[0])["x"]


def to_host(x: jax.Array) -> np.ndarray:
    """A (possibly multi-host) array as one numpy array on every process."""
    if jax.process_count() == 1 or x.is_fully_addressable:
        return np.asarray(x)
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
