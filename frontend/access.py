"""Who may open a page. Anonymous visitors are sent to the login page (302); a signed-in user
of the wrong role gets a 403. Objects are then fetched through the backend's ``*_get_for_user``
selectors, which answer 404 for what the user may not see."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from accounts.models import Role

COORDINATING_ROLES = (Role.COORDINATOR, Role.ADMINISTRATOR)


def user_has_role(user: Any, roles: tuple[str, ...]) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser and Role.ADMINISTRATOR in roles:
        return True
    return user.role in roles


def role_required(*roles: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if roles and not user_has_role(request.user, roles):
                raise PermissionDenied("This page is for another role.")
            return view(request, *args, **kwargs)

        wrapped.allowed_roles = roles  # type: ignore[attr-defined]  # read by the access tests
        return wrapped

    return decorator


login_required = role_required()
