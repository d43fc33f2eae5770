from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def validate_siret(value: str) -> None:
    """A SIRET is 14 digits passing the Luhn check (La Poste's establishments excepted:
    SIREN 356000000, whose SIRETs are checked by digit sum modulo 5)."""
    if not (isinstance(value, str) and len(value) == 14 and value.isdigit()):
        raise ValidationError(_("Le SIRET doit comporter exactement 14 chiffres."), code="siret_format")
    if value.startswith("356000000"):
        if sum(int(c) for c in value) % 5 == 0:
            return
    elif luhn_valid(value):
        return
    raise ValidationError(_("Ce SIRET n'est pas valide (clé de contrôle incorrecte)."), code="siret_checksum")
