"""Draws a document with ReportLab and records every word and its box as it is drawn.

Words and boxes therefore come from what is on the page, not from a second OCR pass: a word's box is
computed from the font's advance widths at the position it was drawn, normalised to 0-1000 with the
origin at the top left, and words are returned in reading order (top to bottom, then left to right).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from reportlab import rl_config
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from sap_llm_core.synthetic.catalog import Language
from sap_llm_core.synthetic.content import DocumentContent
from sap_llm_core.synthetic.layout import LayoutStyle
from sap_llm_core.synthetic.locales import label, page_word, title, vocabulary

PAGE_W, PAGE_H = A4
# Binary (Flate only) content streams: smaller files and no ASCII85 pass over every page.
rl_config.useA85 = 0
ASCENT, DESCENT = 0.78, 0.22  # of the font size; close to the Type 1 standard fonts' metrics

# Relative widths of table columns; the description takes what is left.
COLUMN_WEIGHTS = {
    "item_number": 0.07,
    "material_number": 0.12,
    "description": 0.0,
    "quantity": 0.10,
    "unit": 0.06,
    "unit_price": 0.13,
    "line_total": 0.14,
    "batch": 0.12,
    "gl_account": 0.11,
    "debit_credit": 0.05,
    "cost_center": 0.12,
    "invoice_reference": 0.30,
    "invoice_date": 0.25,
}
NUMERIC_COLUMNS = {"quantity", "unit_price", "line_total"}


class DrawnWord(NamedTuple):
    baseline: float  # points from the page top; words on one printed line share it
    x0: float
    text: str
    box: list[int]  # x0, y0, x1, y1 normalised to 0-1000, origin top left
    field: str | None
    label: str | None


@dataclass
class RenderedPage:
    pdf: bytes
    words: list[str]
    boxes: list[list[int]]
    spans: dict[str, tuple[str, list[int]]] = field(default_factory=dict)  # field -> (label, indices)
    text: str = ""  # the words in reading order, one printed line per text line
    ground_truth_override: dict[str, str] = field(default_factory=dict)


@lru_cache(maxsize=65536)
def _width(text: str, font: str, size: float) -> float:
    # Labels, codes and amounts repeat across documents; measuring each once is a large saving.
    return stringWidth(text, font, size)


class _Pen:
    """Canvas wrapper that records words; one instance per page.

    All text goes through one PDF text object per page (one BT/ET block), which is much cheaper
    than a text object per string; shapes are drawn on the canvas directly.
    """

    def __init__(self, canvas: Canvas, style: LayoutStyle):
        self.c = canvas
        self.style = style
        self.words: list[DrawnWord] = []
        self.drawn_values: dict[str, str] = {}
        self._text = canvas.beginText()
        self._font: tuple[str, float] | None = None

    def width(self, text: str, font: str, size: float) -> float:
        return _width(text, font, size)

    def finish(self) -> None:
        self.c.drawText(self._text)

    def fit(self, text: str, font: str, size: float, max_width: float) -> tuple[str, float]:
        """Shrink the font, then cut at a word boundary, so the value fits; return what is drawn."""
        while size > 6.0 and self.width(text, font, size) > max_width:
            size -= 0.5
        while self.width(text, font, size) > max_width and " " in text:
            text = text.rsplit(" ", 1)[0]
        return text, size

    def text(
        self,
        x: float,
        y_top: float,
        text: str,
        *,
        bold: bool = False,
        size: float | None = None,
        align: str = "left",
        max_width: float | None = None,
        field: str | None = None,
        label: str | None = None,
    ) -> float:
        """Draw ``text`` with its top at ``y_top`` (from the page top). Returns the line height."""
        font = self.style.bold if bold else self.style.regular
        size = size or self.style.size
        if max_width is not None:
            text, size = self.fit(text, font, size, max_width)
        total = self.width(text, font, size)
        if align == "right":
            x -= total
        elif align == "center":
            x -= total / 2
        baseline = y_top + ASCENT * size
        if self._font != (font, size):
            self._text.setFont(font, size)
            self._font = (font, size)
        self._text.setTextOrigin(x, PAGE_H - baseline)
        self._text.textOut(text)
        space = self.width(" ", font, size)
        top = _clamp(y_top * _SY)
        bottom = _clamp((baseline + DESCENT * size) * _SY)
        cursor = x
        for word in text.split(" "):
            if word:
                w = self.width(word, font, size)
                box = [_clamp(cursor * _SX), top, _clamp((cursor + w) * _SX), bottom]
                self.words.append(DrawnWord(baseline, cursor, word, box, field, label))
                cursor += w
            cursor += space
        if field is not None:
            self.drawn_values[field] = text
        return size * 1.35


_SX, _SY = 1000 / PAGE_W, 1000 / PAGE_H


def _clamp(value: float) -> int:
    return 0 if value < 0 else 1000 if value > 1000 else int(round(value))


class PdfRenderer:
    def __init__(self, style: LayoutStyle, footer_index: int = 0):
        self.style = style
        self.footer_index = footer_index

    def render(self, content: DocumentContent) -> RenderedPage:
        buffer = io.BytesIO()
        # invariant=1: no creation date or random document id, so the same input gives the same bytes.
        canvas = Canvas(buffer, pagesize=A4, invariant=1, pageCompression=1)
        canvas.setTitle(f"{content.document_type.value} {content.subtype}")
        pen = _Pen(canvas, self.style)
        lang = content.language
        m = self.style.margin
        y = m
        y = self._letterhead(pen, content, y)
        y = self._title(pen, content, y + 10)
        y = self._key_values(pen, content, y + 14)
        if content.items:
            y = self._table(pen, content, y + 14)
        if content.totals:
            y = self._totals(pen, content, y + 8)
        self._footer(pen, content, lang)
        pen.finish()
        canvas.showPage()
        canvas.save()
        return self._assemble(buffer.getvalue(), pen)

    # blocks -------------------------------------------------------------------------------------
    def _letterhead(self, pen: _Pen, content: DocumentContent, y: float) -> float:
        s, m = self.style, self.style.margin
        issuer = content.issuer
        if s.letterhead == "banner":
            pen.c.setFillGray(0.85)
            pen.c.rect(0, PAGE_H - (y + 34), PAGE_W, 40, stroke=0, fill=1)
            pen.c.setFillGray(0)
        x, align = (m, "left") if s.letterhead in ("left", "banner") else (PAGE_W - m, "right")
        y += pen.text(x, y, issuer.name, bold=True, size=s.size + 3, align=align, max_width=300)
        y += pen.text(x, y, issuer.address, size=s.size - 1, align=align, max_width=300)
        return y

    def _title(self, pen: _Pen, content: DocumentContent, y: float) -> float:
        s, m = self.style, self.style.margin
        x = {"left": m, "center": PAGE_W / 2, "right": PAGE_W - m}[s.title_align]
        y += pen.text(
            x,
            y,
            title(content.document_type.value, content.language),
            bold=True,
            size=s.size + 6,
            align=s.title_align,
        )
        subtype = content.subtype.replace("_", " ").title()
        y += pen.text(x, y, subtype, size=s.size, align=s.title_align)
        return y

    def _key_values(self, pen: _Pen, content: DocumentContent, y: float) -> float:
        s, m = self.style, self.style.margin
        usable = PAGE_W - 2 * m
        lang = content.language
        narrow = [f for f in content.header if not f.wide]
        wide = [f for f in content.header if f.wide]
        col_w = usable / s.kv_columns
        rows = [narrow[i : i + s.kv_columns] for i in range(0, len(narrow), s.kv_columns)]
        rows = [[f] for f in wide] + rows if s.kv_style != "stacked" else rows + [[f] for f in wide]
        for row in rows:
            height = 0.0
            for col, f in enumerate(row):
                x = m + col * col_w
                width = usable if f.wide else col_w - 8
                height = max(height, self._key_value(pen, x, y, width, label(f.key, lang), f, lang))
            y += height
        return y

    def _key_value(self, pen: _Pen, x: float, y: float, width: float, text: str, f, lang: Language) -> float:
        s = self.style
        path = f"header.{f.key}"
        if s.kv_style == "inline":
            lab = text + ":"
            lab_w = pen.width(lab + " ", s.bold, s.size)
            pen.text(x, y, lab, bold=True)
            return pen.text(x + lab_w, y, f.value, max_width=width - lab_w, field=path, label=f.key)
        if s.kv_style == "columns":
            lab_w = min(118.0, width * 0.45)
            pen.text(x, y, text, bold=True, max_width=lab_w - 4)
            return pen.text(x + lab_w, y, f.value, max_width=width - lab_w, field=path, label=f.key)
        h = pen.text(x, y, text, size=s.size - 1.5, bold=True, max_width=width)
        return h + pen.text(x, y + h, f.value, max_width=width, field=path, label=f.key) + 2

    def _table(self, pen: _Pen, content: DocumentContent, y: float) -> float:
        s, m = self.style, self.style.margin
        usable = PAGE_W - 2 * m
        cols = content.columns
        fixed = sum(COLUMN_WEIGHTS.get(c, 0.1) for c in cols if c != "description")
        widths = [
            (max(0.2, 1 - fixed) if c == "description" else COLUMN_WEIGHTS.get(c, 0.1)) * usable for c in cols
        ]
        scale = usable / sum(widths)
        widths = [w * scale for w in widths]
        size = s.size - 0.5
        row_h = size * 1.6
        xs = [m + sum(widths[:i]) for i in range(len(cols))]

        def cell_x(i: int) -> tuple[float, str]:
            return (xs[i] + widths[i] - 3, "right") if cols[i] in NUMERIC_COLUMNS else (xs[i] + 2, "left")

        def shade(row_top: float, gray: float) -> None:
            pen.c.setFillGray(gray)
            pen.c.rect(m, PAGE_H - (row_top + row_h), usable, row_h, stroke=0, fill=1)
            pen.c.setFillGray(0)

        if s.table_style in ("grid", "zebra"):
            shade(y, 0.88)
        for i, c in enumerate(cols):
            cx, align = cell_x(i)
            pen.text(
                cx,
                y + 2,
                label(c, content.language),
                bold=True,
                size=size,
                align=align,
                max_width=widths[i] - 4,
            )
        top = y
        y += row_h
        if s.table_style == "lines":
            pen.c.line(m, PAGE_H - y, PAGE_W - m, PAGE_H - y)
        for r, item in enumerate(content.items):
            if s.table_style == "zebra" and r % 2 == 1:
                shade(y, 0.95)
            for i, c in enumerate(cols):
                cx, align = cell_x(i)
                pen.text(
                    cx,
                    y + 2,
                    item[c],
                    size=size,
                    align=align,
                    max_width=widths[i] - 5,
                    field=f"line_items[{r}].{c}",
                    label=c,
                )
            y += row_h
        if s.table_style == "grid":
            pen.c.setLineWidth(0.4)
            for yy in (top, y):
                pen.c.line(m, PAGE_H - yy, PAGE_W - m, PAGE_H - yy)
            for x in [*xs, PAGE_W - m]:
                pen.c.line(x, PAGE_H - top, x, PAGE_H - y)
        elif s.table_style == "lines":
            pen.c.line(m, PAGE_H - y, PAGE_W - m, PAGE_H - y)
        return y

    def _totals(self, pen: _Pen, content: DocumentContent, y: float) -> float:
        right = PAGE_W - self.style.margin
        for f in content.totals:
            bold = f.key in ("total_amount", "total_credit")
            pen.text(right - 150, y, label(f.key, content.language), bold=bold, align="left", max_width=140)
            y += pen.text(right, y, f.value, bold=bold, align="right", field=f"header.{f.key}", label=f.key)
        return y

    def _footer(self, pen: _Pen, content: DocumentContent, lang: Language) -> None:
        s, m = self.style, self.style.margin
        y = PAGE_H - m - 20
        if s.footer == "none":
            return
        footers = vocabulary("footers", lang)
        pen.text(m, y - 12, footers[self.footer_index % len(footers)], size=s.size - 1.5)
        if s.footer in ("bank", "both"):
            issuer = content.issuer
            pen.text(m, y, f"IBAN {issuer.iban} BIC {issuer.bic} {issuer.vat_id}", size=s.size - 1.5)
        if s.footer in ("page", "both"):
            pen.text(PAGE_W - m, y, f"{page_word(lang)} 1/1", size=s.size - 1.5, align="right")

    # words, boxes and spans ---------------------------------------------------------------------
    @staticmethod
    def _assemble(pdf: bytes, pen: _Pen) -> RenderedPage:
        order = sorted(
            range(len(pen.words)), key=lambda i: (round(pen.words[i].baseline, 1), pen.words[i].x0)
        )
        words, boxes, lines = [], [], []
        spans: dict[str, tuple[str, list[int]]] = {}
        last_baseline = None
        for new_index, old in enumerate(order):
            w = pen.words[old]
            baseline = round(w.baseline, 1)
            if baseline != last_baseline:
                lines.append([])
                last_baseline = baseline
            lines[-1].append(w.text)
            words.append(w.text)
            boxes.append(w.box)
            if w.field is not None:
                spans.setdefault(w.field, (w.label or w.field, []))[1].append(new_index)
        text = "\n".join(" ".join(line) for line in lines)
        return RenderedPage(pdf, words, boxes, spans, text, ground_truth_override=pen.drawn_values)
