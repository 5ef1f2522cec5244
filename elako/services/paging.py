"""Lists paged newest first by cursor (never by skip): the inbox, a user's orders."""

from mongoengine.queryset.visitor import Q

from ..errors import InvalidInput
from . import inputs


def newest_first(query, *, by, before, limit, anchors, problem):
    """A page of `query`, newest `by` (a time field) first, ties broken by id, starting after
    the item whose id is `before`, looked up among `anchors` (the caller's own: `problem` says
    what else it is). Returns (items, next_before)."""
    if before:
        anchor = anchors.filter(id=inputs.cursor(before, problem)).only(by).first()
        if anchor is None:
            raise InvalidInput(problem, field="before")
        moment = getattr(anchor, by)
        query = query.filter(Q(**{f"{by}__lt": moment}) | Q(**{by: moment, "id__lt": anchor.id}))
    page = list(query.order_by(f"-{by}", "-id").limit(limit + 1))
    return page[:limit], (str(page[limit - 1].id) if len(page) > limit else None)
