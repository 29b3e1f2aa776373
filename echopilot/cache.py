"""The embedded cache: Django's file cache, made safe for counters shared by several processes.

Without Redis, every gunicorn worker and the qcluster share one cache directory.
Django's ``FileBasedCache`` falls short there in three ways that matter to the
portal's rate limits and the audit failure count:

- ``add()`` is ``has_key()`` then ``set()`` and ``incr()`` is ``get()`` then
  ``set()``: two processes counting at once can both miss a key or lose a count.
  Here both hold an exclusive ``flock`` on one lock file in the directory.
- ``incr()`` writes the value back with the default timeout, so a counter meant
  to live for its hour (or forever) expired five minutes after its last hit.
  Here it keeps the expiry it had.
- Past ``MAX_ENTRIES`` it deletes a random third of the entries, live counters
  included. Here expired entries go first.
"""

import fcntl
import os
import pickle
import time
import zlib
from contextlib import contextmanager

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.filebased import FileBasedCache


class FileCache(FileBasedCache):
    @contextmanager
    def _exclusive(self):
        self._createdir()
        fd = os.open(os.path.join(self._dir, "counters.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        with self._exclusive():
            return super().add(key, value, timeout, version)

    def incr(self, key, delta=1, version=None):
        with self._exclusive():
            try:
                # Read as FileBasedCache.get() reads it: the expiry, then the value. Like
                # Django's, this trusts the cache directory, which only the app writes.
                with open(self._key_to_file(key, version), "rb") as f:
                    expiry = pickle.load(f)  # noqa: S301
                    value = pickle.loads(zlib.decompress(f.read()))  # noqa: S301
            except FileNotFoundError:
                raise ValueError(f"Key '{key}' not found") from None
            now = time.time()
            if expiry is not None and expiry < now:
                raise ValueError(f"Key '{key}' not found")
            self.set(key, value + delta, timeout=None if expiry is None else expiry - now, version=version)
            return value + delta

    def _cull(self):
        if len(self._list_cache_files()) >= self._max_entries:
            for fname in self._list_cache_files():
                try:
                    with open(fname, "rb") as f:
                        self._is_expired(f)  # deletes the file when it has expired
                except FileNotFoundError:
                    pass
        super()._cull()
