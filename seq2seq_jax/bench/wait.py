"""What users wait for: whole commands and warm Python calls, each beside its peer.

    python -m seq2seq_jax.bench.wait --g2p-data DATA/cmudict_g014b2b \\
        --m30k-data DATA/multi30k --out bench_wait.json

Rows (each peer runs in the same session, on the same machine):
  * ``seq2seq-jax --help`` against ``python -c "import jax"``;
  * ``predict --model g2p`` of one word (the second call: compilation is cached);
  * the CMUdict g014b2b test words through ``predict`` (whole process, greedy and the
    registered beam), against g2p_en (import, set-up and ``predict`` of each word, the
    numpy GRU a user would pick instead); WER of both on the same words;
  * the same words through the Python API after a warm-up call, against g2p_en's warm
    ``predict`` loop, with the model FLOPs per second as a share of a measured matmul peak;
  * Multi30k test2016 through ``predict --model en-de`` (whole process) against
    CTranslate2 decoding the same weights (``export --format ctranslate2``, the same
    beam and stop rule; its own length penalty) in its own process; warm rows for both;
    tokenised BLEU of both.

Whole processes are timed with ``time.perf_counter`` around ``subprocess.run``, each
after one untimed run (so compiled programs come from the persistent cache, as on any
run after a user's first); short ones are the median of ``--runs`` runs, long ones the
second run. Model FLOPs count the matrix
products of the real tokens only (2 multiply-adds per weight an input touches): the
encoder once per source token, the decoder once per output token and hypothesis.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

G2P_EN = r"""
import sys, time, json
t0 = time.perf_counter()
from types import SimpleNamespace
from unittest import mock
import nltk
nltk.download = lambda *a, **k: False
from g2p_en import g2p as g2p_module
with mock.patch.object(g2p_module, "cmudict", SimpleNamespace(dict=dict)):
    g = g2p_module.G2p()
t1 = time.perf_counter()
words = open(sys.argv[1]).read().split()
out = [" ".join(p.rstrip("012") for p in g.predict(w)) for w in words]
t2 = time.perf_counter()
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print(json.dumps({"setup_s": t1 - t0, "predict_s": t2 - t1}))
"""

CT2 = r"""
import sys, time, json
t0 = time.perf_counter()
from seq2seq_jax.inference import ct2
t = ct2.Translator(sys.argv[1])
src = open(sys.argv[2]).read().splitlines()
beam, penalty = int(sys.argv[4]), float(sys.argv[5])
t1 = time.perf_counter()
out = t(src, beam=beam, length_penalty=penalty)
t2 = time.perf_counter()
if len(sys.argv) > 6:  # a second, warm pass
    out = t(src, beam=beam, length_penalty=penalty)
t3 = time.perf_counter()
open(sys.argv[3], "w").write("\n".join(out) + "\n")
print(json.dumps({"setup_s": t1 - t0, "first_s": t2 - t1, "warm_s": t3 - t2}))
"""


def _run(cmd: Sequence[str], *, stdout: Any = subprocess.DEVNULL) -> tuple[float, str]:
    start = time.perf_counter()
    p = subprocess.run(list(cmd), stdout=stdout, stderr=subprocess.PIPE, text=True,
                       check=False)
    took = time.perf_counter() - start
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr[-2000:]}")
    return took, p.stderr


def _median(cmd: Sequence[str], runs: int) -> float:
    _run(cmd)  # warm: page cache, compilation cache
    return statistics.median(_run(cmd)[0] for _ in range(runs))


def _g2p_words(data: Path) -> tuple[list[str], dict[str, set[str]]]:
    refs: dict[str, set[str]] = {}
    with gzip.open(data / "g014b2b.ref.gz", "rt", encoding="utf-8") as f:
        for line in f:
            word, *prons = line.rstrip("\n").split("\t")  # a tab before each pronunciation
            refs.setdefault(word.lower(), set()).update(" ".join(p.split()) for p in prons)
    return list(refs), refs


def wer(words: Sequence[str], outputs: Sequence[str], refs: dict[str, set[str]]) -> float:
    """Words whose output is none of their reference pronunciations, in %."""
    wrong = sum(" ".join(o.split()) not in refs[w] for w, o in zip(words, outputs,
                                                                     strict=True))
    return 100.0 * wrong / len(words)


def matmul_peak(size: int = 2048, runs: int = 10) -> float:
    """Measured float32 matmul GFLOP/s of this machine (all its threads)."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        f(a).block_until_ready()
        times.append(time.perf_counter() - start)
    return 2 * size**3 / min(times) / 1e9


def _matrix_sizes(tree: Any, skip: Sequence[str] = ()) -> int:
    import jax

    total = 0
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        key = jax.tree_util.keystr(path)
        if getattr(leaf, "ndim", 0) == 2 and not any(s in key for s in skip):
            total += int(leaf.size)
    return total


def model_flops(trained: Any, src_tokens: int, out_tokens: int, hypotheses: int) -> float:
    """Matrix-product FLOPs of decoding: encoder weights per source token, decoder
    weights per output token and hypothesis (embedding look-ups excluded, a tied
    output projection included)."""
    p = trained.params
    dec_layers = p["decoder"].get("layers", [])
    if dec_layers and "cross_attn" in dec_layers[0]:  # Transformer
        cross_kv = sum(layer["cross_attn"][w]["w"].size for layer in dec_layers
                       for w in ("k", "v"))
        enc = _matrix_sizes(p["encoder"]) + cross_kv
        table = (p.get("embed") or p["tgt_embed"])["table"].size if "out" not in p else 0
        dec = _matrix_sizes(p["decoder"]) - cross_kv + table + _matrix_sizes(p.get("out", {}))
    else:  # recurrent: the attention keys (w_k) are projected once per source position
        keys = _matrix_sizes(p["decoder"]) - _matrix_sizes(p["decoder"], ["w_k"])
        enc = _matrix_sizes(p["encoder"]) + keys
        dec = _matrix_sizes(p["decoder"], ["embed", "w_k", "bridge"])
    return 2.0 * (enc * src_tokens + dec * out_tokens * hypotheses)


def bench_g2p(data: Path, runs: int, tmp: Path, log: Any) -> list[dict[str, Any]]:
    import seq2seq_jax
    from seq2seq_jax.inference import hub

    words, refs = _g2p_words(data)
    (tmp / "words.txt").write_text("\n".join(words) + "\n")
    (tmp / "one.txt").write_text("phoneme\n")
    exe = [str(Path(sys.executable).with_name("seq2seq-jax"))]
    decode = hub.index()["g2p"].get("decode", {})
    beam = int(decode.get("beam", 5))
    rows: list[dict[str, Any]] = []
    import_jax = _median([sys.executable, "-c", "import jax"], runs)
    rows.append({"row": "--help", "ours_s": _median([*exe, "--help"], runs),
                 "peer": "python -c 'import jax'", "peer_s": import_jax})
    rows.append({"row": "train --help", "ours_s": _median([*exe, "train", "--help"], runs)})
    one = [*exe, "predict", "--model", "g2p", "--input", str(tmp / "one.txt")]
    rows.append({"row": "predict --model g2p, one word (second call on)",
                 "ours_s": _median(one, runs), "peer": "python -c 'import jax'",
                 "peer_s": import_jax})
    log(rows[-1])

    g2p_en_cmd = [sys.executable, "-c", G2P_EN, str(tmp / "words.txt"), str(tmp / "g2p_en.txt")]
    _run(g2p_en_cmd)
    peer_s, _ = _run(g2p_en_cmd, stdout=(tmp / "g2p_en.json").open("w"))
    g2p_en = json.loads((tmp / "g2p_en.json").read_text())
    g2p_en_out = (tmp / "g2p_en.txt").read_text().splitlines()
    g2p_en_wer = wer(words, g2p_en_out, refs)
    for b in (1, beam):
        out = tmp / f"ours_beam{b}.txt"
        cmd = [*exe, "predict", "--model", "g2p", "--beam", str(b), "--input",
               str(tmp / "words.txt"), "--buffer-size", "4096"]
        _run(cmd)
        took, _ = _run(cmd, stdout=out.open("w"))
        rows.append({"row": f"predict --model g2p, {len(words):,} words, "
                            + ("greedy" if b == 1 else f"beam {b}") + ", whole process",
                     "ours_s": took, "ours_wer": wer(words, out.read_text().splitlines(), refs),
                     "peer": "g2p_en: import, set-up, predict each word", "peer_s": peer_s,
                     "peer_wer": g2p_en_wer, "speedup": peer_s / took})
        log(rows[-1])

    t = seq2seq_jax.load("g2p")
    peak = matmul_peak()
    src_tokens = sum(len(w) for w in words)
    for b in (1, beam):
        t(words, beam=b)  # warm-up: compiles every shape these words need
        start = time.perf_counter()
        outs = t(words, beam=b)
        took = time.perf_counter() - start
        out_tokens = sum(len(o.split()) + 1 for o in outs)  # with EOS
        flops = model_flops(t.trained, src_tokens, out_tokens, b)
        rows.append({"row": f"Python API, {len(words):,} words, "
                            + ("greedy" if b == 1 else f"beam {b}") + ", warm",
                     "ours_s": took, "ours_wer": wer(words, outs, refs),
                     "peer": "g2p_en predict each word, warm", "peer_s": g2p_en["predict_s"],
                     "speedup": g2p_en["predict_s"] / took, "model_gflop": flops / 1e9,
                     "gflop_per_s": flops / took / 1e9, "matmul_peak_gflop_per_s": peak,
                     "mfu": flops / took / 1e9 / peak})
        log(rows[-1])
    return rows


def bench_m30k(data: Path, tmp: Path, log: Any) -> list[dict[str, Any]]:
    import sacrebleu

    import seq2seq_jax
    from seq2seq_jax.inference import ct2, hub

    tok = data / "tok"
    src, ref = (_lines(tok / f"test_2016_flickr.lc.norm.tok.{lang}.gz") for lang in ("en", "de"))
    (tmp / "test.en").write_text("\n".join(src) + "\n")
    entry = hub.index()["en-de"]
    decode = entry.get("decode", {})
    beam, alpha, stop = int(decode.get("beam", 5)), float(decode.get("alpha", 0.6)), \
        decode.get("stop", "exact")
    exe = [str(Path(sys.executable).with_name("seq2seq-jax"))]

    def bleu(lines: Sequence[str]) -> float:
        return float(sacrebleu.corpus_bleu(list(lines), [ref], tokenize="none",
                                           force=True).score)

    folder = tmp / "ct2_en_de"
    ct2.export(hub.resolve("en-de"), folder)
    rows: list[dict[str, Any]] = []
    out = tmp / "ours_m30k.txt"
    cmd = [*exe, "predict", "--model", "en-de", "--input", str(tmp / "test.en"),
           "--buffer-size", "1000"]
    _run(cmd)
    took, _ = _run(cmd, stdout=out.open("w"))
    ours_out = out.read_text().splitlines()
    # CTranslate2 has no GNMT penalty: its length ** penalty with the same alpha.
    ct2_cmd = [sys.executable, "-c", CT2, str(folder), str(tmp / "test.en"),
               str(tmp / "ct2.txt"), str(beam), str(alpha)]
    _run(ct2_cmd)
    peer_s, _ = _run(ct2_cmd)
    _run([*ct2_cmd, "warm"], stdout=(tmp / "ct2.json").open("w"))
    peer = json.loads((tmp / "ct2.json").read_text())
    peer_out = (tmp / "ct2.txt").read_text().splitlines()
    rows.append({"row": f"predict --model en-de, Multi30k test2016 ({len(src):,} sentences), "
                        f"beam {beam}, alpha {alpha}, stop {stop}, whole process",
                 "ours_s": took, "ours_bleu": bleu(ours_out),
                 "peer": "CTranslate2 " + _version("ctranslate2") + ", same weights, whole "
                         "process", "peer_s": peer_s, "peer_bleu": bleu(peer_out),
                 "same_outputs": sum(a == b for a, b in zip(ours_out, peer_out, strict=True)),
                 "speedup": peer_s / took})
    log(rows[-1])
    t = seq2seq_jax.load("en-de")
    t(src)
    start = time.perf_counter()
    outs = t(src)
    took = time.perf_counter() - start
    rows.append({"row": f"Python API, the same {len(src):,} sentences, warm", "ours_s": took,
                 "ours_bleu": bleu(outs), "peer": "CTranslate2 translate_batch, warm",
                 "peer_s": peer["warm_s"], "speedup": peer["warm_s"] / took,
                 "sentences_per_s": len(src) / took,
                 "peer_sentences_per_s": len(src) / peer["warm_s"]})
    log(rows[-1])
    return rows


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a markdown table: ours, the peer, the ratio and the quality of both."""
    out = ["| what the user does | seq2seq-jax | peer, same run | peer / ours | quality |",
           "|---|---:|---|---:|---|"]
    for r in rows:
        peer = f"{r['peer']}: {r['peer_s']:.2f} s" if "peer_s" in r else "–"
        ratio = f"{r['peer_s'] / r['ours_s']:.2f}×" if "peer_s" in r else "–"
        quality = []
        if "ours_wer" in r:
            quality.append(f"WER {r['ours_wer']:.2f} % (g2p_en {r['peer_wer']:.2f} %)"
                           if "peer_wer" in r else f"WER {r['ours_wer']:.2f} %")
        if "ours_bleu" in r:
            quality.append(f"BLEU {r['ours_bleu']:.2f}" + (
                f" (CTranslate2 {r['peer_bleu']:.2f}, {r['same_outputs']} outputs identical)"
                if "peer_bleu" in r else ""))
        if "mfu" in r:
            quality.append(f"{r['gflop_per_s']:.0f} model GFLOP/s, {100 * r['mfu']:.0f} % of "
                           f"the {r['matmul_peak_gflop_per_s']:.0f} GFLOP/s matmul peak")
        out.append(f"| {r['row']} | {r['ours_s']:.2f} s | {peer} | {ratio} | "
                   f"{'; '.join(quality) or '–'} |")
    return "\n".join(out)


def _lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [x.strip() for x in f]


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--g2p-data", type=Path, help="the CMUdict g014b2b folder")
    p.add_argument("--m30k-data", type=Path, help="the Multi30k folder (with tok/)")
    p.add_argument("--runs", type=int, default=5, help="runs of each short command")
    p.add_argument("--out", type=Path, help="write the rows and the machine to this .json")
    args = p.parse_args(argv)
    from seq2seq_jax.training import host

    rows: list[dict[str, Any]] = []

    def log(row: dict[str, Any]) -> None:
        print(json.dumps(row), flush=True)

    with tempfile.TemporaryDirectory() as d:
        if args.g2p_data:
            rows += bench_g2p(args.g2p_data, args.runs, Path(d), log)
        if args.m30k_data:
            rows += bench_m30k(args.m30k_data, Path(d), log)
    env = {"machine": host.host_description(),
           "cpus": os.cpu_count(), "python": sys.version.split()[0],
           "jax": _version("jax"), "date": time.strftime("%Y-%m-%d")}
    if args.out:
        args.out.write_text(json.dumps({"env": env, "rows": rows}, indent=1) + "\n")
    print(f"\n{env['machine']}, {env['date']}, jax {env['jax']}\n\n{markdown(rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
