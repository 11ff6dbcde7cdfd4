"""Rasterises a PDF page with pdfium and optionally degrades it the way scanners do.

Augmentations change pixels only; the recorded boxes stay those of the clean page, and the record's
``extra.augmentations`` says what was applied (a rotation of a few degrees moves words by a few
units of the 0-1000 grid, which the models are expected to tolerate).
"""

from __future__ import annotations

import io
import random

import numpy as np
import pypdfium2 as pdfium
from PIL import Image, ImageEnhance, ImageFilter


def render_page(pdf: bytes, dpi: int) -> Image.Image:
    document = pdfium.PdfDocument(pdf)
    try:
        page = document[0]
        bitmap = page.render(scale=dpi / 72, grayscale=True)
        image = bitmap.to_pil().convert("L")
        page.close()
    finally:
        document.close()
    return image


def augment(image: Image.Image, rng: random.Random) -> tuple[Image.Image, list[dict[str, float]]]:
    """Apply one or two of rotation (+-5 deg), Gaussian noise, blur and contrast, chosen by ``rng``."""
    applied: list[dict[str, float]] = []
    kinds = rng.sample(["rotate", "noise", "blur", "contrast"], rng.choice([1, 2]))
    for kind in sorted(kinds):
        if kind == "rotate":
            angle = round(rng.uniform(-5, 5), 2)
            image = image.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=255)
            applied.append({"rotate": angle})
        elif kind == "noise":
            sigma = round(rng.uniform(4, 14), 2)
            noise = np.random.default_rng(rng.getrandbits(32)).normal(0, sigma, (image.height, image.width))
            pixels = np.clip(np.asarray(image, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
            image = Image.fromarray(pixels, mode="L")
            applied.append({"noise_sigma": sigma})
        elif kind == "blur":
            radius = round(rng.uniform(0.4, 1.2), 2)
            image = image.filter(ImageFilter.GaussianBlur(radius))
            applied.append({"blur_radius": radius})
        else:
            factor = round(rng.uniform(0.55, 1.5), 2)
            image = ImageEnhance.Contrast(image).enhance(factor)
            applied.append({"contrast": factor})
    return image, applied


def to_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()
