"""The conversation page of an active match. Server-rendered history (works without JavaScript:
the form posts here); static/frontend/js/chat.js then speaks the WebSocket protocol of
docs/websocket.md, resumes by sequence number and falls back to the REST endpoints."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from accounts.models import Role
from chat import selectors as chat_selectors
from chat import services as chat_services
from chat.conf import chat_setting
from frontend.access import role_required

parties_only = role_required(Role.ENTREPRENEUR, Role.MENTOR, Role.COMPANY)
HISTORY_PAGE = 50


@parties_only
def conversation(request: HttpRequest, conversation_id: int) -> HttpResponse:
    summary = chat_selectors.conversation_summary_get_for_user(user=request.user, conversation_id=conversation_id)
    if request.method == "POST":
        # Without JavaScript the form posts here; the hidden client id makes a double submit harmless.
        try:
            chat_services.message_send(
                user=request.user, conversation=summary,
                client_id=request.POST.get("client_id") or uuid.uuid4().hex, body=request.POST.get("body", ""),
            )
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, _(message))
        except chat_services.ConversationClosed as exc:
            messages.error(request, exc.message)
        except chat_services.RateLimited:
            messages.error(request, _("Vous envoyez trop de messages. Réessayez dans quelques secondes."))
        return redirect("frontend:conversation", conversation_id=summary.pk)
    history, has_more = chat_selectors.message_page(conversation=summary, limit=HISTORY_PAGE)
    match = summary.match
    other = match.provider_user if match.entrepreneur_id == request.user.pk else match.entrepreneur
    last_seq = history[-1].seq if history else 0
    if history:
        chat_services.conversation_mark_read(user=request.user, conversation=summary, up_to_seq=last_seq)
    return render(request, "frontend/chat/conversation.html", {
        "conversation": summary, "history": history, "has_more": has_more, "other": other,
        "last_seq": last_seq, "client_id": uuid.uuid4().hex, "max_chars": chat_setting("CHAT_MESSAGE_MAX_CHARS"),
    })
