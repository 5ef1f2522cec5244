"""Static files, minified, fingerprinted and pre-compressed once at start-up.

A phone on 2G should download htmx once, compressed, and never ask again: each file's URL carries a
hash of its content (`static_url`), so it can be cached for a year and a new version gets a new URL.
Files are small and few, so each is held in memory with its brotli and gzip forms.

Behind nginx, `python -m elako.assets DIR` writes the same bytes to DIR/<version>/<name> (with
`.gz` and `.br` beside each), and deploy/nginx.conf serves `/static/<name>?v=<version>` from there
without asking the app. Earlier versions stay, so pages an older worker rendered during a rolling
deploy still get exactly the files they name.
"""

import gzip
import hashlib
import mimetypes
import os
import sys
from pathlib import Path

import brotli
import rcssmin
import rjsmin
from flask import Blueprint, abort, current_app, request, url_for

bp = Blueprint("assets", __name__)
ONE_YEAR = 365 * 24 * 3600


# Our own script and styles are written to be read, with comments; phones get them minified.
# Vendored files come minified already.
MINIFIERS = {".js": rjsmin.jsmin, ".css": rcssmin.cssmin}


class Asset:
    def __init__(self, path):
        self.body = path.read_bytes()
        minify = MINIFIERS.get(path.suffix)
        if minify and not path.name.endswith(f".min{path.suffix}"):
            self.body = minify(self.body.decode()).encode()
        self.version = hashlib.sha256(self.body).hexdigest()[:12]
        self.mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        self.encoded = {"br": brotli.compress(self.body, quality=11),
                        "gzip": gzip.compress(self.body, compresslevel=9, mtime=0)}


def read(folder):
    folder = Path(folder)
    return {path.relative_to(folder).as_posix(): Asset(path)
            for path in sorted(folder.rglob("*")) if path.is_file()}


def load(app, folder):
    app.extensions["assets"] = read(folder)

    @app.template_global()
    def static_url(filename):
        return url_for("assets.static", filename=filename, v=app.extensions["assets"][filename].version)


@bp.get("/static/<path:filename>")
def static(filename):
    asset = current_app.extensions["assets"].get(filename)
    if asset is None:
        abort(404)
    accepted = request.accept_encodings
    encoding = next((e for e in ("br", "gzip") if accepted[e]), None)
    body = asset.encoded[encoding] if encoding else asset.body
    response = current_app.response_class(body, mimetype=asset.mimetype)
    if encoding:
        response.headers["Content-Encoding"] = encoding
    response.headers["Vary"] = "Accept-Encoding"
    response.set_etag(f"{asset.version}-{encoding or 'identity'}")
    versioned = request.args.get("v") == asset.version
    response.cache_control.public = True
    response.cache_control.max_age = ONE_YEAR if versioned else 300
    if versioned:
        response.cache_control.immutable = True
    return response.make_conditional(request)


def export(folder, target):
    """Write every asset of `folder`, as served, to target/<version>/<name> (+ .gz, .br)."""
    for name, asset in read(folder).items():
        path = Path(target) / asset.version / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix, body in (("", asset.body), (".gz", asset.encoded["gzip"]),
                             (".br", asset.encoded["br"])):
            draft = path.with_name(f"{path.name}{suffix}.{os.getpid()}")
            draft.write_bytes(body)
            draft.chmod(0o644)  # nginx's user reads them
            draft.replace(path.with_name(path.name + suffix))  # never half a file on the wire


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m elako.assets DIR  (writes the static files for nginx)")
    export(Path(__file__).resolve().parent.parent / "static", sys.argv[1])
