"""What each role sees in the main menu. Entries whose page is not installed are left out, so
the menu never links to a 404."""

from __future__ import annotations

from typing import Any

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from accounts.models import Role

NAV: dict[str, list[tuple[str, Any]]] = {
    Role.ENTREPRENEUR: [
        ("frontend:entrepreneur_home", _("Mon espace")),
        ("frontend:my_requests", _("Mes demandes")),
        ("frontend:proposals", _("Propositions")),
        ("frontend:my_matches", _("Mes binômes")),
        ("frontend:entrepreneur_profile", _("Mon profil")),
        ("frontend:my_data", _("Mes données")),
    ],
    Role.MENTOR: [
        ("frontend:mentor_home", _("Mon espace")),
        ("frontend:mentor_profile", _("Mon profil")),
        ("frontend:proposals", _("Propositions")),
        ("frontend:my_matches", _("Mes binômes")),
        ("frontend:my_data", _("Mes données")),
    ],
    Role.COMPANY: [
        ("frontend:company_home", _("Mon espace")),
        ("frontend:company_profile", _("Entreprise")),
        ("frontend:offers", _("Offres")),
        ("frontend:proposals", _("Propositions")),
        ("frontend:my_matches", _("Mes binômes")),
        ("frontend:my_data", _("Mes données")),
    ],
    Role.COORDINATOR: [
        ("frontend:cycles", _("Cycles")),
        ("frontend:dashboard", _("Tableau de bord")),
        ("frontend:my_data", _("Mes données")),
    ],
    Role.ADMINISTRATOR: [
        ("frontend:cycles", _("Cycles")),
        ("frontend:dashboard", _("Tableau de bord")),
        ("frontend:my_data", _("Mes données")),
    ],
}


def nav_for(user: Any) -> list[tuple[str, Any]]:
    role = Role.ADMINISTRATOR if user.is_superuser else user.role
    entries = []
    for url_name, label in NAV.get(role, []):
        try:
            reverse(url_name)
        except NoReverseMatch:
            continue
        entries.append((url_name, label))
    return entries


def home_url_for(user: Any) -> str:
    """Where a user lands after login: their own space."""
    entries = nav_for(user)
    return reverse(entries[0][0]) if entries else reverse("frontend:home")
