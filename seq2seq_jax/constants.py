"""Special token ids, the same in every tokenizer, model and decoder."""

PAD_ID = 0  # padding; masked out of attention and the loss
BOS_ID = 1  # the decoder's first input
EOS_ID = 2  # ends a hypothesis
UNK_ID = 3  # a symbol the vocabulary lacks

# The decoding methods (``seq2seq_jax.decoding.decode``) and beam search's default
# length-penalty exponent (GNMT's alpha); decodes with another are named so.
DECODE_METHODS = ("greedy", "beam", "sample")
DEFAULT_ALPHA = 0.6
# When beam search stops an example (``decoding.beam.beam_search``'s ``stop``).
STOP_RULES = ("exact", "current", "first_k")
# CTranslate2's weight types for ``export --format ctranslate2 --quantization``.
CT2_QUANTIZATIONS = ("int8", "int8_float32", "int16", "float16", "bfloat16")
