"""`flask --app app worker` and `flask --app app jobs ...` (status, dead letters, re-running)."""

import datetime
import logging
import signal

import click

from . import get_queue
from .queue import DEAD_MAXLEN


def init_app(app):
    @app.cli.command("worker")
    def worker():
        """Run background jobs (emails, webhooks) until SIGTERM or Ctrl-C; run as many as needed."""
        from .worker import Worker

        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        stop = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.append(True))
        Worker(app).run(stopping=lambda: bool(stop))

    jobs = click.Group("jobs", help="Inspect the job queue and re-run dead letters.")
    app.cli.add_command(jobs)

    @jobs.command("status")
    def status():
        """How many jobs are ready or running, scheduled for later, and dead."""
        counts = get_queue(app).counts()
        click.echo(" ".join(f"{name}={count}" for name, count in counts.items()))

    @jobs.command("dead")
    @click.option("--limit", default=50, show_default=True)
    def dead(limit):
        """List dead letters, newest first: id, job, arguments, failures and the last error."""
        letters = get_queue(app).dead_letters(limit)
        for dead_id, job in letters:
            when = datetime.datetime.fromtimestamp(job.failed_at or 0, datetime.timezone.utc)
            click.echo(f"{dead_id}  {job.name}{tuple(job.args)!r}  failures={job.failures}  "
                       f"at {when:%Y-%m-%d %H:%M:%S}Z\n    {job.error}")
        if not letters:
            click.echo("no dead letters")

    @jobs.command("retry")
    @click.argument("dead_ids", nargs=-1)
    @click.option("--all", "everything", is_flag=True, help="Every dead letter.")
    def retry(dead_ids, everything):
        """Run dead letters again (by the ids `jobs dead` shows), with a fresh retry schedule."""
        queue = get_queue(app)
        if everything:
            dead_ids = [dead_id for dead_id, _job in queue.dead_letters(count=DEAD_MAXLEN)]
        if not dead_ids:
            raise click.UsageError("name dead letter ids, or pass --all")
        click.echo(f"re-queued {queue.revive(dead_ids)} job(s)")

