"""Peak memory of a stretch of code: ``with PeakMemory(device) as peak: …`` then ``peak.bytes`` — the most memory in
use above what was in use at the start. On a GPU from the CUDA allocator's counters (this resets its peak
statistics); on the CPU by sampling the process's resident memory every 2 ms after returning freed memory to the
operating system. Resident memory includes what the C allocator keeps after a free, so on the CPU it can grow with
the number of allocations rather than with the data; ``PeakMemory(device, tensors=True)`` also counts the data:
``peak.tensor_bytes``, the most bytes held at once by tensor storages that torch operators created inside the block
(:class:`TensorBytes`, no allocator in the count). :func:`describe` says in words what was measured."""

from __future__ import annotations

import ctypes
import gc
import os
import threading
import time
import weakref


def resident_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def release_memory() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def describe(device, tensors: bool = False) -> str:
    """What :class:`PeakMemory` measures on ``device`` (for a benchmark's output)."""
    if getattr(device, "type", str(device)).startswith("cuda"):
        text = "CUDA allocator's max_memory_allocated above the start"
    else:
        text = ("resident set (RSS sampled every 2 ms, above the start, after gc and malloc_trim: includes freed "
                "memory the C allocator keeps)")
    if tensors:
        text += ("; tensor bytes (storages torch operators created in the run and still held, at their most: no "
                 "allocator effects, no scratch buffers inside one kernel)")
    return text


class TensorBytes:
    """``with TensorBytes() as counted: …`` then ``counted.peak``: the most bytes held at once by the tensor storages
    that torch operators created inside the block (activations, outputs, probabilities), counted from each operator's
    outputs (a ``TorchDispatchMode``) and released when a storage is freed. Not seen: scratch buffers inside one
    kernel, numpy arrays, the allocator's rounding and the free memory it keeps. ``mark()`` then ``since_mark()``:
    the most held above the bytes held at the mark (a window inside the block)."""

    def __init__(self):
        self.current = self.peak = 0
        self._sizes: dict[int, int] = {}  # id of a storage created inside → its bytes
        self._mark = self._mark_peak = 0

    def __enter__(self) -> TensorBytes:
        self._mode = _counting_mode(self)
        self._mode.__enter__()
        return self

    def __exit__(self, *exc) -> bool:
        self._mode.__exit__(*exc)
        return False

    def mark(self) -> None:
        self._mark = self._mark_peak = self.current

    def since_mark(self) -> int:
        return self._mark_peak - self._mark

    def _add(self, size: int) -> None:
        self.current += size
        self.peak = max(self.peak, self.current)
        self._mark_peak = max(self._mark_peak, self.current)

    def _saw(self, storage, created: bool) -> None:
        key, size = id(storage), storage.nbytes()
        if key in self._sizes:                    # seen before: it may have been resized in place
            self._add(size - self._sizes[key])
            self._sizes[key] = size
        elif created:                             # an output that aliases no input: new memory
            self._sizes[key] = size
            self._add(size)
            weakref.finalize(storage, self._release, key).atexit = False

    def _release(self, key: int) -> None:
        self.current -= self._sizes.pop(key, 0)


def _counting_mode(counter: TensorBytes):
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    def storages(tree):
        for leaf in tree_leaves(tree):
            if isinstance(leaf, torch.Tensor):
                try:
                    yield leaf.untyped_storage()
                except (RuntimeError, NotImplementedError):  # a tensor without storage
                    pass

    class Counting(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            inputs = {id(s) for s in storages((args, kwargs))}
            for storage in storages(out):
                counter._saw(storage, created=id(storage) not in inputs)
            return out

    return Counting()


class PeakMemory:
    def __init__(self, device, release: bool = True, tensors: bool = False):
        self.cuda = getattr(device, "type", str(device)).startswith("cuda")
        self.release = release
        self.bytes = 0
        #: with ``tensors``: the counter (:class:`TensorBytes`) while the block runs, its peak after
        self.tensors = TensorBytes() if tensors else None
        self.tensor_bytes: int | None = None

    def __enter__(self):
        if self.cuda:
            import torch
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._before = torch.cuda.memory_allocated()
        else:
            if self.release:
                release_memory()
            self._before = resident_bytes()
            self._peak, self._running = self._before, True
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        if self.tensors is not None:
            self.tensors.__enter__()
        return self

    def _sample(self):
        while self._running:
            self._peak = max(self._peak, resident_bytes())
            time.sleep(0.002)

    def __exit__(self, *exc):
        if self.tensors is not None:
            self.tensors.__exit__(*exc)
            self.tensor_bytes = self.tensors.peak
        if self.cuda:
            import torch
            torch.cuda.synchronize()
            self.bytes = torch.cuda.max_memory_allocated() - self._before
        else:
            self._running = False
            self._thread.join()
            self.bytes = max(0, max(self._peak, resident_bytes()) - self._before)
        return False
