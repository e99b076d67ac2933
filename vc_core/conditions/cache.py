"""A bounded in-memory LRU cache for condition results, keyed by file content + parameters.

Keys use the file's CONTENT hash, not its path: Gradio stores each upload under a new temporary
path, so the same clip uploaded twice (or regenerated with another prompt) hits the cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import torch

T = TypeVar("T")
_CHUNK = 1 << 20


def file_digest(path: str | os.PathLike) -> str:
    """BLAKE2b of the file's bytes (hex)."""
    digest = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(path: str | os.PathLike | None, kind: str, **params: Any) -> str:
    """``kind`` (what is computed) + content hash of ``path`` (if any) + the parameters."""
    content = file_digest(path) if path is not None else "-"
    return f"{kind}:{content}:{sorted(params.items())!r}"


class ConditionCache:
    """Least-recently-used results, bounded by entry count and by the bytes of their arrays.

    Safe to share between threads; a value bigger than ``max_bytes`` is returned, not stored.
    """

    def __init__(self, max_entries: int = 32, max_bytes: int = 2 << 30):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get_or_compute(self, key: str, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        value = compute()  # outside the lock: other keys are not blocked meanwhile
        size = nbytes(value)
        if size <= self.max_bytes:
            with self._lock:
                self._store(key, value, size)
        return value

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    @property
    def total_bytes(self) -> int:
        return self._bytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def _store(self, key: str, value: Any, size: int) -> None:
        if key in self._items:
            self._bytes -= self._items.pop(key)[1]
        self._items[key] = (value, size)
        self._bytes += size
        while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
            self._bytes -= self._items.popitem(last=False)[1][1]


def nbytes(value: Any) -> int:
    """Memory held by the arrays/tensors inside a result (dataclasses, tuples, lists, dicts)."""
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    if isinstance(value, np.ndarray):
        return value.nbytes
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(nbytes(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, (list, tuple)):
        return sum(nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(nbytes(v) for v in value.values())
    return 0
