"""GDPR rights of a user: access and portability (``user_export``), erasure (``user_erase``), and
retention (``retention_purge``, run by ``manage.py purge_retention``).

What the export covers is declared once, in ``SECTIONS``: one section per model that references
the user (directly, or through their role profile), with the lookups that lead from the row to
the user. ``tests/backend/security/test_gdpr_export.py`` walks the app registry and fails when a
model that references the user is missing here, so a new model cannot be forgotten silently.

Erasure keeps the account row, anonymised, because other people's data hangs on it: the other
party of a match keeps the conversation (the erased person's messages stay, attributed to
"deleted user", with their name, e-mail and phone redacted), coordinators keep the decisions
(without personal data), and statistics keep their counts. Everything that describes the person
is deleted or blanked. See docs/security.md, "Erasure"."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.db import models, transaction
from django.db.models import Exists, OuterRef, Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import SELF_REGISTERING_ROLES, Consent, User
from audit.models import AuditEvent
from audit.services import audit_record

EXPORT_FORMAT = "sociallab-export/1"
ERASED_NAME = "Utilisateur supprimé"
REDACTED = "[supprimé]"


# --- Export ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """One list of the export: rows of ``model`` reached from the user by any of ``paths``
    (``filter(**{path: user})``), or by ``extra(user)`` for what a plain lookup cannot say."""

    name: str
    model: str  # app_label.model_name
    paths: tuple[str, ...]
    fields: tuple[str, ...] | None = None  # None: every concrete field and many-to-many
    exclude: tuple[str, ...] = ()
    children: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    extra: Callable[[User], Q] | None = None


def _audit_about(user: User) -> Q:
    return Q(target_type=User._meta.label_lower, target_id=user.pk)


def _match_of(prefix: str = "match") -> Callable[[User], Q]:
    def q(user: User) -> Q:
        return Q(**{f"{prefix}__entrepreneur": user}) | Q(**{f"{prefix}__provider_user": user})

    return q


SECTIONS: tuple[Section, ...] = (
    Section("consents", "accounts.consent", ("user",)),
    Section("api_token", "authtoken.token", ("user",), fields=("created",)),  # never the key itself
    Section("entrepreneur_profile", "marketplace.entrepreneurprofile", ("user",)),
    Section("mentor_profile", "marketplace.mentorprofile", ("user",),
            children={"skills": ("skills", ("skill_id", "level"))}),
    # The company's employees who are mentors: other people's profiles, so only the link.
    Section("mentors_employed", "marketplace.mentorprofile", ("employer__user",), fields=("id",)),
    Section("mentor_skills", "marketplace.mentorskill", ("mentor__user",)),
    Section("company_profile", "marketplace.companyprofile", ("user",)),
    Section("offers", "marketplace.offer", ("company__user",), children={"skills": ("skills", ("skill_id", "level"))}),
    Section("coordinator_scopes", "marketplace.coordinatorscope", ("user",)),
    Section("projects", "marketplace.project", ("owner",), children={"needs": ("needs", ("skill_id", "importance"))}),
    Section("requests", "marketplace.request", ("entrepreneur",),
            children={"needs": ("needs", ("skill_id", "importance"))}),
    Section("cycles_created", "cycles.cycle", ("created_by",), fields=("id", "name", "territory", "created_at")),
    Section("proposals", "cycles.proposal",
            ("provider_user", "decided_by", "mentor__user", "request__entrepreneur")),
    Section("matches", "cycles.match", ("entrepreneur", "provider_user", "ended_by", "mentor__user")),
    Section("conversations", "chat.conversationmember", ("user",)),
    # Only the messages the user sent: the other party's messages are the other party's data.
    Section("messages_sent", "chat.message", ("sender",)),
    Section("message_reports", "chat.messagereport", ("reporter", "resolved_by")),
    Section("open_chat_sockets", "chat.chatsocket", ("user",), fields=("id", "conversation", "connected_at", "seen_at")),
    Section("meetings", "followup.meeting", ("logged_by",), extra=_match_of()),
    Section("feedback_given", "followup.feedback", ("author",)),
    Section("outcomes", "followup.outcome", ("reported_by", "match__entrepreneur")),
    Section("nudges", "followup.nudge", ("coordinator",), extra=_match_of()),
    Section("emails", "followup.outboxmessage", ("recipient",), exclude=("claimed_until", "last_error")),
    Section("audit_entries", "audit.auditevent", ("actor",), extra=_audit_about),
    Section("admin_actions", "admin.logentry", ("user",)),
)

# Models that reference the user but are not exported, with the reason (the export test reads it).
NOT_EXPORTED: dict[str, str] = {
    "authtoken.tokenproxy": "a proxy of authtoken.Token (same rows), exported as api_token",
}

ACCOUNT_FIELDS = (
    "id", "email", "display_name", "role", "phone", "preferred_language", "is_active", "email_verified",
    "date_joined", "last_login",
)


def _json_value(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool, type(None), list, dict)):
        return value
    return str(value)


def _row(obj: models.Model, section: Section) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in obj._meta.concrete_fields:
        if section.fields is not None and f.name not in section.fields and f.attname not in section.fields:
            continue
        if f.name in section.exclude:
            continue
        out[f.attname] = _json_value(getattr(obj, f.attname))
    if section.fields is None:
        for m2m in obj._meta.many_to_many:
            out[m2m.name] = sorted(o.pk for o in getattr(obj, m2m.name).all())
    for name, (related, fields) in section.children.items():
        out[name] = [{f: _json_value(getattr(child, f)) for f in fields} for child in getattr(obj, related).all()]
    return out


def section_queryset(section: Section, user: User) -> models.QuerySet[Any]:
    from django.apps import apps

    model = apps.get_model(section.model)
    q = Q()
    for path in section.paths:
        q |= Q(**{path: user})
    if section.extra is not None:
        q |= section.extra(user)
    # pk__in instead of distinct(): several paths may reach one row, and DISTINCT over JSON
    # columns is not portable.
    qs = model._default_manager.filter(pk__in=model._default_manager.filter(q).values("pk")).order_by("pk")
    prefetch = [] if section.fields is not None else [m.name for m in model._meta.many_to_many]
    return qs.prefetch_related(*prefetch, *[related for related, _f in section.children.values()])


def user_export(*, user: User, actor: User | None = None, request: Any = None) -> dict[str, Any]:
    """Everything the platform holds about ``user``, as JSON-ready data (GDPR art. 15 and 20).
    The export itself is recorded in the audit trail (who asked, for whom, when, from where)."""
    # Recorded first, so that the export includes its own trace.
    audit_record(actor=actor or user, action="gdpr.export", target=user, request=request)
    account = {name: _json_value(getattr(user, name)) for name in ACCOUNT_FIELDS}
    account["groups"] = sorted(user.groups.values_list("name", flat=True))
    account["permissions"] = sorted(user.user_permissions.values_list("codename", flat=True))
    sections: dict[str, list[dict[str, Any]]] = {}
    for section in SECTIONS:
        sections[section.name] = [_row(obj, section) for obj in section_queryset(section, user)]
    return {
        "format": EXPORT_FORMAT,
        "generated_at": timezone.now().astimezone(dt.UTC).isoformat(),
        "account": account,
        "sections": sections,
    }


# --- Erasure --------------------------------------------------------------------------------------


class _Redactor:
    """Replaces the erased person's identifiers (name, e-mail, phone, company name and contact)
    in free text written by others or by them, and left in place for the other party."""

    def __init__(self, values: Iterable[str]) -> None:
        patterns = []
        self.plain: list[str] = []
        for raw in {v.strip() for v in values if v and v.strip()}:
            digits = re.sub(r"\D", "", raw)
            if len(digits) >= 6 and len(digits) >= len(raw.replace(" ", "")) - 3:
                # A phone number, written with or without spaces, dots, dashes or a +33 prefix.
                national = digits[2:] if digits.startswith("33") else digits.lstrip("0")
                body = r"[\s.\-]?".join(re.escape(d) for d in national)
                patterns.append(rf"(?:\+33|0033|0)?[\s.\-]?(?:\(0\))?{body}")
                # No plain form: written with separators, a phone cannot be prefiltered by
                # LIKE; callers scope the rows where it may appear instead.
            elif len(raw) >= 3:
                patterns.append(re.escape(raw))
                self.plain.append(raw)
        self.pattern = re.compile("|".join(patterns), re.IGNORECASE) if patterns else None

    def __call__(self, text: str) -> str:
        if not text or self.pattern is None:
            return text
        return self.pattern.sub(REDACTED, text)

    def json(self, value: Any) -> Any:
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {k: self.json(v) for k, v in value.items()}
        return value

    def mentions(self, *fields: str) -> Q:
        """Rows whose ``fields`` may contain an identifier (a superset: the caller redacts)."""
        q = Q()
        for value in self.plain:
            for name in fields:
                q |= Q(**{f"{name}__icontains": value})
        return q if self.plain else Q(pk__in=[])


def _redact_rows(qs: models.QuerySet[Any], redact: _Redactor, *fields: str) -> int:
    changed = 0
    for obj in qs.only("pk", *fields):
        updates = {}
        for name in fields:
            value = getattr(obj, name)
            new = redact.json(value) if not isinstance(value, str) else redact(value)
            if new != value:
                updates[name] = new
        if updates:
            type(obj)._default_manager.filter(pk=obj.pk).update(**updates)
            changed += 1
    return changed


def _identifiers(user: User) -> list[str]:
    from marketplace.models import CompanyProfile

    values = [user.email, user.display_name, user.phone]
    for company in CompanyProfile.objects.filter(user=user):
        values += [company.name, company.contact_name, company.contact_email, company.contact_phone]
    return values


def _end_live_matches(user: User) -> int:
    from cycles.models import DeclineReason, Match, MatchStatus
    from cycles.services import match_decline, match_end

    ended = 0
    reason = str(_("Compte supprimé à la demande de la personne (RGPD)."))
    for match in Match.objects.filter(Q(entrepreneur=user) | Q(provider_user=user),
                                      status__in=[MatchStatus.PENDING, MatchStatus.ACTIVE]):
        if match.status == MatchStatus.ACTIVE:
            match_end(match=match, actor=user, status=MatchStatus.ENDED_EARLY, reason=reason)
        else:
            match_decline(actor=user, match=match, reason_code=DeclineReason.PERSONAL, reason=reason)
        ended += 1
    return ended


def _cancel_open_proposals(user: User) -> int:
    from cycles.models import Proposal, ProposalStatus

    # Lock them: a coordinator approving one at this moment either finishes first (and we cancel
    # the approval, freeing its place) or waits and finds it cancelled.
    open_ = list(
        Proposal.objects.select_for_update().filter(
            Q(provider_user=user) | Q(request__entrepreneur=user),
            status__in=[ProposalStatus.PROPOSED, ProposalStatus.APPROVED],
        )
    )
    for proposal in open_:
        Proposal.objects.filter(pk=proposal.pk).update(status=ProposalStatus.CANCELLED)
        audit_record(actor=None, action="proposal.cancel", target=proposal, territory_id=proposal.territory_id,
                     reason_code="account_erased", data={"cycle": proposal.cycle_id})
    return len(open_)


def _erase_marketplace(user: User) -> None:
    from marketplace.models import (
        CompanyProfile,
        CoordinatorScope,
        EntrepreneurProfile,
        MentorProfile,
        MentorSkill,
        Offer,
        Project,
        Request,
        RequestStatus,
    )
    from marketplace.services import request_withdraw

    for live in Request.objects.filter(entrepreneur=user, status__in=[RequestStatus.OPEN, RequestStatus.PROPOSED]):
        request_withdraw(user=user, request=live, reason="account_erased")
    Request.objects.filter(entrepreneur=user).update(notes="")
    # Projects stay as shells: matches, meetings and conversations of the other party hang on them.
    Project.objects.filter(owner=user).update(title=str(_("Projet supprimé")), description="")
    # Nothing references an entrepreneur profile: it goes entirely (town, languages, priority data).
    EntrepreneurProfile.objects.filter(user=user).delete()
    # Matches reference mentor profiles and offers, so those rows stay, emptied and out of any pool.
    for mentor in MentorProfile.objects.filter(user=user):
        MentorSkill.objects.filter(mentor=mentor).delete()
        for m2m in ("languages", "sectors", "reachable_towns"):
            getattr(mentor, m2m).clear()
        MentorProfile.objects.filter(pk=mentor.pk).update(
            bio="", paused=True, capacity=0, availability=0, employer=None
        )
    for company in CompanyProfile.objects.filter(user=user):
        MentorProfile.objects.filter(employer=company).update(employer=None)
        Offer.objects.filter(company=company).update(
            active=False, title=str(_("Offre supprimée")), description=""
        )
        CompanyProfile.objects.filter(pk=company.pk).update(
            name=str(_("Entreprise supprimée")), description="", contact_name="", contact_email="",
            contact_phone="", siret=f"X{company.pk:013d}"[-14:],  # unique, and no real SIRET
        )
    CoordinatorScope.objects.filter(user=user).delete()


def _erase_conversations(user: User, redact: _Redactor) -> None:
    from chat.models import ConversationMember, Message, MessageReport
    from chat.services import chat_user_erase

    conversation_ids = list(ConversationMember.objects.filter(user=user).values_list("conversation_id", flat=True))
    # Their own reports: the text is theirs. The report stays (a coordinator may be handling it).
    MessageReport.objects.filter(reporter=user).update(reason="")
    # Messages are kept for the other party, attributed to nobody ("deleted user").
    chat_user_erase(user=user, redact_bodies=False)
    _redact_rows(Message.objects.filter(conversation_id__in=conversation_ids), redact, "body")
    _redact_rows(MessageReport.objects.filter(message__conversation_id__in=conversation_ids), redact,
                 "reason", "resolution_note")


def _erase_followup(user: User, redact: _Redactor) -> None:
    from cycles.models import Match, Proposal
    from followup.models import Feedback, Meeting, Nudge, OutboxMessage, Outcome

    their_matches = Match.objects.filter(Q(entrepreneur=user) | Q(provider_user=user)).values("pk")
    Feedback.objects.filter(author=user).update(comment="")
    _redact_rows(Feedback.objects.filter(match__in=their_matches), redact, "comment")
    _redact_rows(Meeting.objects.filter(Q(match__in=their_matches) | Q(logged_by=user)), redact, "note")
    _redact_rows(Nudge.objects.filter(Q(match__in=their_matches) | Q(coordinator=user)), redact, "message")
    # A SIRET identifies a sole trader; the outcome's status and jobs stay for the statistics.
    Outcome.objects.filter(match__entrepreneur=user).exclude(siret="").update(siret="0" * 14)
    OutboxMessage.objects.filter(recipient=user).delete()
    _redact_rows(OutboxMessage.objects.filter(match__in=their_matches), redact, "subject", "body")
    _redact_rows(Match.objects.filter(pk__in=their_matches), redact, "end_reason")
    _redact_rows(Proposal.objects.filter(Q(provider_user=user) | Q(request__entrepreneur=user)), redact, "reason")


def _erase_audit(user: User, redact: _Redactor) -> None:
    """Entries stay (decisions must remain accountable) but without personal data: the actor's
    label becomes "deleted user", their address is dropped, identifiers in texts are redacted."""
    AuditEvent.objects.filter(actor=user).update(actor_label=f"{ERASED_NAME} ({user.role})", ip=None)
    mentioned = AuditEvent.objects.annotate(data_text=Cast("data", TextField())).filter(
        redact.mentions("reason", "actor_label", "data_text")
        | Q(actor=user) | Q(target_type=User._meta.label_lower, target_id=user.pk)
    )
    _redact_rows(AuditEvent.objects.filter(pk__in=mentioned.values("pk")), redact, "reason", "actor_label", "data")
    user_type = ContentType.objects.get_for_model(User)
    about_user = Q(content_type=user_type, object_id=str(user.pk))
    LogEntry.objects.filter(about_user).update(object_repr=ERASED_NAME)
    _redact_rows(LogEntry.objects.filter(about_user | redact.mentions("object_repr", "change_message")), redact,
                 "object_repr", "change_message")


def _delete_sessions(user: User) -> int:
    """Sessions carry only the user id, but they must stop working at once. Sessions are
    signed blobs, so each live one is decoded (erasure is rare; the table holds live sessions)."""
    doomed = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            doomed.append(session.pk)
    Session.objects.filter(pk__in=doomed).delete()
    # Sessions are also cached (SESSION_ENGINE cached_db): drop those copies too, now and at the commit.
    from django.conf import settings
    from django.contrib.sessions.backends.cached_db import KEY_PREFIX
    from django.core.cache import caches
    from django.db import transaction

    keys = [KEY_PREFIX + key for key in doomed]
    if keys:
        session_cache = caches[settings.SESSION_CACHE_ALIAS]
        session_cache.delete_many(keys)
        transaction.on_commit(lambda: session_cache.delete_many(keys))
    return len(doomed)


def user_erase(*, user: User, actor: User, request: Any = None) -> User:
    """Erase ``user`` (GDPR art. 17), in one transaction: live matches end (their conversations
    become read-only), open requests are withdrawn and open proposals cancelled, the role profile
    is deleted (or emptied where matches still point to it), free text is blanked or redacted,
    consents are withdrawn, sessions and API tokens die, and the account is anonymised.

    ``actor`` is the user themself or an administrator (checked by the caller). Idempotent."""
    from rest_framework.authtoken.models import Token

    with transaction.atomic():
        # Lock the account: two erasures (or an erasure and a login) serialise here.
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.erased_at is not None:
            return locked
        redact = _Redactor(_identifiers(locked))
        ended = _end_live_matches(locked)
        cancelled = _cancel_open_proposals(locked)
        _erase_marketplace(locked)
        _erase_conversations(locked, redact)
        _erase_followup(locked, redact)
        Consent.objects.filter(user=locked, withdrawn_at__isnull=True).update(withdrawn_at=timezone.now())
        Token.objects.filter(user=locked).delete()
        sessions = _delete_sessions(locked)
        _erase_audit(locked, redact)

        locked.email = f"deleted-{locked.pk}@erased.invalid"
        locked.display_name = ERASED_NAME
        locked.phone = ""
        locked.set_unusable_password()
        locked.is_active = locked.is_staff = locked.is_superuser = locked.email_verified = False
        locked.last_login = None
        locked.erased_at = timezone.now()
        locked.save()
        locked.groups.clear()
        locked.user_permissions.clear()
        by_self = actor.pk == locked.pk
        # A self-erasure keeps no address (it would be the erased person's); an administrator's
        # erasure records the administrator's.
        audit_record(
            actor=locked if by_self else actor, action="gdpr.erase", target=locked,
            request=None if by_self else request,
            data={"by": "self" if by_self else "administrator", "matches_ended": ended,
                  "proposals_cancelled": cancelled, "sessions_closed": sessions},
        )
    return locked


# --- Retention ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionReport:
    accounts_deleted: int
    audit_entries_deleted: int


def unverified_accounts_to_purge(*, now: dt.datetime | None = None) -> models.QuerySet[User]:
    """Self-registered accounts whose e-mail was never verified, created and last used more than
    ``RETENTION_UNVERIFIED_ACCOUNT_DAYS`` ago, that were never filled in: no role profile, project,
    match, offer, message or decision. Abandoned sign-ups; a mentor waiting with a profile is not
    one. (There is no e-mail verification flow yet: every self-registered account is unverified,
    which is why "never filled in" carries the weight.)"""
    from chat.models import Message
    from cycles.models import Match
    from marketplace.models import (
        CompanyProfile,
        EntrepreneurProfile,
        MentorProfile,
        Offer,
        Project,
    )

    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.RETENTION_UNVERIFIED_ACCOUNT_DAYS)
    return (
        User.objects.filter(email_verified=False, is_staff=False, is_superuser=False, erased_at__isnull=True,
                            date_joined__lt=cutoff, role__in=[r.value for r in SELF_REGISTERING_ROLES])
        .filter(Q(last_login__isnull=True) | Q(last_login__lt=cutoff))
        .exclude(Exists(EntrepreneurProfile.objects.filter(user=OuterRef("pk"))))
        .exclude(Exists(MentorProfile.objects.filter(user=OuterRef("pk"))))
        .exclude(Exists(CompanyProfile.objects.filter(user=OuterRef("pk"))))
        .exclude(Exists(Project.objects.filter(owner=OuterRef("pk"))))
        .exclude(Exists(Match.objects.filter(Q(entrepreneur=OuterRef("pk")) | Q(provider_user=OuterRef("pk")))))
        .exclude(Exists(Offer.objects.filter(company__user=OuterRef("pk"))))
        .exclude(Exists(Message.objects.filter(sender=OuterRef("pk"))))
        .exclude(Exists(AuditEvent.objects.filter(actor=OuterRef("pk")).exclude(
            action__in=["account.register", "account.login", "consent.grant", "consent.withdraw"])))
    )


def retention_purge(*, now: dt.datetime | None = None, dry_run: bool = False) -> RetentionReport:
    """Delete abandoned unverified accounts and audit entries older than
    ``RETENTION_AUDIT_DAYS``. Idempotent; each run is itself recorded."""
    now = now or timezone.now()
    audit_cutoff = now - dt.timedelta(days=settings.RETENTION_AUDIT_DAYS)
    with transaction.atomic():
        doomed_ids = list(unverified_accounts_to_purge(now=now).values_list("pk", flat=True))
        old_audit = AuditEvent.objects.filter(at__lt=audit_cutoff)
        audit_count = old_audit.count()
        if not dry_run:
            # Their own trail (registration, logins) goes with them; nothing else refers to them.
            AuditEvent.objects.filter(actor_id__in=doomed_ids).delete()
            AuditEvent.objects.filter(target_type=User._meta.label_lower, target_id__in=doomed_ids).delete()
            User.objects.filter(pk__in=doomed_ids).delete()
            old_audit.delete()
            if doomed_ids or audit_count:
                audit_record(actor=None, action="retention.purge",
                             data={"accounts_deleted": len(doomed_ids), "audit_entries_deleted": audit_count,
                                   "unverified_days": settings.RETENTION_UNVERIFIED_ACCOUNT_DAYS,
                                   "audit_days": settings.RETENTION_AUDIT_DAYS})
    return RetentionReport(accounts_deleted=len(doomed_ids), audit_entries_deleted=audit_count)


__all__ = [
    "NOT_EXPORTED", "SECTIONS", "RetentionReport", "retention_purge", "section_queryset",
    "unverified_accounts_to_purge", "user_erase", "user_export",
]
