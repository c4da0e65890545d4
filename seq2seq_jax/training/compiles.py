"""How many programs this process compiled, and how many it read from the persistent
compilation cache (``inference.compilation``), as JAX announces them through
``jax.monitoring``; training logs the seconds apart from its step time."""

from __future__ import annotations

_COUNTS = {"compiles": 0, "cache_hits": 0, "compile_s": 0.0, "trace_s": 0.0}
_LISTENING = False
_BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"  # a cache read included
_TRACING = ("/jax/core/compile/jaxpr_trace_duration",
            "/jax/core/compile/jaxpr_to_mlir_module_duration")


def _on_duration(event: str, duration_secs: float, **_: str | int) -> None:
    if event == _BACKEND_COMPILE:
        _COUNTS["compiles"] += 1
        _COUNTS["compile_s"] += duration_secs
    elif event in _TRACING:
        _COUNTS["trace_s"] += duration_secs


def _on_event(event: str, **_: str | int) -> None:
    if event == "/jax/compilation_cache/cache_hits":
        _COUNTS["cache_hits"] += 1


def counts() -> dict[str, float]:
    """This process's compilations so far (listening starts at the first call).

    ``programs``: XLA programs built, ``compiled`` of them compiled here and
    ``cache_hits`` read from the persistent cache; ``compile_s`` the seconds spent
    building them (compiling or reading), ``trace_s`` the seconds tracing and lowering.
    """
    global _LISTENING
    if not _LISTENING:
        import jax.monitoring

        jax.monitoring.register_event_duration_secs_listener(_on_duration)
        jax.monitoring.register_event_listener(_on_event)
        _LISTENING = True
    c = _COUNTS
    return {"programs": c["compiles"], "compiled": c["compiles"] - c["cache_hits"],
            "cache_hits": c["cache_hits"], "compile_s": c["compile_s"],
            "trace_s": c["trace_s"]}


def since(start: dict[str, float]) -> dict[str, float]:
    """``counts()`` minus ``start`` (an earlier ``counts()``): what was built since."""
    now = counts()
    return {k: now[k] - start[k] for k in now}
