"""Light pages: every main page, with full tables, weighs under 100 KB transferred (its HTML plus
the CSS and JavaScript it loads, compressed as the proxy and whitenoise send them), and static
files are served hashed, compressed and cacheable for a year with the production storage."""

from __future__ import annotations

import gzip
import re

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client

from cycles.models import UnmatchedRequest
from tests.backend.cycles.conftest import make_proposal, open_request
from tests.backend.perf.test_query_budgets import PAGES, world  # noqa: F401 (the fixture)
from tests.factories import MentorProfileFactory

BUDGET = 100 * 1024
ASSET = re.compile(r'(?:href|src)="(/static/[^"]+\.(?:css|js))"')
ANONYMOUS_PAGES = ["/", "/connexion/", "/inscription/", "/confidentialite/", "/mot-de-passe/oublie/"]


def _gzipped(data: bytes) -> int:
    # Level 6: what whitenoise precompresses with and close to the proxy's default.
    return len(gzip.compress(data, compresslevel=6))


def transferred(html: bytes) -> tuple[int, dict[str, int]]:
    """Compressed bytes of the page and of each stylesheet and script it loads (each counted once)."""
    parts = {"html": _gzipped(html)}
    for url in dict.fromkeys(ASSET.findall(html.decode())):
        path = finders.find(url.removeprefix("/static/"))
        assert path, f"{url} is referenced but not found"
        with open(path, "rb") as handle:
            parts[url] = _gzipped(handle.read())
    return sum(parts.values()), parts


@pytest.fixture
def full_world(world):  # noqa: F811 (the imported fixture)
    """Every list of the main pages with at least a full page of rows (25 in the coordinator's tables)."""
    provider = MentorProfileFactory()
    for score in range(30):
        request = open_request()
        make_proposal(world.cycle, request, mentor=provider, score=40 + score)
        other = open_request()
        UnmatchedRequest.objects.create(cycle=world.cycle, request=other, territory_id=other.territory_id,
                                        town_id=other.entrepreneur.entrepreneur_profile.town_id,
                                        reason="no_common_language")
    world.grow(3)
    return world


@pytest.mark.django_db
def test_every_main_page_weighs_under_100_kb_transferred(full_world):
    heavy = []
    cases = [(None, url) for url in ANONYMOUS_PAGES] + [(persona, path) for persona, path, _ in PAGES
                                                          if not path.endswith(".csv")]
    for persona, path in cases:
        client = Client()
        if persona:
            client.force_login(full_world.p[persona])
        url = path.format(cycle=full_world.cycle.pk)
        response = client.get(url)
        assert response.status_code == 200, url
        total, parts = transferred(response.content)
        if total > BUDGET:
            heavy.append(f"{url} as {persona}: {total} bytes {parts}")
    assert not heavy, heavy


def test_the_weight_counts_the_assets_a_page_loads():
    html = b'<link rel="stylesheet" href="/static/frontend/css/site.css"><script src="/static/frontend/js/forms.js">'
    total, parts = transferred(html)
    assert set(parts) == {"html", "/static/frontend/css/site.css", "/static/frontend/js/forms.js"}
    assert total > parts["html"]


@pytest.mark.django_db
def test_static_files_are_hashed_compressed_and_cached_for_a_year_in_production(tmp_path, settings):
    from django.contrib.staticfiles.storage import staticfiles_storage
    from django.utils.functional import empty

    settings.DEBUG = False
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}
    staticfiles_storage._wrapped = empty
    try:
        # The project's own files (third-party admin and API-docs assets are hashed the same way).
        call_command("collectstatic", "--noinput", verbosity=0, ignore_patterns=["admin", "rest_framework",
                                                                                  "drf_spectacular_sidecar"])
        html = Client().get("/").content.decode()
        assets = ASSET.findall(html)
        assert assets
        for url in assets:
            assert re.search(r"\.[0-9a-f]{12}\.(css|js)$", url), f"{url} is not hashed"
            response = Client().get(url, HTTP_ACCEPT_ENCODING="gzip, br")
            assert response.status_code == 200, url
            cache = response["Cache-Control"]
            max_age = int(re.search(r"max-age=(\d+)", cache).group(1))
            assert max_age >= 365 * 24 * 3600 and "immutable" in cache and "public" in cache, (url, cache)
            assert response["Content-Encoding"] in {"gzip", "br"}, url
    finally:
        staticfiles_storage._wrapped = empty
