"""A stop request: SIGTERM ends training after the running step, with a checkpoint there.

Preemptible machines (spot GPU VMs, cloud TPUs, batch schedulers) send SIGTERM
some seconds before they take the machine back; a machine lent for a set time
can be sent it by hand (``kill -TERM PID``). Without a handler the process dies
and the run resumes from its last periodic checkpoint, losing up to
``train.checkpoint_every`` steps; with it, training finishes the step it is
computing, saves a checkpoint at that step and exits (status 143, as a process
ended by SIGTERM), and the same command resumes from exactly there.

The handler only records the request: the loop checks it between steps, so a
checkpoint is never written from inside a signal handler or mid-update. It is
installed from the main thread only (Python delivers signals there); elsewhere
training runs as before. In a multi-process run every process must receive
the signal, as a preemption sends it to every host.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

EXIT_STATUS = 128 + signal.SIGTERM  # what a shell reports for a process ended by SIGTERM


class StopRequest:
    """Records SIGTERM while installed; ``requested`` says whether one came."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: Any = None
        self._installed = False

    def install(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
            self._installed = True
        return self

    def uninstall(self) -> None:
        if self._installed:
            signal.signal(signal.SIGTERM, self._previous)
            self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        del frame
        self.received = signum

    @property
    def requested(self) -> bool:
        return self.received is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received is not None else ""
