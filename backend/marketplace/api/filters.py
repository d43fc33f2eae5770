"""The API's filter backend: django-filter's, without its per-request cost when a request
filters on nothing.

Measured with benchmarks/http_profile.py on the national data set, django-filter cost 10-17 % of
a list request's CPU before any row was read: every request deep-copies the FilterSet's filters
(about 700 ``deepcopy`` calls for the proposals' 16 filters) and builds and validates a form, and
a view declaring ``filterset_fields`` gets a new FilterSet class built from the model on every
request. So:

- a request whose query string names none of the FilterSet's filters (most list reads: a page,
  an ordering) skips the FilterSet: with no value, every filter leaves the queryset as it is and
  the form has nothing to refuse, so the answer is the same;
- the FilterSet class built for ``filterset_fields`` is built once per view and model.

A query parameter counts as naming a filter when it is the filter's name or starts with the
name and an underscore (the range and multi-value widgets' ``name_min``, ``name_after``, ...).
"""

from __future__ import annotations

from typing import Any

from django_filters.rest_framework import DjangoFilterBackend


def _names_a_filter(param: str, names: Any) -> bool:
    return param in names or any(param.startswith(f"{name}_") for name in names)


class FilterBackend(DjangoFilterBackend):
    _auto_filtersets: dict[tuple[type, type, str], type] = {}

    def get_filterset_class(self, view: Any, queryset: Any = None) -> Any:
        fields = getattr(view, "filterset_fields", None)
        if getattr(view, "filterset_class", None) or queryset is None or not fields:
            return super().get_filterset_class(view, queryset)
        key = (type(view), queryset.model, repr(fields))
        cls = self._auto_filtersets.get(key)
        if cls is None:
            cls = self._auto_filtersets[key] = super().get_filterset_class(view, queryset)
        return cls

    def filter_queryset(self, request: Any, queryset: Any, view: Any) -> Any:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None:
            return queryset
        names = filterset_class.base_filters
        if not any(_names_a_filter(param, names) for param in request.query_params):
            return queryset
        return super().filter_queryset(request, queryset, view)
