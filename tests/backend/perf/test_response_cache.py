"""The API response cache (config/response_cache.py) is never stale and never crosses users.

Each test reads through the API twice and checks the second answer came from the cache
(``X-Response-Cache: hit``), then writes in one way or another (ORM save, queryset ``update()``,
raw SQL, ``COPY``, another connection, another transaction committing mid-computation) and
checks the very next answer is the new one, byte for byte the answer computed without the cache.
PostgreSQL only (the cache is off on SQLite); outside test transactions, as in production.
"""

from __future__ import annotations

import json
import re

import psycopg
import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from accounts.models import Role
from config import response_cache
from marketplace.models import CoordinatorScope, Request
from tests.backend.cycles.conftest import make_cycle, make_proposal, mentor_profile, open_request
from tests.conftest import client_for
from tests.factories import UserFactory, other_territory

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres]


@pytest.fixture(autouse=True)
def _cache_on(settings):
    settings.RESPONSE_CACHE_MB = 16
    response_cache.close()
    yield
    response_cache.close()


@pytest.fixture(params=["forced", "token"])
def make_client(request):
    """An API client authenticated by DRF's ``force_authenticate`` (the full path), or by an API
    token (what a real client sends: served at the front door, ``FrontDoorMiddleware``)."""
    if request.param == "forced":
        return client_for
    return lambda user: _token_client(user)[0]


def _get(client, path):
    response = client.get(path)
    return response.status_code, response.get("X-Response-Cache"), response.content


def _uncached(client, path, settings):
    settings.RESPONSE_CACHE_MB = 0
    try:
        response = client.get(path)
    finally:
        settings.RESPONSE_CACHE_MB = 16
    assert response.get("X-Response-Cache") is None
    return response.content


def _other_connection():
    return psycopg.connect(**response_cache.connection_params(), autocommit=True)


def _notes(content):
    return [item["notes"] for item in json.loads(content)["results"]]


def test_second_read_is_a_hit_with_the_same_bytes(make_client, entrepreneur, settings):
    open_request(user=entrepreneur, notes="première")
    client = make_client(entrepreneur)
    status, state, first = _get(client, "/api/requests/")
    assert (status, state) == (200, "miss")
    status, state, second = _get(client, "/api/requests/")
    assert (status, state) == (200, "hit")
    assert second == first == _uncached(client, "/api/requests/", settings)


@pytest.mark.parametrize("how", ["save", "update", "raw", "other_connection", "copy"])
def test_every_kind_of_write_is_seen_by_the_next_read(make_client, entrepreneur, settings, how):
    request = open_request(user=entrepreneur, notes="avant")
    client = make_client(entrepreneur)
    _get(client, "/api/requests/")
    assert _get(client, "/api/requests/")[1] == "hit"
    if how == "save":
        request.notes = "après"
        request.save()
    elif how == "update":
        Request.objects.filter(pk=request.pk).update(notes="après")
    elif how == "raw":
        with connection.cursor() as cursor:
            cursor.execute("UPDATE marketplace_request SET notes = %s WHERE id = %s", ["après", request.pk])
    elif how == "other_connection":  # another process: a worker, a psql session, another server
        with _other_connection() as other:
            other.execute("UPDATE marketplace_request SET notes = %s WHERE id = %s", ["après", request.pk])
    else:  # COPY, as a cycle's bulk write: a second request, written by COPY
        row = Request.objects.filter(pk=request.pk).values(
            "project_id", "entrepreneur_id", "territory_id", "kind", "format", "status").get()
        Request.objects.filter(pk=request.pk).update(status="withdrawn")  # one live request per project
        _get(client, "/api/requests/")
        with _other_connection() as other, other.cursor().copy(
            "COPY marketplace_request (project_id, entrepreneur_id, territory_id, kind, format, notes, status,"
            " created_at, status_changed_at) FROM STDIN"
        ) as copy:
            copy.write_row([row["project_id"], row["entrepreneur_id"], row["territory_id"], row["kind"],
                            row["format"], "après", "open", "2030-01-01T00:00:00Z", "2030-01-01T00:00:00Z"])
    status, state, content = _get(client, "/api/requests/")
    assert status == 200 and state == "miss"
    assert "après" in _notes(content)
    assert content == _uncached(client, "/api/requests/", settings)


def test_a_write_committed_during_the_computation_is_not_stored(make_client, entrepreneur, settings, monkeypatch):
    request = open_request(user=entrepreneur, notes="avant")
    client = make_client(entrepreneur)
    real_finish = response_cache.finish

    def finish_after_a_concurrent_commit(pending, response, request_=None):
        with _other_connection() as other:
            other.execute("UPDATE marketplace_request SET notes = 'après' WHERE id = %s", [request.pk])
        return real_finish(pending, response, request_)

    monkeypatch.setattr(response_cache, "finish", finish_after_a_concurrent_commit)
    status, state, content = _get(client, "/api/requests/")
    assert _notes(content) == ["avant"]
    assert state is None  # computed, not stored: it may mix both states
    monkeypatch.setattr(response_cache, "finish", real_finish)
    assert _notes(_get(client, "/api/requests/")[2]) == ["après"]


def test_answers_never_cross_users(make_client, entrepreneur, other_entrepreneur):
    open_request(user=entrepreneur, notes="à Amina")
    open_request(user=other_entrepreneur, notes="à l'autre")
    mine, theirs = make_client(entrepreneur), make_client(other_entrepreneur)
    for _ in range(2):
        assert _notes(_get(mine, "/api/requests/")[2]) == ["à Amina"]
        assert _notes(_get(theirs, "/api/requests/")[2]) == ["à l'autre"]
    assert _get(theirs, "/api/requests/")[1] == "hit"


def test_a_coordinators_new_territory_changes_the_answer(make_client, coordinator, settings):
    cycle = make_cycle(status="review")
    elsewhere_territory = other_territory()
    elsewhere = make_cycle(status="review", territory=elsewhere_territory)
    client = make_client(coordinator)
    names = lambda content: sorted(c["id"] for c in json.loads(content)["results"])  # noqa: E731
    assert names(_get(client, "/api/cycles/")[2]) == [cycle.pk]
    assert _get(client, "/api/cycles/")[1] == "hit"
    CoordinatorScope.objects.create(user=coordinator, territory=elsewhere_territory)
    # The user as the next request gets it (accounts.authcache dropped the old one on the change).
    client = make_client(type(coordinator).objects.get(pk=coordinator.pk))
    status, state, content = _get(client, "/api/cycles/")
    assert state == "miss" and names(content) == sorted([cycle.pk, elsewhere.pk])


def test_not_found_and_errors_are_not_stored(make_client, coordinator):
    client = make_client(coordinator)
    for _ in range(2):
        response = client.get("/api/requests/999999/")
        assert response.status_code == 404 and response.get("X-Response-Cache") is None


def test_details_and_proposals_are_cached_and_invalidated(make_client, coordinator, settings):
    cycle = make_cycle(status="review")
    request = open_request()
    proposal = make_proposal(cycle, request, mentor=mentor_profile())
    client = make_client(coordinator)
    for path in (f"/api/proposals/{proposal.pk}/", f"/api/proposals/?cycle={cycle.pk}", f"/api/requests/{request.pk}/"):
        assert _get(client, path)[1] == "miss"
        assert _get(client, path)[1] == "hit"
    type(proposal).objects.filter(pk=proposal.pk).update(score=12.5)
    status, state, content = _get(client, f"/api/proposals/{proposal.pk}/")
    assert state == "miss" and json.loads(content)["score"] == 12.5
    assert _get(client, f"/api/requests/{request.pk}/")[1] == "hit"  # it read no proposal
    assert content == _uncached(client, f"/api/proposals/{proposal.pk}/", settings)


def test_inside_a_transaction_the_cache_is_not_used(make_client, entrepreneur):
    request = open_request(user=entrepreneur, notes="avant")
    client = make_client(entrepreneur)
    _get(client, "/api/requests/")
    with transaction.atomic():
        Request.objects.filter(pk=request.pk).update(notes="pas encore validé")
        status, state, content = _get(client, "/api/requests/")
        assert state is None and _notes(content) == ["pas encore validé"]
        transaction.set_rollback(True)
    assert _notes(_get(client, "/api/requests/")[2]) == ["avant"]


def test_a_lost_listening_connection_turns_the_cache_off_until_it_listens_again(make_client, entrepreneur, monkeypatch):
    request = open_request(user=entrepreneur, notes="avant")
    client = make_client(entrepreneur)
    _get(client, "/api/requests/")
    assert _get(client, "/api/requests/")[1] == "hit"
    with _other_connection() as other:
        killed = other.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'sociallab-response-cache' AND datname = current_database()"
        ).fetchall()
        assert killed == [(True,)]
        # Written while nobody listens: no notification will ever say so.
        other.execute("UPDATE marketplace_request SET notes = 'après' WHERE id = %s", [request.pk])
    status, state, content = _get(client, "/api/requests/")
    assert state is None and _notes(content) == ["après"]  # off, and the old entries are gone
    assert response_cache.stats()["entries"] == 0
    monkeypatch.setattr(response_cache._LISTENER, "retry_at", 0.0)
    assert _get(client, "/api/requests/")[1] == "miss"
    assert _get(client, "/api/requests/")[1] == "hit"


def test_off_with_zero_megabytes(entrepreneur, settings):
    open_request(user=entrepreneur)
    settings.RESPONSE_CACHE_MB = 0
    client = client_for(entrepreneur)
    assert _get(client, "/api/requests/")[1] is None
    assert _get(client, "/api/requests/")[1] is None


def test_every_table_but_the_excluded_ones_notifies():
    watched = set(response_cache.install_triggers())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r'"
        )
        tables = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgname = %s",
                       [response_cache.TRIGGER])
        triggered = {row[0] for row in cursor.fetchall()}
    assert "marketplace_request" in tables and "cycles_proposal" in tables
    assert triggered == watched == tables - response_cache.EXCLUDED_TABLES
    assert not triggered & response_cache.EXCLUDED_TABLES


def test_reads_of_excluded_tables_the_clock_or_writes_are_not_stored(entrepreneur, monkeypatch):
    open_request(user=entrepreneur)
    client = client_for(entrepreneur)
    real_lookup = response_cache.lookup

    for extra in ("SELECT count(*) FROM chat_message", "SELECT now()", "UPDATE marketplace_request SET notes = ''"):
        def lookup_then_read(pending, request, extra_key=(), extra=extra):
            hit = real_lookup(pending, request, extra_key)
            if hit is None:  # as if the view ran this statement too
                pending.recorder(lambda *a: None, extra, None, False, None)
            return hit

        monkeypatch.setattr(response_cache, "lookup", lookup_then_read)
        assert _get(client, "/api/requests/")[1] is None
        assert _get(client, "/api/requests/")[1] is None
    monkeypatch.setattr(response_cache, "lookup", real_lookup)
    assert _get(client, "/api/requests/")[1] == "miss"


def test_entries_are_bounded_least_recently_used_first(settings):
    settings.RESPONSE_CACHE_MB = 1
    entries = response_cache._Entries()
    blob = b"x" * 100_000
    for i in range(20):
        entries.put((f"k{i}",), response_cache.Entry(1, (), (blob,), ()))
        entries.get(("k0",))  # kept: used after every insertion
    assert entries.size <= 1024 * 1024
    assert entries.get(("k0",)) is not None and entries.get(("k1",)) is None and entries.get(("k19",)) is not None
    entries.put(("huge",), response_cache.Entry(1, (), (b"x" * 600_000,), ()))
    assert entries.get(("huge",)) is None  # over a quarter of the budget: never stored


def test_a_coordinator_given_a_first_territory_sees_its_cycles(settings):
    cycle = make_cycle(status="review")
    user = UserFactory(role=Role.COORDINATOR)
    client = client_for(user)
    assert json.loads(_get(client, "/api/cycles/")[2])["results"] == []
    assert _get(client, "/api/cycles/")[1] == "hit"
    CoordinatorScope.objects.create(user=user, territory_id=cycle.territory_id)
    fresh = client_for(type(user).objects.get(pk=user.pk))
    assert [c["id"] for c in json.loads(_get(fresh, "/api/cycles/")[2])["results"]] == [cycle.pk]


# --- Pages ----------------------------------------------------------------------------------------

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]{64})"')


def _page_client(user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_a_page_is_served_again_with_fresh_csrf_tokens_that_work(coordinator):
    cycle = make_cycle(status="review")
    proposal = make_proposal(cycle, open_request(), mentor=mentor_profile())
    client = _page_client(coordinator)
    path = f"/coordination/cycles/{cycle.pk}/propositions/"
    first = client.get(path)
    assert first.status_code == 200 and first["X-Response-Cache"] == "miss"
    second = client.get(path)
    assert second.status_code == 200 and second["X-Response-Cache"] == "hit"
    tokens_first = CSRF_INPUT.findall(first.content.decode())
    tokens_second = CSRF_INPUT.findall(second.content.decode())
    assert tokens_first and len(tokens_second) == len(tokens_first)
    assert len(set(tokens_second)) == 1 and tokens_second[0] not in tokens_first  # one new mask per answer
    # Outside the tokens, the same page.
    assert CSRF_INPUT.sub("", first.content.decode()) == CSRF_INPUT.sub("", second.content.decode())
    # A token of the cached page is accepted: approve the proposal with it.
    response = client.post(f"/coordination/propositions/{proposal.pk}/approuver/",
                           {"csrfmiddlewaretoken": tokens_second[-1]})
    assert response.status_code in (200, 302)
    proposal.refresh_from_db()
    assert proposal.status == "approved"
    # ... and the page shows the decision at once.
    third = client.get(path)
    assert third.get("X-Response-Cache") != "hit"


def test_a_page_with_a_message_to_show_is_neither_served_from_nor_stored(entrepreneur):
    request = open_request(user=entrepreneur)
    client = _page_client(entrepreneur)
    assert client.get("/porteur/demandes/")["X-Response-Cache"] == "miss"
    page = client.get("/porteur/demandes/")
    assert page["X-Response-Cache"] == "hit"
    token = CSRF_INPUT.findall(page.content.decode())[0]
    client.post(f"/porteur/demandes/{request.pk}/retirer/", {"csrfmiddlewaretoken": token, "reason": "trouvé"})
    shown = client.get("/porteur/demandes/")
    assert "X-Response-Cache" not in shown
    assert "Votre demande est retirée." in shown.content.decode()
    after = client.get("/porteur/demandes/")
    assert after["X-Response-Cache"] == "miss" and "Votre demande est retirée." not in after.content.decode()


def test_pages_never_cross_users_or_languages(entrepreneur, other_entrepreneur):
    open_request(user=entrepreneur, notes="à Amina")
    open_request(user=other_entrepreneur, notes="à l'autre")
    mine, theirs = _page_client(entrepreneur), _page_client(other_entrepreneur)
    for _ in range(2):
        assert "Amina" in mine.get("/porteur/demandes/").content.decode()
        assert "Amina" not in theirs.get("/porteur/demandes/").content.decode()
    french = mine.get("/porteur/demandes/")
    english = mine.get("/porteur/demandes/", HTTP_ACCEPT_LANGUAGE="en")
    assert french["X-Response-Cache"] == "hit" and english["X-Response-Cache"] == "miss"
    assert french["Content-Language"] == "fr" and english["Content-Language"] == "en"


def test_the_dashboard_is_kept_for_the_figures_it_shows(coordinator, settings):
    settings.REPORT_CACHE_SECONDS = 600
    open_request()
    client = _page_client(coordinator)
    first = client.get("/coordination/tableau-de-bord/")
    assert first.status_code == 200 and first["X-Response-Cache"] == "miss"
    assert client.get("/coordination/tableau-de-bord/")["X-Response-Cache"] == "hit"
    # New figures (computed again on demand, then read from the report cache): a new page.
    refreshed = client.get("/coordination/tableau-de-bord/?refresh=1")
    assert refreshed.get("X-Response-Cache") != "hit"
    again = client.get("/coordination/tableau-de-bord/")
    assert again["X-Response-Cache"] == "miss"  # the report's new computation time: a new key
    assert client.get("/coordination/tableau-de-bord/")["X-Response-Cache"] == "hit"


# --- Who is calling: the process's copy of a token's owner -------------------------------------------


def _token_client(user):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client, token


@pytest.mark.parametrize("how", ["revoke", "deactivate_with_update", "new_territory"])
def test_the_next_request_sees_a_change_of_the_caller(coordinator, how):
    from rest_framework.authtoken.models import Token

    cycle = make_cycle(status="review")
    elsewhere = make_cycle(status="review", territory=other_territory())
    client, token = _token_client(coordinator)
    for _ in range(3):  # the owner is now this process's copy
        response = client.get("/api/cycles/")
        assert response.status_code == 200
    assert [c["id"] for c in response.json()["results"]] == [cycle.pk]
    assert response_cache._MEMO.items, "the token's owner is kept by the process"
    if how == "revoke":
        Token.objects.filter(pk=token.pk).delete()
        assert client.get("/api/cycles/").status_code in (401, 403)  # DRF: 403 when sessions come first
    elif how == "deactivate_with_update":  # no signal: only the table's notification says so
        type(coordinator).objects.filter(pk=coordinator.pk).update(is_active=False)
        assert client.get("/api/cycles/").status_code in (401, 403)
    else:
        CoordinatorScope.objects.create(user=coordinator, territory_id=elsewhere.territory_id)
        ids = sorted(c["id"] for c in client.get("/api/cycles/").json()["results"])
        assert ids == sorted([cycle.pk, elsewhere.pk])


def test_the_kept_owner_is_a_copy_per_request(entrepreneur):
    open_request(user=entrepreneur)
    client, _ = _token_client(entrepreneur)
    client.get("/api/requests/")
    client.get("/api/requests/")
    ((key, (kept, _, _)),) = response_cache._MEMO.items.items()
    state = response_cache._STATE.set((response_cache._LISTENER.epoch, dict(response_cache._LISTENER.versions)))
    try:
        first = response_cache.memo_get(key, ("accounts_user",))
        first.display_name = "changed by a request"
        second = response_cache.memo_get(key, ("accounts_user",))
    finally:
        response_cache._STATE.reset(state)
    assert first is not kept and second is not kept and second.display_name == kept.display_name


def test_reference_data_is_kept_and_an_administrators_change_is_seen_at_once(api):
    from marketplace.models import Skill

    assert _get(api, "/api/reference/skills/")[1] == "miss"
    assert _get(api, "/api/reference/skills/")[1] == "hit"
    skill = Skill.objects.order_by("pk").first()
    Skill.objects.filter(pk=skill.pk).update(label_fr="Nouvelle étiquette")
    status, state, content = _get(api, "/api/reference/skills/")
    assert state == "miss" and "Nouvelle étiquette" in content.decode()


def test_threads_reading_while_another_writes_end_on_the_last_write(make_client, entrepreneur):
    """As under Daphne, where views run on threads: one listener, one cache, many requests."""
    import threading

    from django.db import connections

    request = open_request(user=entrepreneur, notes="0")
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            client = make_client(entrepreneur)
            while not done.is_set():
                assert client.get("/api/requests/").status_code == 200
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    readers = [threading.Thread(target=read) for _ in range(4)]
    for thread in readers:
        thread.start()
    try:
        with _other_connection() as other:
            for i in range(1, 31):
                other.execute("UPDATE marketplace_request SET notes = %s WHERE id = %s", [str(i), request.pk])
    finally:
        done.set()
        for thread in readers:
            thread.join(timeout=30)
    assert not errors
    assert _notes(_get(make_client(entrepreneur), "/api/requests/")[2]) == ["30"]


def test_a_value_read_through_the_memo_is_a_dependency_of_the_page(coordinator, settings):
    """The dashboard reads its territories' codes through the process's memo: the page kept
    depends on the territories' table all the same."""
    settings.REPORT_CACHE_SECONDS = 600
    client = _page_client(coordinator)
    client.get("/coordination/tableau-de-bord/")
    client.get("/coordination/tableau-de-bord/")  # codes now from the memo
    key, (codes, _, _) = next((k, v) for k, v in response_cache._MEMO.items.items() if k[0] == "territory-codes")
    assert codes == ("rive-droite",)
    ((page_key, entry),) = [(k, e) for k, e in response_cache._ENTRIES.items.items() if k[0] == "page"]
    assert "marketplace_territory" in dict(entry.versions)
    from marketplace.models import Territory

    Territory.objects.filter(code="rive-droite").update(name="Rive Droite (renommée)")
    assert client.get("/coordination/tableau-de-bord/")["X-Response-Cache"] == "miss"


def test_a_memo_hit_during_a_recorded_computation_records_the_memos_tables(entrepreneur):
    client_for(entrepreneur).get("/api/requests/")  # the listener is up
    state = response_cache._LISTENER.sync()
    assert state is not None
    pending = response_cache._Pending(("api",), *state)
    with response_cache.recording(pending):
        response_cache.memo_put(("test",), "value", ("marketplace_territory",))
        assert response_cache.memo_get(("test",), ("marketplace_territory",)) == "value"
    assert "marketplace_territory" in pending.recorder.names
    assert response_cache.memo_get(("test",), ("marketplace_territory",)) is None  # outside a synced request


def test_an_answer_served_again_runs_no_query(coordinator):
    from django.test.utils import CaptureQueriesContext

    cycle = make_cycle(status="review")
    make_proposal(cycle, open_request(), mentor=mentor_profile())
    api, _ = _token_client(coordinator)
    page = _page_client(coordinator)
    for client, path in ((api, f"/api/proposals/?cycle={cycle.pk}"), (api, "/api/requests/"),
                         (page, f"/coordination/cycles/{cycle.pk}/propositions/")):
        client.get(path)
        client.get(path)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
        assert response["X-Response-Cache"] == "hit"
        assert len(queries) == 0, [q["sql"] for q in queries]


# Every page served again (``cached_page``), as one user then as another of the same role. (The
# parties' proposals and pairs read their conversation, a chat table without trigger: never kept,
# so not decorated.)
CACHED_PAGES = {
    "entrepreneur": ["/porteur/", "/porteur/demandes/"],
    "mentor": ["/parrainage/"],
    "company": ["/entreprise/", "/entreprise/offres/"],
    "coordinator": ["/coordination/cycles/", "/coordination/cycles/{cycle}/",
                    "/coordination/cycles/{cycle}/propositions/", "/coordination/cycles/{cycle}/sans-proposition/",
                    "/coordination/propositions/{proposal}/"],
}
OTHER = {"entrepreneur": "other_entrepreneur", "mentor": "other_mentor", "company": "other_company",
         "coordinator": "outside_coordinator"}


@pytest.mark.parametrize("role", sorted(CACHED_PAGES))
def test_no_kept_page_is_ever_served_to_another_user(role, request):
    first, second = request.getfixturevalue(role), request.getfixturevalue(OTHER[role])
    cycle = make_cycle(status="review")
    proposal = make_proposal(cycle, open_request(), mentor=mentor_profile())
    a, b = _page_client(first), _page_client(second)
    for path in CACHED_PAGES[role]:
        path = path.format(cycle=cycle.pk, proposal=proposal.pk)
        assert a.get(path).status_code == 200, path
        kept = a.get(path)
        assert kept["X-Response-Cache"] == "hit", path
        assert first.display_name and first.display_name in kept.content.decode(), path
        other = b.get(path)
        assert other.get("X-Response-Cache") != "hit", path
        assert first.display_name not in other.content.decode(), path


# --- The front door: token callers served before the middleware stack ---------------------------


def test_the_front_door_serves_the_full_paths_final_answer_without_running_it(entrepreneur, monkeypatch):
    open_request(user=entrepreneur, notes="première")
    client, _ = _token_client(entrepreneur)
    first = client.get("/api/requests/?page_size=5")
    assert first["X-Response-Cache"] == "miss"

    def never(*args, **kwargs):
        raise AssertionError("the full path ran")

    monkeypatch.setattr(response_cache, "lookup", never)  # DRF's dispatch would call it
    second = client.get("/api/requests/?page_size=5")
    assert second.status_code == 200 and second["X-Response-Cache"] == "hit"
    assert second.content == first.content
    skipped = {"x-request-id", "x-response-cache"}
    assert {k: v for k, v in second.items() if k.lower() not in skipped} == {
        k: v for k, v in first.items() if k.lower() not in skipped}
    assert second["X-Request-ID"] != first["X-Request-ID"]  # still one per request
    monkeypatch.undo()
    entry_kinds = sorted(key[0] for key in response_cache._ENTRIES.items)
    assert entry_kinds == ["api", "front"]


def test_a_session_cookie_takes_the_full_path(entrepreneur, other_entrepreneur):
    """DRF tries the session before the token: the front door must not answer for the token."""
    open_request(user=entrepreneur, notes="à Amina")
    open_request(user=other_entrepreneur, notes="à l'autre")
    both = APIClient()
    both.force_login(other_entrepreneur)  # (a sign-in writes the users' table: first)
    token_only, token = _token_client(entrepreneur)
    assert [token_only.get("/api/requests/")["X-Response-Cache"] for _ in range(2)] == ["miss", "hit"]
    both.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    for _ in range(2):
        assert _notes(both.get("/api/requests/").content) == ["à l'autre"]


@pytest.mark.parametrize("header", ["Token {key}x", "Token {key} extra", "Bearer {key}", "token"])
def test_a_token_drf_would_refuse_is_refused(entrepreneur, header):
    open_request(user=entrepreneur)
    client, token = _token_client(entrepreneur)
    for _ in range(2):
        assert client.get("/api/requests/").status_code == 200
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=header.format(key=token.key))
    assert other.get("/api/requests/").status_code in (401, 403)


def test_languages_and_accept_headers_are_kept_apart(entrepreneur):
    open_request(user=entrepreneur)
    client, _ = _token_client(entrepreneur)
    variants = {
        "fr": {"HTTP_ACCEPT_LANGUAGE": "fr"},
        "en": {"HTTP_ACCEPT_LANGUAGE": "en"},
        "indented": {"HTTP_ACCEPT": "application/json; indent=4"},
    }
    answers = {}
    for _ in range(2):
        for name, headers in variants.items():
            response = client.get("/api/requests/", **headers)
            answers.setdefault(name, set()).add((response["Content-Language"], response.content))
    assert {name: len(seen) for name, seen in answers.items()} == {"fr": 1, "en": 1, "indented": 1}
    assert sum(key[0] == "front" for key in response_cache._ENTRIES.items) == 3
    (fr,), (en,), (indented,) = answers["fr"], answers["en"], answers["indented"]
    assert fr[0] == "fr" and en[0] == "en"
    assert b"\n    " in indented[1] and b"\n    " not in fr[1]
    client.cookies["django_language"] = "en"
    assert client.get("/api/requests/")["Content-Language"] == "en"


def test_the_front_door_counts_every_answer_against_the_throttle(entrepreneur, monkeypatch):
    from django.core.cache import cache
    from rest_framework.throttling import SimpleRateThrottle

    cache.clear()
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "user", "3/min")
    open_request(user=entrepreneur)
    client, _ = _token_client(entrepreneur)
    answers = [client.get("/api/requests/") for _ in range(4)]
    assert [(r.status_code, r.get("X-Response-Cache")) for r in answers] == [
        (200, "miss"), (200, "hit"), (200, "hit"), (429, None)]
    assert int(answers[-1]["Retry-After"]) > 0
    cache.clear()


def test_the_access_log_names_the_view_and_the_caller(entrepreneur, caplog):
    import logging

    open_request(user=entrepreneur)
    client, _ = _token_client(entrepreneur)
    with caplog.at_level(logging.INFO, logger="sociallab.request"):
        client.get("/api/requests/")
        assert client.get("/api/requests/")["X-Response-Cache"] == "hit"
    lines = [r for r in caplog.records if r.name == "sociallab.request"]
    assert [(r.route, r.status, r.user_id) for r in lines] == [("request-list", 200, entrepreneur.pk)] * 2


@pytest.mark.parametrize("why", ["another_throttle", "a_cookie"])
def test_no_front_door_copy_for_other_throttles_or_an_answer_that_sets_a_cookie(entrepreneur, monkeypatch, why):
    from django.urls import resolve
    from rest_framework.throttling import ScopedRateThrottle

    view = resolve("/api/requests/").func.cls
    if why == "another_throttle":
        monkeypatch.setattr(view, "throttle_classes", [*view.throttle_classes, ScopedRateThrottle])
    else:
        real = view.finalize_response

        def with_a_cookie(self, request, response, *args, **kwargs):
            response = real(self, request, response, *args, **kwargs)
            response.set_cookie("seen", "1")
            return response

        monkeypatch.setattr(view, "finalize_response", with_a_cookie)
    open_request(user=entrepreneur)
    client, _ = _token_client(entrepreneur)
    assert [client.get("/api/requests/")["X-Response-Cache"] for _ in range(3)] == ["miss", "hit", "hit"]
    assert sorted(key[0] for key in response_cache._ENTRIES.items) == ["api"]  # found inside DRF only
