"""The experiment config: one ``ml_collections.ConfigDict``, defaults and validation.

``default_config()`` is the main job (G2P on the built-in CMUdict data, LSTM +
Bahdanau attention); every file in ``configs/`` starts from it and overrides
what its experiment changes. ``validate`` runs before anything is compiled and
raises ``ConfigError`` naming the option and the valid choices.

Batch sizes and devices (``seq2seq_jax.parallel``):

* ``data.batch_size`` is the GLOBAL batch of one step, summed over every
  device and host. Training uses every visible device; the devices on the
  mesh's data axis (all of them, divided by ``parallel.model_parallel``) split
  it evenly, so each holds ``batch_size / data devices`` rows, and it must be a
  multiple of the data-device count (``ConfigError`` otherwise, checked when
  training starts). The same holds for ``data.eval_batch_size``.
* ``train.grad_accum_steps`` = k accumulates the gradients of k consecutive
  batches (``optax.MultiSteps``) into one optimizer update: an update sees
  ``k * batch_size`` examples. Each batch's loss is its mean per target token
  and the update uses the mean of the k gradients, which equals one batch of
  ``k * batch_size`` when the batches hold equally many target tokens.
* Every step count (``train.num_steps``, ``warmup_steps``, ``log_every``,
  ``eval_every``, ``checkpoint_every``) counts batches (micro-steps), as does
  the data position of a checkpoint; a run makes ``num_steps // k`` updates,
  and the learning-rate schedule is read at the micro-step where each update
  starts, so raising k keeps the data budget and the schedule's shape.
* Results do not depend on the device count: the same config on 1 or N
  devices trains the same model up to float summation order.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import ml_collections

from seq2seq_jax import models
from seq2seq_jax.constants import DECODE_METHODS, DEFAULT_ALPHA, STOP_RULES
from seq2seq_jax.errors import ConfigError

TOKENIZERS = ("char", "symbol", "sentencepiece")
SPM_TYPES = ("bpe", "unigram")
OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "rsqrt", "cosine")
METRICS = {"wer": "min", "per": "min", "bleu": "max", "tok_bleu": "max", "chrf": "max",
           "exact_match": "max"}  # dev metric -> whether lower or higher is better



# The experiment configs shipped with the package, named as ``--config NAME[:ARG]``.
CONFIGS_DIR = Path(__file__).with_name("configs")


def config_names() -> list[str]:
    """The names of the shipped configs (``g014b2b``, ``g2p_luong``, ...)."""
    return sorted(p.stem for p in CONFIGS_DIR.glob("*.py") if not p.stem.startswith("_"))


def resolve_config(spec: str) -> tuple[Path, str | None]:
    """``NAME[:ARG]`` (a shipped config) or ``FILE.py[:ARG]`` -> (the file, ARG or None).

    Raises:
      ConfigError: ``NAME`` is not a shipped config; the message lists them.
    """
    base, sep, arg = spec.partition(":")
    if base.endswith(".py") or "/" in base:
        path = Path(base).expanduser()
    else:
        path = CONFIGS_DIR / f"{base}.py"
        if base.startswith("_") or not path.is_file():
            raise ConfigError(f"--config {spec}: there is no config named {base!r}; choose one "
                              f"of {config_names()}, or give a file as FILE.py[:ARG]")
    return path, (arg if sep else None)


def load_config_module(spec: str) -> ModuleType:
    """The config file that ``spec`` (``NAME`` or ``FILE.py``; an ``:ARG`` is ignored) names,
    executed as a module. Raises ``FileNotFoundError`` naming a missing file."""
    path, _ = resolve_config(spec)
    module_spec = importlib.util.spec_from_file_location(f"seq2seq_jax_config_{path.stem}", path)
    if module_spec is None or module_spec.loader is None or not path.is_file():
        raise FileNotFoundError(f"cannot load the config file {path}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def task_kind(data_name: str) -> str:
    """``g2p`` (``cmudict*``: PER / WER), ``synthetic`` (``synthetic/*``: exact match) or
    ``translation`` (anything else: sacreBLEU BLEU and chrF)."""
    if data_name.startswith("cmudict"):
        return "g2p"
    if data_name.startswith("synthetic/"):
        return "synthetic"
    return "translation"


def task_metrics(data_name: str) -> tuple[str, ...]:
    """The dev metrics evaluation produces for a dataset (tokenised Multi30k adds tok_bleu)."""
    kind = task_kind(data_name)
    if kind == "g2p":
        return ("wer", "per")
    if kind == "synthetic":
        return ("exact_match",)
    return ("bleu", "chrf", "tok_bleu") if data_name.endswith("_tok") else ("bleu", "chrf")


def model_section(**options: Any) -> ml_collections.ConfigDict:
    """A ``model`` config section: every option of the family, ``options`` over the defaults.

    ``options["name"]`` picks the family (``models.NAMES``); the section holds
    every field of its config dataclass (vocabulary sizes and the attention
    kind excepted, which the data and the name set), so that
    ``--config.model.<option>=...`` works on any config file (ml_collections
    only overrides keys that exist). Unknown options raise ``ConfigError``.
    """
    if "name" not in options:
        raise ConfigError(f"model.name is missing; choose one of {list(models.NAMES)}")
    models.check_options(options["name"], options)
    return ml_collections.ConfigDict(
        {"name": options["name"], **models.option_defaults(options["name"]), **options})


def default_config() -> ml_collections.ConfigDict:
    """G2P on CMUdict (built-in, offline) with LSTM + Bahdanau attention."""
    c = ml_collections.ConfigDict()
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.name = "cmudict_g2p"  # see seq2seq_jax.data.sources
    c.data.data_dir = ""  # prepared tfds data; "" = $TFDS_DATA_DIR or ~/tensorflow_datasets
    c.data.manual_dir = ""  # source files of cmudict_g014b2b / multi30k
    c.data.skip_bad_lines = False
    c.data.accept_changed_sources = False  # resume training on data whose sources changed
    c.data.src_tokenizer = "char"
    c.data.tgt_tokenizer = "symbol"
    c.data.vocab_size = 8000  # sentencepiece only
    c.data.spm_model_type = "bpe"
    c.data.joint_vocab = True  # sentencepiece: one model for both sides
    c.data.max_src_len = 32
    c.data.max_tgt_len = 32  # target tokens + 1
    c.data.truncate = False
    c.data.batch_size = 128
    c.data.eval_batch_size = 512
    c.data.train_limit = 0  # >0: use only the first N training examples (smoke runs)
    c.data.eval_limit = 0  # >0: evaluate on the first N examples only
    c.data.synthetic = ml_collections.ConfigDict({
        "num_train": 20_000, "num_dev": 500, "num_test": 1_000, "min_len": 1,
        "train_max_len": 20, "test_max_len": 40, "seed": 0})

    c.model = model_section(name="bahdanau", embed_dim=64, hidden=128, bidirectional=True,
                            dropout=0.1)  # every option of the family; see model_section

    c.train = ml_collections.ConfigDict()
    c.train.num_steps = 4000
    c.train.optimizer = "adam"
    c.train.learning_rate = 3e-3
    c.train.weight_decay = 0.0
    c.train.warmup_steps = 200
    c.train.schedule = "cosine"
    c.train.clip_norm = 1.0
    c.train.label_smoothing = 0.1
    c.train.log_every = 50
    c.train.eval_every = 1000
    c.train.checkpoint_every = 1000
    c.train.keep_checkpoints = 3
    c.train.patience = 0  # evaluations without improvement before stopping; 0 = never
    c.train.metric = "wer"  # dev metric for the best checkpoint and early stopping
    c.train.eval_split = "dev"
    c.train.eval_max_examples = 1000  # dev subset decoded at each evaluation
    c.train.skip_nonfinite = False  # skip (and count) non-finite updates instead of stopping
    c.train.grad_accum_steps = 1  # batches whose gradients make one update (optax.MultiSteps)

    c.parallel = ml_collections.ConfigDict()
    c.parallel.model_parallel = 1  # devices on the "model" mesh axis; the rest split the batch
    c.parallel.distributed = False  # jax.distributed.initialize() with cluster auto-detection

    c.decode = ml_collections.ConfigDict()
    c.decode.method = "greedy"
    c.decode.beam_size = 5
    c.decode.alpha = DEFAULT_ALPHA
    c.decode.temperature = 1.0
    c.decode.top_k = 0
    c.decode.top_p = 1.0
    c.decode.max_len = 0  # 0 = data.max_tgt_len
    c.decode.stop = "exact"
    return c


def _choice(option: str, value: Any, choices: Any) -> None:
    if value not in choices:
        raise ConfigError(f"{option}={value!r} is not valid; choose one of {list(choices)}")


def _positive(option: str, value: Any, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(f"{option}={value!r} must be an integer >= {low}")


def _check_data_name(name: str) -> None:
    from seq2seq_jax.data import sources

    names = sources.dataset_names()
    known = set(names) | {n.split("/")[0] for n in names if not n.startswith("synthetic/")}
    if not (name in known or name.startswith("tfds:")):
        raise ConfigError(f"data.name: Unknown dataset {name!r}. Use one of {names}, or "
                          "'tfds:<catalog name>', e.g. 'tfds:ted_hrlr_translate/pt_to_en'")


def validate(config: ml_collections.ConfigDict) -> None:
    """Check every option that a typo could break, before any compilation.

    The model section is checked by building its frozen config with a
    placeholder vocabulary.
    """
    d, t, dec = config.data, config.train, config.decode
    _choice("data.src_tokenizer", d.src_tokenizer, TOKENIZERS)
    _choice("data.tgt_tokenizer", d.tgt_tokenizer, TOKENIZERS)
    _choice("data.spm_model_type", d.spm_model_type, SPM_TYPES)
    for name in ("max_src_len", "max_tgt_len", "batch_size", "eval_batch_size", "vocab_size"):
        _positive(f"data.{name}", d[name])
    for name in ("train_limit", "eval_limit"):
        _positive(f"data.{name}", d[name], allow_zero=True)
    _choice("train.optimizer", t.optimizer, OPTIMIZERS)
    _choice("train.schedule", t.schedule, SCHEDULES)
    _check_data_name(d.name)
    _choice("train.metric", t.metric, task_metrics(d.name))
    for name in ("num_steps", "log_every", "eval_every", "checkpoint_every", "keep_checkpoints"):
        _positive(f"train.{name}", t[name])
    for name in ("warmup_steps", "patience", "eval_max_examples"):
        _positive(f"train.{name}", t[name], allow_zero=True)
    _positive("train.grad_accum_steps", t.get("grad_accum_steps", 1))
    par = config.get("parallel", ml_collections.ConfigDict())
    _positive("parallel.model_parallel", par.get("model_parallel", 1))
    if not isinstance(par.get("distributed", False), bool):
        raise ConfigError(f"parallel.distributed={par.distributed!r} must be True or False")
    if not t.learning_rate > 0:
        raise ConfigError(f"train.learning_rate={t.learning_rate!r} must be > 0")
    if not 0 <= t.label_smoothing < 1:
        raise ConfigError(f"train.label_smoothing={t.label_smoothing!r} must be in [0, 1)")
    _choice("decode.method", dec.method, DECODE_METHODS)
    _choice("decode.stop", dec.get("stop", "exact"), STOP_RULES)
    _positive("decode.beam_size", dec.beam_size)
    _positive("decode.max_len", dec.max_len, allow_zero=True)
    if not 0 < dec.top_p <= 1:
        raise ConfigError(f"decode.top_p={dec.top_p!r} must be in (0, 1]")
    if not dec.temperature > 0:
        raise ConfigError(f"decode.temperature={dec.temperature!r} must be > 0")
    models.make_config(config.model.to_dict(), 8, 8)


def to_json(config: ml_collections.ConfigDict) -> str:
    return json.dumps(config.to_dict(), indent=2, sort_keys=True)


def from_json(text: str) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(json.loads(text))


# What each option means, for ``seq2seq-jax train --help``; the model section's come from
# the docstrings of the model config dataclasses (``model_option_help``).
HELP = {
    "seed": "seed of initialisation, dropout and the batch order",
    "data.name": "dataset: cmudict_g2p, cmudict_g2p/stress, cmudict_g014b2b, "
                 "multi30k/<src>_<tgt>_<raw|tok>, synthetic/<copy|reverse|addition>, "
                 "tfds:<catalog name>",
    "data.data_dir": "where prepared tfds data goes ('' = $TFDS_DATA_DIR or "
                     "~/tensorflow_datasets)",
    "data.manual_dir": "folder of the source files (cmudict_g014b2b, multi30k)",
    "data.accept_changed_sources": "resume training although the data's sources changed "
                                   "since the run started (otherwise an error)",
    "data.skip_bad_lines": "drop malformed lines of the source files (counted) instead of "
                           "stopping at the first",
    "data.src_tokenizer": "source tokenizer: char, symbol or sentencepiece",
    "data.tgt_tokenizer": "target tokenizer: char, symbol or sentencepiece",
    "data.vocab_size": "SentencePiece vocabulary size",
    "data.spm_model_type": "SentencePiece model: bpe or unigram",
    "data.joint_vocab": "SentencePiece: one model for source and target",
    "data.max_src_len": "longest source in tokens; longer training pairs are dropped",
    "data.max_tgt_len": "longest target in tokens, EOS included",
    "data.truncate": "cut over-long inputs at decoding instead of stopping",
    "data.batch_size": "examples per step, over all devices",
    "data.eval_batch_size": "examples per decoding batch",
    "data.train_limit": "use the first N training examples only (0 = all)",
    "data.eval_limit": "evaluate on the first N examples only (0 = all)",
    "data.synthetic.num_train": "synthetic: training examples",
    "data.synthetic.num_dev": "synthetic: dev examples",
    "data.synthetic.num_test": "synthetic: test examples",
    "data.synthetic.min_len": "synthetic: shortest sequence",
    "data.synthetic.train_max_len": "synthetic: longest training and dev sequence",
    "data.synthetic.test_max_len": "synthetic: longest test sequence",
    "data.synthetic.seed": "synthetic: seed of the generated data",
    "model.name": "model family: rnn, bahdanau, luong or transformer",
    "train.num_steps": "training steps (batches)",
    "train.optimizer": "adam or adamw",
    "train.learning_rate": "peak learning rate",
    "train.weight_decay": "adamw's decoupled weight decay",
    "train.warmup_steps": "steps of linear warmup",
    "train.schedule": "after warmup: constant, rsqrt or cosine",
    "train.clip_norm": "global gradient-norm clipping",
    "train.label_smoothing": "label smoothing of the cross-entropy",
    "train.log_every": "steps between logged training metrics",
    "train.eval_every": "steps between dev evaluations (each saves a checkpoint)",
    "train.checkpoint_every": "steps between checkpoints",
    "train.keep_checkpoints": "newest checkpoints kept (for resuming and --average)",
    "train.patience": "evaluations without improvement before stopping (0 = never)",
    "train.metric": "dev metric of the best checkpoint: wer, per, bleu, tok_bleu, chrf, "
                    "exact_match",
    "train.eval_split": "split of the dev evaluations",
    "train.eval_max_examples": "dev examples decoded at each evaluation (0 = all)",
    "train.skip_nonfinite": "skip and count non-finite updates instead of stopping",
    "train.grad_accum_steps": "batches whose gradients make one update",
    "parallel.model_parallel": "devices on the model axis; the rest split the batch",
    "parallel.distributed": "join several hosts (jax.distributed.initialize)",
    "decode.method": "greedy, beam or sample",
    "decode.beam_size": "beam search: hypotheses kept",
    "decode.alpha": "beam search: GNMT length-penalty exponent (0 = log-probability)",
    "decode.temperature": "sampling temperature",
    "decode.top_k": "sampling: keep the k likeliest tokens (0 = all)",
    "decode.top_p": "sampling: nucleus probability mass",
    "decode.max_len": "longest output in tokens (0 = data.max_tgt_len)",
    "decode.stop": "beam search: when an input is done. exact: no hypothesis could still "
                   "win at any length up to max_len; current: none wins at its next length; "
                   "first_k: beam_size hypotheses have ended (as fairseq and CTranslate2). "
                   "With alpha > 0 the last two take far fewer steps",
}


def model_option_help(family: str) -> dict[str, str]:
    """``option: meaning`` of ``model.name=family``, read from its config's docstring."""
    doc = models.config_class(family).__doc__ or ""
    out: dict[str, str] = {}
    names: list[str] = []
    for line in doc.partition("Attributes:")[2].splitlines():
        head, sep, text = line.strip().partition(": ")
        if sep and line.startswith("      ") and not line.startswith("       ") and all(
                n.strip().isidentifier() for n in head.split(",")):
            names = [n.strip() for n in head.split(",")]
            for n in names:
                out[n] = text.strip()
        elif names and line.strip():
            for n in names:
                out[n] += " " + line.strip()
    # "d_model: model width; heads: attention heads": a second option on the same line
    for key, text in list(out.items()):
        for part in text.split("; ")[1:]:
            name, sep, rest = part.partition(": ")
            if sep and name.isidentifier() and name not in out:
                out[name] = rest
                out[key] = text.split("; ")[0]
    return out


def describe(config: ml_collections.ConfigDict) -> list[tuple[str, Any, str]]:
    """Every option of ``config`` as ``(key, value, meaning)``, in the config's order."""
    model_help = model_option_help(config.model.name)
    rows = []

    def walk(node: Any, prefix: str) -> None:
        for key, value in node.items():
            full = f"{prefix}{key}"
            if isinstance(value, ml_collections.ConfigDict):
                walk(value, full + ".")
            else:
                text = HELP.get(full) or (model_help.get(key, "") if prefix == "model." else "")
                rows.append((full, value, text))

    walk(config, "")
    return rows


def differences(config: ml_collections.ConfigDict,
                base: ml_collections.ConfigDict | None = None) -> list[tuple[str, Any, Any]]:
    """``(key, value, default)`` of every option of ``config`` that differs from ``base``
    (the defaults: ``default_config()`` with the defaults of ``config``'s model family),
    keys missing from either included."""
    if base is None:
        base = default_config()
        base.model = model_section(name=config.model.name)
    flat = {k: v for k, v, _ in describe(config)}
    flat_base = {k: v for k, v, _ in describe(base)}
    return [(k, flat.get(k, "(absent)"), flat_base.get(k, "(absent)"))
            for k in sorted(set(flat) | set(flat_base))
            if flat.get(k, "(absent)") != flat_base.get(k, "(absent)")]


def _where(error: BaseException, path: Path) -> str:
    """``FILE, line N`` of the deepest traceback frame inside ``path``."""
    if isinstance(error, SyntaxError) and error.filename == str(path):
        return f"{path}, line {error.lineno}"
    line = None
    tb = error.__traceback__
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename) == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return f"{path}, line {line}" if line is not None else str(path)


def load_config(spec: str) -> ml_collections.ConfigDict:
    """``get_config(ARG)`` of the config ``spec`` names (``NAME[:ARG]`` or ``FILE.py[:ARG]``).

    Raises:
      ConfigError: an unknown name, a missing file, or a file that fails to load or whose
        ``get_config`` raises: one line naming the file and line and the exception (the
        original is chained, for ``--traceback``).
    """
    path, arg = resolve_config(spec)
    if not path.is_file():
        raise ConfigError(f"--config: cannot load the config file {path} (no such file)")
    try:
        module = load_config_module(str(path))
        config = module.get_config() if arg is None else module.get_config(arg)
    except SyntaxError as e:
        raise ConfigError(f"--config {spec}: {_where(e, path.resolve())}: syntax error: "
                          f"{e.msg}") from e
    except Exception as e:  # the file's own code raised: say where, not a traceback
        raise ConfigError(f"--config {spec}: {_where(e, path.resolve())}: "
                          f"{type(e).__name__}: {e}") from e
    if not isinstance(config, ml_collections.ConfigDict):
        raise ConfigError(f"--config {spec}: get_config() returned {type(config).__name__}, "
                          "not an ml_collections.ConfigDict")
    return config


def split_config_args(argv: Sequence[str]) -> tuple[str | None, list[str], list[str]]:
    """``(--config spec or None, the --config.KEY=VALUE overrides, everything else)``."""
    spec, overrides, rest = None, [], []
    items = list(argv)
    i = 0
    while i < len(items):
        a = items[i]
        if a == "--config":
            if i + 1 >= len(items):
                raise ConfigError("--config needs a value: NAME[:ARG] or FILE.py[:ARG]")
            spec, i = items[i + 1], i + 2
            continue
        if a.startswith("--config="):
            spec = a.partition("=")[2]
        elif a.startswith("--config."):
            overrides.append(a)
        else:
            rest.append(a)
        i += 1
    return spec, overrides, rest


def apply_overrides(config: ml_collections.ConfigDict, overrides: Sequence[str],
                    command: str = "train") -> ml_collections.ConfigDict:
    """``config`` with ``--config.KEY=VALUE`` overrides applied (ml_collections' flag
    parser: values are parsed as the option's type; an unknown key is an error).

    Raises:
      ConfigError: ``invalid COMMAND option: ...`` naming the flag.
    """
    from absl import flags as absl_flags
    from ml_collections import config_flags

    if not overrides:
        return config
    fv = absl_flags.FlagValues()
    try:  # ml_collections applies the overrides when the flag is defined, then parses
        config_flags.DEFINE_config_dict("config", config, "experiment config", flag_values=fv,
                                        lock_config=True, sys_argv=[command, *overrides])
        fv([command, *overrides])
    except (absl_flags.Error, AttributeError, KeyError, ValueError, TypeError) as e:
        raise ConfigError(f"invalid {command} option: "
                          f"{_unknown_key(e, overrides) or _one_line(e)}") from None
    return fv.config


def read_config(argv: Sequence[str], command: str = "train") -> ml_collections.ConfigDict:
    """The config that ``--config SPEC`` and ``--config.KEY=VALUE ...`` name (without
    ``--config``: the default one). ``argv`` may hold nothing else.

    Raises:
      ConfigError: naming the bad option, file or line.
    """
    spec, overrides, rest = split_config_args(argv)
    if rest:
        raise ConfigError(f"unexpected arguments {rest}")
    config = load_config(spec) if spec else default_config()
    return apply_overrides(config, overrides, command)


def _one_line(e: BaseException) -> str:
    text = str(e)
    if "Traceback (most recent call last)" in text:
        head, _, trace = text.partition("Traceback (most recent call last)")
        text = head + trace.strip().splitlines()[-1]  # the exception, not the traceback
    text = text.replace("\\n", " ").replace("\\'", "'").replace("\\", "")
    return " ".join(text.split()).strip("'\" ")


def _unknown_key(e: BaseException, overrides: Sequence[str]) -> str | None:
    """``--config.a.b: the config has no key 'b'`` when an override names a missing key;
    ml_collections' own suggestion ("Did you mean ...") is kept as a hint."""
    if not isinstance(e, AttributeError | KeyError):
        return None
    text = _one_line(e)
    found = re.match(r"(?:Key )?[\"']?([A-Za-z_]\w*)", text)
    if found is None:
        return None
    key = found.group(1)
    flags = [a.split("=")[0] for a in overrides]
    flag = next((f for f in flags if f.endswith(f".{key}")), None)
    if flag is None:
        return None
    hint = re.search(r'Did you mean "(\w+)"', text)
    return f"{flag}: the config has no key {key!r}" + (
        f"; did you mean {hint.group(1)!r}?" if hint else "")


def check_options(beam: int | None = None, temperature: float | None = None,
                  limit: int = 0, average: int = 0, alpha: float | None = None) -> None:
    """Reject what would otherwise decode silently wrong (before loading anything)."""
    if beam is not None and beam < 1:
        raise ConfigError(f"--beam {beam}: the beam size must be >= 1 (1 = greedy)")
    if alpha is not None and not math.isfinite(alpha):
        raise ConfigError(f"--alpha {alpha}: the length-penalty exponent must be a finite "
                          "number (0 ranks beams by log-probability alone)")
    if temperature is not None and not temperature > 0:
        raise ConfigError(f"--temperature {temperature}: must be > 0")
    if limit < 0:
        raise ConfigError(f"--limit {limit}: must be >= 0 (0 = every example)")
    if average < 0:
        raise ConfigError(f"--average {average}: must be >= 0 (0 = the best checkpoint, "
                          "N = the mean of the newest N)")


def apply_decode_options(config: ml_collections.ConfigDict, beam: int | None,
                         sample: bool, temperature: float | None,
                         alpha: float | None = None, stop: str | None = None) -> None:
    """Set ``config.decode`` from command-line options (None: keep the config's); a beam of
    1 is greedy search.

    Raises:
      ConfigError: ``stop`` is not one of ``STOP_RULES``.
    """
    if stop is not None and stop not in STOP_RULES:
        raise ConfigError(f"--stop {stop}: choose one of {', '.join(STOP_RULES)}")
    with config.unlocked():
        if stop is not None:
            config.decode.stop = stop
        if sample:
            config.decode.method = "sample"
        elif beam is not None:
            config.decode.method = "beam" if beam > 1 else "greedy"
            config.decode.beam_size = max(beam, 1)
        if temperature is not None:
            config.decode.temperature = temperature
        if alpha is not None:
            config.decode.alpha = float(alpha)
