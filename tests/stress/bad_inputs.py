"""Drive the bad-input corpus through ``gradio_client`` against a launched app and count outcomes.

    python -m tests.stress.bad_inputs [--model tiny|embedded] [--every 10] [--json report.json]

Per case: the outcome (a clear error message, or a valid video), the time, and after every
``every`` cases a valid request that must still succeed. A case "crashes" when the call does not
come back within ``timeout_s`` or the connection fails; a message is "unclear" when it is empty,
generic, a traceback or the app's catch-all for unexpected errors (which means a bug was hit).
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.app_support import RunningApp, launch_app, pipeline_named, read_video
from tests.stress.corpus import VALID, Case, Upload, write_corpus

UNCLEAR = re.compile(r"^\s*(error|none|null|)\s*$|traceback|failed unexpectedly|connection errored", re.IGNORECASE)


@dataclass
class Record:
    name: str
    group: str
    endpoint: str
    expect: str
    outcome: str  # "ok", "error", "crash"
    message: str
    seconds: float

    @property
    def clear(self) -> bool:
        return self.outcome != "error" or not UNCLEAR.search(self.message)

    @property
    def as_expected(self) -> bool:
        return self.outcome != "crash" and self.expect in ("either", self.outcome)


@dataclass
class Report:
    records: list[Record]
    health_checks: int
    health_failures: list[str]

    @property
    def crashes(self) -> list[Record]:
        return [r for r in self.records if r.outcome == "crash"]

    @property
    def unclear(self) -> list[Record]:
        return [r for r in self.records if not r.clear]

    @property
    def unexpected(self) -> list[Record]:
        return [r for r in self.records if not r.as_expected]

    def table(self) -> str:
        """Counts per group and outcome, then the problems."""
        groups = sorted({r.group for r in self.records})
        lines = [f"{'group':<10}{'cases':>7}{'error':>7}{'ok':>6}{'crash':>7}{'unclear':>9}{'max s':>8}"]
        for group in [*groups, "all"]:
            rows = [r for r in self.records if group in ("all", r.group)]
            counts = Counter(r.outcome for r in rows)
            lines.append(
                f"{group:<10}{len(rows):>7}{counts['error']:>7}{counts['ok']:>6}{counts['crash']:>7}"
                f"{sum(not r.clear for r in rows):>9}{max(r.seconds for r in rows):>8.1f}"
            )
        times = [r.seconds for r in self.records]
        lines.append(f"median {statistics.median(times):.2f} s per case; health checks {self.health_checks}, "
                     f"failed {len(self.health_failures)}")
        for title, bad in (("CRASH", self.crashes), ("UNCLEAR", self.unclear), ("UNEXPECTED", self.unexpected)):
            lines += [f"{title}: {r.name} [{r.endpoint}] expected {r.expect}, got {r.outcome}: {r.message[:160]}" for r in bad]
        lines += [f"HEALTH FAILED after: {name}" for name in self.health_failures]
        return "\n".join(lines)


def _uploads(value: Any, folder: Path) -> Any:
    """Replace every :class:`Upload` (also inside editor dicts) by a gradio_client file."""
    if isinstance(value, Upload):
        return handle_file(str(folder / value.name))
    if isinstance(value, dict):
        return {k: _uploads(v, folder) for k, v in value.items()}
    if isinstance(value, list):
        return [_uploads(v, folder) for v in value]
    return value


def _check_video(result: tuple, frames: int) -> None:
    """A success must be a real video of the requested length, not just 'no error'."""
    video_path, _, _, _, parameters = result
    decoded = read_video(video_path)
    if decoded.frames.shape[0] != frames or parameters.get("frames") != frames:
        raise AssertionError(f"expected {frames} frames, got {decoded.frames.shape[0]} (parameters say {parameters.get('frames')})")


def call(client: Client, endpoint: str, inputs: dict[str, Any], folder: Path, timeout_s: float) -> tuple[str, str]:
    """(outcome, message) of one gradio_client call."""
    job = client.submit(api_name=endpoint, **_uploads(inputs, folder))
    try:
        result = job.result(timeout=timeout_s)
    except AppError as exc:
        return "error", str(exc)
    except (FutureTimeout, TimeoutError):
        job.cancel()
        return "crash", f"no answer within {timeout_s:.0f} s"
    except httpx.HTTPError as exc:
        return "crash", f"connection failed: {exc!r}"
    except (ValueError, TypeError, OSError) as exc:  # refused by gradio_client before sending (e.g. NaN)
        return "error", f"client refused: {exc}"
    frames = int(inputs.get("frames", 0))
    try:
        _check_video(result, frames)
    except Exception as exc:  # an invalid "success" is a failure of the server, not of the input
        return "crash", f"invalid result: {exc}"
    return "ok", ""


def call_raw(url: str, endpoint: str, body: bytes, timeout_s: float) -> tuple[str, str]:
    """POST a hand-made body to Gradio's REST route and read its event stream (what gradio_client
    cannot send: invalid UTF-8, NaN literals, broken JSON)."""
    route = f"{url}gradio_api/call{endpoint}"
    try:
        posted = httpx.post(route, content=body, headers={"content-type": "application/json"}, timeout=timeout_s)
        if posted.status_code != 200:
            return "error", f"HTTP {posted.status_code}: {posted.text[:300]}"
        events = httpx.get(f"{route}/{posted.json()['event_id']}", timeout=timeout_s).text
    except httpx.HTTPError as exc:
        return "crash", f"connection failed: {exc!r}"
    if "event: complete" in events:
        return "ok", ""
    data = [line[6:] for line in events.splitlines() if line.startswith("data: ")]
    return ("error", data[-1] if data else events[:300]) if "event: error" in events else ("crash", events[:300])


def run_cases(
    app: RunningApp, cases: Iterable[Case], folder: Path, every: int = 10, timeout_s: float = 120.0, verbose: bool = False
) -> Report:
    """Every case, with a valid request after every ``every`` cases and at the end."""
    client = Client(app.url, verbose=False)
    records: list[Record] = []
    checks, failures = 0, []

    def health(after: str) -> None:
        nonlocal checks
        checks += 1
        outcome, message = call(client, "/draw_motion", VALID["/draw_motion"](), folder, timeout_s)
        if outcome != "ok":
            failures.append(f"{after} ({outcome}: {message[:200]})")

    for index, case in enumerate(cases, 1):
        started = time.perf_counter()
        if case.raw_body is not None:
            outcome, message = call_raw(app.url, case.endpoint, case.raw_body, timeout_s)
        else:
            outcome, message = call(client, case.endpoint, case.inputs, folder, timeout_s)
        record = Record(case.name, case.group, case.endpoint, case.expect, outcome, message, time.perf_counter() - started)
        records.append(record)
        if verbose:
            print(f"{record.seconds:6.2f}s {outcome:<6}{case.name}: {message[:120]}", flush=True)
        if index % every == 0:
            health(case.name)
    health("the last case")
    return Report(records, checks, failures)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["tiny", "embedded"], default="tiny")
    parser.add_argument("--every", type=int, default=10, help="a valid request after every N cases")
    parser.add_argument("--json", type=Path, help="write every record here")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    app = launch_app(pipeline_named(args.model))
    try:
        with tempfile.TemporaryDirectory(prefix="vc_corpus_") as folder:
            cases = write_corpus(folder)
            print(f"{len(cases)} bad inputs written to {folder}; running against {app.url} ({args.model} model)")
            report = run_cases(app, cases, Path(folder), every=args.every, verbose=args.verbose)
    finally:
        app.demo.close()
    print(report.table())
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in report.records], indent=1))
    return int(bool(report.crashes or report.unclear or report.health_failures))


if __name__ == "__main__":
    raise SystemExit(main())
