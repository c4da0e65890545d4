"""The two-line Python API: load a trained model once, call it on texts.

    import seq2seq_jax
    g2p = seq2seq_jax.load("g2p")                 # a name, an export or a workdir
    g2p(["phoneme", "attention"])                 # ['F OW N IY M', 'AH T EH N SH AH N']
    g2p(["read"], beam=5, n_best=3)               # [[('R IY D', -0.01), ('R EH D', -2.3), ...]]
    weights, src, out = g2p.attention("phoneme")  # for plots.attention_heatmap

Each call decodes in batches of a few fixed sizes, so a program is compiled once per
(batch size, source bucket, decoding option) and reused by every later call; with the
persistent compilation cache (``compilation.enable``) later processes reuse it too.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seq2seq_jax import config as config_lib
from seq2seq_jax.errors import ConfigError
from seq2seq_jax.inference import hub


def resolve(spec: str | Path) -> Path:
    """A model folder from a registered name (``hub``), an export or a training workdir."""
    spec = str(spec)
    if hub.is_name(spec):
        return hub.resolve(spec)
    if not Path(spec).is_dir():
        raise ConfigError(f"{spec}: neither a model folder nor a known model name; known "
                          f"names: {sorted(hub.index())}")
    return Path(spec)


class Translator:
    """A trained model, its tokenizers and decoding options, loaded once.

    Attributes:
      trained: the loaded checkpoint (``training.workdir.Trained``).
      config: the run's config; ``config.decode`` holds the default decoding options.
    """

    def __init__(self, trained: Any, *, beam: int | None = None, alpha: float | None = None,
                 stop: str | None = None):
        self.trained = trained
        self.config = copy.deepcopy(trained.config)
        config_lib.apply_decode_options(self.config, beam, False, None, alpha, stop)

    def _config(self, beam: int | None, alpha: float | None, n_best: int) -> Any:
        config_lib.check_options(beam=beam, alpha=alpha)
        config = copy.deepcopy(self.config)
        config_lib.apply_decode_options(config, beam, False, None, alpha)
        k = config.decode.beam_size if config.decode.method == "beam" else 1
        if n_best > k:
            raise ConfigError(f"--n-best {n_best}: more hypotheses than the beam keeps "
                              f"(beam {k}); raise --beam to at least {n_best}")
        if n_best < 1:
            raise ConfigError(f"--n-best {n_best}: must be >= 1")
        return config

    def predict(self, texts: Sequence[str], *, beam: int | None = None,
                alpha: float | None = None, n_best: int = 1, with_attention: bool = False,
                truncate: bool = False) -> list[Any]:
        """``evaluate.Prediction`` for each text: the best output, its symbols, attention
        weights (with ``with_attention``) and the ``n_best`` hypotheses with scores."""
        from seq2seq_jax.evaluation import evaluate

        config = self._config(beam, alpha, n_best)
        t = self.trained
        return evaluate.predict(t, list(texts),
                                config, with_attention=with_attention, truncate=truncate,
                                n_best=n_best)

    def __call__(self, texts: str | Sequence[str], *, beam: int | None = None,
                 alpha: float | None = None, n_best: int | None = None,
                 truncate: bool = False) -> Any:
        """The output text of each input text (one text in: one string out).

        With ``n_best=R``, each input's R best hypotheses instead, best first, as
        ``(text, score)``: beam search's length-normalised log-probability (greedy search:
        the log-probability).
        """
        one = isinstance(texts, str)
        batch = [texts] if isinstance(texts, str) else list(texts)
        preds = self.predict(batch, beam=beam, alpha=alpha,
                             n_best=n_best or 1, truncate=truncate)
        out: list[Any] = ([list(p.hypotheses) for p in preds] if n_best is not None
                          else [p.text for p in preds])
        return out[0] if one else out

    def attention(self, text: str, *, beam: int | None = None,
                  alpha: float | None = None) -> tuple[np.ndarray | None, list[str], list[str]]:
        """``(weights [T + 1, S], source symbols, output symbols)`` of the best output of
        ``text``, the last row for EOS; weights are None for a model without attention."""
        p = self.predict([text], beam=beam, alpha=alpha, with_attention=True)[0]
        return p.attention, p.src_tokens, p.out_tokens


def load(spec: str | Path, *, average: int = 0, ensemble: Sequence[str | Path] = (),
         beam: int | None = None, alpha: float | None = None, stop: str | None = None,
         compilation_cache: bool = True) -> Translator:
    """Load a trained model for decoding: a registered name (``"g2p"``, ``"en-de"``), an
    exported model folder or a training workdir; ``ensemble`` adds more of them.

    A registered name decodes with its registered options (``beam``, ``alpha``,
    ``stop``: beam search's stop rule, ``decode.stop``) unless given here.
    ``compilation_cache`` turns on JAX's persistent compilation cache.
    """
    from seq2seq_jax.inference import compilation
    from seq2seq_jax.training import workdir

    if compilation_cache:
        compilation.enable()
    name = str(spec) if hub.is_name(str(spec)) else None
    beam, alpha, stop = hub.registered_decode(name, beam, alpha, stop)
    if not ensemble:
        ensemble = hub.ensemble(name)  # a registered ensemble's other members
    absl = logging.getLogger("absl")  # orbax's notices about read-only folders
    level = absl.level
    absl.setLevel(max(level, logging.ERROR))
    try:
        trained = workdir.load_for(resolve(spec), average=average,
                                   ensemble=[resolve(e) for e in ensemble])
    finally:
        absl.setLevel(level)
    return Translator(trained, beam=beam, alpha=alpha, stop=stop)
