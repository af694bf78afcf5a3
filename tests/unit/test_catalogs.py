"""The message catalogs: every problem code and scan reason the source can produce has a
zh-CN and an en entry, both languages hold the same keys with the same placeholders, and
Accept-Language picks the language."""

from __future__ import annotations

import re

import pytest

from onecode import i18n
from tests.support.problem_codes import problem_codes, scan_reasons

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_every_problem_code_has_a_title_and_a_detail(locale: str) -> None:
    codes = problem_codes()
    assert len(codes) > 40, codes  # the collector still reads the source
    cat = i18n.catalog(locale)
    missing = sorted(
        f"{ctx} {code}"
        for code in codes
        for ctx in ("problem.title", "problem.detail")
        if not cat.get(ctx, code)
    )
    assert not missing, f"{locale}: add to onecode/i18n/locales: {missing}"


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_every_scan_reason_has_a_gate_label(locale: str) -> None:
    reasons = scan_reasons()
    assert {"ok", "venue_full", "screenshot_code", "agent_interrupted"} <= reasons
    cat = i18n.catalog(locale)
    missing = sorted(r for r in reasons if not cat.get("scan.reason", r))
    assert not missing, f"{locale}: add scan.reason entries: {missing}"


def test_both_languages_hold_the_same_keys_and_placeholders() -> None:
    zh, en = (i18n.catalog(loc).entries for loc in (i18n.ZH, i18n.EN))
    assert set(zh) == set(en), set(zh) ^ set(en)
    for key, text in zh.items():
        if key[0] == "problem.detail":
            # English keeps the raised detail; Chinese may quote it as {detail}
            assert set(_PLACEHOLDER.findall(text)) <= {"detail"}, (key, text)
            continue
        assert set(_PLACEHOLDER.findall(text)) == set(_PLACEHOLDER.findall(en[key])), key


def test_chinese_entries_are_chinese() -> None:
    zh = i18n.catalog(i18n.ZH).entries
    han = re.compile(r"[\u4e00-\u9fff]")
    english_only = [k for k, v in zh.items() if not han.search(v) and k[1] not in {"csv"}]
    assert not english_only, english_only


@pytest.mark.parametrize(
    ("header", "default", "expected"),
    [
        (None, i18n.EN, i18n.EN),
        ("", i18n.ZH, i18n.ZH),
        ("zh-CN,zh;q=0.9,en;q=0.8", i18n.EN, i18n.ZH),
        ("en-US,en;q=0.9,zh-CN;q=0.8", i18n.ZH, i18n.EN),
        ("zh", i18n.EN, i18n.ZH),
        ("zh-Hans-CN", i18n.EN, i18n.ZH),
        ("zh-TW", i18n.EN, i18n.ZH),
        ("fr-FR, de;q=0.5", i18n.ZH, i18n.ZH),  # nothing supported: the default
        ("fr-FR, en;q=0.1", i18n.ZH, i18n.EN),  # a low q still beats "not asked"
        ("en;q=0.3, zh;q=0.7", i18n.EN, i18n.ZH),  # order by q, not position
        ("zh;q=0, en", i18n.ZH, i18n.EN),  # q=0 means "not this"
        ("*", i18n.ZH, i18n.ZH),
        ("zh;q=abc, en", i18n.ZH, i18n.EN),
        ("<script>, en", i18n.ZH, i18n.EN),  # junk tags are skipped
        ("en;q=0.5, zh;q=0.5", i18n.ZH, i18n.EN),  # equal q: the first listed
        ("x" * 5000, i18n.EN, i18n.EN),  # oversized: ignored, not parsed
    ],
)
def test_accept_language_negotiation(header: str | None, default: str, expected: str) -> None:
    assert i18n.negotiate(header, default) == expected


def test_region_codes_have_names_in_both_languages() -> None:
    assert i18n.region_name("CN-44", i18n.ZH) == "广东"
    assert i18n.region_name("CN-44", i18n.EN) == "Guangdong"
    assert i18n.region_name("CN-GD", i18n.ZH) == "广东"
    assert i18n.region_name("CN-GZ", i18n.ZH) == "贵州"
    assert i18n.region_name("CN-52", i18n.EN) == "Guizhou"
    assert i18n.region_name("CN-GZ-GY", i18n.ZH) == "贵阳"
    assert i18n.region_name("XX-1", i18n.ZH) is None
    assert i18n.region_name("JP", i18n.ZH) == "日本"
    assert i18n.region_name("GB", i18n.EN) == "United Kingdom"
    assert i18n.region_name("HK", i18n.ZH) == "香港"  # the province-level table first
    assert i18n.region_name("QQ", i18n.EN) is None
    table = i18n.iso_regions()
    # 34 province-level divisions, each under its alpha and its numeric code
    assert len({r.code for r in table.values()}) == 34
    assert len(table) == 68


def test_placeholders_are_filled_by_name_only() -> None:
    assert i18n.text(i18n.EN, "dashboard", "sup.count", n=3, ktext="<10 travellers") == (
        "3 suppressed (<10 travellers)"
    )
    # attribute or index access is never evaluated
    assert i18n._fill("{n.__class__} {n}", {"n": 1}) == "{n.__class__} 1"
