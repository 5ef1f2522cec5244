"""The benchmarks of issues 14 and 17 in one run: ELako next to stock flask-sse and a Socket.IO relay
(same Redis, same load generator), then ELako alone end to end, replay, burst, sign-in storm and
reconnect storm. Writes a table and plots; `make bench` runs the full size and rewrites
docs/benchmarks.md.

    .venv/bin/python bench/run.py --quick                 # small, about two minutes
    .venv/bin/python bench/run.py --write-docs            # full: 10,000 streams, 15-30 minutes
    .venv/bin/python bench/run.py --scale 0.1 --only relay,burst

Needs `npm ci` in bench/node (make bench does it). REDIS_URL and MONGODB_URI, when set, replace the
embedded Redis and the mongomock wire server (which alone can count MongoDB commands).
"""

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path

import pymongo

import harness
import report
import scenarios
from tests.support.storm import MONGO_MONITORING

RESULTS = harness.ROOT / "bench" / "results"
DOCS = harness.ROOT / "docs"
QUICK_SCALE = 0.02


class Run:
    """What every scenario of one run shares."""

    def __init__(self, data_dir, redis_url, mongo_uri, counts_mongo, open_rate):
        self.data_dir, self.redis_url, self.mongo_uri = data_dir, redis_url, mongo_uri
        self.counts_mongo, self.open_rate = counts_mongo, open_rate
        self.mongo = pymongo.MongoClient(mongo_uri) if counts_mongo else None

    def loadgen(self):
        return harness.LoadGenerator()

    def mongo_commands(self):
        """Commands the wire server has served, its clients' heartbeats aside; None on MongoDB."""
        if self.mongo is None:
            return None
        counts = self.mongo.admin.command("mongowireCommandCounts")["counts"]
        return sum(n for name, n in counts.items() if name not in MONGO_MONITORING)


def plan(scale, quick):
    """Each scenario's size: issue 14's and 17's at scale 1, never below a useful minimum."""
    def size(full, least):
        return max(least, round(full * scale))

    window = 2 if quick else 20
    return {
        "relay": {"streams": size(10_000, 100), "steps": 2 if quick else 4, "rate": 100,
                  "seconds": window},
        "end_to_end": {"pairs": size(1_000, 50), "rate": size(100, 20), "seconds": window},
        "end_to_end_embedded": {"pairs": size(1_000, 50), "rate": size(100, 20),
                                "seconds": window},
        "replay": {"count": size(1_000, 100)},
        "burst": {"customers_count": size(500, 50)},
        "sign_in_storm": {"pairs": size(100, 20), "rate": 20, "seconds": window},
        "reconnect_storm": {"accounts": size(1_000, 20), "streams_per_account": 10,
                            "open_seconds": max(2, round(10 * scale)), "rate": 10,
                            "messages": 10 * (max(2, round(10 * scale)) + window)},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"--scale {QUICK_SCALE}, short windows")
    parser.add_argument("--scale", type=float, help="1 = the issues' sizes (default)")
    parser.add_argument("--only", help="comma-separated scenarios: " + ", ".join(plan(1, False)))
    parser.add_argument("--write-docs", action="store_true",
                        help="rewrite docs/benchmarks.md and its plots")
    args = parser.parse_args()
    scale = args.scale or (QUICK_SCALE if args.quick else 1.0)
    sizes = plan(scale, args.quick)
    chosen = args.only.split(",") if args.only else list(sizes)
    unknown = set(chosen) - set(sizes)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")

    open_files = harness.raise_open_file_limit()
    started = time.monotonic()
    results = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "scale": scale, "sizes": {name: sizes[name] for name in chosen}}
    with tempfile.TemporaryDirectory(prefix="elako-bench-") as tmp:
        data_dir = Path(tmp)
        max_clients = min(open_files - 64, 2 * sizes["relay"]["streams"] + 1000)
        with harness.shared_redis(data_dir, max_clients) as redis_url, \
                harness.shared_mongo() as (mongo_uri, counts_mongo):
            run = Run(data_dir, redis_url, mongo_uri, counts_mongo, open_rate=500)
            for name in chosen:
                print(f"{name}: {sizes[name]}", flush=True)
                results[name] = run_scenario(run, name, sizes[name])
    results["seconds"] = round(time.monotonic() - started)

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=1))
    out_dir = DOCS if args.write_docs else RESULTS
    page = report.write(results, out_dir / "benchmarks.md", out_dir / "benchmarks")
    print(f"\nwrote {page} in {results['seconds']} s")


def run_scenario(run, name, size):
    if name == "relay":
        streams = size["streams"]
        targets = [scenarios.new_elako(run, "relay-elako"),
                   harness.FlaskSse(run.data_dir, run.redis_url, worker_connections=streams + 100),
                   harness.SocketIo(run.data_dir, run.redis_url)]
        return [scenarios.relay(run, target, **size) for target in targets]
    return getattr(scenarios, name)(run, **size)


if __name__ == "__main__":
    sys.exit(main())
