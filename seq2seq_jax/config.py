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
from pathlib import Path
from types import ModuleType
from typing import Any

import ml_collections

from seq2seq_jax import models
from seq2seq_jax.constants import DECODE_METHODS, DEFAULT_ALPHA
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
