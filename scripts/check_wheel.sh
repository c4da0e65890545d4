#!/usr/bin/env bash
# The wheel is the product: build it, install it into a fresh venv, and run the README's
# commands from an empty folder (no checkout on the path).
#   bash scripts/check_wheel.sh [PYTHON] [VENV]     e.g. python3.12 /tmp/wheel-venv
# Registered models are read from this checkout's models/ through SEQ2SEQ_JAX_MODELS.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${1:-python3}"
VENV="${2:-$(mktemp -d)/venv}"
WORK="$(mktemp -d)"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" wheel -q --no-deps -w "$WORK/dist" "$ROOT"
"$VENV/bin/pip" install -q "$WORK"/dist/seq2seq_jax-*.whl
cd "$WORK" && mkdir empty && cd empty
S="$VENV/bin/seq2seq-jax"
export SEQ2SEQ_JAX_MODELS="$ROOT/models" SEQ2SEQ_JAX_CACHE="$WORK/cache"
echo "== python: $("$VENV/bin/python" --version), jax $("$VENV/bin/python" -c 'import jax; print(jax.__version__)')"
echo "== --version";   "$S" --version
echo "== train --help (first lines)"; "$S" train --help > help.txt; head -3 help.txt
echo "== train --help | head -1: no traceback"; { "$S" train --help | head -1; } 2> err.txt || true
test ! -s err.txt
echo "== python -m seq2seq_jax --version"; "$VENV/bin/python" -m seq2seq_jax --version
echo "== train g2p_luong, 2 steps"
"$S" train --config g2p_luong --config.train.num_steps=2 --config.train.eval_every=2 \
    --config.data.train_limit=256 --config.train.eval_max_examples=16 --workdir wd 2>&1 | tail -2
echo "== predict --n-best 3 --format jsonl"
printf 'phoneme\nattention\n' | "$S" predict --workdir wd --beam 5 --n-best 3 --format jsonl 2>/dev/null
echo "== predict --model g2p"
printf 'phoneme\nattention\n' | "$S" predict --model g2p 2>/dev/null
echo "== the Python API, beam=5, n_best=3"
"$VENV/bin/python" - <<'PY'
import seq2seq_jax
g2p = seq2seq_jax.load("g2p")
print(g2p(["phoneme", "attention"]))
print(g2p(["read"], beam=5, n_best=3))
PY
echo "== all done in $WORK/empty"
