from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Comptes"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from accounts import authcache
        from config import response_cache

        authcache.connect()
        # Once per migrate (sender: this app): the triggers that keep cached API answers exact.
        post_migrate.connect(response_cache.post_migrate, sender=self, dispatch_uid="response-cache-triggers")
