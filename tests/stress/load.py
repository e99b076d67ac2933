"""Load: many gradio_client sessions at once, a bounded queue that overflows, and memory over time.

    python -m tests.stress.load [--model tiny|embedded] [--clients 20] [--sequential 50] [--steps 2]

1. ``--clients`` sessions (one Client each) submit one generation each, one after the other as
   fast as the server queues them, so the submission order is known. Every request must complete,
   in submission order up to client-side jitter (one shared FIFO queue with concurrency 1), and
   return its own seed and prompt; each video must equal the one the same request gives when run alone afterwards (nothing mixed between sessions).
2. An app with a queue of 2 receives 8 requests at once: the extra ones are refused with
   "Queue is full", the others complete.
3. ``--sequential`` generations in a row; the server's resident memory (this process: the app runs
   in it) after the last must be within 10 % of that after the fifth.
"""
from __future__ import annotations

import argparse
import gc
import itertools
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from gradio_client import Client
from gradio_client.client import Job
from gradio_client.utils import QueueError, Status

from tests.app_support import RunningApp, launch_app, pipeline_named, read_video
from vc_core.conditions.strokes import PRESETS

QUEUE_FULL_SIZE = 2  # the overflow test's queue: small, so a handful of requests overflow it


def request(index: int, frames: int, steps: int) -> tuple[str, dict]:
    """Request ``index``: its own seed, prompt and motion, on two endpoints (what sessions mix up)."""
    common = {"prompt": f"session {index}: a red square", "frames": frames, "steps": steps, "seed": 1000 + index,
              "sampler": "ddim"}
    if index % 2:
        return "/compose", common | {"image": None, "style": None, "sketch": None, "video": None}
    return "/draw_motion", common | {"image": None, "strokes": "", "preset": PRESETS[index % len(PRESETS)]}


@dataclass
class Result:
    index: int
    submitted: float
    finished: float
    parameters: dict
    frames: np.ndarray

    @property
    def latency_s(self) -> float:
        return self.finished - self.submitted


@dataclass
class LoadReport:
    clients: int
    results: list[Result] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # lost, mixed, out of order: each a sentence
    wall_s: float = 0.0
    queue_full_refused: int = 0
    queue_full_message: str = ""
    queue_full_completed: int = 0
    rss_mb: dict[int, float] = field(default_factory=dict)  # generations done → resident MB

    @property
    def leak_ratio(self) -> float:
        counts = sorted(self.rss_mb)
        return self.rss_mb[counts[-1]] / self.rss_mb[counts[0]] - 1.0

    def table(self) -> str:
        latencies = sorted(r.latency_s for r in self.results)
        lines = [
            f"concurrent: {self.clients} clients, {len(self.results)} completed, {self.clients - len(self.results)} lost, "
            f"wall {self.wall_s:.1f} s, throughput {len(self.results) / self.wall_s:.2f} generations/s",
        ]
        if latencies:
            lines.append(
                f"latency (submit → result, includes queueing): min {latencies[0]:.2f} s, "
                f"median {statistics.median(latencies):.2f} s, p95 {latencies[int(0.95 * (len(latencies) - 1))]:.2f} s, "
                f"max {latencies[-1]:.2f} s"
            )
        lines.append(f"queue of {QUEUE_FULL_SIZE}: {self.queue_full_completed} completed, {self.queue_full_refused} refused "
                     f"with {self.queue_full_message!r}")
        if self.rss_mb:
            points = ", ".join(f"after {n}: {mb:.0f} MB" for n, mb in sorted(self.rss_mb.items()))
            lines.append(f"resident memory {points} → {100 * self.leak_ratio:+.1f} %")
        lines += [f"FAILURE: {f}" for f in self.failures]
        return "\n".join(lines)


def resident_mb() -> float:
    """This process' resident set size (Linux), after a garbage collection."""
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise OSError("no VmRSS in /proc/self/status")


def wait_until_queued(job: Job, timeout_s: float) -> None:
    """Return once the server has answered ``job``'s join (queued, running or done)."""
    deadline = time.perf_counter() + timeout_s
    while job.status().code in (Status.STARTING, Status.JOINING_QUEUE) and not job.done():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"no answer to a queue join within {timeout_s:.0f} s")
        time.sleep(0.01)


def run_concurrent(app: RunningApp, report: LoadReport, frames: int, steps: int, timeout_s: float = 900.0) -> None:
    """Every client submits, each as soon as the server has queued the one before (so submission
    order is the server's arrival order; client threads racing to join reordered it on two busy
    cores); all wait together; then each request is re-run alone."""
    clients = [Client(app.url, verbose=False) for _ in range(report.clients)]
    done: dict[int, Result] = {}
    errors: dict[int, str] = {}
    submitted: dict[int, float] = {}
    finished: dict[int, float] = {}
    stamped = threading.Semaphore(0)  # a Future runs its callbacks after result() has returned
    jobs: dict[int, Job] = {}

    def stamp(index: int) -> None:
        finished[index] = time.perf_counter()
        stamped.release()

    started = time.perf_counter()
    for index, client in enumerate(clients):
        endpoint, inputs = request(index, frames, steps)
        submitted[index] = time.perf_counter()
        jobs[index] = client.submit(api_name=endpoint, **inputs)
        jobs[index].add_done_callback(lambda _, i=index: stamp(i))
        wait_until_queued(jobs[index], timeout_s)
    outputs: dict[int, tuple] = {}
    for index, job in jobs.items():
        try:
            outputs[index] = job.result(timeout=timeout_s)
        except Exception as exc:  # any failure is a lost request; say which and why
            errors[index] = f"{type(exc).__name__}: {exc}"
    for _ in jobs:  # a finished job's callback fires at once, failed or not
        stamped.acquire(timeout=5)
    for index, out in outputs.items():
        done[index] = Result(index, submitted[index], finished[index], out[4], read_video(out[0]).frames)
    report.wall_s = time.perf_counter() - started
    report.results = [done[i] for i in sorted(done)]
    report.failures += [f"request {i} lost: {errors.get(i, 'no answer in time')}" for i in range(report.clients) if i not in done]
    # Each client stamps "finished" after fetching its files, which jitters on shared cores; a
    # queue that is not FIFO serves a later request a whole generation earlier, so gaps under
    # half the shortest submit→result time are taken as jitter.
    tolerance = min((r.latency_s for r in report.results), default=0.0) / 2
    overtaken = [
        f"{late.index} finished {early.finished - late.finished:.2f} s before {early.index}"
        for early, late in itertools.combinations(report.results, 2)
        if late.finished < early.finished - tolerance
    ]
    if overtaken:
        report.failures.append(f"completed out of submission order (beyond {tolerance:.2f} s of jitter): {'; '.join(overtaken)}")
    alone = Client(app.url, verbose=False)
    for result in report.results:
        endpoint, inputs = request(result.index, frames, steps)
        if (result.parameters.get("seed"), result.parameters.get("prompt")) != (inputs["seed"], inputs["prompt"]):
            report.failures.append(f"request {result.index} got the parameters of another: {result.parameters.get('prompt')!r}")
        reference = read_video(alone.predict(api_name=endpoint, **inputs)[0]).frames
        if reference.shape != result.frames.shape:
            report.failures.append(f"request {result.index}: its video's shape {result.frames.shape} differs from "
                                   f"the same request run alone {reference.shape}")
        elif (difference := np.abs(reference.astype(int) - result.frames)).max() > 0:
            report.failures.append(f"request {result.index}: its video differs from the same request run alone "
                                   f"(max |Δ| {difference.max()}, {100 * (difference > 0).mean():.2f} % of values)")


def run_queue_full(pipe, report: LoadReport, frames: int, steps: int, requests: int = 8) -> None:
    """An app whose queue holds ``QUEUE_FULL_SIZE`` gets ``requests`` at once: the rest are refused."""
    app = launch_app(pipe, max_queue=QUEUE_FULL_SIZE)
    outcomes: list[str] = []
    try:
        clients = [Client(app.url, verbose=False) for _ in range(requests)]
        # steps make each generation long enough that all submissions land while the first runs
        jobs = [c.submit(api_name=request(i, frames, steps * 10)[0], **request(i, frames, steps * 10)[1]) for i, c in enumerate(clients)]
        for job in jobs:
            try:
                job.result(timeout=900)
                outcomes.append("ok")
            except QueueError as exc:
                outcomes.append(str(exc))
    finally:
        app.demo.close()
    refused = [o for o in outcomes if o != "ok"]
    report.queue_full_completed, report.queue_full_refused = outcomes.count("ok"), len(refused)
    report.queue_full_message = refused[0] if refused else ""
    if not refused or any("queue is full" not in o.lower() for o in refused):
        report.failures.append(f"overflowing a queue of {QUEUE_FULL_SIZE}: {outcomes}")


def run_sequential(app: RunningApp, report: LoadReport, count: int, frames: int, steps: int, baseline_after: int = 5) -> None:
    """``count`` generations in a row, recording resident memory after ``baseline_after`` and after all."""
    client = Client(app.url, verbose=False)
    for n in range(1, count + 1):
        endpoint, inputs = request(n, frames, steps)
        client.predict(api_name=endpoint, **inputs)
        if n in (baseline_after, count):
            report.rss_mb[n] = resident_mb()
    if report.leak_ratio > 0.10:
        report.failures.append(f"resident memory grew {100 * report.leak_ratio:.1f} % between {baseline_after} and {count} generations")


def run_load(
    model: str = "tiny", clients: int = 20, sequential: int = 50, frames: int = 8, steps: int = 2
) -> LoadReport:
    pipe = pipeline_named(model)
    report = LoadReport(clients)
    app = launch_app(pipe)
    try:
        run_concurrent(app, report, frames, steps)
        run_sequential(app, report, sequential, frames, steps)
    finally:
        app.demo.close()
    run_queue_full(pipe, report, frames, steps)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["tiny", "embedded"], default="tiny")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--sequential", type=int, default=50)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args(argv)
    report = run_load(args.model, args.clients, args.sequential, args.frames, args.steps)
    print(f"model {args.model}, {args.frames} frames, {args.steps} DDIM steps")
    print(report.table())
    return int(bool(report.failures))


if __name__ == "__main__":
    raise SystemExit(main())
