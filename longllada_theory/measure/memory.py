"""Peak memory of a stretch of code: ``with PeakMemory(device) as peak: …`` then ``peak.bytes`` — the most memory in
use above what was in use at the start. On a GPU from the CUDA allocator's counters (this resets its peak
statistics); on the CPU by sampling the process's resident memory every 2 ms after returning freed memory to the
operating system."""

from __future__ import annotations

import ctypes
import gc
import os
import threading
import time


def resident_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def release_memory() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


class PeakMemory:
    def __init__(self, device, release: bool = True):
        self.cuda = getattr(device, "type", str(device)).startswith("cuda")
        self.release = release
        self.bytes = 0

    def __enter__(self):
        if self.cuda:
            import torch
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._before = torch.cuda.memory_allocated()
            return self
        if self.release:
            release_memory()
        self._before = resident_bytes()
        self._peak, self._running = self._before, True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while self._running:
            self._peak = max(self._peak, resident_bytes())
            time.sleep(0.002)

    def __exit__(self, *exc):
        if self.cuda:
            import torch
            torch.cuda.synchronize()
            self.bytes = torch.cuda.max_memory_allocated() - self._before
        else:
            self._running = False
            self._thread.join()
            self.bytes = max(0, max(self._peak, resident_bytes()) - self._before)
        return False
