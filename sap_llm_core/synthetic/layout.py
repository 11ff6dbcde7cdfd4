"""Layout templates: where labels, values, tables, letterheads and footers go, and in which fonts.

Twelve templates per document type come from combining a few independent choices; a template id
(``PURCHASE_ORDER-T07``) is recorded with every document so failures can be traced to a layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FONTS = {
    "helvetica": ("Helvetica", "Helvetica-Bold"),
    "times": ("Times-Roman", "Times-Bold"),
    "courier": ("Courier", "Courier-Bold"),
}


@dataclass(frozen=True)
class LayoutStyle:
    font: str
    size: float
    title_align: Literal["left", "center", "right"]
    letterhead: Literal["left", "right", "banner"]
    kv_style: Literal["inline", "columns", "stacked"]
    kv_columns: int
    table_style: Literal["grid", "lines", "zebra", "plain"]
    footer: Literal["bank", "page", "both", "none"]
    margin: float

    @property
    def regular(self) -> str:
        return FONTS[self.font][0]

    @property
    def bold(self) -> str:
        return FONTS[self.font][1]


TEMPLATES: tuple[LayoutStyle, ...] = (
    LayoutStyle("helvetica", 9.0, "left", "left", "columns", 2, "grid", "bank", 42),
    LayoutStyle("helvetica", 9.5, "right", "banner", "inline", 1, "lines", "page", 40),
    LayoutStyle("times", 10.0, "center", "left", "columns", 1, "zebra", "both", 48),
    LayoutStyle("courier", 8.5, "left", "right", "inline", 2, "plain", "bank", 36),
    LayoutStyle("helvetica", 8.5, "center", "right", "stacked", 2, "grid", "none", 40),
    LayoutStyle("times", 9.5, "left", "banner", "columns", 2, "lines", "both", 44),
    LayoutStyle("courier", 9.0, "right", "left", "columns", 1, "grid", "page", 40),
    LayoutStyle("helvetica", 10.0, "left", "left", "stacked", 2, "zebra", "page", 46),
    LayoutStyle("times", 8.5, "right", "right", "inline", 1, "plain", "bank", 38),
    LayoutStyle("helvetica", 9.0, "center", "banner", "columns", 2, "plain", "both", 40),
    LayoutStyle("courier", 8.0, "center", "banner", "stacked", 2, "lines", "none", 34),
    LayoutStyle("times", 9.0, "left", "right", "columns", 2, "grid", "bank", 42),
)


def template_id(document_type: str, index: int) -> str:
    return f"{document_type}-T{index:02d}"
