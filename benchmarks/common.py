"""Shared helpers for the benchmark scripts: machine description, timing, matmul reference."""
from __future__ import annotations

import platform
import resource
import time
from typing import Callable

import torch


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {torch.get_num_threads()} threads, {gpu}, torch {torch.__version__}"


def best_time(fn: Callable[[], object], repeat: int = 3, warmup: int = 1) -> float:
    """Fastest of ``repeat`` runs after ``warmup`` (seconds); the minimum is the least noisy."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_flops(dtype: torch.dtype, device: str = "cpu", n: int = 2048) -> float:
    """Dense n×n matmul throughput in FLOP/s: this run's reference for 'close to the hardware'."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    return 2 * n**3 / best_time(lambda: a @ b, repeat=5)


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))


def peak_increase_mb(fn: Callable[[], object]) -> float:
    """Peak resident-memory growth while ``fn`` runs (Linux): the high-water mark is reset first
    through /proc/self/clear_refs. Large tensors are mmapped, so freeing them lowers RSS again."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    start = _rss_kb("VmRSS:")
    fn()
    return (_rss_kb("VmHWM:") - start) / 1e3
