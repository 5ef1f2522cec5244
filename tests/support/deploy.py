"""The files in deploy/, read the way systemd and Compose read them, for tests to check and run."""

import re
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
DEPLOY = ROOT / "deploy"
INSTALL_DIR = "/srv/elako"  # where the units expect the checkout (README, "Production")


def unit(name):
    """{section: {key: [values]}} of deploy/<name> (systemd keeps every value of a repeated key)."""
    sections, current = {}, None
    for line in (DEPLOY / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def command(argv):
    """A unit's command line as it would run from this checkout: argv with INSTALL_DIR → ROOT."""
    return [part.replace(INSTALL_DIR, str(ROOT)) for part in shlex.split(argv)]


def unit_environment(sections):
    names = {}
    for value in sections["Service"].get("Environment", []):
        for pair in shlex.split(value):
            name, _, setting = pair.partition("=")
            names[name] = setting
    return names


def compose():
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def known_settings():
    """Every environment variable config.py or gunicorn.conf.py reads."""
    pattern = re.compile(r'(?:environ\.get|environ\[|_int|_bool|_list)\(?\s*["\']([A-Z][A-Z0-9_]+)["\']')
    return {name for source in ("config.py", "gunicorn.conf.py")
            for name in pattern.findall((ROOT / source).read_text())}
