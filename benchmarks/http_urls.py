"""The production URLs plus ``/bench/ceiling/``: a DRF view returning 20 small objects without
touching the database, the cache or the session (no authentication, no throttle), so it measures
what the HTTP path itself (gunicorn, the middleware stack, DRF rendering) costs per request. Only
served by the benchmark's settings (benchmarks/http_settings.py)."""

from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

ROWS = [{"id": i, "code": f"skill-{i}", "label": f"Compétence {i}", "level": i % 4} for i in range(1, 21)]


class CeilingView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def get(self, request):  # noqa: ANN001, ANN201
        return Response({"count": len(ROWS), "next": None, "previous": None, "results": ROWS})


urlpatterns = [
    path("bench/ceiling/", CeilingView.as_view(), name="bench-ceiling"),
    path("", include("config.urls")),
]
