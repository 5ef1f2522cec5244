"""The examples in examples/ run against the live app (gunicorn + gevent), so they cannot rot:
each step prints a line, and the tests read them."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT

EXAMPLES = {
    "python": [sys.executable, str(ROOT / "examples" / "client.py")],
    "curl": ["bash", str(ROOT / "examples" / "curl.sh")],
}
STEPS_BEFORE_POLLING = [
    "registered customer Maria Santos", "registered store Aling Nena's Store",
    "store and customer: event streams open", "customer: sent message 1",
    "store: received", "May stock pa po ba ng Milo?", "store: marked 1 message(s) read",
]


@pytest.fixture(scope="module", params=list(EXAMPLES))
def example(request, server):
    """One run of an example against the shared server: (exit code, what it printed)."""
    run = subprocess.run([*EXAMPLES[request.param], server.url], text=True, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT,
                         timeout=120)
    return run.returncode, run.stdout


@pytest.mark.e2e
def test_example_registers_listens_sends_and_marks_read(example):
    _, output = example
    position = 0
    for step in STEPS_BEFORE_POLLING:
        found = output.find(step, position)
        assert found >= 0, f"{step!r} missing after position {position}:\n{output}"
        position = found


@pytest.mark.e2e
def test_example_hears_the_read_receipt_by_long_polling(example):
    code, output = example
    assert "customer: long-poll got read up to seq 1" in output, output
    assert code == 0, output
