"""Every filter and ordering a list endpoint offers can use a database index.

A field is covered when an index (a ``db_index`` field, a foreign key, a unique field, the primary
key, ``Meta.indexes``, a unique constraint) has it as first column, or after columns that the
same list pins by equality: a relation (the scope: cycle, territory, match...) or, for a filter,
another filter of that endpoint (``status``). An ordering must be served with no filter at all
(the default order applies to every page). A path across a relation (``town__insee_code``) must be covered
hop by hop. Low-cardinality filters (choices, booleans) are not required to lead an index: the
planner would not use one alone; they narrow the rows found through the scope's index.

What is not covered is listed in ``ACCEPTED`` with the reason; a new filter or ordering without an
index fails here until it gets one (a migration in its app) or a reason."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import models

from tests.backend.perf.endpoints import list_endpoints

# (endpoint name, field path): why no index.
ACCEPTED = {
    ("proposal-list", "town__name"):
        "sorting a cycle's proposals by town name joins the small town table; the cycle's rows are "
        "found through the (cycle, -score) index and sorted in memory",
    **{("proposal-list", f"points_{name}"): "sorting one cycle's proposals by one criterion sorts that cycle's rows "
       "(found through the cycle index) in memory; five more indexes would slow the cycle's bulk write"
       for name in ("skills", "sector", "distance", "availability", "preference")},
    ("proposal-list", "max_score"): "an upper bound on the score, with the cycle: served by the (cycle, -score) index",
    ("project-list", "title"): "alphabetical order of one owner's or one territory's projects: sorted in memory",
    ("offer-list", "title"): "alphabetical order of one company's or the visible offers: sorted in memory",
    ("followup-feedback-list", "rating"): "1-5 ratings of the visible pairs: sorted in memory",
    ("audit-trail", "ip"): "administrators' forensic filter on the whole trail; rare, a sequential scan is accepted",
    ("proposal-list", "created_at"): "a cycle's proposals are written in one transaction: their created_at is "
                                     "the same, the order adds nothing an index could serve",
    ("mentor-list", "capacity"): "mentees at once (1-10): sorting the visible mentors by it is in memory",
    ("company-list", "name"): "about 2,000 companies nationally: sorted in memory",
    ("consent-list", "granted_at"): "the caller's own consents, one per purpose",
    **{("cycle-list", name): "one cycle per territory and month: a small table" for name in
       ("created_at", "opens_on", "closes_on")},
    ("followup-feedback-list", "created_at"): "feedback of the visible pairs, found per match (match, created_at)",
    ("followup-outcome-list", "updated_at"): "one outcome per pair, found per match",
    ("match-list", "respond_by"): "deadline order of the visible matches, in memory; ?status=pending with it "
                                  "uses the (status, respond_by) index",
    ("offer-list", "ends_on"): "about 3,000 offers nationally; ?active= with it uses (active, ends_on)",
    ("proposal-list", "score"): "served per cycle (the review table always names its cycle) by "
                                "(cycle, -score, id); an unfiltered list of every cycle's proposals by score "
                                "is an administrator's rare query",
}


def _field(model: type[models.Model], name: str) -> Any:
    for field in model._meta.get_fields():
        if field.name == name or getattr(field, "attname", None) == name:
            return field
    raise LookupError(f"{model.__name__} has no field {name!r}")


def _low_cardinality(field: Any) -> bool:
    return isinstance(field, models.BooleanField) or bool(getattr(field, "choices", None))


def _index_columns(model: type[models.Model]) -> list[list[str]]:
    """The column lists (field names, in order) of every B-tree index of ``model``'s table."""
    meta = model._meta
    columns = [[field.name] for field in meta.concrete_fields if field.primary_key or field.unique or field.db_index]
    columns += [[name.lstrip("-") for name in index.fields] for index in meta.indexes if not index.condition]
    columns += [list(c.fields) for c in meta.constraints
                if isinstance(c, models.UniqueConstraint) and c.fields and not c.condition]
    columns += [list(together) for together in meta.unique_together]
    return columns


def _covered(model: type[models.Model], name: str, pinned: set[str]) -> bool:
    for columns in _index_columns(model):
        if name not in columns:
            continue
        prefix = columns[: columns.index(name)]
        if all(_field(model, column).is_relation or column in pinned for column in prefix):
            return True
    return False


def uncovered(model: type[models.Model], path: str, pinned: set[str]) -> list[str]:
    """The hops of ``path`` that no index covers (``Model.field``); empty when covered."""
    missing, current = [], model
    parts = path.lstrip("-").split("__")
    for position, name in enumerate(parts):
        field = _field(current, name)
        last = position == len(parts) - 1
        if field.is_relation and not field.concrete:
            # Reverse or many-to-many: the join uses the other table's foreign key (always indexed).
            current = field.related_model
            continue
        if last and _low_cardinality(field):
            break
        if not _covered(current, field.name, pinned if current is model else set()):
            missing.append(f"{current.__name__}.{field.name}")
        if field.is_relation:
            current = field.related_model
    return missing


def _custom_actions() -> dict[str, tuple[type[models.Model], list[tuple[str, str]]]]:
    from cycles.models import UnmatchedRequest

    # cycles.api.views.CycleViewSet.unmatched: the cycle (URL), ?reason=, ?town=<INSEE code>.
    return {"cycle-unmatched": (UnmatchedRequest, [("cycle", "cycle"), ("reason", "reason"),
                                                   ("town", "town__insee_code")])}


def _model_of(endpoint: Any) -> type[models.Model]:
    if endpoint.action != "list":
        return _custom_actions()[endpoint.name][0]
    view_class = endpoint.view_class
    filterset = getattr(view_class, "filterset_class", None)
    if filterset is not None:
        return filterset._meta.model
    if getattr(view_class, "queryset", None) is not None:
        return view_class.queryset.model
    return view_class.serializer_class.Meta.model


def _offered(endpoint: Any) -> list[tuple[str, str]]:
    """(parameter, field path) of the filters and orderings the endpoint offers."""
    cls = endpoint.view_class
    handler = getattr(cls, endpoint.action)
    kwargs = getattr(handler, "kwargs", {})
    if endpoint.action != "list":
        # A custom list action reads its filters in code: they are declared in _custom_actions.
        custom = _custom_actions()
        if endpoint.name not in custom:
            raise AssertionError(f"{endpoint.name}: a list action; declare its filters in _custom_actions")
        return custom[endpoint.name][1] + [(f"ordering={o}", o) for o in kwargs.get("ordering_fields", [])]
    offered = []
    filterset = getattr(cls, "filterset_class", None)
    if filterset is not None:
        offered += [(parameter, f.field_name) for parameter, f in filterset.base_filters.items()
                    if not getattr(f, "method", None)]
    for name in getattr(cls, "filterset_fields", None) or []:
        offered.append((name, name))
    for name in list(getattr(cls, "ordering_fields", None) or []) + list(getattr(cls, "ordering", None) or []):
        offered.append((f"ordering={name.lstrip('-')}", name.lstrip("-")))
    return offered


def test_every_filter_and_ordering_of_every_list_endpoint_can_use_an_index():
    problems = []
    for endpoint in list_endpoints():
        offered = _offered(endpoint)
        if not offered:
            continue
        model = _model_of(endpoint)
        pinned = {path.split("__")[0] for parameter, path in offered if not parameter.startswith("ordering=")}
        for parameter, path in offered:
            key = parameter.removeprefix("ordering=")
            if (endpoint.name, key) in ACCEPTED or (endpoint.name, path) in ACCEPTED:
                continue
            # An ordering applies to the unfiltered list too (the default order is on every page): only the
            # scope (a relation) may precede it in an index. A filter may follow the other filters.
            missing = uncovered(model, path, set() if parameter.startswith("ordering=") else pinned)
            if missing:
                problems.append(f"{endpoint.name} {parameter} -> {', '.join(missing)}")
    problems = sorted(set(problems))
    assert not problems, "filters/orderings without an index:\n  " + "\n  ".join(problems)


def test_the_index_rule_sees_a_missing_index():
    # The checker itself must be able to fail: a plain text field that leads no index.
    from marketplace.models import Project

    assert uncovered(Project, "description", set()) == ["Project.description"]
    assert uncovered(Project, "owner", set()) == []


@pytest.mark.parametrize("name", ["proposal-list", "match-list", "request-list", "audit-list"])
def test_the_big_lists_are_checked(name):
    assert name in {endpoint.name for endpoint in list_endpoints()}


def _proposal_scope_fields(user) -> set[str]:
    """The Proposal fields a user's view of one cycle filters on (cycles.selectors), read from the
    SQL's WHERE clause: the review table's count reads exactly these."""
    import re

    from cycles.models import Proposal
    from cycles.selectors import proposal_list_for_user

    sql = str(proposal_list_for_user(user).filter(cycle_id=1).order_by().query)
    columns = set(re.findall(r'"cycles_proposal"\."(\w+)"', sql.split(" WHERE ", 1)[1]))
    return {field.name for field in Proposal._meta.concrete_fields if field.column in columns}


@pytest.mark.django_db
def test_a_coordinators_proposals_of_a_cycle_are_found_in_one_index(coordinator):
    """The review table (/coordination/cycles/<id>/propositions/) and /api/proposals/?cycle= of a
    coordinator filter on the cycle and on his territories, perhaps on a status; their count must
    read one index range (proposal_cycle_territory_idx), not the cycle's tens of thousands of rows."""
    from cycles.models import Proposal

    fields = _proposal_scope_fields(coordinator)
    assert fields == {"cycle", "territory"}
    leading = [set(columns[:len(fields)]) for columns in _index_columns(Proposal)]
    assert fields in leading
    # With the status filter of the table too.
    assert any(columns[:3] == ["cycle", "territory", "status"] for columns in _index_columns(Proposal))


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_migration_creates_the_coordinators_cycle_index_in_postgresql():
    """The migrated database holds the index with its columns in that order (cycle first: the
    review table always names its cycle; then the territories, an IN list; then the status
    filter). Its use on the national data set: docs/operations.md (EXPLAIN ANALYZE)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'cycles_proposal' "
                       "AND indexname = 'proposal_cycle_territory_idx'")
        rows = cursor.fetchall()
    assert len(rows) == 1 and rows[0][0].endswith("USING btree (cycle_id, territory_id, status)"), rows
