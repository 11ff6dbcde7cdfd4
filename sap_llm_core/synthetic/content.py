"""What a document says: header fields, line items and totals as printed strings, plus ground truth.

Values are internally consistent (line total = quantity x unit price, subtotal, tax, total; journal
debits = credits; due date after invoice date) and carry SAP-style identifiers. Rendering is a
separate step (:mod:`sap_llm_core.synthetic.pdf_renderer`), so one content can be laid out many ways.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from faker import Faker

from sap_llm_core.synthetic import identifiers as ids
from sap_llm_core.synthetic.catalog import DocumentType, Language
from sap_llm_core.synthetic.locales import (
    LOCALES,
    format_amount,
    format_date,
    format_quantity,
    vocabulary,
)

CENT = Decimal("0.01")
UNITS_COUNTED = ("EA", "PC", "BOX", "PAL", "SET")
UNITS_MEASURED = ("KG", "L", "M")
COMPANY_CODES = ("1010", "1020", "1710", "2010", "3010")
PLANTS = ("1010", "1020", "1710", "2010")
STORAGE_LOCATIONS = ("0001", "101A", "171A", "RM01", "FG01")
MAX_NAME_CHARS = 36


@dataclass(frozen=True)
class Party:
    name: str
    number: str
    street: str
    postal_code: str
    city: str
    country: str
    vat_id: str
    iban: str
    bic: str

    @property
    def address(self) -> str:
        return f"{self.street}, {self.postal_code} {self.city}"


@dataclass(frozen=True)
class Material:
    number: str
    description: str
    counted: bool


@dataclass
class Field:
    """One printed value: ``key`` names both the ground-truth field and the label to print."""

    key: str
    value: str
    wide: bool = False  # long values get a full-width row


@dataclass
class DocumentContent:
    document_type: DocumentType
    subtype: str
    language: Language
    issuer: Party
    header: list[Field]
    columns: list[str] = field(default_factory=list)
    items: list[dict[str, str]] = field(default_factory=list)
    totals: list[Field] = field(default_factory=list)

    def ground_truth(self) -> dict:
        header = {f.key: f.value for f in self.header}
        header.update({f.key: f.value for f in self.totals})
        return {
            "document_type": self.document_type.value,
            "subtype": self.subtype,
            "language": self.language.value,
            "header": header,
            "line_items": [dict(item) for item in self.items],
        }


def _shorten(text: str, limit: int = MAX_NAME_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",-& ")


class PartyPool:
    """A few recurring business partners per language and shard, as in a real ledger: the same
    vendor sends many invoices. Building them once also keeps Faker out of the per-document loop."""

    def __init__(self, rng: random.Random, faker: Faker, language: Language, size: int = 24):
        country = LOCALES[language].country
        number_kinds = ["vendor", "customer"]
        self.parties = [
            Party(
                name=_shorten(faker.company()),
                number=ids.sap_number(rng, number_kinds[i % 2]),
                street=_shorten(faker.street_address().replace("\n", " "), 30),
                postal_code=faker.postcode(),
                city=_shorten(faker.city(), 20),
                country=country,
                vat_id=ids.make_vat_id(rng, country),
                iban=ids.make_iban(rng, country),
                bic=ids.make_bic(rng, country),
            )
            for i in range(size)
        ]
        descriptions = vocabulary("materials", language)
        self.materials = [
            Material(ids.sap_number(rng, "material"), desc, counted=i % 4 != 3)
            for i, desc in enumerate(descriptions)
        ]

    def pick(self, rng: random.Random, n: int = 1) -> list[Party]:
        return rng.sample(self.parties, n)


class ContentBuilder:
    """Builds one document's content from a seeded RNG; deterministic for a given RNG state."""

    def __init__(self, rng: random.Random, language: Language, pool: PartyPool):
        self.rng = rng
        self.language = language
        self.pool = pool
        self.spec = LOCALES[language]

    # printed forms ------------------------------------------------------------------------------
    def date(self, value: dt.date) -> str:
        return format_date(value, self.language)

    def amount(self, value: Decimal) -> str:
        return format_amount(value, self.language)

    def _base_date(self) -> dt.date:
        return dt.date(2023, 1, 1) + dt.timedelta(days=self.rng.randrange(0, 1277))

    # line items ---------------------------------------------------------------------------------
    def _priced_items(self, n: int) -> tuple[list[dict[str, str]], Decimal]:
        items, subtotal = [], Decimal(0)
        for i, material in enumerate(self.rng.sample(self.pool.materials, n)):
            if material.counted:
                qty = Decimal(self.rng.choice([1, 2, 4, 5, 10, 12, 20, 24, 50, 100, 250, 500]))
                unit = self.rng.choice(UNITS_COUNTED)
            else:
                qty = Decimal(self.rng.randrange(500, 250000)) / 1000
                unit = self.rng.choice(UNITS_MEASURED)
            price = (Decimal(self.rng.randrange(50, 250000)) / 100).quantize(CENT)
            line_total = (qty * price).quantize(CENT, rounding=ROUND_HALF_UP)
            subtotal += line_total
            items.append(
                {
                    "item_number": f"{(i + 1) * 10:05d}",
                    "material_number": material.number,
                    "description": material.description,
                    "quantity": format_quantity(qty, self.language),
                    "unit": unit,
                    "unit_price": self.amount(price),
                    "line_total": self.amount(line_total),
                }
            )
        return items, subtotal

    def _stock_items(self, n: int, with_batch: bool) -> list[dict[str, str]]:
        items, _ = self._priced_items(n)
        keep = ["item_number", "material_number", "description", "quantity", "unit"]
        out = []
        for item in items:
            row = {k: item[k] for k in keep}
            if with_batch:
                row["batch"] = f"B{self.rng.randint(10**6, 10**7 - 1)}"
            out.append(row)
        return out

    def _totals(self, subtotal: Decimal) -> list[Field]:
        rate = self.rng.choice(self.spec.tax_rates)
        tax = (subtotal * rate / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        return [
            Field("subtotal", self.amount(subtotal)),
            Field("tax_rate", f"{rate}%"),
            Field("tax_amount", self.amount(tax)),
            Field("total_amount", self.amount(subtotal + tax)),
        ]

    def _n_items(self) -> int:
        return self.rng.choice([1, 1, 2, 2, 3, 3, 4, 5, 6, 8])

    # documents ----------------------------------------------------------------------------------
    def build(self, document_type: DocumentType, subtype: str) -> DocumentContent:
        issuer, partner = self.pool.pick(self.rng, 2)
        base = self._base_date()
        builder = getattr(self, f"_build_{document_type.value.lower()}")
        header, columns, items, totals = builder(partner, base)
        return DocumentContent(document_type, subtype, self.language, issuer, header, columns, items, totals)

    _PRICED_COLUMNS = [
        "item_number",
        "material_number",
        "description",
        "quantity",
        "unit",
        "unit_price",
        "line_total",
    ]

    def _build_purchase_order(self, vendor: Party, base: dt.date):
        items, subtotal = self._priced_items(self._n_items())
        header = [
            Field("po_number", ids.sap_number(self.rng, "purchase_order")),
            Field("po_date", self.date(base)),
            Field("vendor_name", vendor.name, wide=True),
            Field("vendor_id", vendor.number),
            Field("vendor_address", vendor.address, wide=True),
            Field("vendor_vat_id", vendor.vat_id),
            Field("company_code", self.rng.choice(COMPANY_CODES)),
            Field("purchasing_org", self.rng.choice(COMPANY_CODES)),
            Field("purchasing_group", f"{self.rng.randint(1, 20):03d}"),
            Field("delivery_date", self.date(base + dt.timedelta(days=self.rng.randint(7, 45)))),
            Field("payment_terms", self.rng.choice(vocabulary("payment_terms", self.language)), wide=True),
            Field("currency", self.rng.choice(self.spec.currencies)),
        ]
        return header, self._PRICED_COLUMNS, items, self._totals(subtotal)

    def _build_supplier_invoice(self, vendor: Party, base: dt.date):
        items, subtotal = self._priced_items(self._n_items())
        header = [
            Field("invoice_number", ids.external_invoice_number(self.rng, base.year)),
            Field("invoice_date", self.date(base)),
            Field("due_date", self.date(base + dt.timedelta(days=self.rng.choice([14, 30, 45, 60])))),
            Field("po_reference", ids.sap_number(self.rng, "purchase_order")),
            Field("vendor_name", vendor.name, wide=True),
            Field("vendor_address", vendor.address, wide=True),
            Field("vendor_vat_id", vendor.vat_id),
            Field("vendor_iban", ids.format_iban(vendor.iban), wide=True),
            Field("company_code", self.rng.choice(COMPANY_CODES)),
            Field("currency", self.rng.choice(self.spec.currencies)),
        ]
        return header, self._PRICED_COLUMNS, items, self._totals(subtotal)

    def _build_sales_order(self, customer: Party, base: dt.date):
        items, subtotal = self._priced_items(self._n_items())
        header = [
            Field("sales_order_number", ids.sap_number(self.rng, "sales_order")),
            Field("order_date", self.date(base)),
            Field("customer_name", customer.name, wide=True),
            Field("customer_id", customer.number),
            Field("customer_address", customer.address, wide=True),
            Field("sales_org", self.rng.choice(COMPANY_CODES)),
            Field("distribution_channel", self.rng.choice(["10", "20", "30"])),
            Field("division", self.rng.choice(["00", "01", "10"])),
            Field("requested_delivery_date", self.date(base + dt.timedelta(days=self.rng.randint(3, 30)))),
            Field("currency", self.rng.choice(self.spec.currencies)),
        ]
        return header, self._PRICED_COLUMNS, items, self._totals(subtotal)

    def _build_customer_invoice(self, customer: Party, base: dt.date):
        items, subtotal = self._priced_items(self._n_items())
        header = [
            Field("billing_document_number", ids.sap_number(self.rng, "billing_document")),
            Field("billing_date", self.date(base)),
            Field("due_date", self.date(base + dt.timedelta(days=self.rng.choice([14, 30, 60])))),
            Field("customer_name", customer.name, wide=True),
            Field("customer_id", customer.number),
            Field("customer_address", customer.address, wide=True),
            Field("customer_vat_id", customer.vat_id),
            Field("sales_order_reference", ids.sap_number(self.rng, "sales_order")),
            Field("currency", self.rng.choice(self.spec.currencies)),
        ]
        return header, self._PRICED_COLUMNS, items, self._totals(subtotal)

    def _build_credit_memo(self, partner: Party, base: dt.date):
        items, subtotal = self._priced_items(self.rng.choice([1, 1, 2, 3]))
        header = [
            Field("credit_memo_number", ids.sap_number(self.rng, "credit_memo")),
            Field("credit_memo_date", self.date(base)),
            Field("reference_invoice", ids.sap_number(self.rng, "billing_document")),
            Field("partner_name", partner.name, wide=True),
            Field("partner_address", partner.address, wide=True),
            Field("partner_vat_id", partner.vat_id),
            Field("reason", self.rng.choice(vocabulary("credit_reasons", self.language)), wide=True),
            Field("currency", self.rng.choice(self.spec.currencies)),
        ]
        return header, self._PRICED_COLUMNS, items, self._totals(subtotal)

    def _build_goods_receipt(self, vendor: Party, base: dt.date):
        header = [
            Field("material_document_number", ids.sap_number(self.rng, "goods_receipt")),
            Field("posting_date", self.date(base)),
            Field("po_reference", ids.sap_number(self.rng, "purchase_order")),
            Field("vendor_name", vendor.name, wide=True),
            Field("plant", self.rng.choice(PLANTS)),
            Field("storage_location", self.rng.choice(STORAGE_LOCATIONS)),
            Field("movement_type", self.rng.choice(["101", "101", "103", "105"])),
        ]
        items = self._stock_items(self._n_items(), with_batch=True)
        return header, list(items[0]), items, []

    def _build_goods_issue(self, _partner: Party, base: dt.date):
        header = [
            Field("material_document_number", ids.sap_number(self.rng, "material_document")),
            Field("posting_date", self.date(base)),
            Field("plant", self.rng.choice(PLANTS)),
            Field("storage_location", self.rng.choice(STORAGE_LOCATIONS)),
            Field("movement_type", self.rng.choice(["201", "261", "551", "333"])),
            Field("cost_center", f"{self.rng.randint(10_000_000, 19_999_999)}"),
        ]
        items = self._stock_items(self._n_items(), with_batch=False)
        return header, list(items[0]), items, []

    def _build_material_document(self, _partner: Party, base: dt.date):
        header = [
            Field("material_document_number", ids.sap_number(self.rng, "material_document")),
            Field("posting_date", self.date(base)),
            Field("movement_type", self.rng.choice(["311", "301", "309", "701"])),
            Field("plant", self.rng.choice(PLANTS)),
            Field("from_storage_location", self.rng.choice(STORAGE_LOCATIONS)),
            Field("to_storage_location", self.rng.choice(STORAGE_LOCATIONS)),
        ]
        items = self._stock_items(self._n_items(), with_batch=True)
        return header, list(items[0]), items, []

    def _build_delivery_note(self, customer: Party, base: dt.date):
        items = self._stock_items(self._n_items(), with_batch=False)
        weight = Decimal(self.rng.randrange(1000, 2_000_000)) / 1000
        header = [
            Field("delivery_number", ids.sap_number(self.rng, "delivery")),
            Field("delivery_date", self.date(base)),
            Field("customer_name", customer.name, wide=True),
            Field("ship_to_address", customer.address, wide=True),
            Field("shipping_point", self.rng.choice(PLANTS)),
            Field("sales_order_reference", ids.sap_number(self.rng, "sales_order")),
            Field("gross_weight", format_amount(weight, self.language, 3)),
        ]
        return header, list(items[0]), items, []

    def _build_payment_advice(self, payee: Party, base: dt.date):
        items, total = [], Decimal(0)
        for _ in range(self.rng.choice([1, 2, 3, 4, 6])):
            amount = (Decimal(self.rng.randrange(1000, 5_000_000)) / 100).quantize(CENT)
            total += amount
            invoice_date = base - dt.timedelta(days=self.rng.randint(10, 90))
            items.append(
                {
                    "invoice_reference": ids.external_invoice_number(self.rng, invoice_date.year),
                    "invoice_date": self.date(invoice_date),
                    "line_total": self.amount(amount),
                }
            )
        header = [
            Field("payment_document_number", ids.sap_number(self.rng, "payment_document")),
            Field("payment_date", self.date(base)),
            Field("payer_name", self.pool.pick(self.rng)[0].name, wide=True),
            Field("payee_name", payee.name, wide=True),
            Field("payee_iban", ids.format_iban(payee.iban), wide=True),
            Field("payee_bic", payee.bic),
            Field("currency", self.rng.choice(self.spec.currencies)),
        ]
        return header, list(items[0]), items, [Field("total_amount", self.amount(total))]

    def _build_journal_entry(self, _partner: Party, base: dt.date):
        texts = vocabulary("journal_texts", self.language)
        items, total = [], Decimal(0)
        n_debits = self.rng.choice([1, 1, 2, 3])
        debit_amounts = [
            (Decimal(self.rng.randrange(1000, 2_000_000)) / 100).quantize(CENT) for _ in range(n_debits)
        ]
        total = sum(debit_amounts, Decimal(0))
        debit_code, credit_code = {"DE": ("S", "H"), "IT": ("D", "A"), "ES": ("D", "H")}.get(
            self.language.value, ("D", "C")
        )
        rows = [(amount, debit_code) for amount in debit_amounts] + [(total, credit_code)]
        for i, (amount, side) in enumerate(rows):
            items.append(
                {
                    "item_number": f"{i + 1:03d}",
                    "gl_account": f"{self.rng.choice([1, 2, 4, 6, 7])}{self.rng.randint(10000, 99999)}",
                    "description": self.rng.choice(texts),
                    "debit_credit": side,
                    "cost_center": f"{self.rng.randint(10_000_000, 19_999_999)}",
                    "line_total": self.amount(amount),
                }
            )
        header = [
            Field("accounting_document_number", ids.sap_number(self.rng, "accounting_document")),
            Field("posting_date", self.date(base)),
            Field("fiscal_year", str(base.year)),
            Field("company_code", self.rng.choice(COMPANY_CODES)),
            Field("reference", f"{self.rng.choice(['AC', 'JE', 'GL'])}-{self.rng.randint(1000, 99999)}"),
            Field("currency", self.rng.choice(self.spec.currencies)),
        ]
        totals = [Field("total_debit", self.amount(total)), Field("total_credit", self.amount(total))]
        return header, list(items[0]), items, totals

    def _master_address(self, party: Party) -> list[Field]:
        return [
            Field("street", party.street, wide=True),
            Field("postal_code", party.postal_code),
            Field("city", party.city),
            Field("country", party.country),
        ]

    def _build_vendor_master(self, vendor: Party, _base: dt.date):
        header = [
            Field("vendor_id", vendor.number),
            Field("vendor_name", vendor.name, wide=True),
            *self._master_address(vendor),
            Field("vendor_vat_id", vendor.vat_id),
            Field("vendor_iban", ids.format_iban(vendor.iban), wide=True),
            Field("vendor_bic", vendor.bic),
            Field("payment_terms", self.rng.choice(vocabulary("payment_terms", self.language)), wide=True),
            Field("company_code", self.rng.choice(COMPANY_CODES)),
            Field("reconciliation_account", self.rng.choice(["160000", "161000", "211000"])),
            Field("purchasing_org", self.rng.choice(COMPANY_CODES)),
        ]
        return header, [], [], []

    def _build_customer_master(self, customer: Party, _base: dt.date):
        limit = Decimal(self.rng.randrange(5, 500)) * 1000
        header = [
            Field("customer_id", customer.number),
            Field("customer_name", customer.name, wide=True),
            *self._master_address(customer),
            Field("customer_vat_id", customer.vat_id),
            Field("sales_org", self.rng.choice(COMPANY_CODES)),
            Field("payment_terms", self.rng.choice(vocabulary("payment_terms", self.language)), wide=True),
            Field("credit_limit", self.amount(limit)),
            Field("currency", self.rng.choice(self.spec.currencies)),
        ]
        return header, [], [], []

    def _build_material_master(self, _partner: Party, _base: dt.date):
        material = self.rng.choice(self.pool.materials)
        net = Decimal(self.rng.randrange(100, 500_000)) / 1000
        gross = net + Decimal(self.rng.randrange(0, 5000)) / 1000
        header = [
            Field("material_number", material.number),
            Field("description", material.description, wide=True),
            Field("material_type", self.rng.choice(["FERT", "ROH", "HAWA", "HALB"])),
            Field("base_unit", self.rng.choice(UNITS_COUNTED if material.counted else UNITS_MEASURED)),
            Field("material_group", f"L{self.rng.randint(1, 9)}{self.rng.randint(0, 99):02d}"),
            Field("gross_weight", format_amount(gross, self.language, 3)),
            Field("net_weight", format_amount(net, self.language, 3)),
            Field("plant", self.rng.choice(PLANTS)),
            Field("valuation_class", self.rng.choice(["3000", "3001", "3100", "7920"])),
            Field("standard_price", self.amount(Decimal(self.rng.randrange(50, 500_000)) / 100)),
            Field("currency", self.rng.choice(self.spec.currencies)),
        ]
        return header, [], [], []
