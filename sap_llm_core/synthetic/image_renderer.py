"""Rasterises a PDF page with pdfium and optionally degrades it the way scanners do.

Augmentations (rotation, speckle noise, blur, contrast) change pixels only; the recorded boxes stay
those of the clean page, and the record's ``extra.augmentations`` says what was applied (a rotation
of a few degrees moves words by a few units of the 0-1000 grid, which models are expected to
tolerate).
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
    """Apply one or two of rotation (+-5 deg), speckle noise, blur and contrast, chosen by ``rng``."""
    applied: list[dict[str, float]] = []
    kinds = rng.sample(["rotate", "noise", "blur", "contrast"], rng.choice([1, 2]))
    for kind in sorted(kinds):
        if kind == "rotate":
            angle = round(rng.uniform(-5, 5), 2)
            image = image.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=255)
            applied.append({"rotate": angle})
        elif kind == "noise":
            # Scanner speckle: a small share of pixels flipped dark or light. Dense Gaussian noise
            # on every pixel would make each page an incompressible half-megabyte PNG.
            share = round(rng.uniform(0.002, 0.02), 4)
            generator = np.random.default_rng(rng.getrandbits(32))
            pixels = np.asarray(image, dtype=np.uint8).copy()
            mask = generator.random(pixels.shape) < share
            pixels[mask] = generator.choice(np.array([0, 96, 160, 255], dtype=np.uint8), size=int(mask.sum()))
            image = Image.fromarray(pixels, mode="L")
            applied.append({"speckle_share": share})
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
    """PNG at zlib level 1: about five times faster to encode than the default level 6, for files
    about a fifth larger; encoding dominated page rendering time."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
