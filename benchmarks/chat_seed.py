"""Seed chat pairs or dump their messages, in the database named by DATABASE_URL.

    python benchmarks/chat_seed.py seed --pairs 100     # prints JSON: pairs, sessions, password
    python benchmarks/chat_seed.py dump --conversations 1,2

Used by benchmarks/chat.py and the real-server tests; the database must be migrated."""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "backend"), str(REPO)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.db import transaction  # noqa: E402

PASSWORD = "chat-bench-password-42"


def _session(user) -> str:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return session.session_key


def seed(pairs: int) -> dict:
    from accounts.models import Role
    from chat.services import conversation_open_for_match
    from cycles.models import Match, MatchStatus
    from tests.factories import (
        EntrepreneurProfileFactory,
        MentorProfileFactory,
        ProjectFactory,
        request_for,
    )

    run = uuid.uuid4().hex[:8]
    password = make_password(PASSWORD)  # hashed once: the iterations are slow by design
    out = []
    for i in range(pairs):
        with transaction.atomic():
            ent = EntrepreneurProfileFactory(
                user__email=f"e{i}-{run}@bench.example", user__display_name=f"E{i}", user__password=password,
                user__role=Role.ENTREPRENEUR,
            ).user
            men_profile = MentorProfileFactory(
                user__email=f"m{i}-{run}@bench.example", user__display_name=f"M{i}", user__password=password,
                user__role=Role.MENTOR, capacity=5,
            )
            request = request_for(ProjectFactory(owner=ent))
            match = Match.objects.create(
                request=request, entrepreneur=ent, provider_user=men_profile.user, mentor=men_profile,
                territory=request.territory, status=MatchStatus.ACTIVE,
            )
            conversation = conversation_open_for_match(match=match)
        out.append(
            {
                "conversation_id": conversation.pk,
                "a": {"user_id": ent.pk, "email": ent.email, "session": _session(ent)},
                "b": {"user_id": men_profile.user.pk, "email": men_profile.user.email,
                      "session": _session(men_profile.user)},
            }
        )
    return {"pairs": out, "password": PASSWORD, "session_cookie": settings.SESSION_COOKIE_NAME}


def dump(conversation_ids: list[int]) -> dict:
    from chat.models import Message

    result: dict[str, list] = {str(c): [] for c in conversation_ids}
    rows = Message.objects.filter(conversation_id__in=conversation_ids).order_by("conversation_id", "seq")
    for m in rows.values_list("conversation_id", "seq", "sender_id", "client_id", "body"):
        result[str(m[0])].append(list(m[1:]))
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("seed")
    s.add_argument("--pairs", type=int, required=True)
    d = sub.add_parser("dump")
    d.add_argument("--conversations", required=True)
    args = parser.parse_args()
    if args.command == "seed":
        print(json.dumps(seed(args.pairs)))
    else:
        print(json.dumps(dump([int(x) for x in args.conversations.split(",") if x])))


if __name__ == "__main__":
    main()
