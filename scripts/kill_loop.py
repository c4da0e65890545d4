"""Kill ``seq2seq-jax train`` with SIGKILL at random moments and check every resume.

  nice -n 10 python scripts/kill_loop.py [--trials 20] [--workdir-root DIR] [--seed 0]
      [--config configs/smoke.py:cmudict_g2p] [--max-kills 3] [-- --config.KEY=VALUE ...]

Two uninterrupted runs come first (the first prepares the data and fills the
compilation cache; the second is the reference, timed). Then each trial trains
the same command in a fresh workdir: the first run is killed at a random moment
(of its start-up, of its training, or of one of its evaluations; see
``random_plans``), each re-run of the same command is killed again with
probability 1/2 (at most ``--max-kills`` kills a trial), until one runs to the
end. After each kill the script notes what was in flight (the log's last
line: start-up, training steps, an evaluation or shutdown; a temporary
checkpoint directory: a checkpoint write, see ``classify``) and the newest complete
checkpoint on disk, which the re-run must say it resumed from. At the end it
compares the final parameters' digest with the reference run's and prints the
counts; the exit status is 1 if any trial resumed wrongly or ended with other
parameters.

The default overrides make the smoke config long enough, with frequent
checkpoints and evaluations, for kills to land in every phase. Logs and
workdirs stay under ``--workdir-root``.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = f"{ROOT / 'configs' / 'smoke.py'}:cmudict_g2p"
DEFAULT_OVERRIDES = ("--config.train.num_steps=60", "--config.train.log_every=1",
                     "--config.train.checkpoint_every=4", "--config.train.eval_every=10",
                     "--config.train.keep_checkpoints=3",
                     "--config.train.eval_max_examples=256")
STEP_LINE = re.compile(r"^step (\d+): (dev )?", re.MULTILINE)
RESUMED = re.compile(r"resuming from the checkpoint at step (\d+)")
UNREADABLE = re.compile(r"checkpoint (\S+) is unreadable")


@dataclasses.dataclass
class KillPlan:
    """When to kill one run: ``delay`` seconds after its ``anchor``.

    Anchors: "start" (the launch), "step" (the first training-step log line),
    "checkpoint" (the first complete checkpoint directory), "eval" (the log line
    of the ``nth`` step of the run that is followed by an evaluation).
    """

    anchor: str
    delay: float
    nth: int = 1


@dataclasses.dataclass
class Kill:
    plan: KillPlan
    phase: str  # "startup", "steps", "checkpoint write", "eval" (+ " + checkpoint write"), ...
    expected_resume: int | None  # newest complete checkpoint after the kill


@dataclasses.dataclass
class Trial:
    workdir: Path
    kills: list[Kill] = dataclasses.field(default_factory=list)
    resumes: list[tuple[int | None, int | None]] = dataclasses.field(default_factory=list)
    unreadable: list[str] = dataclasses.field(default_factory=list)  # warnings seen
    finished: bool = False
    digest: str | None = None

    @property
    def resumed_ok(self) -> bool:
        """Every re-run resumed from the newest complete checkpoint; the last one finished."""
        return self.finished and all(want == got for want, got in self.resumes)


@dataclasses.dataclass
class Reference:
    digest: str
    step: int
    startup_s: float  # launch to the first training-step line
    training_s: float  # first training-step line to exit
    eval_s: float  # the mean time from an evaluated step's line to its "dev" line
    eval_every: int
    num_steps: int


def child_env(cache_dir: Path) -> dict[str, str]:
    """The CPU, a shared persistent compilation cache, unbuffered output."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1",
               JAX_COMPILATION_CACHE_DIR=str(cache_dir),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    return env


def train_command(config: str, workdir: Path, data_dir: Path,
                  overrides: Sequence[str]) -> list[str]:
    """The ``seq2seq-jax train`` command line of every run."""
    exe = Path(sys.executable).with_name("seq2seq-jax")
    head = [str(exe)] if exe.exists() else [sys.executable, "-m", "seq2seq_jax.cli"]
    return [*head, "train", f"--config={config}", f"--workdir={workdir}",
            f"--config.data.data_dir={data_dir}", *overrides]


def _anchor_reached(plan: KillPlan, log: str, workdir: Path, eval_every: int) -> bool:
    from seq2seq_jax.training import checkpoint

    if plan.anchor == "start":
        return True
    if plan.anchor == "step":
        return STEP_LINE.search(log) is not None
    if plan.anchor == "checkpoint":
        return bool(checkpoint.complete_steps(workdir))
    if plan.anchor == "eval":
        return sum(m.group(2) is None and int(m.group(1)) % eval_every == 0
                   for m in STEP_LINE.finditer(log)) >= plan.nth
    raise ValueError(f"unknown anchor {plan.anchor!r}")


def classify(workdir: Path, log: str, tmp_before: set[Path], eval_every: int,
             num_steps: int) -> str:
    """What the killed run was doing, from its log and the saves it left unfinished.

    The log's last line gives "startup", "steps", "eval" or "shutdown"; a
    temporary checkpoint directory that the run created and did not finish
    means a checkpoint write was under way: "checkpoint write" during steps,
    "eval + checkpoint write" when a save was still being written in the
    background while the model was evaluated.
    """
    from seq2seq_jax.training import checkpoint

    lines = list(STEP_LINE.finditer(log))
    if "\nsummary\n" in log:
        phase = "shutdown"
    elif not lines:
        phase = "startup"
    else:
        step = int(lines[-1].group(1))
        evaluating = lines[-1].group(2) is None and (step % eval_every == 0
                                                     or step == num_steps)
        phase = "eval" if evaluating else "steps"
    if set(checkpoint.saves_in_progress(workdir)) - tmp_before:
        return "checkpoint write" if phase == "steps" else f"{phase} + checkpoint write"
    return phase


def run_once(cmd: Sequence[str], env: dict[str, str], log_path: Path, workdir: Path,
             plan: KillPlan | None, eval_every: int,
             num_steps: int) -> tuple[int | None, Kill | None, str]:
    """Run ``cmd`` once, killing it by ``plan``.

    Returns:
      ``(exit status or None if killed, the kill or None, the run's log)``.
    """
    from seq2seq_jax.training import checkpoint

    tmp_before = set(checkpoint.saves_in_progress(workdir))
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    anchored_at: float | None = None
    while proc.poll() is None:
        if plan is not None:
            now = time.monotonic()
            if anchored_at is None and _anchor_reached(plan, log_path.read_text(errors="replace"),
                                                      workdir, eval_every):
                anchored_at = now
            if anchored_at is not None and now - anchored_at >= plan.delay:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                log = log_path.read_text(errors="replace")
                phase = classify(workdir, log, tmp_before, eval_every, num_steps)
                steps = checkpoint.complete_steps(workdir)
                return None, Kill(plan, phase, steps[-1] if steps else None), log
        time.sleep(0.005)
    return proc.returncode, None, log_path.read_text(errors="replace")


def run_reference(cmd: Sequence[str], env: dict[str, str], workdir: Path) -> Reference:
    """The uninterrupted run: its final digest and how long its phases took."""
    from seq2seq_jax.training import workdir as workdir_lib

    log_path = workdir.with_suffix(".log")
    start = time.monotonic()
    seen: dict[tuple[int, bool], float] = {}  # (step, is a dev line) -> when first seen
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    while proc.poll() is None:
        for m in STEP_LINE.finditer(log_path.read_text(errors="replace")):
            seen.setdefault((int(m.group(1)), m.group(2) is not None), time.monotonic())
        time.sleep(0.01)
    end = time.monotonic()
    if proc.returncode != 0:
        raise RuntimeError(f"the reference run failed; see {log_path}")
    config = json.loads((workdir / "config.json").read_text())
    digest, step = workdir_lib.params_digest(workdir)
    first_step = min((t for (_, dev), t in seen.items() if not dev), default=end)
    evals = [t - seen[s, False] for (s, dev), t in seen.items() if dev and (s, False) in seen]
    return Reference(digest, step, first_step - start, end - first_step,
                     sum(evals) / len(evals) if evals else 0.0,
                     config["train"]["eval_every"], config["train"]["num_steps"])


def run_trial(cmd: Sequence[str], env: dict[str, str], workdir: Path,
              plan_for: Callable[[int], KillPlan | None], eval_every: int, num_steps: int,
              max_runs: int = 8) -> Trial:
    """Run the command until it finishes, killing run k by ``plan_for(k)``.

    ``eval_every`` and ``num_steps`` are the config's, for the "eval" anchor, the
    phase of each kill and the final step.
    """
    from seq2seq_jax.training import workdir as workdir_lib

    trial = Trial(workdir)
    expected: int | None = None
    for k in range(max_runs):
        status, kill, log = run_once(cmd, env, workdir.with_name(f"{workdir.name}-run{k}.log"),
                                     workdir, plan_for(k), eval_every, num_steps)
        trial.unreadable.extend(m.group(1) for m in UNREADABLE.finditer(log))
        if k > 0:
            resumed = RESUMED.search(log)
            if resumed is not None or status is not None:  # a run killed before it said
                trial.resumes.append((expected, int(resumed.group(1)) if resumed else None))
        if kill is not None:
            trial.kills.append(kill)
            expected = kill.expected_resume
            continue
        trial.finished = status == 0
        break
    if trial.finished:
        trial.digest, step = workdir_lib.params_digest(workdir)
        trial.finished = step == num_steps
    return trial


def random_plans(rng: random.Random, ref: Reference, max_kills: int,
                 ) -> Callable[[int], KillPlan | None]:
    """The first run is always killed; each later one with probability 1/2.

    A kill lands at a uniformly random moment of start-up (15 %), of training
    (55 %), or of one of the first evaluations (30 %: evaluations are a small
    part of a run, so uniform moments over the whole run would seldom hit one).
    """
    evals = max(1, ref.num_steps // ref.eval_every - 1)

    def plan_for(k: int) -> KillPlan | None:
        if k >= max_kills or (k > 0 and rng.random() < 0.5):
            return None
        u = rng.random()
        if u < 0.15:
            return KillPlan("start", rng.uniform(0.0, ref.startup_s))
        if u < 0.7:
            return KillPlan("step", rng.uniform(0.0, 0.8 * ref.training_s))
        return KillPlan("eval", rng.uniform(0.0, ref.eval_s), rng.randint(1, evals))
    return plan_for


def report(trials: Sequence[Trial], ref: Reference) -> dict[str, Any]:
    """Print one line a trial and the totals; return the totals."""
    for i, t in enumerate(trials, 1):
        where = ", ".join(k.phase for k in t.kills) or "-"
        resumes = ", ".join(f"{w}->{g}" for w, g in t.resumes) or "-"
        print(f"trial {i:2d}: kills {len(t.kills)} [{where}]  resumes (expected->got) "
              f"{resumes}  finished {t.finished}  identical {t.digest == ref.digest}"
              + (f"  UNREADABLE {t.unreadable}" if t.unreadable else ""))
    phases = collections.Counter(k.phase for t in trials for k in t.kills)
    totals: dict[str, Any] = {
        "trials": len(trials),
        "kills": sum(len(t.kills) for t in trials),
        "restarts_checked": sum(len(t.resumes) for t in trials),
        "restarts_from_a_checkpoint": sum(w is not None for t in trials for w, _ in t.resumes),
        "resumed_correctly": sum(t.resumed_ok for t in trials),
        "bit_identical": sum(t.digest == ref.digest for t in trials),
        "unreadable_checkpoint_warnings": sum(len(t.unreadable) for t in trials),
        "kills_by_phase": dict(phases),
    }
    print(f"\ntrials {totals['trials']}  kills {totals['kills']}  resumed correctly "
          f"{totals['resumed_correctly']}/{len(trials)}  bit-identical "
          f"{totals['bit_identical']}/{len(trials)}")
    print("kills by phase: " + ", ".join(f"{p} {n}" for p, n in sorted(phases.items())))
    print(f"re-runs checked {totals['restarts_checked']} "
          f"({totals['restarts_from_a_checkpoint']} from a checkpoint, the rest from scratch); "
          f"unreadable-checkpoint warnings {totals['unreadable_checkpoint_warnings']}")
    return totals


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--workdir-root", default=None, help="default: a new temporary directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--config", default=DEFAULT_CONFIG)
    p.add_argument("--max-kills", type=int, default=3, help="kills per trial at most")
    p.add_argument("overrides", nargs="*", help="after --: more --config.KEY=VALUE")
    args = p.parse_args(argv)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    logging.getLogger("absl").setLevel(logging.ERROR)  # orbax's read-only notices

    root = Path(args.workdir_root or tempfile.mkdtemp(prefix="kill_loop_")).absolute()
    root.mkdir(parents=True, exist_ok=True)
    env = child_env(root / "jax_cache")
    overrides = [*DEFAULT_OVERRIDES, *args.overrides]

    def command(workdir: Path) -> list[str]:
        return train_command(args.config, workdir, root / "tfds", overrides)

    taken = [d.name for d in root.iterdir()
             if d.name in ("warmup", "reference") or d.name.startswith("trial")]
    if taken:
        p.error(f"{root} already holds {sorted(taken)}; pass a new --workdir-root (its "
                "jax_cache/ and tfds/ may be reused)")
    print(f"workdirs and logs under {root}", flush=True)
    # The first run prepares the data and fills the compilation cache; the second,
    # as warm as every later run, gives the timings (and must agree bit for bit).
    warm = run_reference(command(root / "warmup"), env, root / "warmup")
    ref = run_reference(command(root / "reference"), env, root / "reference")
    print(f"reference: step {ref.step}, digest {ref.digest[:16]}, start-up "
          f"{ref.startup_s:.1f} s, training {ref.training_s:.1f} s, an evaluation "
          f"{ref.eval_s:.2f} s", flush=True)
    if warm.digest != ref.digest:
        print("two uninterrupted runs disagree: training is not deterministic here")
        return 1
    rng = random.Random(args.seed)
    trials = []
    void = 0  # tries whose first run ended before its kill: redone in a new workdir
    for i in range(1, args.trials + 1):
        for attempt in range(3):
            workdir = root / (f"trial{i:02d}" + (f"-try{attempt + 1}" if attempt else ""))
            trial = run_trial(command(workdir), env, workdir,
                              random_plans(rng, ref, args.max_kills), ref.eval_every,
                              ref.num_steps)
            if trial.kills:
                break
            void += 1
        trials.append(trial)
        print(f"trial {i}: kills {[k.phase for k in trial.kills]}, resumes {trial.resumes}, "
              f"ok {trial.resumed_ok}, identical {trial.digest == ref.digest}", flush=True)
    totals = report(trials, ref)
    totals["void_tries"] = void
    if void:
        print(f"{void} tries ran to the end before their kill and were redone")
    (root / "kill_loop.json").write_text(json.dumps(totals, indent=2))
    good = totals["resumed_correctly"] == totals["bit_identical"] == len(trials)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
