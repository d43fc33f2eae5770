"""The coordinator's dashboard: match rate by town and by priority public, the score
distribution of a cycle, how long requests wait; each chart is followed by its data table; the
report exports as CSV.

The figures come from ``followup.reports`` (the same report as the API and the funders' CSV,
with its statistical secrecy: a count under 5, and what derives from it, is not shown) and, for
the score distribution, from the proposals of one cycle the coordinator may see (each of which
he can open anyway, so nothing there is hidden).

Both are cached ``REPORT_CACHE_SECONDS`` (60 s): the report per scope (``reports.report_cached``),
the page's own figures per user and scope; the page says when they were computed and
``?refresh=1`` computes them again. The CSV is always built from the data."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Count, F, FloatField, Q, Value
from django.db.models.functions import Floor, Least
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.response_cache import PageCache
from cycles import selectors as cycle_selectors
from cycles.models import CycleStatus, ProposalStatus
from followup import reports
from frontend.forms import apply_service_errors
from frontend.views import coordinator_charts as charts
from frontend.views.coordinator import coordinator_only
from marketplace import selectors as market
from marketplace.models import LIVE_REQUEST_STATUSES, Territory

PRIORITY_GROUPS = {
    "woman": gettext_lazy("Femmes"),
    "under_26": gettext_lazy("Moins de 26 ans"),
    "over_50": gettext_lazy("Plus de 50 ans"),
    "qpv_resident": gettext_lazy("Habitants d'un quartier prioritaire"),
    "job_seeker": gettext_lazy("Demandeurs d'emploi"),
    "no_criterion": gettext_lazy("Aucun critère prioritaire"),
    "undisclosed": gettext_lazy("Non renseigné (pas de consentement)"),
}
# Waiting buckets in days: [low, high) ; None: no upper bound.
WAIT_BUCKETS: list[tuple[int, int | None]] = [(0, 30), (30, 60), (60, 90), (90, 180), (180, None)]
COUNTED_PROPOSALS = (ProposalStatus.PROPOSED, ProposalStatus.APPROVED, ProposalStatus.PUBLISHED,
                     ProposalStatus.REJECTED)


class DashboardFilterForm(forms.Form):
    territory = forms.ChoiceField(label=gettext_lazy("Territoire"), required=False)
    cycle = forms.ChoiceField(label=gettext_lazy("Cycle"), required=False)
    date_from = forms.DateField(label=gettext_lazy("Demandes déposées depuis le"), required=False,
                                widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    date_to = forms.DateField(label=gettext_lazy("jusqu'au"), required=False,
                              widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        admin = user.is_superuser or user.role == "administrator"
        territories = Territory.objects.all() if admin else Territory.objects.filter(
            pk__in=market.coordinator_territory_ids(user))
        self.fields["territory"].choices = [("", _("Tous mes territoires"))] + [
            (t.code, t.name) for t in territories.order_by("name")]
        self.fields["cycle"].choices = [("", _("Tous les cycles"))] + [
            (str(c.pk), c.name) for c in cycle_selectors.cycle_list_for_user(user)[:100]]


def _scope(request: HttpRequest, form: DashboardFilterForm) -> reports.ReportScope | None:
    """The report's scope, checked by ``report_scope_for_user``; None when the form is wrong
    (its errors are then on the form)."""
    data = form.cleaned_data if form.is_valid() else {}
    if form.errors:
        return None
    try:
        return reports.report_scope_for_user(
            user=request.user, territory=data.get("territory") or None, cycle_id=data.get("cycle") or None,
            date_from=data.get("date_from"), date_to=data.get("date_to"),
        )
    except ValidationError as exc:
        apply_service_errors(form, exc)
        return None


def _rate_bar(label: str, row: dict[str, Any]) -> charts.Bar:
    rate = row.get("match_rate")
    return charts.Bar(label=label, value=rate, text=f"{rate * 100:.0f} %" if rate is not None else "")


def _score_cycle(request: HttpRequest, scope: reports.ReportScope) -> Any:
    cycles = cycle_selectors.cycle_list_for_user(request.user)
    if scope.cycle_id is not None:
        return cycles.get(pk=scope.cycle_id)
    if scope.territory_ids is not None:
        cycles = cycles.filter(territory_id__in=scope.territory_ids)
    return cycles.filter(status__in=[CycleStatus.REVIEW, CycleStatus.PUBLISHED, CycleStatus.CLOSED],
                         run_count__gt=0).order_by("-created_at", "-id").first()


def _score_counts(request: HttpRequest, cycle: Any) -> dict[int, int]:
    """Proposals of the cycle in ten 10-point bins, counted in one query."""
    rows = (cycle_selectors.proposal_list_for_user(request.user).filter(cycle=cycle, status__in=COUNTED_PROPOSALS)
            .annotate(bin=Least(Floor(F("score") / 10.0), Value(9.0), output_field=FloatField())).values_list("bin").annotate(n=Count("id"))
            .order_by())
    return {int(b): n for b, n in rows}


def _score_histogram(counts: dict[int, int] | None) -> list[charts.Bar]:
    if counts is None:
        return []
    return [charts.Bar(label=f"{10 * b}–{10 * b + 10}", value=float(counts.get(b, 0)), text=str(counts.get(b, 0)))
            for b in range(10)]


def _waiting_counts(request: HttpRequest, scope: reports.ReportScope) -> dict[int, int | None]:
    """Requests still waiting (open or proposed) in the scope's territories, counted by
    ``WAIT_BUCKETS`` of how long they have waited; counts under 5 are hidden like the report's."""
    qs = market.request_list_for_user(request.user).prefetch_related(None).filter(status__in=LIVE_REQUEST_STATUSES)
    if scope.territory_ids is not None:
        qs = qs.filter(territory_id__in=scope.territory_ids)
    if scope.date_from:
        qs = qs.filter(created_at__date__gte=scope.date_from)
    if scope.date_to:
        qs = qs.filter(created_at__date__lte=scope.date_to)
    now = timezone.now()
    aggregates = {}
    for i, (low, high) in enumerate(WAIT_BUCKETS):
        cond = Q(created_at__lte=now - dt.timedelta(days=low))
        if high is not None:
            cond &= Q(created_at__gt=now - dt.timedelta(days=high))
        aggregates[f"b{i}"] = Count("id", filter=cond)
    raw = qs.order_by().aggregate(**aggregates)
    return reports.shown_partition({i: raw[f"b{i}"] for i in range(len(WAIT_BUCKETS))})


def _waiting(cells: dict[int, int | None]) -> list[dict[str, Any]]:
    out = []
    for i, (low, high) in enumerate(WAIT_BUCKETS):
        label = (_("%(low)d à %(high)d jours") % {"low": low, "high": high} if high is not None
                 else _("%(low)d jours et plus") % {"low": low})
        # The chart's axis has room for numbers only; the table says it in words.
        short = f"{low}–{high}" if high is not None else f"≥ {low}"
        out.append({"label": label, "short": short, "count": cells[i]})
    return out


def _own_figures(request: HttpRequest, scope: reports.ReportScope, *, refresh: bool) -> dict[str, Any]:
    """The dashboard's figures beside the report (the score histogram's cycle and counts, the
    waiting counts). They follow what ``request.user`` may see, so unlike the report (shared per
    scope) they are cached per user and scope, as long as the report and with its refresh.
    Numbers only: the labels are translated at each view."""
    def build() -> dict[str, Any]:
        cycle = _score_cycle(request, scope)
        return {"score_cycle": cycle, "score_counts": None if cycle is None else _score_counts(request, cycle),
                "waiting_counts": _waiting_counts(request, scope), "generated_at": timezone.now().isoformat()}

    key = f"frontend:dashboard:v1:{request.user.pk}:{reports.report_cache_key(scope)}"
    figures: dict[str, Any] = reports.cached_figures(key, build, refresh=refresh)
    return figures


def _computed_at(report: dict[str, Any]) -> dt.datetime | None:
    """When the (possibly cached) report's figures were computed, in local time."""
    try:
        return timezone.localtime(dt.datetime.fromisoformat(report["generated_at"]))
    except (KeyError, TypeError, ValueError):
        return None


@coordinator_only
def dashboard(request: HttpRequest) -> HttpResponse:
    """The report comes from the cache (``reports.report_cached``, ``REPORT_CACHE_SECONDS``, per
    scope); ``?refresh=1`` computes it again now. The page says when its figures were computed.

    The page itself is kept (``config.response_cache.PageCache``) for these figures, known by
    when they were computed, as long as nothing else it reads changes."""
    with PageCache(request) as page:
        return page.finish(_dashboard(request, page))


def _dashboard(request: HttpRequest, page: PageCache) -> HttpResponse:
    params = request.GET.copy()
    refresh = params.pop("refresh", None) is not None
    # With filters the form decides the scope; without, the form (its choices: two queries) is
    # built only when the page is, after the cache was asked.
    form = DashboardFilterForm(params, user=request.user) if params else None
    scope = _scope(request, form) if form is not None else reports.report_scope_for_user(user=request.user)
    if scope is not None:
        cached_report = reports.report_cached(scope, refresh=refresh)
        own = _own_figures(request, scope, refresh=refresh)
        hit = page.lookup(str(cached_report.generated_at), str(own.get("generated_at")))
        if hit is not None:
            return hit
    if form is None:
        form = DashboardFilterForm(None, user=request.user)
        form.is_valid()  # an unbound form has no cleaned_data; the empty filter is "everything"
    query = params.urlencode()
    context: dict[str, Any] = {"form": form, "query": query,
                               "refresh_query": f"{query}&refresh=1" if query else "refresh=1"}
    if scope is not None:
        report = cached_report.as_dict()
        towns = report["by_town"]
        groups = [{**g, "label": str(PRIORITY_GROUPS.get(g["group"], g["group"]))} for g in report["by_priority_public"]]
        score_cycle = own["score_cycle"]
        scores = _score_histogram(own["score_counts"])
        waiting = _waiting(own["waiting_counts"])
        # The page is as old as the older of its two cached parts.
        context["computed_at"] = min((t for t in (_computed_at(report), _computed_at(own)) if t is not None), default=None)
        context.update({
            "report": report,
            "towns": towns,
            "groups": groups,
            "score_cycle": score_cycle,
            "scores": scores,
            "waiting": waiting,
            "threshold": report["suppression_threshold"],
            "town_chart": charts.horizontal_bars(
                "chart-towns", title=_("Taux de mise en relation par commune"),
                bars=[_rate_bar(t["name"], t) for t in towns]),
            "group_chart": charts.horizontal_bars(
                "chart-groups", title=_("Taux de mise en relation par public prioritaire"),
                bars=[_rate_bar(g["label"], g) for g in groups], alt=True),
            "score_chart": charts.columns(
                "chart-scores", title=_("Répartition des scores des propositions"), bars=scores,
                x_label=_("Score sur 100")) if scores else None,
            "waiting_chart": charts.columns(
                "chart-waiting", title=_("Attente des demandes encore sans binôme"),
                bars=[charts.Bar(label=w["short"], value=None if w["count"] is None else float(w["count"]),
                                 text=str(w["count"] or "")) for w in waiting],
                x_label=_("Jours d'attente depuis le dépôt")),
        })
    return render(request, "frontend/coordinator/dashboard.html", context)


@coordinator_only
def dashboard_csv(request: HttpRequest) -> HttpResponse:
    """The report of the dashboard's filters as CSV (``followup.reports.report_csv``: a
    suppressed count reads "< 5")."""
    form = DashboardFilterForm(request.GET or None, user=request.user)
    scope = _scope(request, form) if request.GET else reports.report_scope_for_user(user=request.user)
    if scope is None:
        errors = "; ".join(f"{name}: {' '.join(e)}" for name, e in form.errors.items())
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(reports.report_csv(reports.report_build(scope)), content_type="text/csv; charset=utf-8")
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="sociallab-rapport-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response
