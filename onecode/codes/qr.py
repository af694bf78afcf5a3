"""Render TQ1 text as a QR code image (PNG or SVG) with `qrcode`.

Error correction M, one alphanumeric segment, quiet zone of 4 modules. The version is
the smallest that fits and the mask pattern is fixed by default: qrcode's search over
the 8 masks is most of the render time, and any mask decodes. Render once per
credential generation and cache; this is not for a hot path.
"""

from __future__ import annotations

import io

import qrcode
import qrcode.constants
import qrcode.image.pil
import qrcode.image.svg
import qrcode.util

from onecode.codes.credential import QR_ALPHANUMERIC

__all__ = ["DEFAULT_MASK", "qr_version", "render_png", "render_svg"]

BORDER = 4
#: Fixed mask pattern; pass `mask_pattern=None` to let qrcode search the best one.
DEFAULT_MASK = 2


def _build(text: str, box_size: int, mask_pattern: int | None) -> qrcode.QRCode:
    if not text or not QR_ALPHANUMERIC.issuperset(text):
        raise ValueError("text must be non-empty and in the QR alphanumeric set")
    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=box_size,
        border=BORDER,
        mask_pattern=mask_pattern,
    )
    qr.add_data(qrcode.util.QRData(text, mode=qrcode.util.MODE_ALPHA_NUM))
    qr.make(fit=True)
    return qr


def qr_version(text: str) -> int:
    """The QR version (1..40) `text` takes at error correction M."""
    return int(_build(text, 1, DEFAULT_MASK).version)


def render_png(text: str, *, box_size: int = 8, mask_pattern: int | None = DEFAULT_MASK) -> bytes:
    """PNG bytes of the QR code for `text` (Pillow, 1-bit)."""
    qr = _build(text, box_size, mask_pattern)
    image = qr.make_image(image_factory=qrcode.image.pil.PilImage)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def render_svg(text: str, *, box_size: int = 10, mask_pattern: int | None = DEFAULT_MASK) -> bytes:
    """SVG bytes (one `<path>`) of the QR code for `text`."""
    qr = _build(text, box_size, mask_pattern)
    image = qr.make_image(image_factory=qrcode.image.svg.SvgPathImage)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()
