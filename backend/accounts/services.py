"""Writes on accounts: registration, consent."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import SELF_REGISTERING_ROLES, Consent, ConsentPurpose, User
from audit.services import audit_record


def user_register(*, email: str, password: str, display_name: str, role: str, request: Any = None) -> User:
    """Create an entrepreneur, mentor or company account. Coordinators and administrators are
    created by an administrator, never here."""
    if role not in SELF_REGISTERING_ROLES:
        raise ValidationError({"role": "Ce rôle ne peut pas s'inscrire lui-même."})
    email = User.objects.normalize_email(email).lower()
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": "Un compte existe déjà avec cette adresse."})
    candidate = User(email=email, display_name=display_name, role=role)
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    with transaction.atomic():
        user = User.objects.create_user(email=email, password=password, display_name=display_name, role=role)
        audit_record(actor=user, action="account.register", target=user, data={"role": role}, request=request)
    return user


def consent_grant(*, user: User, purpose: str) -> Consent:
    if purpose not in ConsentPurpose.values:
        raise ValidationError({"purpose": "Finalité inconnue."})
    with transaction.atomic():
        live = Consent.objects.select_for_update().filter(user=user, purpose=purpose, withdrawn_at__isnull=True).first()
        if live is not None:
            return live
        consent = Consent.objects.create(user=user, purpose=purpose)
        audit_record(actor=user, action="consent.grant", target=consent, data={"purpose": purpose})
        return consent


def consent_withdraw(*, user: User, purpose: str) -> None:
    """Withdraw a consent; data collected under it is erased at once (it may no longer be used)."""
    from marketplace.services import entrepreneur_priority_data_clear

    if purpose not in ConsentPurpose.values:
        raise ValidationError({"purpose": "Finalité inconnue."})
    with transaction.atomic():
        updated = Consent.objects.filter(user=user, purpose=purpose, withdrawn_at__isnull=True).update(
            withdrawn_at=timezone.now()
        )
        if purpose == ConsentPurpose.PRIORITY_DATA:
            entrepreneur_priority_data_clear(user=user)
        if updated:
            audit_record(actor=user, action="consent.withdraw", data={"purpose": purpose})


def consent_is_live(*, user: User, purpose: str) -> bool:
    return Consent.objects.filter(user=user, purpose=purpose, withdrawn_at__isnull=True).exists()
