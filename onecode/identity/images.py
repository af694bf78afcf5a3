"""A small in-process LRU of rendered QR images, keyed by what the image encodes.

A code's image only changes when its credential, generation or signing key does, so
it is rendered once per (cred_id, generation, kid, format) and served from here after.
Bounded by entries and by bytes; the oldest unused images leave first.
"""

from __future__ import annotations

from typing import Literal

from cachetools import LRUCache

ImageFormat = Literal["png", "svg"]
ImageKey = tuple[bytes, int, int, ImageFormat]


class ImageCache:
    """(cred_id, generation, kid, format) -> image bytes, least recently used out first
    (a ``cachetools.LRUCache`` weighed in bytes, capped in entries too).

    Not thread-safe: it lives on one event loop, and ``get``/``put`` never await.
    """

    def __init__(self, max_entries: int = 4096, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: LRUCache[ImageKey, bytes] = LRUCache(maxsize=max_bytes, getsizeof=len)
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"ImageCache(entries={len(self._items)}, bytes={self._items.currsize})"

    def get(self, key: ImageKey) -> bytes | None:
        image = self._items.get(key)
        if image is None:
            self.misses += 1
            return None
        self.hits += 1
        return image

    def put(self, key: ImageKey, image: bytes) -> None:
        if len(image) > self.max_bytes:
            return
        self._items[key] = image  # drops the least recently used while over max_bytes
        while len(self._items) > self.max_entries:
            self._items.popitem()

    def clear(self) -> None:
        self._items.clear()
