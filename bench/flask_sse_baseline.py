"""Stock flask-sse, the baseline bench/fanout.py compares against: one Redis pub/sub per client.

    REDIS_URL=redis://... gunicorn -k gevent flask_sse_baseline:app
"""

import os

from flask import Flask, request
from flask_sse import sse

app = Flask(__name__)
app.config["REDIS_URL"] = os.environ["REDIS_URL"]
app.register_blueprint(sse, url_prefix="/stream")


@app.post("/publish")
def publish():
    sse.publish(request.get_json(), type="message", channel="bench")
    return "", 204
