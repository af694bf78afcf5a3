"""A small in-process LRU of rendered QR images, keyed by what the image encodes.

A code's image only changes when its credential, generation or signing key does, so
it is rendered once per (cred_id, generation, kid, format) and served from here after.
Bounded by entries and by bytes; the oldest unused images leave first.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Literal

ImageFormat = Literal["png", "svg"]
ImageKey = tuple[bytes, int, int, ImageFormat]


class ImageCache:
    """(cred_id, generation, kid, format) -> image bytes, least recently used out first.

    Not thread-safe: it lives on one event loop, and ``get``/``put`` never await.
    """

    def __init__(self, max_entries: int = 4096, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[ImageKey, bytes] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"ImageCache(entries={len(self._items)}, bytes={self._bytes})"

    def get(self, key: ImageKey) -> bytes | None:
        image = self._items.get(key)
        if image is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return image

    def put(self, key: ImageKey, image: bytes) -> None:
        if len(image) > self.max_bytes:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= len(old)
        self._items[key] = image
        self._bytes += len(image)
        while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= len(dropped)

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0
