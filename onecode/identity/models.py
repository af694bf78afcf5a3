"""Wire shapes of traveller identity and codes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from onecode.codes.keys import PublicKeyInfo
from onecode.http.paging import ONE_PAGE

# ISO 3166-1 alpha-2 (GB) or ISO 3166-2 (CN-44, CN-GZ): checked by form only.
HomeRegion = Annotated[str, Meta(pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")]
DisplayName = Annotated[str, Meta(min_length=1, max_length=100)]


class TravellerIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    display_name: DisplayName | None = None
    home_region: HomeRegion | None = None


class Registered(msgspec.Struct, frozen=True, kw_only=True):
    """Shown once: the access token and the code secret are stored only hashed / server-side."""

    traveller_id: uuid.UUID
    token: str  # as every principal's creation answer says it
    access_token: Annotated[str, msgspec.Meta(description="The same as `token`.")]
    code_secret: str  # base64url of the 32-byte anti-screenshot secret, for the app


class Me(msgspec.Struct, frozen=True, kw_only=True):
    traveller_id: uuid.UUID
    display_name: str | None
    home_region: str | None
    created_at: datetime


class Code(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    generation: int
    expires_at: datetime


class Rotated(msgspec.Struct, frozen=True, kw_only=True):
    """A new code generation; every earlier one is revoked. The secret is shown once."""

    code: str
    generation: int
    expires_at: datetime
    code_secret: str  # base64url of the new 32-byte anti-screenshot secret


class PaperPass(msgspec.Struct, frozen=True, kw_only=True):
    """A printed pass for one booking: a TQ1 code of its own (kind ``paper``) that online
    gates accept without a live suffix, only for that booking, until the end of its day."""

    code: str
    kind: Literal["paper"] = "paper"
    booking_id: uuid.UUID
    expires_at: datetime


class Keys(msgspec.Struct, frozen=True, kw_only=True):
    """The trust list: ``keys`` is what ``KeyRing.from_public_list`` reads (docs/tq1.md);
    ``items`` holds the same keys, as every list does."""

    keys: list[PublicKeyInfo]
    items: list[PublicKeyInfo]
    next_cursor: Annotated[str | None, ONE_PAGE] = None
