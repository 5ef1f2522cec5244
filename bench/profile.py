"""Where the time goes end to end: py-spy samples the ELako worker, and the in-memory store's wire
server, while customers send to their stores over the API at a fixed rate (the end-to-end
scenario of bench/run.py). Writes what each process spent its CPU on.

    .venv/bin/python bench/profile.py                  # 1,000 pairs, 100 messages/s, 20 s
    .venv/bin/python bench/profile.py --burst          # 500 customers to one store in 1 s
    .venv/bin/python bench/profile.py --write-docs     # both, into docs/profile.md

py-spy reads the processes from outside (ptrace) without stopping them; a sample counts only
while the process's thread is on the CPU, so the shares are of CPU time, not of waiting.
"""

import argparse
import datetime
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

import harness
import scenarios
from run import Run

DOCS = harness.ROOT / "docs"
PY_SPY = Path(sys.executable).parent / "py-spy"
SAMPLES_PER_SECOND = 250
OURS = re.compile(r"\((?:.*/)?elako/")  # py-spy names files relative to the working directory
TOP = 15
# What a leaf frame's file says about who spent the time.
PARTS = [("the store's wire server and mongomock", ("mongomock", "mongowire", "mockstore")),
         ("pymongo and bson (the driver)", ("pymongo", "bson")),
         ("mongoengine (documents)", ("mongoengine",)),
         ("redis-py", ("redis/",)), ("gevent and greenlet (the loop, sockets)", ("gevent",)),
         ("gunicorn (HTTP parsing, responses)", ("gunicorn",)),
         ("flask, werkzeug, jinja (requests, templates)", ("flask", "werkzeug", "jinja2")),
         ("pydantic (request validation)", ("pydantic",)),
         ("JSON", ("json/",)), ("logging", ("logging/",)), ("ELako's own code", ("elako/",))]


def finish(spy, timeout):
    """Wait for py-spy to end. It may overrun its duration (it once did by minutes, on the wire
    server's hundred threads); interrupted, it writes what it sampled, and killed, nothing."""
    try:
        spy.wait(timeout)
    except subprocess.TimeoutExpired:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(30)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()


def record(pid, seconds, output):
    """Start py-spy on `pid` for `seconds`, writing collapsed stacks to `output`."""
    return subprocess.Popen(
        [str(PY_SPY), "record", "--pid", str(pid), "--duration", str(seconds), "--rate",
         str(SAMPLES_PER_SECOND), "--format", "raw", "--nonblocking", "--output", str(output)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stacks(path):
    """(frames from the outermost, samples) for each line of py-spy's raw output."""
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            yield stack.split(";"), int(count)


def where(frame):
    """"function (file.py)" of a py-spy frame "function (path/to/file.py:line)"."""
    function, _, location = frame.partition(" (")
    return f"{function} ({Path(location.rsplit(':', 1)[0]).name})"


def summarise(path):
    total, leaves, ours, parts = 0, Counter(), Counter(), Counter()
    for frames, count in stacks(path):
        total += count
        leaf = frames[-1]
        leaves[where(leaf)] += count
        parts[next((name for name, marks in PARTS if any(m in leaf for m in marks)), "other")] += count
        for frame in {where(f) for f in frames if OURS.search(f)}:
            ours[frame] += count
    return {"samples": total, "leaves": leaves.most_common(TOP), "ours": ours.most_common(TOP),
            "parts": parts.most_common()}


def wire_server_pid(mongo_uri):
    port = mongo_uri.rstrip("/").rsplit(":", 1)[1]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"tests.support.mongowire" in command and port.encode() in command:
                return int(entry.name)
    return None


def profiled(run, name, prepare, send, seconds, folder):
    """Run `send()` on a worker that `prepare(elako)` set up, sampling it and the store."""
    elako = scenarios.new_elako(run, name)
    loadgen = run.loadgen()
    try:
        state = prepare(elako, loadgen)
        targets = {"worker": elako.pid, "store": wire_server_pid(run.mongo_uri)}
        spies = {part: record(pid, seconds, folder / f"{name}-{part}.txt")
                 for part, pid in targets.items() if pid}
        outcome = {}
        sender = threading.Thread(target=lambda: outcome.update(send(elako, loadgen, state)))
        sender.start()
        for spy in spies.values():
            finish(spy, seconds + 60)
        sender.join()
        written = {part: folder / f"{name}-{part}.txt" for part in spies}
        return {"load": outcome, **{part: summarise(path) for part, path in written.items()
                                    if path.exists()}}
    finally:
        loadgen.close()
        elako.stop()


def end_to_end(run, folder, pairs=1000, rate=100, seconds=20):
    def prepare(elako, loadgen):
        customers, stores, conversations = scenarios.pairs_of(elako, pairs)
        elako.start()
        scenarios.open_and_warm(loadgen, elako, [elako.stream(u) for u in customers + stores],
                                rate=run.open_rate, timeout=scenarios.open_timeout(2 * pairs))
        return scenarios.message_posts(customers, stores, conversations)

    def send(elako, loadgen, posts):
        return scenarios.send_window(run, loadgen, elako, posts, rate, seconds)

    return profiled(run, "end-to-end", prepare, send, seconds, folder)


def burst(run, folder, customers_count=500):
    def prepare(elako, loadgen):
        store = elako.accounts.users("store", 1)[0]
        customers = elako.accounts.users("customer", customers_count)
        conversations = elako.accounts.conversations((c, store) for c in customers)
        elako.start()
        scenarios.open_and_warm(loadgen, elako, [elako.stream(store)], rate=10, timeout=30)
        return scenarios.message_posts(customers, [store] * customers_count, conversations)

    def send(elako, loadgen, posts):
        return scenarios.send_window(run, loadgen, elako, posts, rate=customers_count, seconds=1)

    return profiled(run, "burst", prepare, send, 10, folder)


def page(results, title):
    lines = [f"## {title}", "", f"Load: {describe(results['load'])}", ""]
    for part, label in (("worker", "The ELako worker"), ("store", "The store's wire server")):
        summary = results.get(part)
        if not summary or not summary["samples"]:
            continue
        seconds = summary["samples"] / SAMPLES_PER_SECOND
        lines += [f"### {label}: {seconds:.1f} s of CPU sampled", "",
                  "| spent in (by the innermost frame's library) | share |", "|---|---:|"]
        lines += [f"| {name} | {share(n, summary)} |" for name, n in summary["parts"]]
        lines += ["", "| innermost function | share |", "|---|---:|"]
        lines += [f"| `{name}` | {share(n, summary)} |" for name, n in summary["leaves"]]
        if summary["ours"]:
            lines += ["", "| ELako function, with all it calls | share |", "|---|---:|"]
            lines += [f"| `{name}` | {share(n, summary)} |" for name, n in summary["ours"]]
        lines.append("")
    return lines


def share(count, summary):
    return f"{100 * count / summary['samples']:.1f}%"


def describe(load):
    return (f"{load.get('accepted', 0):,} messages accepted of {load.get('sent', 0):,}, "
            f"delivery p50 {load.get('p50')} ms, p99 {load.get('p99')} ms, "
            f"worker CPU {load.get('server_cpu_percent')}%, "
            f"MongoDB commands per message {load.get('mongo_commands_per_message')}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", action="store_true", help="the burst instead of end to end")
    parser.add_argument("--write-docs", action="store_true", help="both, into docs/profile.md")
    args = parser.parse_args()
    if not PY_SPY.exists():
        parser.error(f"{PY_SPY} is missing: make install-dev")
    harness.raise_open_file_limit()
    chosen = ["end_to_end", "burst"] if args.write_docs else ["burst" if args.burst else "end_to_end"]
    titles = {"end_to_end": "End to end: 2,000 streams, 100 messages/s over the API",
              "burst": "Burst: 500 customers write to one store within one second"}
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# Profiles: where a worker's CPU goes", "",
             f"Generated by `bench/profile.py` on {date}: py-spy sampling {SAMPLES_PER_SECOND} "
             "times a second, without stopping the process, only while it is on a CPU. The store "
             "is the tests' MongoDB wire server over mongomock, in a process of its own "
             "(`MONGODB_URI` unset); docs/benchmarks.md says what these profiles explain.", ""]
    with tempfile.TemporaryDirectory(prefix="elako-profile-") as tmp:
        folder = Path(tmp)
        with harness.shared_redis(folder, 6000) as redis_url, \
                harness.shared_mongo() as (mongo_uri, counts_mongo):
            run = Run(folder, redis_url, mongo_uri, counts_mongo, open_rate=500)
            for name in chosen:
                print(f"{name} ...", flush=True)
                lines += page(globals()[name](run, folder), titles[name])
    text = "\n".join(lines)
    if args.write_docs:
        (DOCS / "profile.md").write_text(text)
        print(f"wrote {DOCS / 'profile.md'}")
    else:
        print(text)


if __name__ == "__main__":
    sys.exit(main())
