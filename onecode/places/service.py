"""Place code rules: resolve a poster code, self check-in at ungated venues, rotation.

A signed code is checked against the server secret before any lookup; a venue only
answers to its current code, so a rotated-away code is 404 like a forged one.
"""

from __future__ import annotations

import io
import uuid

import asyncpg
import msgspec
import qrcode
import qrcode.constants
import qrcode.image.pil
import qrcode.image.svg

from onecode.audit import trail as audit
from onecode.audit.trail import Actor
from onecode.catalog import service as catalog
from onecode.codes import render_png, render_svg
from onecode.codes.credential import QR_ALPHANUMERIC
from onecode.codes.place import PlaceKeys, is_legacy
from onecode.errors import Conflict, NotFound
from onecode.places.models import Checkin, Place, PlaceCode
from onecode.sql import Q

MAX_CODE_LEN = 64


def _not_found() -> NotFound:
    return NotFound("No place has this code.", "places.not_found")


def canonical(keys: PlaceKeys, code: str) -> tuple[str, uuid.UUID | None]:
    """The code as stored, and the venue it names when signed; 404 for anything forged."""
    if len(code) > MAX_CODE_LEN:
        raise _not_found()
    signed = keys.verify(code)
    if signed is not None:
        return code.upper(), signed[0]
    if is_legacy(code):
        return code, None
    raise _not_found()


async def resolve(conn: asyncpg.Connection, keys: PlaceKeys, code: str) -> Place:
    text, venue_id = canonical(keys, code)
    if venue_id is None:
        venue_id = await conn.fetchval(Q()["places_select_venue_id"], text)
        if venue_id is None:
            raise _not_found()
    try:
        venue, current = await catalog.get_venue_and_place_code(conn, venue_id)
    except NotFound:
        raise _not_found() from None
    if current != text:  # an earlier version: rotated away
        raise _not_found()
    return Place(
        venue=venue,
        crowd_level=venue.crowd_level,
        self_checkin=not venue.gated,
    )


async def check_in(
    conn: asyncpg.Connection, keys: PlaceKeys, code: str, traveller_id: uuid.UUID
) -> Checkin:
    """Record today's self check-in; a second one the same local day returns the first."""
    text, _ = canonical(keys, code)
    row = await conn.fetchrow(Q()["places_insert_checkin"], text, traveller_id, uuid.uuid4())
    if row is None:
        raise _not_found()
    if row["gated"]:
        raise Conflict(
            "This venue has gates: the code shown at the gate records the visit.",
            "places.gated_venue",
        )
    if not row["active"]:
        raise Conflict("This venue is closed: it takes no check-ins.", "venues.inactive")
    if row["id"] is not None:
        return Checkin(
            id=row["id"],
            venue_id=row["venue_id"],
            local_day=row["local_day"],
            checked_in_at=row["checked_in_at"],
        )
    # lost to an earlier check-in today (perhaps one racing this): a fresh snapshot sees it
    existing = await conn.fetchrow(
        Q()["places_select_checkin"], traveller_id, row["venue_id"], row["today"]
    )
    if existing is None:  # only if the local day turned between the two statements
        raise Conflict("Try again.", "checkins.retry")
    return msgspec.convert({**dict(existing), "created": False}, Checkin)


async def place_code(conn: asyncpg.Connection, venue_id: uuid.UUID) -> PlaceCode:
    row = await conn.fetchrow(Q()["places_select_place_code"], venue_id)
    if row is None:
        raise NotFound("No such venue.", "venues.not_found")
    return msgspec.convert(dict(row), PlaceCode)


async def rotate(
    conn: asyncpg.Connection, keys: PlaceKeys, venue_id: uuid.UUID, actor: Actor | None = None
) -> PlaceCode:
    """A new signed code at the next version; the previous code stops resolving."""
    async with conn.transaction():
        version = await conn.fetchval(Q()["places_bump_place_code_version"], venue_id)
        if version is None:
            raise NotFound("No such venue.", "venues.not_found")
        row = await conn.fetchrow(
            Q()["places_update_place_code"], venue_id, keys.sign(venue_id, version)
        )
        if actor is not None:  # the version, not the code: the code grants check-ins
            await audit.record(
                conn,
                actor,
                "venue.place_code_rotated",
                "venue",
                venue_id,
                venue_id=venue_id,
                after={"place_code_version": version},
            )
    assert row is not None  # the row is locked by the bump above
    return msgspec.convert(dict(row), PlaceCode)


def poster(code: PlaceCode, image: str) -> bytes:
    """The poster QR of the code text: signed codes are upper-case base32 and fit QR
    alphanumeric mode; a legacy random code falls back to qrcode's byte mode."""
    text = code.place_code
    if QR_ALPHANUMERIC.issuperset(text):
        return render_svg(text) if image == "svg" else render_png(text)
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    qr.add_data(text)
    qr.make(fit=True)
    factory = qrcode.image.svg.SvgPathImage if image == "svg" else qrcode.image.pil.PilImage
    out = io.BytesIO()
    if image == "svg":
        qr.make_image(image_factory=factory).save(out)
    else:
        qr.make_image(image_factory=factory).save(out, format="PNG")
    return out.getvalue()
