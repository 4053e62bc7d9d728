"""The allocator setting VLAPolicy applies: glibc keeps freed heap between decisions, once per process."""

from __future__ import annotations

import platform

import pytest

from cordillera.model.allocator import keep_freed_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_keep_freed_memory_takes_on_glibc():
    assert keep_freed_memory() is True


def test_it_is_applied_once_per_process():
    keep_freed_memory()
    before = keep_freed_memory.cache_info().hits
    assert keep_freed_memory() in (True, False) and keep_freed_memory.cache_info().hits == before + 1
