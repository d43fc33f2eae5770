from typing import Any

from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    verbose_name = "Place de marché"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from accounts import authcache
        from accounts.models import Role
        from config import response_cache
        from marketplace.models import CoordinatorScope
        from marketplace.selectors import coordinator_territory_ids

        def preload_scope(user: Any) -> None:
            # Cached with the user (accounts/authcache.py): every coordinator request reads it.
            if user.role == Role.COORDINATOR:
                coordinator_territory_ids(user)

        def scope_changed(sender: Any, instance: CoordinatorScope, **kwargs: Any) -> None:
            authcache.forget_user(instance.user_id)

        def scope_key(user: Any) -> object:
            # What a coordinator sees depends on their territories: part of a cached answer's key.
            return coordinator_territory_ids(user) if user.role == Role.COORDINATOR else ""

        authcache.USER_PRELOADERS.append(preload_scope)
        authcache.USER_TABLES.append(CoordinatorScope._meta.db_table)
        response_cache.USER_KEY_PARTS.append(scope_key)
        post_save.connect(scope_changed, sender=CoordinatorScope, dispatch_uid="authcache-scope-save")
        post_delete.connect(scope_changed, sender=CoordinatorScope, dispatch_uid="authcache-scope-delete")
