"""Who is calling, without a database query per request: the signed-in user and the API token's
owner, cached for ``AUTH_CACHE_SECONDS`` (Redis in production, shared by every process).

Two entries:

- ``auth:user:<id>``: the user row (a pickled ``User``), with what ``USER_PRELOADERS`` add to it
  (marketplace adds a coordinator's territory ids, read by every coordinator request): pages;
- ``auth:token:<sha256 of the key>``: the same, for the owner of an API token (one cache read
  per API call).

Every write that can change what these entries say deletes them, at once and again when its
transaction commits (so that a request reading the old row just before the commit cannot keep it
cached): saving or deleting a user (role, activation, password, erasure), deleting a token
(sign-out of API clients, password change or reset, erasure), and, through marketplace's signal
receivers, changing a coordinator's territories. A queryset ``update()`` of users sends no signal:
code that uses one must call ``forget_user``. ``AUTH_CACHE_SECONDS=0`` turns the cache off.

Inside the API views that keep their answers (``config.response_cache``), a token's owner is
first looked up in a copy kept by the process, valid only while no row of ``USER_TABLES`` has
changed anywhere since it was read (PostgreSQL's notifications, synced at the start of the
request): revoking a token or changing a user is seen by the very next request, like a deletion
here.

Security checks stay where they were: DRF's ``TokenAuthentication`` refuses unknown tokens and
inactive users (the first lookup of a token goes to the database), and Django checks the
session's password hash against the (cached) user on every page.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from accounts.models import User
from config import response_cache

#: Called on a user freshly read from the database, before it is cached (to cache more with it).
USER_PRELOADERS: list[Callable[[User], None]] = []
#: The tables what is cached with a user comes from (a preloader adds the ones it reads): the
#: process-local copy of a token's owner (``config.response_cache.memo_get``) lives until one of
#: them changes.
USER_TABLES: list[str] = ["accounts_user", "authtoken_token"]


def _seconds() -> int:
    return int(getattr(settings, "AUTH_CACHE_SECONDS", 0))


def _user_key(user_id: Any) -> str:
    return f"auth:user:{int(user_id)}"


def _token_key(key: str) -> str:
    return "auth:token:" + hashlib.sha256(key.encode()).hexdigest()


def _forget(keys: list[str]) -> None:
    if not keys:
        return
    cache.delete_many(keys)
    # Again after the commit: a request that read the old row before it could have cached it.
    transaction.on_commit(lambda: cache.delete_many(keys))


def forget_user(user_id: Any) -> None:
    """The cached row of this user (and what preloaders added) is stale: drop it, under both keys."""
    tokens = Token.objects.filter(user_id=user_id).values_list("key", flat=True)
    _forget([_user_key(user_id), *(_token_key(key) for key in tokens)])


def forget_token(key: str) -> None:
    _forget([_token_key(key)])


def _load_user(user_id: Any) -> User | None:
    user = User.objects.filter(pk=user_id).first()
    if user is not None:
        for preload in USER_PRELOADERS:
            preload(user)
    return user


def cached_user(user_id: Any) -> User | None:
    """The user with this id (None if there is none), from the cache when it holds it."""
    seconds = _seconds()
    if not seconds:
        return _load_user(user_id)
    key = _user_key(user_id)
    user = cache.get(key)
    if user is None:
        user = _load_user(user_id)
        if user is not None:
            cache.set(key, user, seconds)
    return user  # type: ignore[no-any-return]


class CachedModelBackend(ModelBackend):
    """Django's ModelBackend whose ``get_user`` (every signed-in page) reads the cache; signing in
    (``authenticate``) still reads the database and checks the password.

    A refused sign-in stops there (``PermissionDenied`` ends Django's loop over the backends):
    ModelBackend, listed after this one only for sessions opened under its name, would hash the
    password a second time for nothing."""

    def authenticate(self, request: Any, username: Any = None, password: Any = None, **kwargs: Any) -> Any:
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            raise PermissionDenied
        return user

    def get_user(self, user_id: Any) -> Any:
        user = cached_user(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's token authentication; a token already seen maps to its user id in the cache, and the
    user comes from ``cached_user``. Unknown tokens and inactive users are refused as by DRF."""

    def _read(self, key: str) -> tuple[Any, Any]:
        """The token's owner from the database, with what the preloaders add."""
        user, token = super().authenticate_credentials(key)  # refuses unknown keys, inactive users
        for preload in USER_PRELOADERS:
            preload(user)
        return user, token

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        seconds = _seconds()
        if not seconds:
            return super().authenticate_credentials(key)  # type: ignore[no-any-return]
        token_key = _token_key(key)
        # First this process's copy, kept while no user, token (or preloaded) row has changed
        # anywhere (only in API views that synced with the database's notifications first).
        memo_key, tables = ("auth-token", token_key), tuple(USER_TABLES)
        user = response_cache.memo_get(memo_key, tables)
        if user is None and response_cache.memo_enabled(tables):
            # Read from the database, never from the shared cache: an entry there may predate a
            # commit this request's sync has already seen.
            user, token = self._read(key)
            response_cache.remember_user_key(user)
            response_cache.memo_put(memo_key, user, tables)
            return user, token
        if user is None:
            user = cache.get(token_key)
            if user is None:
                user, token = self._read(key)
                cache.set(token_key, user, seconds)
                return user, token
        if not user.is_active:  # cannot be cached so (deactivating deletes the entry): kept anyway
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        # request.auth: the token, as DRF gives it (nothing in the project reads more than the key).
        return user, Token(key=key, user=user)


def _user_changed(sender: Any, instance: User, **kwargs: Any) -> None:
    forget_user(instance.pk)


def _token_changed(sender: Any, instance: Token, **kwargs: Any) -> None:
    forget_token(instance.key)


def connect() -> None:
    from django.db.models.signals import post_delete, post_save

    post_save.connect(_user_changed, sender=User, dispatch_uid="authcache-user-save")
    post_delete.connect(_user_changed, sender=User, dispatch_uid="authcache-user-delete")
    post_save.connect(_token_changed, sender=Token, dispatch_uid="authcache-token-save")
    post_delete.connect(_token_changed, sender=Token, dispatch_uid="authcache-token-delete")
