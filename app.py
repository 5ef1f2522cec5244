"""The WSGI entry point: `gunicorn app:app` and `flask --app app ...`."""

from elako import create_app

app = create_app()
