"""Users and roles. Profiles and reference data live in `marketplace`, which depends on this app
(never the other way round), so that migrations and imports flow one way."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ENTREPRENEUR = "entrepreneur", _("Porteur ou porteuse de projet")
    MENTOR = "mentor", _("Parrain ou marraine")
    COMPANY = "company", _("Entreprise mécène")
    COORDINATOR = "coordinator", _("Coordinateur ou coordinatrice")
    ADMINISTRATOR = "administrator", _("Administrateur")


SELF_REGISTERING_ROLES = (Role.ENTREPRENEUR, Role.MENTOR, Role.COMPANY)


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields: object) -> User:
        if not email:
            raise ValueError("email is required")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: object) -> User:
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        fields.setdefault("role", Role.ADMINISTRATOR)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(_("adresse e-mail"), unique=True)
    display_name = models.CharField(_("nom affiché"), max_length=80)
    role = models.CharField(_("rôle"), max_length=20, choices=Role.choices, db_index=True)
    phone = models.CharField(_("téléphone"), max_length=20, blank=True)
    preferred_language = models.CharField(_("langue de l'interface"), max_length=5, default="fr")
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    email_verified = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # Set by accounts.gdpr.user_erase: the row stays (as "deleted user") so that the other party
    # keeps the conversation history, but it holds no personal data any more.
    erased_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["display_name"]

    class Meta:
        verbose_name = _("utilisateur")
        verbose_name_plural = _("utilisateurs")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=[r.value for r in Role]), name="user_role_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.display_name} <{self.email}>"

    @property
    def is_coordinator(self) -> bool:
        return self.role == Role.COORDINATOR

    @property
    def is_administrator(self) -> bool:
        return self.role == Role.ADMINISTRATOR or self.is_superuser


class ConsentPurpose(models.TextChoices):
    PRIORITY_DATA = "priority_data", _(
        "Utiliser mes informations de public prioritaire (âge, genre, quartier, recherche d'emploi) "
        "pour prioriser ma demande"
    )
    CONTACT_PHONE = "contact_phone", _("Montrer mon téléphone à mon binôme")


class Consent(models.Model):
    """One grant of consent; withdrawal sets ``withdrawn_at`` (history is kept, GDPR art. 7)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="consents")
    purpose = models.CharField(max_length=30, choices=ConsentPurpose.choices)
    granted_at = models.DateTimeField(default=timezone.now)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-granted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "purpose"],
                condition=models.Q(withdrawn_at__isnull=True),
                name="one_live_consent_per_purpose",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.purpose}"
