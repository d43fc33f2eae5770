"""The pagination of every API list: page numbers (``?page=``, ``?page_size=`` up to 100), with
a count that never scans a national table.

A plain ``COUNT(*)`` costs as much as reading the whole list: 5 to 25 ms per request on the
national data set (100,000 requests, 50,000 mentors), more than the page itself. So:

- the page is read with one row more than asked, which says whether there is a next page;
- when there is none, the count is known without a query (the rows before the page plus the page);
- otherwise the rows are counted up to ``count_limit`` (``SELECT COUNT(*) FROM (... LIMIT n)``):
  exact below it, and above it ``count`` is a lower bound and ``count_exact`` is false.

``?page=last`` counts exactly (it has to), once, when asked. A page past the end is a 404, as
with DRF's own paginator.
"""

from __future__ import annotations

import math
from typing import Any

from django.db.models import QuerySet
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param


class Pagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    #: Rows counted at most for ``count``; above, ``count_exact`` is false.
    count_limit = 1000

    def paginate_queryset(self, queryset: QuerySet[Any], request: Request, view: Any = None) -> list[Any] | None:
        self.request = request
        size = self.get_page_size(request)
        raw = request.query_params.get(self.page_query_param) or "1"
        exact_total = None
        if raw in self.last_page_strings:
            exact_total = queryset.count()
            number = max(1, math.ceil(exact_total / size))
        else:
            try:
                number = int(raw)
            except ValueError:
                number = 0
            if number < 1:
                raise NotFound(self.invalid_page_message.format(page_number=raw, message="not a page number"))
        offset = (number - 1) * size
        rows = list(queryset[offset : offset + size + 1])
        self.has_next = len(rows) > size
        rows = rows[:size]
        if not rows and number > 1:
            raise NotFound(self.invalid_page_message.format(page_number=raw, message="that page contains no results"))
        self.number = number
        self.count_exact = True
        if exact_total is not None:
            self.count = exact_total
        elif not self.has_next:
            self.count = offset + len(rows)
        elif offset + size < self.count_limit:
            # Only the key is selected under the count: the columns and joins of the rows (a
            # list's select_related or .values() paths) cost 5-30 ms there on national tables.
            counted = queryset.order_by().values("pk")[: self.count_limit + 1].count()
            self.count = min(counted, self.count_limit)
            self.count_exact = counted <= self.count_limit
        else:  # deep in a long list: at least the rows up to this page and one more
            self.count, self.count_exact = offset + size + 1, False
        return rows

    def get_next_link(self) -> str | None:
        if not self.has_next:
            return None
        return replace_query_param(self.request.build_absolute_uri(), self.page_query_param, self.number + 1)

    def get_previous_link(self) -> str | None:
        if self.number <= 1:
            return None
        url = self.request.build_absolute_uri()
        if self.number == 2:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, self.number - 1)

    def get_paginated_response(self, data: Any) -> Response:
        return Response({
            "count": self.count,
            "count_exact": self.count_exact,
            "next": self.get_next_link(),
            "previous": self.get_previous_link(),
            "results": data,
        })

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        out = super().get_paginated_response_schema(schema)
        out["properties"] = {
            "count": {"type": "integer", "example": 123,
                      "description": f"exact when count_exact is true; else a lower bound (over {self.count_limit})"},
            "count_exact": {"type": "boolean", "example": True},
            **{k: v for k, v in out["properties"].items() if k != "count"},
        }
        out["required"] = ["count", "count_exact", "results"]
        return out
