"""The glibc mmap-threshold fix that keeps training memory flat."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent(
    """
    import ctypes, ctypes.util, sys
    from kgrec.models.training.memory import fix_mmap_threshold
    if sys.argv[1] == "fixed":
        assert fix_mmap_threshold() is True
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    MB = 1024 * 1024

    def resident_kb():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

    # freeing a 16 MiB mapping makes glibc raise its dynamic mmap threshold above 8 MiB ...
    libc.free(libc.malloc(16 * MB))
    keep = libc.malloc(64)  # so the heap top is not this block
    block = libc.malloc(8 * MB)
    guard = libc.malloc(64)
    ctypes.memset(block, 1, 8 * MB)
    touched = resident_kb()
    libc.free(block)
    # ... so, unless the threshold is fixed, the 8 MiB block came from the heap and stays resident
    print((touched - resident_kb()) // 1024)
    """
)


def _returned_mb(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_fixed_threshold_returns_freed_big_blocks_to_the_system():
    assert _returned_mb("default") < 2  # glibc's dynamic threshold: the freed block stays resident
    assert _returned_mb("fixed") >= 7  # fixed at 4 MiB: the block was its own mapping, given back
