"""The stress runs of tests/stress/ in a form that fits CI, with the tiny model: half of the
bad-input corpus (every other case of each group, so every kind of input is tried) and the load
test with fewer sequential generations. The full runs: ``python -m tests.stress.bad_inputs`` and
``python -m tests.stress.load`` (figures in docs/RELIABILITY.md)."""
from itertools import groupby

import pytest

from tests.app_support import launch_app, request_dirs
from tests.stress.bad_inputs import run_cases
from tests.stress.corpus import write_corpus
from tests.stress.load import run_load
from tests.tiny import tiny_pipeline

pytestmark = pytest.mark.stress


def test_bad_input_corpus_gets_clear_messages_and_the_app_keeps_serving(tmp_path):
    cases = write_corpus(tmp_path)
    assert len(cases) >= 200
    by_group = groupby(sorted(cases, key=lambda c: c.group), key=lambda c: c.group)
    subset = [case for _, group in by_group for case in list(group)[::2]]
    app = launch_app(tiny_pipeline())
    before = request_dirs()
    try:
        report = run_cases(app, subset, tmp_path, every=10, timeout_s=120)
    finally:
        app.demo.close()
    print(report.table())
    assert not report.crashes and not report.unclear and not report.health_failures, report.table()
    assert not report.unexpected, report.table()
    assert request_dirs() == before


def test_concurrent_clients_queue_overflow_and_memory():
    report = run_load("tiny", clients=20, sequential=20, steps=8)
    print(report.table())
    assert len(report.results) == 20 and not report.failures, report.table()
    assert report.queue_full_refused and "queue is full" in report.queue_full_message.lower()
