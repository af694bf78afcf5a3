"""Wire shapes of complaints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from onecode.catalog.models import Input
from onecode.http.bodies import MULTILINE
from onecode.http.paging import SAME_AS_ITEMS

Category = Literal[
    "service", "cleanliness", "safety", "price", "crowding", "accessibility", "other"
]
Status = Literal["open", "answered", "closed"]
MAX_TEXT = 4000
# checked again once trimmed; the raw bound leaves room for surrounding whitespace
RawText = Annotated[str, Meta(min_length=1, max_length=2 * MAX_TEXT), MULTILINE]


class ComplaintIn(Input, frozen=True, forbid_unknown_fields=True, kw_only=True):
    venue_id: uuid.UUID
    category: Category
    text: RawText


class AnswerIn(Input, frozen=True, forbid_unknown_fields=True, kw_only=True):
    text: RawText


class RatingIn(Input, frozen=True, forbid_unknown_fields=True, kw_only=True):
    rating: Annotated[int, Meta(ge=1, le=5)]


class Complaint(msgspec.Struct, frozen=True, kw_only=True):
    """A complaint as its traveller and the venue's operators see it (no traveller id).

    ``answered_at`` is the first answer (time to answer = answered_at - created_at);
    ``answer_updated_at`` moves when the operator edits the answer."""

    id: uuid.UUID
    venue_id: uuid.UUID
    category: Category
    text: str
    status: Status
    created_at: datetime
    answer: str | None = None
    answered_at: datetime | None = None
    answer_updated_at: datetime | None = None
    answer_rating: int | None = None
    rated_at: datetime | None = None


class ComplaintPage(msgspec.Struct, frozen=True, kw_only=True):
    """Newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""

    items: list[Complaint]
    next_cursor: str | None
    complaints: Annotated[list[Complaint], SAME_AS_ITEMS]
