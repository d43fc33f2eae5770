"""The chat's database threads (PostgreSQL): the socket consumers' Django calls (connect,
heartbeat, read, replay; the send without ``chat.pg``) and the rare after-send e-mail claim.

A small pool instead of the single thread-sensitive thread: with one thread, every socket of the
process waited for every other socket's commit (about 20 sends/s on a loaded 2-core machine in
benchmarks/chat.py); with a pool, commits overlap. Per-socket order is kept: a consumer awaits
each call before handling its next event. SQLite has one writer anyway (and its shared-cache test
database fails on concurrent threads), so it keeps the single thread."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from config.env import env_int

DB_EXECUTOR = ThreadPoolExecutor(max_workers=env_int("CHAT_DB_THREADS", 8, minimum=1), thread_name_prefix="chat-db")
