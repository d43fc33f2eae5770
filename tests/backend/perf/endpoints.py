"""Every list endpoint of config.urls, found by walking the URL tree (so a new one is covered
without editing these tests): DRF views whose GET is a list (``list`` action of a viewset, a
``ListAPIView``, or a ``@action(detail=..., methods=["get"])`` that paginates)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver


@dataclass(frozen=True)
class ListEndpoint:
    name: str
    route: str
    view_class: Any
    action: str


def _walk(resolver: URLResolver, prefix: str = ""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def list_endpoints() -> list[ListEndpoint]:
    found = []
    for route, pattern in _walk(get_resolver()):
        cls = getattr(pattern.callback, "cls", None)
        if cls is None or not route.startswith("api/"):
            continue
        actions = getattr(pattern.callback, "actions", None)
        if actions:
            action = actions.get("get")
            if action is None or action == "retrieve":
                continue
            # A GET action returning one object is a detail, not a list.
            handler = getattr(cls, action)
            if action != "list" and not getattr(handler, "detail", None) is not None:
                continue
            if action != "list" and "paginate_queryset" not in _source(handler):
                continue
        elif hasattr(cls, "list"):
            action = "list"
        else:
            continue
        found.append(ListEndpoint(name=pattern.name, route=route, view_class=cls, action=action))
    return found


def _source(func: Any) -> str:
    import inspect

    try:
        return inspect.getsource(func)
    except (OSError, TypeError):
        return ""
