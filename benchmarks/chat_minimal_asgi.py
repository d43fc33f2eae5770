"""The baseline for benchmarks/chat.py: the Channels tutorial consumer, which stores nothing.

Same URL and frames as the real chat (``send`` in, ``message`` out) so the same load generator
drives it; no session, no database, no sequence numbers, no acknowledgement. Served by Daphne:
``daphne benchmarks.chat_minimal_asgi:application`` (cwd=backend, PYTHONPATH=backend:.)."""

from __future__ import annotations

import json
import os
from urllib.parse import parse_qs

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


class MinimalChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.group = f"minimal.{int(self.scope['url_route']['kwargs']['conversation_id'])}"
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.user_id = int(query.get("u", ["0"])[0])
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send(text_data=json.dumps({"type": "hello"}))

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        frame = json.loads(text_data)
        await self.channel_layer.group_send(
            self.group,
            {"type": "chat.message", "client_id": frame["client_id"], "body": frame["body"], "sender_id": self.user_id},
        )

    async def chat_message(self, event):
        await self.send(
            text_data=json.dumps(
                {"type": "message", "client_id": event["client_id"], "body": event["body"], "sender_id": event["sender_id"]}
            )
        )


application = ProtocolTypeRouter(
    {"websocket": URLRouter([path("ws/conversations/<int:conversation_id>/", MinimalChatConsumer.as_asgi())])}
)
