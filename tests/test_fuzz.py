"""Schemathesis fuzzes the live API (gunicorn + gevent) against its own OpenAPI document: no 5xx,
and every answer as documented. A small fixed budget here; `make fuzz` runs a longer campaign.
What it found stays fixed in tests/test_hostile_input.py."""

import pytest

from tests.support.fuzz import campaign, report

# Examples per operation and a fixed seed: the same requests on every run, about a minute on CI.
EXAMPLES = 60
SEED = 20261129


@pytest.mark.e2e
@pytest.mark.timeout(280)
def test_every_operation_answers_generated_requests_as_documented(live_server, tmp_path):
    runs = campaign(live_server(), tmp_path, max_examples=EXAMPLES, seed=SEED, timeout=240)
    assert [run.returncode for run in runs] == [0, 0], report(runs)
