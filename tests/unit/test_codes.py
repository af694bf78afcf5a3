"""Unit tests for the TQ1 credential package: layout, verification, suffix, keys, QR."""

from __future__ import annotations

import io
import stat
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import base45
import msgspec
import pytest
import qrcode
import qrcode.constants
import qrcode.util
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from onecode.codes import (
    BODY_LEN,
    FULL_LEN,
    Credential,
    KeyRing,
    KeyStore,
    KeyStoreError,
    PublicKey,
    Reason,
    SigningKey,
    issue,
    new_cred_id,
    parse_signing_keys,
    qr_version,
    render_png,
    render_svg,
    screenshot_suffix,
    verify,
)
from onecode.codes.b64url import b64url_encode
from onecode.codes.credential import QR_ALPHANUMERIC

NOW = 1_800_000_015  # a fixed clock, 15 s into a 30 s step
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SEED = bytes(range(32))
SECRET = bytes(range(100, 132))


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey(7, SEED, T0)


@pytest.fixture(scope="module")
def ring(key: SigningKey) -> KeyRing:
    return KeyRing([key.public()])


@pytest.fixture(scope="module")
def cred() -> Credential:
    return Credential(7, new_cred_id(), 3, NOW - 60, NOW + 3600)


@pytest.fixture(scope="module")
def code(cred: Credential, key: SigningKey) -> str:
    return issue(cred, key)


def _reencode(raw: bytes) -> str:
    encoded: bytes = base45.b45encode(raw)
    return "TQ1:" + encoded.decode()


# --- round trip and layout ----------------------------------------------------------------


def test_round_trip(code: str, cred: Credential, ring: KeyRing) -> None:
    assert code.startswith("TQ1:")
    assert len(code) == BODY_LEN == 145
    assert set(code) <= QR_ALPHANUMERIC
    result = verify(code, ring, NOW)
    assert result.ok
    assert result.reason is Reason.OK
    assert result.credential == cred
    assert result.body == code
    assert result.suffix is None


def test_round_trip_with_suffix(code: str, cred: Credential, ring: KeyRing) -> None:
    suffix = screenshot_suffix(code, SECRET, NOW)
    assert suffix.startswith("*")
    assert len(code + suffix) == FULL_LEN == 152
    assert set(suffix) <= QR_ALPHANUMERIC
    result = verify(code + suffix, ring, NOW)
    assert result.ok
    assert result.credential == cred
    assert result.body == code
    assert result.suffix == base45.b45decode(suffix[1:])
    assert result.suffix is not None
    assert len(result.suffix) == 4


def test_reason_values() -> None:
    assert Reason.REVOKED_CODE.value == "revoked_code"
    assert Reason.SCREENSHOT_CODE.value == "screenshot_code"
    assert Reason.INVALID_CODE.value == "invalid_code"
    assert Reason.UNKNOWN_KEY.value == "unknown_key"


@pytest.mark.parametrize(
    "change",
    [
        {"kid": 8},
        {"cred_id": b"\x00" * 15},
        {"generation": -1},
        {"generation": 2**32},
        {"expires_at": NOW - 100},
    ],
)
def test_issue_rejects_bad_fields(
    cred: Credential, key: SigningKey, change: dict[str, object]
) -> None:
    fields = {
        "kid": cred.kid,
        "cred_id": cred.cred_id,
        "generation": cred.generation,
        "not_before": cred.not_before,
        "expires_at": cred.expires_at,
    }
    fields.update(change)
    with pytest.raises(ValueError, match="must"):
        issue(Credential(**fields), key)  # type: ignore[arg-type]


# --- tampering -----------------------------------------------------------------------------


def test_every_bit_flip_is_rejected(code: str, ring: KeyRing) -> None:
    raw = base45.b45decode(code[4:])
    assert len(raw) == 94
    for index in range(len(raw)):
        for bit in range(8):
            flipped = bytearray(raw)
            flipped[index] ^= 1 << bit
            result = verify(_reencode(bytes(flipped)), ring, NOW)
            assert not result.ok, (index, bit)
            assert result.credential is None
            assert result.reason in {Reason.INVALID_CODE, Reason.UNKNOWN_KEY}


def test_every_character_mutation_is_rejected(code: str, cred: Credential, ring: KeyRing) -> None:
    alphabet = [*sorted(QR_ALPHANUMERIC), "a", "z", "\n", "\x00", "é"]
    for index in range(len(code)):
        for char in alphabet:
            mutated = code[:index] + char + code[index + 1 :]
            result = verify(mutated, ring, NOW)
            if mutated == code:
                assert result.ok
            else:
                assert not result.ok, (index, char)
                assert result.credential is None


def test_suffix_mutations_keep_credential_but_fail_the_check(code: str, ring: KeyRing) -> None:
    suffix = screenshot_suffix(code, SECRET, NOW)
    for index in range(len(suffix)):
        for char in sorted(QR_ALPHANUMERIC):
            mutated = suffix[:index] + char + suffix[index + 1 :]
            if mutated == suffix:
                continue
            result = verify(code + mutated, ring, NOW)
            if result.ok:
                assert result.body == code
                assert result.suffix is not None
                # other bytes than the real MAC: the server's check (gate_suffix_ok, in
                # SQL, tested in tests/api/test_scan_rules.py) cannot match them
                assert result.suffix != verify_suffix_bytes(code, NOW)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "TQ1:",
        "x" * 1_000_000,
        "TQ1:" + "0" * 10_000_000,
        "TQ2:" + "0" * 141,
        "tq1:" + "0" * 141,
        "TQ1:" + ":::" * 47,  # every triplet decodes above 0xFFFF
        "TQ1:" + "0" * 142,
        "TQ1:" + "0" * 140,
        "TQ1:" + "0" * 141 + "*",
        "TQ1:" + "0" * 141 + "*00000",
        "TQ1:" + "0" * 141 + "*:::::",
        "TQ1:" + "0" * 141 + "+000000",
    ],
)
def test_malformed_text_is_invalid(text: str, ring: KeyRing) -> None:
    result = verify(text, ring, NOW)
    assert not result.ok
    assert result.reason is Reason.INVALID_CODE
    assert result.credential is None


def test_truncated_and_extended(code: str, ring: KeyRing) -> None:
    for cut in range(len(code)):
        assert verify(code[:cut], ring, NOW).reason is Reason.INVALID_CODE
    assert verify(code + "0", ring, NOW).reason is Reason.INVALID_CODE
    assert verify(" " + code, ring, NOW).reason is Reason.INVALID_CODE


@pytest.mark.parametrize("value", [None, 5, b"TQ1:", ["TQ1:"], object()])
def test_non_str_is_invalid(value: object, ring: KeyRing) -> None:
    assert verify(value, ring, NOW).reason is Reason.INVALID_CODE  # type: ignore[arg-type]


def test_wrong_version_is_invalid(code: str, ring: KeyRing) -> None:
    raw = bytearray(base45.b45decode(code[4:]))
    raw[0] = 2
    assert verify(_reencode(bytes(raw)), ring, NOW).reason is Reason.INVALID_CODE


@given(st.text(max_size=300))
@settings(max_examples=400, deadline=None)
def test_arbitrary_text_never_raises(text: str) -> None:
    ring = KeyRing([SigningKey(7, SEED, T0).public()])
    result = verify(text, ring, NOW)
    assert not result.ok
    assert result.credential is None


@given(st.binary(min_size=94, max_size=94))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    ring = KeyRing([SigningKey(raw[1], SEED, T0).public()])
    for text in (_reencode(raw), _reencode(raw) + "*" + base45.b45encode(raw[:4]).decode()):
        result = verify(text, ring, NOW)
        assert not result.ok
        assert result.reason in {Reason.INVALID_CODE, Reason.UNKNOWN_KEY}


@given(st.text(alphabet="".join(sorted(QR_ALPHANUMERIC)), min_size=141, max_size=148))
@settings(max_examples=300, deadline=None)
def test_arbitrary_base45_never_raises(body: str) -> None:
    ring = KeyRing([SigningKey(7, SEED, T0).public()])
    assert not verify("TQ1:" + body, ring, NOW).ok


# --- keys ----------------------------------------------------------------------------------


def test_unknown_kid(cred: Credential) -> None:
    other = SigningKey(9, bytes(32), T0)
    code = issue(Credential(9, cred.cred_id, 1, cred.not_before, cred.expires_at), other)
    result = verify(code, KeyRing([SigningKey(7, SEED, T0).public()]), NOW)
    assert result.reason is Reason.UNKNOWN_KEY
    assert result.credential is None


def test_known_kid_but_other_key(cred: Credential, ring: KeyRing) -> None:
    impostor = SigningKey(7, bytes(32), T0)
    result = verify(issue(cred, impostor), ring, NOW)
    assert result.reason is Reason.INVALID_CODE
    assert result.credential is None


def test_ring_tries_every_key_with_the_kid(cred: Credential, key: SigningKey) -> None:
    other = SigningKey(7, bytes(32), T0)
    both = KeyRing([other.public(), key.public()])
    assert len(both.lookup(7)) == 2
    assert verify(issue(cred, key), both, NOW).ok
    assert verify(issue(cred, other), both, NOW).ok
    assert KeyRing().lookup(7) == ()
    assert verify(issue(cred, key), KeyRing(), NOW).reason is Reason.UNKNOWN_KEY


# --- validity window -----------------------------------------------------------------------


def test_expiry_and_not_before_with_skew(cred: Credential, code: str, ring: KeyRing) -> None:
    nb, exp = cred.not_before, cred.expires_at
    assert verify(code, ring, nb).ok
    assert verify(code, ring, nb - 120).ok
    assert verify(code, ring, nb - 121).reason is Reason.NOT_YET_VALID
    assert verify(code, ring, nb - 121).credential == cred
    assert verify(code, ring, exp - 1).ok
    assert verify(code, ring, exp + 119).ok
    assert verify(code, ring, exp + 120).reason is Reason.EXPIRED_CODE
    assert verify(code, ring, exp + 120).credential == cred
    assert verify(code, ring, exp, skew_seconds=0).reason is Reason.EXPIRED_CODE
    assert verify(code, ring, nb - 1, skew_seconds=0).reason is Reason.NOT_YET_VALID


def test_nan_clock_fails_closed(code: str, ring: KeyRing) -> None:
    assert not verify(code, ring, float("nan")).ok
    assert not verify(code, ring, float("inf")).ok


# --- anti-screenshot suffix ------------------------------------------------------------------


@pytest.mark.parametrize("t", [NOW, NOW + 0.5, 1_800_000_000, 1_800_000_029.999])
def test_suffix_changes_every_30_second_step(code: str, t: float) -> None:
    """The app's side: one suffix per 30 s step (the server's ±1 step window is SQL's
    gate_suffix_ok, tested on PostgreSQL in tests/api/test_scan_rules.py)."""
    step_start = t - t % 30
    assert screenshot_suffix(code, SECRET, step_start) == screenshot_suffix(
        code, SECRET, step_start + 29.9
    )
    assert screenshot_suffix(code, SECRET, t) != screenshot_suffix(code, SECRET, t + 30)
    assert screenshot_suffix(code, SECRET, t) != screenshot_suffix(code, bytes(32), t)


def verify_suffix_bytes(code: str, t: float) -> bytes:
    suffix = screenshot_suffix(code, SECRET, t)
    decoded: bytes = base45.b45decode(suffix[1:])
    return decoded


def test_suffix_refuses_bad_input(code: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        screenshot_suffix(code, b"short", NOW)
    with pytest.raises(ValueError, match="code"):
        screenshot_suffix(code + "*", SECRET, NOW)


# --- QR --------------------------------------------------------------------------------------


def _full(code: str) -> str:
    return code + screenshot_suffix(code, SECRET, NOW)


def test_qr_version_at_most_7_with_suffix(code: str) -> None:
    text = _full(code)
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(qrcode.util.QRData(text, mode=qrcode.util.MODE_ALPHA_NUM))
    qr.make(fit=True)
    assert qr.version <= 7
    assert [d.mode for d in qr.data_list] == [qrcode.util.MODE_ALPHA_NUM]
    assert qr_version(text) == qr.version
    # the library's own chunking picks alphanumeric too, and no larger version
    auto = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    auto.add_data(text)
    auto.make(fit=True)
    assert auto.version <= 7


@pytest.mark.parametrize("mask", [0, 2, 7, None])
def test_png_decodes_to_the_text(code: str, mask: int | None) -> None:
    text = _full(code)
    png = render_png(text, mask_pattern=mask)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    results = zxingcpp.read_barcodes(image)
    assert [r.text for r in results] == [text]
    assert results[0].format == zxingcpp.BarcodeFormat.QRCode


def test_png_without_suffix_decodes(code: str) -> None:
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(render_png(code))))
    assert [r.text for r in results] == [code]


def test_svg_is_xml_with_a_path(code: str) -> None:
    svg = render_svg(_full(code))
    root = ET.fromstring(svg)  # noqa: S314 - our own output
    assert root.tag.endswith("svg")
    paths = [el for el in root.iter() if el.tag.endswith("path")]
    assert len(paths) == 1
    assert paths[0].get("d")


def test_render_rejects_non_alphanumeric() -> None:
    with pytest.raises(ValueError, match="alphanumeric"):
        render_png("tq1:lower")
    with pytest.raises(ValueError, match="alphanumeric"):
        render_svg("")


# --- key store -------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: int = 60) -> None:
        self.now += timedelta(seconds=seconds)


def test_signing_key_repr_hides_seed(key: SigningKey) -> None:
    seed_b64 = key.seed_b64url()
    for text in (repr(key), str(key), f"{key}", repr(key.public()), repr(KeyRing([key.public()]))):
        assert seed_b64 not in text
        assert SEED.hex() not in text
        assert repr(SEED) not in text
    assert "redacted" in repr(key)
    assert len(key.sign(b"x")) == 64
    assert len(key.public_key_b64url) == 43
    assert "=" not in key.public_key_b64url


def test_store_dir_first_start_files_0600(tmp_path: Path) -> None:
    data = tmp_path
    store = KeyStore(data_dir=data, clock=Clock())
    files = list((data / "keys").glob("*.json"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "keys").stat().st_mode) == 0o700
    assert store.signing_key.seed_b64url() not in repr(store)
    # a second start loads the same key
    again = KeyStore(data_dir=data, clock=Clock())
    assert again.signing_key.public_key == store.signing_key.public_key
    with pytest.raises(KeyStoreError):
        KeyStore(data_dir=data / "empty", create_if_missing=False)


def test_rotate_keeps_old_codes_valid_and_retire_drops_them(tmp_path: Path) -> None:
    data = tmp_path
    clock = Clock()
    store = KeyStore(data_dir=data, clock=clock)
    old = store.signing_key
    old_code = issue(Credential(old.kid, new_cred_id(), 1, NOW - 10, NOW + 10), old)
    clock.tick()
    new = store.rotate()
    assert new.kid == (old.kid + 1) % 256
    assert store.signing_key.kid == new.kid
    new_code = issue(Credential(new.kid, new_cred_id(), 1, NOW - 10, NOW + 10), new)
    ring = store.ring()
    assert verify(old_code, ring, NOW).ok
    assert verify(new_code, ring, NOW).ok
    assert {k.kid for k in ring.public_list()} == {old.kid, new.kid}
    for path in (data / "keys").glob("*.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    clock.tick()
    store.retire(old.kid)
    assert verify(old_code, store.ring(), NOW).reason is Reason.UNKNOWN_KEY
    assert verify(new_code, store.ring(), NOW).ok
    # persisted: a restart sees the same state
    reloaded = KeyStore(data_dir=data, clock=clock)
    assert verify(old_code, reloaded.ring(), NOW).reason is Reason.UNKNOWN_KEY
    assert reloaded.signing_key.kid == new.kid
    with pytest.raises(KeyStoreError):
        store.retire(old.kid)


def test_rotate_wraps_and_skips_used_kids(tmp_path: Path) -> None:
    clock = Clock()
    store = KeyStore(data_dir=tmp_path, clock=clock)
    kids = [store.signing_key.kid]
    for _ in range(255):  # a stopped clock: order must still follow rotation
        kids.append(store.rotate().kid)
        assert store.signing_key.kid == kids[-1]
    assert sorted(kids) == list(range(256))
    assert KeyStore(data_dir=tmp_path, clock=clock).signing_key.kid == kids[-1] == 0
    with pytest.raises(KeyStoreError, match="256"):
        store.rotate()


def test_store_from_string(cred: Credential) -> None:
    text = f"3:{b64url_encode(bytes(32))}, 2:{b64url_encode(SEED)}"
    store = KeyStore(signing_keys=text)
    assert store.signing_key.kid == 2  # the last one signs
    assert [k.kid for k in parse_signing_keys(text)] == [3, 2]
    assert {k.kid for k in store.ring().public_list()} == {2, 3}
    assert SigningKey(2, SEED).public_key == store.signing_key.public_key
    with pytest.raises(KeyStoreError, match="read-only"):
        store.rotate()
    code = issue(
        Credential(2, cred.cred_id, 1, cred.not_before, cred.expires_at), store.signing_key
    )
    assert verify(code, store.ring(), NOW).ok


def test_store_from_key_file(tmp_path: Path) -> None:
    path = tmp_path / "signing.keys"
    path.write_text(f"# onecode signing keys\n5:{b64url_encode(SEED)}\n")
    assert KeyStore(key_file=path).signing_key.kid == 5


@pytest.mark.parametrize("text", ["", "3", "x:AAAA", "3:not base64!", "3:AAAA", "300:" + "A" * 43])
def test_bad_key_strings_never_echo_the_seed(text: str) -> None:
    with pytest.raises(KeyStoreError) as info:
        parse_signing_keys(text)
    with pytest.raises(KeyStoreError):
        KeyStore(signing_keys=text or None)
    if ":" in text:
        assert text.split(":", 1)[1] not in str(info.value)


def test_public_list_round_trips_for_third_party_gates(cred: Credential, key: SigningKey) -> None:
    published = KeyRing([key.public()]).public_list()
    wire = msgspec.json.decode(msgspec.json.encode(published))
    assert wire == [
        {
            "kid": 7,
            "alg": "Ed25519",
            "public_key": key.public_key_b64url,
            "not_before": "2026-01-01T00:00:00Z",
            "not_after": None,
        }
    ]
    # a third-party gate reads the JSON objects; onecode passes the Structs
    for entries in (wire, published):
        gate_ring = KeyRing.from_public_list(entries)
        assert verify(issue(cred, key), gate_ring, NOW).ok
        assert PublicKey.from_info(entries[0]) == key.public()


@pytest.mark.parametrize(
    "entry",
    [
        {"kid": 7, "alg": "RSA", "public_key": "A" * 43, "not_before": "2026-01-01T00:00:00Z"},
        {"kid": 7, "alg": "Ed25519", "public_key": "A" * 43, "not_before": "2026-01-01T00:00:00"},
        {"kid": 7, "alg": "Ed25519", "public_key": "A" * 43},
        {"kid": "7", "alg": "Ed25519", "public_key": "A" * 43, "not_before": "2026-01-01Z"},
        {"kid": 7, "alg": "Ed25519", "public_key": "!!", "not_before": "2026-01-01T00:00:00Z"},
        {"kid": 7, "alg": "Ed25519", "public_key": "AAAA", "not_before": "2026-01-01T00:00:00Z"},
    ],
)
def test_a_bad_trust_list_entry_is_a_key_store_error(entry: dict[str, object]) -> None:
    with pytest.raises(KeyStoreError):
        PublicKey.from_info(entry)
