"""The router model: a small Llama-architecture causal LM with a LoRA adapter, decoded under a
knowledge-base constraint.

Constrained decoding by candidate scoring: instead of sampling tokens and hoping for a real API, the
router scores the sequence log-likelihood of every routing in the KB catalog after the prompt and
picks the best. Output can therefore only be a routing that exists in the knowledge base (100% valid
endpoints by construction), and the softmax over those scores, temperature-scaled on the validation
split, is the calibrated confidence. With one-token values the catalog is scored in one batched
forward pass, which keeps a document well under the latency budget on CPU.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sap_llm_core.models.reasoning_engine.examples import Routing, RoutingExample

SPECIAL_TOKENS = ["<pad>", "<unk>", "<s>", "</s>"]
ROUTER_FILE = "router.json"


def build_tokenizer(texts: Sequence[str]) -> Any:
    """A word-level tokenizer over the routing vocabulary (whitespace split).

    Why not BPE: every API, entity set and field name then is one token, so a routing is six tokens
    and candidate scoring is exact and cheap; words never seen in training map to ``<unk>``.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    for text in texts:
        for word in text.split():
            vocab.setdefault(word, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )


def build_base_model(tokenizer: Any, hidden_size: int, layers: int, heads: int, seed: int) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config)


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> float:
    """ECE: the bin-weighted gap between mean confidence and accuracy over equal-width bins."""
    conf = np.asarray(confidences, dtype=float)
    hit = np.asarray(correct, dtype=float)
    if conf.size == 0:
        raise ValueError("ECE of an empty set is undefined")
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            ece += mask.mean() * abs(conf[mask].mean() - hit[mask].mean())
    return float(ece)


def reliability_bins(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> list[dict]:
    conf = np.asarray(confidences, dtype=float)
    hit = np.asarray(correct, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    return [
        {
            "low": float(edges[b]),
            "high": float(edges[b + 1]),
            "count": int((idx == b).sum()),
            "confidence": float(conf[idx == b].mean()) if (idx == b).any() else None,
            "accuracy": float(hit[idx == b].mean()) if (idx == b).any() else None,
        }
        for b in range(bins)
    ]


def fit_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """Temperature minimising the validation NLL (grid search: robust, no optimiser state)."""
    best_t, best_nll = 1.0, math.inf
    for t in np.exp(np.linspace(math.log(0.05), math.log(20.0), 200)):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        nll = -float(logp[np.arange(len(targets)), targets].mean())
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


def routing_reward(predicted: Routing, label: Routing, valid: bool, confidence: float) -> float:
    """The seeds' reward: 0.7 x API correct + 0.2 x rules satisfied + 0.1 x calibration.

    "Rules satisfied" here = the routing is KB-valid and its entity/method are the mapped ones (the
    business-rule layer can only post to the mapped entity); calibration = 1 - |confidence - correct|.
    """
    api_ok = float(predicted.endpoint == label.endpoint)
    rules_ok = float(valid and predicted.entity == label.entity and predicted.method == label.method)
    calibration = 1.0 - abs(confidence - float(predicted == label))
    return 0.7 * api_ok + 0.2 * rules_ok + 0.1 * calibration


def parse_routing(completion: str) -> Routing | None:
    """The routing a generated completion states: the routing JSON (``{"endpoint", "entity",
    "method"}``) or the model's own ``endpoint X entity Y method Z`` form (its word-level vocabulary
    has no JSON punctuation); ``None`` for anything else, trailing words included."""
    text = completion.strip()
    keys = ("endpoint", "entity", "method")
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            return None
        if isinstance(obj, dict) and all(isinstance(obj.get(k), str) and obj[k] for k in keys):
            return Routing(obj["endpoint"], obj["entity"], obj["method"])
        return None
    words = text.split()
    if len(words) != 6 or tuple(words[0::2]) != keys:
        return None
    return Routing(words[1], words[3], words[5])


class Router:
    """A trained router: model (base + LoRA adapter merged or not), tokenizer, catalog, temperature."""

    def __init__(self, model: Any, tokenizer: Any, catalog: Sequence[Routing], temperature: float = 1.0):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.catalog = list(catalog)
        self.temperature = temperature
        self._option_ids = [
            tokenizer(o.text(), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            for o in self.catalog
        ]
        unknown = [
            o for o, ids in zip(self.catalog, self._option_ids, strict=True) if tokenizer.unk_token_id in ids
        ]
        if unknown:
            raise ValueError(f"catalog routings with out-of-vocabulary tokens: {unknown}")

    @torch.no_grad()
    def option_logits(self, prompts: Sequence[str]) -> np.ndarray:
        """(documents, catalog) summed log-likelihood of each routing's tokens after the prompt."""
        out = np.zeros((len(prompts), len(self.catalog)), dtype=np.float64)
        pad = self.tokenizer.pad_token_id
        for d, prompt in enumerate(prompts):
            p_ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
            seqs = [p_ids + o for o in self._option_ids]
            width = max(len(s) for s in seqs)
            ids = torch.full((len(seqs), width), pad, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for i, s in enumerate(seqs):
                ids[i, : len(s)] = torch.tensor(s)
                mask[i, : len(s)] = 1
            logp = torch.log_softmax(self.model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
            for i, o in enumerate(self._option_ids):
                start = len(p_ids)
                positions = torch.arange(start - 1, start - 1 + len(o))
                out[d, i] = float(logp[i, positions, torch.tensor(o)].sum())
        return out

    def probabilities(self, prompts: Sequence[str]) -> np.ndarray:
        z = self.option_logits(prompts) / self.temperature
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def route(self, examples: Sequence[RoutingExample]) -> list[dict[str, Any]]:
        """Routing JSON per example; the pick is always a catalog (KB) routing."""
        probs = self.probabilities([e.prompt() for e in examples])
        results = []
        for ex, p in zip(examples, probs, strict=True):
            best = int(p.argmax())
            r = self.catalog[best]
            agree = sum(1 for c in ex.similar if c == r.endpoint)
            reasoning = (
                f"{ex.document_type} routes to {r.endpoint} ({r.entity}, {r.method}); "
                f"retrieved candidates: {', '.join(ex.candidates) or 'none'}; "
                f"{agree}/{len(ex.similar)} similar past cases used the same API."
            )
            results.append({**r.as_dict(), "confidence": float(p[best]), "reasoning": reasoning})
        return results

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(directory)
        meta = {"catalog": [o.as_dict() for o in self.catalog], "temperature": self.temperature}
        (directory / ROUTER_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))

    @classmethod
    def load(cls, directory: str | Path) -> Router:
        """Base model (``base/``) + LoRA adapter (``adapter/``) + tokenizer + catalog + temperature."""
        from peft import PeftModel
        from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

        directory = Path(directory)
        meta = json.loads((directory / ROUTER_FILE).read_text())
        tokenizer = PreTrainedTokenizerFast.from_pretrained(directory)
        base = LlamaForCausalLM.from_pretrained(directory / "base")
        model = PeftModel.from_pretrained(base, directory / "adapter")
        catalog = [Routing(**o) for o in meta["catalog"]]
        return cls(model, tokenizer, catalog, float(meta["temperature"]))
