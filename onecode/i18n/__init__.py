"""Simplified Chinese first, English second: message catalogs and language negotiation.

The words people read (problem titles and details, gate reason labels, the planner
dashboard, the demo's names) live in Babel ``.po`` catalogs under ``locales/``, one per
language, compiled when this module first needs them (no ``.mo`` file is committed or
built: the ``.po`` text is the one source). Entries are keyed, not English-keyed:
``msgctxt`` names the room (``problem.title``, ``problem.detail``, ``scan.reason``,
``dashboard``, ``demo.region`` …) and ``msgid`` is the stable machine key (a problem code,
a reason code), so English is a catalog like Chinese and a missing entry is a test
failure (tests/unit/test_catalogs.py), not a silent fallback.

Which language: ``Accept-Language`` (RFC 9110 quality values; any ``zh`` tag reads
Simplified Chinese, any ``en`` tag English), else the caller's default: English for API
problems (the language of the source), the region's ``default_locale`` for the dashboard.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from babel import Locale
from babel.messages.pofile import read_po

ZH: Final = "zh-CN"
EN: Final = "en"
#: Supported languages, the first is the product's first language.
LOCALES: Final = (ZH, EN)
#: API problems without a usable ``Accept-Language`` stay in the source language.
API_DEFAULT: Final = EN

_DIR = Path(__file__).resolve().parent
_FILES = {ZH: _DIR / "locales" / "zh_CN" / "LC_MESSAGES" / "onecode.po",
          EN: _DIR / "locales" / "en" / "LC_MESSAGES" / "onecode.po"}  # fmt: skip
_REGIONS = _DIR / "iso3166_2_cn.csv"
_TAG = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$|^\*$")
_MAX_HEADER = 1024

#: The language of the request being answered (set by the error handler and the
#: middleware-free paths that write problems themselves).
CURRENT: ContextVar[str | None] = ContextVar("onecode_locale", default=None)


def _match(tag: str) -> str | None:
    primary = tag.split("-", 1)[0].lower()
    if primary == "zh":
        return ZH  # zh, zh-CN, zh-Hans, zh-SG; zh-TW readers get Simplified over English
    if primary == "en":
        return EN
    return None


def preferences(header: str | None) -> list[str]:
    """The supported languages ``header`` asks for, best first (q=0 excluded)."""
    if not header or len(header) > _MAX_HEADER:
        return []
    weighted: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or not _TAG.match(tag):
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q <= 0 or q != q:  # q=0 means "not this"; NaN is nonsense
            continue
        match = None if tag == "*" else _match(tag)
        if match is not None:
            weighted.append((-min(q, 1.0), i, match))
    seen: list[str] = []
    for _, _, loc in sorted(weighted):
        if loc not in seen:
            seen.append(loc)
    return seen


def negotiate(header: str | None, default: str = API_DEFAULT) -> str:
    """The language to answer in: the best supported one ``header`` asks for, else
    ``default``."""
    asked = preferences(header)
    return asked[0] if asked else (default if default in LOCALES else ZH)


def supported(tag: str | None) -> str | None:
    """``tag`` as one of LOCALES (``zh``, ``zh-cn`` → ``zh-CN``), or None."""
    return _match(tag) if tag and _TAG.match(tag) and tag != "*" else None


@dataclass(frozen=True, slots=True)
class Catalog:
    """One language's compiled entries: ``(context, key) → text``."""

    locale: str
    entries: Mapping[tuple[str, str], str]

    def get(self, context: str, key: str) -> str | None:
        return self.entries.get((context, key))

    def room(self, context: str) -> dict[str, str]:
        """Every entry of one context (``dashboard``) as ``key → text``."""
        return {k: v for (c, k), v in self.entries.items() if c == context}


def _compile(locale: str, path: Path) -> Catalog:
    with path.open("rb") as f:
        po = read_po(f, locale=locale.replace("-", "_"), abort_invalid=True)
    entries: dict[tuple[str, str], str] = {}
    for message in po:
        if not message.id or message.fuzzy or not isinstance(message.id, str):
            continue
        if isinstance(message.string, str) and message.string:
            entries[(message.context or "", message.id)] = message.string
    return Catalog(locale, entries)


@functools.cache
def catalog(locale: str) -> Catalog:
    """The compiled catalog of ``locale`` (one of LOCALES), read once."""
    return _compile(locale, _FILES[locale])


def text(locale: str, context: str, key: str, /, **values: object) -> str | None:
    """The entry in ``locale``, its ``{placeholders}`` filled; None if there is none."""
    found = catalog(locale).get(context, key)
    if found is None:
        return None
    return _fill(found, values) if values else found


def _fill(template: str, values: Mapping[str, object]) -> str:
    # str.format would read attributes and indexes ("{x.__class__}"): only plain names
    return re.sub(
        r"\{([a-z_]+)\}",
        lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0),
        template,
    )


def problem_text(code: str, locale: str, detail: str) -> tuple[str, str] | None:
    """Title and detail of problem ``code`` in ``locale``, or None if it has no entry.

    English keeps the raised detail (the source text, with its values); other languages
    take the catalog's detail, where ``{detail}`` stands for the raised text.
    """
    title = text(locale, "problem.title", code)
    if title is None:
        return None
    if locale == EN and detail:
        return title, detail
    localized = text(locale, "problem.detail", code, detail=detail)
    return title, localized if localized is not None else detail


def reason_label(reason: str, locale: str) -> str:
    """What a gate screen shows for a scan reason code (the code itself if unknown)."""
    return text(locale, "scan.reason", reason) or reason


@dataclass(frozen=True, slots=True)
class RegionName:
    code: str
    zh: str
    en: str

    def name(self, locale: str) -> str:
        return self.zh if locale == ZH else self.en


@functools.cache
def _regions() -> dict[str, RegionName]:
    table: dict[str, RegionName] = {}
    with _REGIONS.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            name = RegionName(row["code"], row["zh"], row["en"])
            table[row["code"]] = name
            table[row["numeric"]] = name  # CN-44: the numeric code of GB/T 2260
    return table


def region_name(code: str, locale: str) -> str | None:
    """The name of an ISO 3166-2:CN province-level code (``CN-44`` or ``CN-GD`` → 广东 /
    Guangdong), a country (``JP`` → 日本 / Japan, from CLDR) or a demo prefecture code,
    in ``locale``; None if unknown."""
    found = _regions().get(code) or _regions().get(f"CN-{code}")  # HK, MO, TW alone too
    if found is not None:
        return found.name(locale)
    if code in {"other", "unknown", "abroad"}:  # the origins rows that are no region
        return text(locale, "dashboard", f"region.{code}")
    if len(code) == 2 and code.isascii() and code.isalpha() and code.isupper():
        # a country (ISO 3166-1): CLDR's name, as Babel ships it
        name = _territories(locale).get(code)
        if name is not None:
            return str(name)
    return text(locale, "demo.region", code)


@functools.cache
def _territories(locale: str) -> dict[str, str]:
    cldr = Locale.parse("zh_Hans_CN" if locale == ZH else "en")
    return {str(k): str(v) for k, v in cldr.territories.items()}


def iso_regions() -> dict[str, RegionName]:
    """The ISO 3166-2:CN table, alpha and numeric codes both as keys."""
    return dict(_regions())


__all__ = [
    "API_DEFAULT",
    "CURRENT",
    "EN",
    "LOCALES",
    "ZH",
    "Catalog",
    "RegionName",
    "catalog",
    "iso_regions",
    "negotiate",
    "preferences",
    "problem_text",
    "reason_label",
    "region_name",
    "supported",
    "text",
]
