"""Impact reports for coordinators and funders, as plain data (dataclasses and dicts): the API,
the CSV/JSON exports and the coordinator dashboard's charts all draw from ``report_build``.

What is counted (a *cohort*): the requests of the scope, that is of its territories, filed in
its period (local dates, both ends included) and, for a cycle, in that cycle's pool (proposed,
unmatched or matched in it). A request is *matched* when one of its matches (of the cycle, for a
cycle report) became active. Follow-up figures (hours, satisfaction, outcomes) are those of these
matches, whenever they were logged.

Statistical secrecy: every count below ``REPORT_MIN_COUNT`` (5) is suppressed (``None`` in
JSON, "< 5" in CSV), zero included, and so is any figure derived from a suppressed count (a rate,
a median, an average). In a table whose parts add up to a shown total (towns, ratings, outcome
statuses) a second part is suppressed when only one is, so that no hidden count can be recovered
by subtraction. Priority-public data is used only for entrepreneurs whose PRIORITY_DATA consent
is live."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import logging
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Exists, Min, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Consent, ConsentPurpose
from config import response_cache
from cycles.models import Match, MatchStatus
from followup.conf import followup_setting
from followup.models import Feedback, FeedbackPhase, Meeting, Outcome, OutcomeStatus, Side
from followup.selectors import is_admin, is_coordinator
from marketplace.models import AgeBand, Gender, Request, Territory
from marketplace.selectors import coordinator_territory_ids

logger = logging.getLogger(__name__)

PRIORITY_GROUPS = ("woman", "under_26", "over_50", "qpv_resident", "job_seeker", "no_criterion", "undisclosed")
REPORTED_MATCH_STATUSES = (MatchStatus.ACTIVE, MatchStatus.COMPLETED, MatchStatus.ENDED_EARLY)


# --- Scope ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportScope:
    territory_ids: tuple[int, ...] | None  # None: every territory (administrators)
    territory_codes: tuple[str, ...] = ()
    cycle_id: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None


def report_scope_for_user(
    *,
    user: Any,
    territory: str | None = None,
    cycle_id: Any = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> ReportScope:
    """The scope ``user`` asks for, checked: coordinators report on their territories (all of
    them by default), administrators on any or all; nobody else (403). A cycle they may not see
    is missing (404)."""
    if not (is_admin(user) or is_coordinator(user)):
        raise PermissionDenied(_("Les rapports sont réservés à la coordination et à l'administration."))
    if date_from and date_to and date_from > date_to:
        raise ValidationError({"date_to": _("La fin de la période précède son début.")})
    cycle = None
    if cycle_id not in (None, ""):
        from cycles.selectors import cycle_get_for_user

        cycle = cycle_get_for_user(user=user, cycle_id=cycle_id)
    if territory:
        found = Territory.objects.filter(code=territory).first()
        if found is None:
            raise ValidationError({"territory": _("Territoire inconnu.")})
        if not is_admin(user) and found.pk not in coordinator_territory_ids(user):
            raise PermissionDenied(_("Vous ne coordonnez pas ce territoire."))
        ids: tuple[int, ...] | None = (found.pk,)
    elif cycle is not None and cycle.territory_id is not None:
        ids = (cycle.territory_id,)
    elif is_admin(user):
        ids = None
    else:
        ids = tuple(sorted(coordinator_territory_ids(user)))
    codes = _territory_codes(ids) if ids else ()
    return ReportScope(territory_ids=ids, territory_codes=codes, cycle_id=cycle.pk if cycle else None,
                       date_from=date_from, date_to=date_to)


def _territory_codes(ids: tuple[int, ...]) -> tuple[str, ...]:
    """The territories' codes, kept by the process while no territory changes (in a request that
    synced with the database's notifications: the dashboard, config.response_cache)."""
    key, tables = ("territory-codes", ids), (Territory._meta.db_table,)
    codes = response_cache.memo_get(key, tables)
    if codes is None:
        codes = tuple(Territory.objects.filter(pk__in=ids).order_by("code").values_list("code", flat=True))
        response_cache.memo_put(key, codes, tables)
    return codes  # type: ignore[no-any-return]


# --- Suppression ----------------------------------------------------------------------------------


def _threshold() -> int:
    return int(followup_setting("REPORT_MIN_COUNT"))


def shown(count: int) -> int | None:
    """A count, or None when it is below the threshold (zero included)."""
    return count if count >= _threshold() else None


def rate(part: int, whole: int) -> float | None:
    if shown(part) is None or shown(whole) is None:
        return None
    return round(part / whole, 4)


def shown_partition(counts: dict[Any, int]) -> dict[Any, int | None]:
    """Suppress the small parts of a table whose total is shown; if exactly one part is hidden,
    hide the smallest shown part too (else total minus the shown parts gives it back)."""
    out: dict[Any, int | None] = {key: shown(value) for key, value in counts.items()}
    hidden = [key for key, value in out.items() if value is None]
    visible = sorted((value, str(key), key) for key, value in counts.items() if out[key] is not None)
    if len(hidden) == 1 and visible and shown(sum(counts.values())) is not None:
        out[visible[0][2]] = None
    return out


# --- The report -----------------------------------------------------------------------------------


@dataclass
class Report:
    scope: dict[str, Any]
    suppression_threshold: int
    requests: int | None
    matched_requests: int | None
    match_rate: float | None
    median_waiting_days: float | None
    matches_by_status: dict[str, int | None]
    by_town: list[dict[str, Any]]
    by_priority_public: list[dict[str, Any]]
    sponsorship_hours: list[dict[str, Any]]
    sponsorship_hours_total: float
    satisfaction: dict[str, dict[str, Any]]
    outcomes: dict[str, Any]
    generated_at: str = field(default_factory=lambda: timezone.now().isoformat())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _requests(scope: ReportScope) -> Any:
    qs = Request.objects.all()
    if scope.territory_ids is not None:
        qs = qs.filter(territory_id__in=scope.territory_ids)
    if scope.date_from:
        qs = qs.filter(created_at__date__gte=scope.date_from)
    if scope.date_to:
        qs = qs.filter(created_at__date__lte=scope.date_to)
    if scope.cycle_id is not None:
        from cycles.models import Proposal, UnmatchedRequest

        qs = qs.filter(
            Q(Exists(Proposal.objects.filter(cycle_id=scope.cycle_id, request=OuterRef("pk"))))
            | Q(Exists(UnmatchedRequest.objects.filter(cycle_id=scope.cycle_id, request=OuterRef("pk"))))
            | Q(Exists(Match.objects.filter(cycle_id=scope.cycle_id, request=OuterRef("pk"))))
        )
    return qs


def _groups(gender: str, age: str, qpv: bool | None, job: bool | None, consent: bool) -> list[str]:
    if not consent:
        return ["undisclosed"]
    groups = [
        name for name, on in (
            ("woman", gender == Gender.WOMAN), ("under_26", age == AgeBand.UNDER_26),
            ("over_50", age == AgeBand.OVER_50), ("qpv_resident", bool(qpv)), ("job_seeker", bool(job)),
        ) if on
    ]
    return groups or ["no_criterion"]


def _profile(field_name: str) -> str:
    return f"entrepreneur__entrepreneur_profile__{field_name}"


def _reported_matches(scope: ReportScope) -> Any:
    """The matches that make a request *matched* (activated, in a reported status, of the cycle
    for a cycle report)."""
    matches = Match.objects.filter(activated_at__isnull=False, status__in=REPORTED_MATCH_STATUSES)
    if scope.cycle_id is not None:
        matches = matches.filter(cycle_id=scope.cycle_id)
    return matches


def report_build(scope: ReportScope) -> Report:
    """All the figures of ``scope`` (from ``report_scope_for_user``), in a fixed number of
    queries whatever the size of the data. Counts are SQL aggregates (``COUNT ... FILTER``,
    ``GROUP BY``): the cohort's rows never come into Python, only one row per town and profile
    combination and, for the median wait, one per matched request. (PostgreSQL's JIT, which
    costs more than this aggregate, is off in the web processes: config/processes.py.)"""
    cohort = _requests(scope)
    live_consent = Consent.objects.filter(
        user=OuterRef("entrepreneur"), purpose=ConsentPurpose.PRIORITY_DATA, withdrawn_at__isnull=True
    )
    reported = _reported_matches(scope)
    flagged = cohort.annotate(
        consent=Exists(live_consent), is_matched=Exists(reported.filter(request=OuterRef("pk")))
    ).order_by()

    # One GROUP BY for towns and priority groups: a row per town and combination of consent,
    # matched and the four criteria (a few thousand at most nationally); each row is sorted into
    # its groups by ``_groups``, the rule in Python, exactly as when every request was read.
    town_names: dict[str, str] = {}
    town_requests: Counter[str] = Counter()
    town_matched: Counter[str] = Counter()
    group_requests: Counter[str] = Counter()
    group_matched: Counter[str] = Counter()
    columns = (_profile("town__insee_code"), _profile("town__name"), "consent", "is_matched", _profile("gender"),
               _profile("age_band"), _profile("qpv_resident"), _profile("job_seeker"))
    for insee, name, consent, is_matched, gender, age, qpv, job, n in (
        flagged.values(*columns).annotate(n=Count("pk")).values_list(*columns, "n").order_by()
    ):
        key = insee or "unknown"
        town_names[key] = name or str(_("Commune inconnue"))
        town_requests[key] += n
        town_matched[key] += n if is_matched else 0
        for group in _groups(gender or "", age or "", qpv, job, bool(consent)):
            group_requests[group] += n
            group_matched[group] += n if is_matched else 0
    total, matched = sum(town_requests.values()), sum(town_matched.values())

    # Waits: from filing to the first activation, one row per matched request.
    matches = reported.filter(request__in=cohort.values("pk"))
    waits = [
        (first - created_at).total_seconds() / 86400
        for created_at, first in matches.values("request_id")
        .annotate(first=Min("activated_at"))
        .values_list("request__created_at", "first")
        .order_by()
    ]
    median_wait = round(statistics.median(waits), 1) if waits and shown(len(waits)) is not None else None
    status_counts = Counter(dict(matches.values("status").annotate(n=Count("pk")).values_list("status", "n")
                                 .order_by()))
    match_ids = matches.values("pk")

    towns = sorted(town_requests)
    requests_cells = shown_partition({t: town_requests[t] for t in towns})
    matched_cells = shown_partition({t: town_matched[t] for t in towns})
    by_town = [
        {
            "town": t, "name": town_names[t], "requests": requests_cells[t], "matched": matched_cells[t],
            "match_rate": rate(town_matched[t], town_requests[t])
            if requests_cells[t] is not None and matched_cells[t] is not None else None,
        }
        for t in towns
    ]
    by_priority = [
        {"group": g, "requests": shown(group_requests[g]), "matched": shown(group_matched[g]),
         "match_rate": rate(group_matched[g], group_requests[g])}
        for g in PRIORITY_GROUPS
    ]

    # Sponsorship hours by company (hours are the company's own figure; beneficiaries are people).
    hours: dict[int, dict[str, Any]] = {}
    for company_id, company_name, minutes, entrepreneur_id in (
        Meeting.objects.filter(match_id__in=match_ids, offer__isnull=False)
        .values_list("offer__company_id", "offer__company__name", "duration_minutes", "match__entrepreneur_id")
        .order_by()
    ):
        entry = hours.setdefault(company_id, {"name": company_name, "minutes": 0, "meetings": 0, "people": set()})
        entry["minutes"] += minutes
        entry["meetings"] += 1
        entry["people"].add(entrepreneur_id)
    sponsorship = [
        {"company_id": cid, "company": e["name"], "hours": round(e["minutes"] / 60, 2), "meetings": e["meetings"],
         "beneficiaries": shown(len(e["people"]))}
        for cid, e in sorted(hours.items(), key=lambda item: (-item[1]["minutes"], item[1]["name"]))
    ]

    # Satisfaction: final feedback of each side.
    ratings: dict[str, list[int]] = defaultdict(list)
    for side, value in Feedback.objects.filter(match_id__in=match_ids, phase=FeedbackPhase.FINAL).values_list(
        "side", "rating"
    ).order_by():
        ratings[side].append(value)
    satisfaction = {}
    for side in Side.values:
        values = ratings.get(side, [])
        distribution = shown_partition({str(n): values.count(n) for n in range(1, 6)})
        satisfaction[side] = {
            "count": shown(len(values)),
            "average": round(sum(values) / len(values), 2) if values and shown(len(values)) is not None else None,
            "distribution": distribution,
        }

    outcome_rows = list(Outcome.objects.filter(match_id__in=match_ids).values_list("status", "jobs_created").order_by())
    by_status = Counter(status for status, _jobs in outcome_rows)
    with_jobs = [jobs for _status, jobs in outcome_rows if jobs]
    outcomes = {
        "reported": shown(len(outcome_rows)),
        **shown_partition({s: by_status[s] for s in OutcomeStatus.values}),
        "jobs_created": sum(with_jobs) if shown(len(with_jobs)) is not None else None,
    }

    return Report(
        scope={
            "territories": list(scope.territory_codes) if scope.territory_ids is not None else "all",
            "cycle": scope.cycle_id,
            "from": scope.date_from.isoformat() if scope.date_from else None,
            "to": scope.date_to.isoformat() if scope.date_to else None,
        },
        suppression_threshold=_threshold(),
        requests=shown(total),
        matched_requests=shown(matched),
        match_rate=rate(matched, total),
        median_waiting_days=median_wait,
        matches_by_status=shown_partition({s: status_counts[s] for s in REPORTED_MATCH_STATUSES}),
        by_town=by_town,
        by_priority_public=by_priority,
        sponsorship_hours=sponsorship,
        sponsorship_hours_total=round(sum(e["minutes"] for e in hours.values()) / 60, 2),
        satisfaction=satisfaction,
        outcomes=outcomes,
    )


# --- Cache ----------------------------------------------------------------------------------------

# Bumped whenever the Report's fields change, so that a deployment never reads an older shape.
REPORT_CACHE_VERSION = 1


def report_cache_key(scope: ReportScope) -> str:
    """The cache key of a scope's report: everything that selects its figures (territories,
    cycle, period) and the suppression threshold. Two scopes share a key only when they would
    build the same report, so a coordinator never reads another territory's figures."""
    territories = "all" if scope.territory_ids is None else ",".join(str(i) for i in sorted(scope.territory_ids))
    parts = [
        f"t={territories}",
        f"c={'' if scope.cycle_id is None else scope.cycle_id}",
        f"f={scope.date_from.isoformat() if scope.date_from else ''}",
        f"u={scope.date_to.isoformat() if scope.date_to else ''}",
        f"min={_threshold()}",
    ]
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]
    return f"followup:report:v{REPORT_CACHE_VERSION}:{digest}"


def cached_figures(key: str, build: Callable[[], Any], *, refresh: bool = False) -> Any:
    """``build()``, kept ``REPORT_CACHE_SECONDS`` (default 60; 0 disables) in Django's cache
    under ``key``; ``refresh`` builds again and replaces the entry. A cache that does not answer
    (Redis down) costs the build, never the page. Shared by the report and the dashboard's own
    figures; the caller's key must name everything that selects the figures."""
    seconds = int(settings.REPORT_CACHE_SECONDS)
    if seconds <= 0:
        return build()
    if not refresh:
        try:
            cached = cache.get(key)
        except Exception:  # noqa: BLE001 - any cache backend error: build instead
            logger.warning("report cache unavailable (read)", exc_info=True)
            cached = None
        if cached is not None:
            return cached
    value = build()
    try:
        cache.set(key, value, seconds)
    except Exception:  # noqa: BLE001
        logger.warning("report cache unavailable (write)", exc_info=True)
    return value


def report_cached(scope: ReportScope, *, refresh: bool = False) -> Report:
    """``report_build(scope)`` through ``cached_figures``, per scope (``report_cache_key``). The
    report's ``generated_at`` says when its figures were computed. Call it only with a scope from
    ``report_scope_for_user``: the access check is there, not here."""
    key = report_cache_key(scope)
    data = cached_figures(key, lambda: report_build(scope).as_dict(), refresh=refresh)
    try:
        return Report(**data)
    except TypeError:  # an entry of another shape: build again
        return Report(**cached_figures(key, lambda: report_build(scope).as_dict(), refresh=True))


# --- Export ---------------------------------------------------------------------------------------

SUPPRESSED = "< 5"
COUNT_METRICS = {"requests", "matched_requests", "matched", "count", "reported", "beneficiaries", "meetings",
                 "jobs_created", *MatchStatus.values, *OutcomeStatus.values, "1", "2", "3", "4", "5"}


def report_rows(report: Report) -> list[tuple[str, str, str, Any]]:
    """The report flattened to (section, group, metric, value) rows, for CSV and spreadsheets."""
    rows: list[tuple[str, str, str, Any]] = []
    for metric in ("requests", "matched_requests", "match_rate", "median_waiting_days"):
        rows.append(("summary", "", metric, getattr(report, metric)))
    for status, value in report.matches_by_status.items():
        rows.append(("matches_by_status", "", status, value))
    for town in report.by_town:
        for metric in ("requests", "matched", "match_rate"):
            rows.append(("by_town", f"{town['town']} {town['name']}", metric, town[metric]))
    for group in report.by_priority_public:
        for metric in ("requests", "matched", "match_rate"):
            rows.append(("by_priority_public", group["group"], metric, group[metric]))
    for company in report.sponsorship_hours:
        for metric in ("hours", "meetings", "beneficiaries"):
            rows.append(("sponsorship_hours", company["company"], metric, company[metric]))
    rows.append(("sponsorship_hours", "", "total_hours", report.sponsorship_hours_total))
    for side, figures in report.satisfaction.items():
        rows.append(("satisfaction", side, "count", figures["count"]))
        rows.append(("satisfaction", side, "average", figures["average"]))
        for stars, value in figures["distribution"].items():
            rows.append(("satisfaction", side, stars, value))
    for metric, value in report.outcomes.items():
        rows.append(("outcomes", "", metric, value))
    return rows


def _cell(value: Any) -> Any:
    # Names come from users (company names): a spreadsheet must not run them as formulas.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def report_csv(report: Report) -> str:
    """CSV with a header; a suppressed count reads "< 5", a figure that cannot be shown is empty."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "group", "metric", "value"])
    for section, group, metric, value in report_rows(report):
        if value is None:
            value = SUPPRESSED if metric in COUNT_METRICS else ""
        writer.writerow([_cell(section), _cell(group), metric, value])
    return out.getvalue()
