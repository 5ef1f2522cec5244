"""Blueprints by audience: `auth` and `pages` for browsers, `api` for integrations, `events` for
both kinds of event stream, `health` for operators."""
