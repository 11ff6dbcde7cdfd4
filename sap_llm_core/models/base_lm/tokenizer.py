"""A byte-level BPE tokenizer trained on the corpus, shaped for copying words into JSON values.

Whitespace characters and runs of JSON punctuation are pre-tokens of their own, so a document word is
tokenized identically in the OCR prompt and inside a JSON value (``"`` never merges with the word and
no leading-space variant exists). That makes copying a word a matter of repeating the same token ids,
which a small model learns quickly, and it lets the constrained decoder match tokens to document bytes.
Byte-level: every string is representable, nothing becomes ``<unk>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

BOS, EOS, PAD = "<s>", "</s>", "<pad>"
SPECIAL_TOKENS = [PAD, BOS, EOS]
JSON_PUNCT = r'[{}\[\]:,"]+'


def train_tokenizer(
    texts: Iterable[str], vocab_size: int, tags: Sequence[str] = ()
) -> PreTrainedTokenizerFast:
    """Train BPE on ``texts``; BOS is prepended by the post-processor, EOS is the end of a sample.
    ``tags`` (the field tags of the tagged completion) become single special tokens, never split."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(r"\s"), behavior="isolated"),
            pre_tokenizers.Split(Regex(JSON_PUNCT), behavior="isolated"),
            pre_tokenizers.Split(Regex(r'[^\w\s{}\[\]:,"]'), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[*SPECIAL_TOKENS, *tags],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", special_tokens=[(BOS, tok.token_to_id(BOS))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=list(tags),
        padding_side="right",
    )


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    # GPT-2's byte <-> printable-char table, which the ByteLevel pre-tokenizer uses.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs, strict=True)}


def token_bytes(tokenizer: PreTrainedTokenizerBase) -> dict[int, bytes]:
    """Token id -> the exact UTF-8 bytes it stands for (special tokens excluded)."""
    table = _byte_decoder()
    special = set(tokenizer.all_special_ids)
    out: dict[int, bytes] = {}
    for token, idx in tokenizer.get_vocab().items():
        if idx in special:
            continue
        try:
            out[idx] = bytes(table[ch] for ch in token)
        except KeyError:  # an added non-byte-level token; never produced by this tokenizer
            continue
    return out
