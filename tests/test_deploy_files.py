"""deploy/: the systemd units and compose.yaml run real commands with real settings, and agree with
each other and with deploy/nginx.conf (which tests/test_nginx_front.py runs). No Docker here, so
compose.yaml is checked, not started; systemd checks the units itself (`systemd-analyze verify`).
"""

import re
import shlex
import shutil
import subprocess

import pytest
from flask import Flask

from tests.support.deploy import (DEPLOY, INSTALL_DIR, ROOT, command, compose, known_settings,
                                  unit, unit_environment)

UNITS = ("elako.service", "elako-worker.service")
# What tests/support/servers.py starts gunicorn with: the server every e2e test exercises.
GUNICORN_ARGS = ["-c", "gunicorn.conf.py", "app:app"]
STATIC_DIR = "/var/cache/elako/static"


@pytest.mark.parametrize("name", UNITS)
def test_systemd_accepts_the_unit(name, tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    # Pointed at this checkout, so systemd can check that every command it would run exists.
    local = tmp_path / name
    local.write_text((DEPLOY / name).read_text().replace(INSTALL_DIR, str(ROOT)))
    checked = subprocess.run(["systemd-analyze", "verify", str(local)],
                             capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0 and not checked.stderr.strip(), checked.stderr


def test_the_units_run_the_app_and_the_job_worker():
    web, worker = (unit(name)["Service"] for name in UNITS)
    assert web["WorkingDirectory"] == worker["WorkingDirectory"] == [INSTALL_DIR]
    assert command(web["ExecStart"][0])[1:] == GUNICORN_ARGS
    assert command(web["ExecStart"][0])[0] == str(ROOT / ".venv" / "bin" / "gunicorn")
    # Static files exported where nginx serves them, before a start and before a reload.
    export = web["ExecStartPre"][0]
    assert command(export)[1:] == ["-m", "elako.assets", STATIC_DIR]
    assert web["ExecReload"] == [export, "/bin/kill -HUP $MAINPID"]
    assert f"root {STATIC_DIR};" in (DEPLOY / "nginx.conf").read_text()
    assert shlex.split(worker["ExecStart"][0])[1:] == ["--app", "app", "worker"]
    # ... a command the app really has (`flask --app app worker`).
    from elako.jobs import cli

    bare = Flask("check")
    cli.init_app(bare)
    assert "worker" in bare.cli.commands
    # The web server leaves jobs to the worker and trusts exactly one proxy (nginx).
    environment = unit_environment(unit("elako.service"))
    assert environment["START_JOB_WORKER"] == "0" and environment["PROXY_FIX_HOPS"] == "1"
    assert environment["HOST"] == "127.0.0.1"
    assert f"server 127.0.0.1:{environment['PORT']};" in (DEPLOY / "nginx.conf").read_text()


def test_units_and_compose_set_only_real_settings():
    settings = known_settings() | {"PYTHONUNBUFFERED"}
    named = {f"{name}: {variable}" for name in UNITS for variable in unit_environment(unit(name))}
    for service, spec in compose()["services"].items():
        named |= {f"compose {service}: {variable}" for variable in spec.get("environment", {})}
    unknown = sorted(entry for entry in named if entry.rsplit(": ", 1)[1] not in settings)
    assert not unknown, unknown


def test_compose_runs_app_worker_redis_and_a_replica_set_of_one():
    services = compose()["services"]
    assert set(services) == {"app", "worker", "redis", "mongo", "mongo-init"}
    app, worker = services["app"], services["worker"]
    assert app["command"][-1].endswith("gunicorn " + " ".join(GUNICORN_ARGS))
    assert f"python -m elako.assets {STATIC_DIR} && " in app["command"][-1]
    assert any(volume.endswith(f":{STATIC_DIR}") for volume in app["volumes"])
    assert worker["command"] == ["flask", "--app", "app", "worker"]
    assert app["environment"]["START_JOB_WORKER"] == "0"
    for service in (app, worker):
        assert service["depends_on"]["mongo-init"]["condition"] == "service_completed_successfully"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    # One replica set name, from mongod to the init step to the app's connection string.
    replica_set = re.search(r"replicaSet=(\w+)", app["environment"]["MONGODB_URI"]).group(1)
    mongod = services["mongo"]["command"]
    assert mongod[mongod.index("--replSet") + 1] == replica_set
    init = services["mongo-init"]
    assert f'rs.initiate({{_id: "{replica_set}"' in init["command"][-1]
    assert init["depends_on"]["mongo"]["condition"] == "service_healthy"
    # Redis must never evict event streams (README, "Production").
    assert "noeviction" in services["redis"]["command"]
    dockerfile = (ROOT / compose()["services"]["app"]["build"]["dockerfile"]).read_text()
    assert "pip install --no-cache-dir -r requirements.txt" in dockerfile


def test_nginx_timeouts_and_limits_follow_the_app():
    from config import Config

    conf = (DEPLOY / "nginx.conf").read_text()
    for path in ("/events", "/api/events"):
        block = re.search(r"location = %s \{(.*?)\}" % re.escape(path), conf, re.S).group(1)
        assert "proxy_buffering off;" in block
        # Idle streams carry only heartbeats: two may be late before nginx gives up on one.
        timeout = int(re.search(r"proxy_read_timeout (\d+)s;", block).group(1))
        assert timeout >= 2 * Config.SSE_HEARTBEAT_SECONDS
    ceiling = int(re.search(r"client_max_body_size (\d+)m;", conf).group(1)) * 1024 * 1024
    attachments = 10 * 1024 * 1024  # ATTACHMENT_MAX_BYTES's default, and its multipart framing
    assert ceiling > max(Config.MAX_CONTENT_LENGTH, attachments)
