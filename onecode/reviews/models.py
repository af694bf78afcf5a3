"""Wire shapes of reviews."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from onecode.catalog.models import Input
from onecode.http.bodies import MULTILINE
from onecode.http.paging import SAME_AS_ITEMS

Rating = Annotated[int, Meta(ge=1, le=5)]
MAX_TEXT = 2000


class ReviewIn(Input, frozen=True, forbid_unknown_fields=True, kw_only=True):
    rating: Rating
    # checked again once trimmed; the raw bound leaves room for surrounding whitespace
    text: Annotated[str, Meta(min_length=1, max_length=2 * MAX_TEXT), MULTILINE]


class Review(msgspec.Struct, frozen=True, kw_only=True):
    """A public review: the reviewer's display name only ("anonymous" when there is none)."""

    id: uuid.UUID
    venue_id: uuid.UUID
    rating: int
    text: str
    visit_day: date
    created_at: datetime
    display_name: str


class ReviewPage(msgspec.Struct, frozen=True, kw_only=True):
    """Newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""

    items: list[Review]
    next_cursor: str | None
    reviews: Annotated[list[Review], SAME_AS_ITEMS]
    rating: float | None
    rating_count: int
