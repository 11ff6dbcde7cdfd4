"""Schema- and copy-constrained decoding: the output is valid ADC JSON for the document's type, and every
value is a contiguous run of the document's own words. Hallucinated values are impossible by
construction, not filtered afterwards.

How: a byte-level automaton accepts exactly the allowed outputs -- the type's header keys in schema
order, each value ``null`` or a quoted run of consecutive document words (at most ``max_value_words``),
then ``line_items`` as a list (at most ``max_items``) of objects with the type's columns. At each step
the :class:`ConstrainedJSONLogitsProcessor` walks the tokenizer's vocabulary as a byte trie alongside
the automaton and keeps only tokens whose bytes the automaton accepts, so the model still chooses
*which* span, but cannot write anything else. EOS is allowed only once the JSON is complete.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import LogitsProcessor, PreTrainedTokenizerBase

from sap_llm_core.models.base_lm.formatting import TypeSchema
from sap_llm_core.models.base_lm.tokenizer import token_bytes

QUOTE = ord('"')


def escaped(word: str) -> str:
    """A word as it appears inside a JSON string (the form the model writes)."""
    return json.dumps(word, ensure_ascii=False)[1:-1]


class VocabTrie:
    """The vocabulary as a byte trie: ``node = [children: dict[int, node], token_id or -1]``."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase):
        self.root: list = [{}, -1]
        for tid, data in token_bytes(tokenizer).items():
            node = self.root
            for b in data:
                node = node[0].setdefault(b, [{}, -1])
            if data:
                node[1] = tid
        self.eos_token_id = tokenizer.eos_token_id
        self.pad_token_id = tokenizer.pad_token_id
        self.vocab_size = len(tokenizer)


@dataclass(frozen=True)
class _Lit:
    data: bytes
    next: int


@dataclass(frozen=True)
class _Val:
    next: int


@dataclass(frozen=True)
class _Alt:
    options: tuple[tuple[bytes, int], ...]
    counts_item: bool  # taking the option that opens an item counts towards max_items


@dataclass(frozen=True)
class _End:
    pass


def build_program(schema: TypeSchema) -> list[Any]:
    """The output grammar of one type as a tiny program of literals, values and alternatives."""

    def key(k: str) -> bytes:
        return json.dumps(k, ensure_ascii=False).encode()

    prog: list[Any] = []
    if schema.header:
        for i, k in enumerate(schema.header):
            prefix = b'{"header":{' if i == 0 else b","
            prog.append(_Lit(prefix + key(k) + b":", len(prog) + 1))
            prog.append(_Val(len(prog) + 1))
        prog.append(_Lit(b'},"line_items":[', len(prog) + 1))
    else:
        prog.append(_Lit(b'{"header":{},"line_items":[', len(prog) + 1))
    if not schema.columns:
        prog.append(_Lit(b"]}", len(prog) + 1))
        prog.append(_End())
        return prog
    open_pc = len(prog)
    prog.append(None)  # the alternative that opens the first item, patched below
    body = len(prog)
    for i, c in enumerate(schema.columns):
        prefix = b"{" if i == 0 else b","
        if i > 0:
            prog.append(_Lit(prefix + key(c) + b":", len(prog) + 1))
        prog.append(_Val(len(prog) + 1))
    prog.append(_Lit(b"}", len(prog) + 1))
    next_pc = len(prog)
    end = next_pc + 1
    first_key = b"{" + key(schema.columns[0]) + b":"
    prog[open_pc] = _Alt(((b"]}", end), (first_key, body)), counts_item=True)
    prog.append(_Alt(((b"]}", end), (b"," + first_key, body)), counts_item=True))
    prog.append(_End())
    return prog


class DocumentAutomaton:
    """Byte automaton for one document: its type's program plus its words as the value source.

    States are hashable tuples so allowed-token sets can be cached per state:
    ``("L", data, offset, next, items)``, ``("V", next, items)``, ``("S", next, items, positions)``,
    ``("A", pc, offset, alive, items)``, ``("E",)``. ``positions`` are (byte offset into the joined
    words, index of the word the value started at).
    """

    def __init__(
        self, schema: TypeSchema, words: Sequence[str], max_value_words: int = 16, max_items: int = 64
    ):
        self.program = build_program(schema)
        self.max_value_words = max_value_words
        self.max_items = max_items
        words = [w for w in words if w]
        parts = [escaped(w).encode() for w in words]
        # A word whose JSON form differs from the word (a quote, backslash or control character in it)
        # is never copied: the byte walk could not tell its escaped quote from the closing one.
        self.blocked = frozenset(i for i, w in enumerate(words) if escaped(w) != w)
        self.text = b" ".join(parts)
        self.word_of: list[int] = []
        self.word_ends: set[int] = set()
        starts: list[int] = []
        offset = 0
        for i, p in enumerate(parts):
            starts.append(offset)
            self.word_of.extend([i] * (len(p) + 1))
            offset += len(p)
            self.word_ends.add(offset)
            offset += 1
        self.word_of.append(len(parts))
        # next word end at or after each byte offset: how far a started value is from closable
        self.end_after = [0] * (len(self.text) + 1)
        nxt_end = len(self.text)
        for off in range(len(self.text), -1, -1):
            if off in self.word_ends:
                nxt_end = off
            self.end_after[off] = nxt_end
        self.value_start = frozenset((s, i) for i, s in enumerate(starts) if i not in self.blocked)
        self._cache: dict[tuple, dict[int, tuple]] = {}
        self._finish_cache: dict[tuple, dict[int, tuple]] = {}
        self._min_finish_cache: dict[tuple, int] = {}
        self.start = self.enter(0, 0)
        # The most one token can raise the bytes still needed to close the JSON: opening an item
        # (all of its columns, null) or entering the longest word.
        literal = sum(
            len(ins.data) if isinstance(ins, _Lit) else sum(len(o) for o, _ in ins.options)
            for ins in self.program
            if isinstance(ins, _Lit | _Alt)
        )
        values = sum(isinstance(ins, _Val) for ins in self.program)
        self.slack = literal + 4 * values + max((len(p) for p in parts), default=0) + 16

    # states ----------------------------------------------------------------------------------
    def enter(self, pc: int, items: int) -> tuple:
        ins = self.program[pc]
        if isinstance(ins, _Lit):
            return ("L", ins.data, 0, ins.next, items)
        if isinstance(ins, _Val):
            return ("V", ins.next, items)
        if isinstance(ins, _Alt):
            alive = tuple(
                i
                for i, (_, nxt) in enumerate(ins.options)
                if not (ins.counts_item and nxt != len(self.program) - 1 and items >= self.max_items)
            )
            return ("A", pc, 0, alive, items)
        return ("E",)

    def transitions(self, state: tuple) -> dict[int, tuple]:
        """Every byte the automaton accepts in ``state`` and the state it leads to."""
        cached = self._cache.get(state)
        if cached is not None:
            return cached
        out: dict[int, tuple] = {}
        kind = state[0]
        if kind == "L":
            _, data, off, nxt, items = state
            out[data[off]] = (
                ("L", data, off + 1, nxt, items) if off + 1 < len(data) else self.enter(nxt, items)
            )
        elif kind == "V":
            _, nxt, items = state
            out[ord("n")] = ("L", b"ull", 0, nxt, items)
            if self.value_start:
                out[QUOTE] = ("S", nxt, items, self.value_start)
        elif kind == "S":
            _, nxt, items, positions = state
            grouped: dict[int, set] = {}
            closable = False
            text, limit = self.text, self.max_value_words
            for p, start in positions:
                if p in self.word_ends and (p, start) not in self.value_start:
                    closable = True
                if p < len(text) and self.word_of[p + 1] - start < limit:
                    if p in self.word_ends and self.word_of[p + 1] in self.blocked:
                        continue  # a run never extends into a word that cannot be copied
                    grouped.setdefault(text[p], set()).add((p + 1, start))
            for b, nxt_pos in grouped.items():
                if b == QUOTE:
                    continue  # a bare quote inside a word is always escaped, so this is a close
                out[b] = ("S", nxt, items, frozenset(nxt_pos))
            if closable:
                out[QUOTE] = self.enter(nxt, items)
        elif kind == "A":
            _, pc, off, alive, items = state
            options = self.program[pc].options
            grouped_alt: dict[int, list[int]] = {}
            for i in alive:
                grouped_alt.setdefault(options[i][0][off], []).append(i)
            for b, idx in grouped_alt.items():
                done = [i for i in idx if off + 1 == len(options[i][0])]
                if done:
                    target = options[done[0]][1]
                    opens_item = target != len(self.program) - 1
                    out[b] = self.enter(target, items + (1 if opens_item else 0))
                else:
                    out[b] = ("A", pc, off + 1, tuple(idx), items)
        self._cache[state] = out
        return out

    def min_finish_bytes(self, state: tuple) -> int:
        """Bytes needed to complete valid JSON from ``state`` on the shortest way (an upper bound on
        the tokens it takes, since every single byte is a token of the byte-level vocabulary)."""
        cached = self._min_finish_cache.get(state)
        if cached is None:
            cached = self._min_finish_cache[state] = self._min_finish(state)
        return cached

    def _min_finish(self, state: tuple) -> int:
        count = 0
        while state[0] != "E":
            kind = state[0]
            if kind == "L":
                _, data, off, nxt, items = state
                count += len(data) - off
                state = self.enter(nxt, items)
            elif kind == "V":
                count += 4
                state = self.enter(state[1], state[2])
            elif kind == "S":
                _, nxt, items, positions = state
                count += min(self.end_after[p] - p for p, _ in positions) + 1
                state = self.enter(nxt, items)
            else:  # "A": close the list, or finish the item an alternative has already started
                _, pc, off, alive, items = state
                end = len(self.program) - 1
                options = self.program[pc].options
                closing = [i for i in alive if options[i][1] == end]
                chosen = closing[0] if closing else alive[0]
                count += len(options[chosen][0]) - off
                state = ("E",) if closing else self.enter(options[chosen][1], items + 1)
        return count

    def advance(self, state: tuple, data: bytes) -> tuple | None:
        for b in data:
            nxt = self.transitions(state).get(b)
            if nxt is None:
                return None
            state = nxt
        return state

    def allowed_tokens(self, state: tuple, trie: VocabTrie) -> list[int]:
        """Token ids whose whole byte string the automaton accepts from ``state``."""
        return [tid for tid, _ in self.allowed_moves(state, trie)]

    def allowed_moves(self, state: tuple, trie: VocabTrie) -> list[tuple[int, tuple]]:
        """``(token id, state after it)`` for every token the automaton accepts from ``state``."""
        if state[0] == "E":
            return [(trie.eos_token_id, state)]
        moves = self.transitions
        allowed: list[tuple[int, tuple]] = []
        stack = [(trie.root, state)]
        while stack:
            node, st = stack.pop()
            children = node[0]
            for b, nxt in moves(st).items():
                child = children.get(b)
                if child is None:
                    continue
                if child[1] >= 0:
                    allowed.append((child[1], nxt))
                if child[0]:
                    stack.append((child, nxt))
        return allowed

    def within_budget(self, state: tuple, trie: VocabTrie, remaining: int) -> list[int]:
        """Tokens after which valid JSON (and EOS) still fits in ``remaining`` tokens, this one included.

        Looking one token ahead is what makes the guarantee hold: opening one more line item or
        starting a long value raises the bytes needed to close the JSON by more than one step, so a
        check on the current state alone can be overtaken. Along the shortest way out the need falls
        by one byte (one single-byte token) per step, so this set is never empty while
        ``min_finish_bytes(state) + 1 <= remaining``.
        """
        if state[0] == "E":
            return [trie.eos_token_id]
        return [
            tid for tid, nxt in self.allowed_moves(state, trie) if self.min_finish_bytes(nxt) + 2 <= remaining
        ]


class ConstrainedJSONLogitsProcessor(LogitsProcessor):
    """Masks every token the row's :class:`DocumentAutomaton` rejects. One automaton per batch row;
    works with ``model.generate`` (greedy or sampling) and left-padded batches.

    Given the generation's ``max_new_tokens``, a row near its budget may only take tokens after which
    the JSON can still be closed in the tokens left, so even a cut-short generation ends as valid
    JSON: at worst the shortest way out (nulls, closing brackets)."""

    def __init__(
        self,
        automata: list[DocumentAutomaton],
        trie: VocabTrie,
        token_table: dict[int, bytes],
        max_new_tokens: int | None = None,
    ):
        self.automata = automata
        self.max_new_tokens = max_new_tokens
        self.trie = trie
        self.token_table = token_table
        self.states: list[tuple | None] = [a.start for a in automata]
        self.prompt_len: int | None = None
        self.consumed = [0] * len(automata)
        self.finished = [False] * len(automata)
        self._allowed_cache: list[dict[tuple, torch.Tensor]] = [{} for _ in automata]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.prompt_len is None:
            self.prompt_len = input_ids.shape[1]
        generated = input_ids.shape[1] - self.prompt_len
        mask = torch.full_like(scores, float("-inf"))
        for row, automaton in enumerate(self.automata):
            if not self.finished[row]:
                for tid in input_ids[row, self.prompt_len + self.consumed[row] :].tolist():
                    if tid == self.trie.eos_token_id:
                        self.finished[row] = True
                        break
                    self.states[row] = automaton.advance(self.states[row], self.token_table.get(tid, b""))
                self.consumed[row] = generated
            state = self.states[row]
            if self.finished[row] or state is None:
                mask[row, self.trie.eos_token_id] = 0.0
                if self.trie.pad_token_id is not None:
                    mask[row, self.trie.pad_token_id] = 0.0
                continue
            remaining = None if self.max_new_tokens is None else self.max_new_tokens - generated
            # Far from the budget every accepted token is allowed; near it, only those after which the
            # JSON can still be closed (see DocumentAutomaton.within_budget).
            tight = remaining is not None and automaton.min_finish_bytes(state) + automaton.slack >= remaining
            key = (state, remaining if tight else None)
            cache = self._allowed_cache[row]
            allowed = cache.get(key)
            if allowed is None:
                if tight:
                    ids = automaton.within_budget(state, self.trie, remaining)
                else:
                    ids = automaton.allowed_tokens(state, self.trie)
                allowed = torch.tensor(ids, dtype=torch.long)
                if not tight:
                    cache[key] = allowed
            mask[row, allowed] = 0.0
        return scores + mask
