"""Free text from travellers and operators: trimmed, checked, stored as given.

The API never renders this text as HTML; clients must escape it where they display it.
"""

from __future__ import annotations

from onecode.errors import Unprocessable


def clean_text(text: str, *, max_len: int, code: str) -> str:
    """Trim ``text`` and refuse it empty, too long, or not storable (lone surrogates).

    NUL and other control characters never get here: the body decoder refuses them in
    every text field (onecode/http/bodies.py)."""
    trimmed = text.strip()
    if not trimmed:
        raise Unprocessable("The text is empty once trimmed.", code)
    if len(trimmed) > max_len:
        raise Unprocessable(f"The text is longer than {max_len} characters.", code)
    try:
        trimmed.encode("utf-8")
    except UnicodeEncodeError:
        raise Unprocessable("The text is not valid Unicode.", code) from None
    return trimmed
