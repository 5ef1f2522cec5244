"""Comparing answers."""


def error_of(body):
    """The error of a JSON answer without its request id, which differs on every request: what
    two answers must share to be indistinguishable."""
    error = dict(body["error"])
    error.pop("request_id")
    return error
