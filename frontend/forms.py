"""Page forms. They parse and present; the writes are the backend's services.

Labels are French msgids translated through the catalogue in frontend/locale; reference rows
(towns, skills, languages…) show their label in the interface language."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import SELF_REGISTERING_ROLES, Role
from marketplace.models import (
    AVAILABILITY_ALL,
    AgeBand,
    Format,
    Gender,
    Language,
    Neighbourhood,
    ProjectStage,
    RequestKind,
    Sector,
    Skill,
    Town,
)

DAYS = [_("Lundi"), _("Mardi"), _("Mercredi"), _("Jeudi"), _("Vendredi"), _("Samedi"), _("Dimanche")]
HALVES = [_("matin"), _("après-midi")]


def apply_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form, next to the field it names when the form
    has that field, at the top otherwise. Backend messages are French literals; the catalogue
    carries their English, so they are translated here."""
    if hasattr(exc, "error_dict"):
        for name, messages in exc.message_dict.items():
            target = name if name in form.fields else None
            for message in messages:
                form.add_error(target, gettext(message))
    else:
        for message in exc.messages:
            form.add_error(None, gettext(message))


class LabelChoiceMixin:
    def label_from_instance(self, obj: Any) -> str:
        return getattr(obj, "label", None) or str(obj)


class RefChoiceField(LabelChoiceMixin, forms.ModelChoiceField):
    pass


class RefMultipleChoiceField(LabelChoiceMixin, forms.ModelMultipleChoiceField):
    widget = forms.CheckboxSelectMultiple


class AvailabilityField(forms.MultipleChoiceField):
    """14 half-days as checkboxes, cleaned to the backend's bitmask (bit 0 = Monday morning)."""

    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs: Any) -> None:
        choices = [
            (str(day * 2 + half), f"{DAYS[day]} {HALVES[half]}") for day in range(7) for half in range(2)
        ]
        kwargs.setdefault("label", _("Disponibilités"))
        kwargs.setdefault("help_text", _("Cochez les demi-journées où vous êtes en général disponible."))
        super().__init__(choices=choices, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, int):
            return [str(bit) for bit in range(14) if value & (1 << bit)]
        return value

    def clean(self, value: Any) -> int:  # type: ignore[override]
        bits = super().clean(value)
        mask = 0
        for bit in bits:
            mask |= 1 << int(bit)
        if mask == 0:
            raise ValidationError(_("Cochez au moins une demi-journée."), code="required")
        return mask & AVAILABILITY_ALL


class AvailabilityRowsMixin:
    def availability_rows(self) -> list[dict[str, Any]]:
        widgets = list(self["availability"])  # type: ignore[index]
        return [{"day": DAYS[day], "morning": widgets[day * 2], "afternoon": widgets[day * 2 + 1]} for day in range(7)]


class SkillLevelsMixin:
    """One select per skill of the taxonomy (0 = not chosen), grouped by family in the page."""

    skill_prefix = "skill_"
    skill_choices: list[tuple[str, Any]] = []
    skill_required_message = _("Choisissez au moins une compétence.")

    def add_skill_fields(self, initial: dict[int, int]) -> None:
        self.skills = list(Skill.objects.select_related("group").order_by("group__position", "code"))
        for skill in self.skills:
            self.fields[f"{self.skill_prefix}{skill.code}"] = forms.TypedChoiceField(  # type: ignore[attr-defined]
                label=skill.label, choices=self.skill_choices, coerce=int, empty_value=0, required=False,
                initial=str(initial.get(skill.pk, 0)),
            )

    def skill_groups(self) -> list[dict[str, Any]]:
        groups: dict[int, dict[str, Any]] = {}
        for skill in self.skills:
            group = groups.setdefault(skill.group_id, {"label": skill.group.label, "fields": [], "chosen": 0})
            bound = self[f"{self.skill_prefix}{skill.code}"]  # type: ignore[index]
            group["fields"].append(bound)
            if str(bound.value() or "0") != "0":
                group["chosen"] += 1
        return list(groups.values())

    def chosen_skills(self) -> list[tuple[Skill, int]]:
        data = self.cleaned_data  # type: ignore[attr-defined]
        return [(s, data[f"{self.skill_prefix}{s.code}"]) for s in self.skills if data.get(f"{self.skill_prefix}{s.code}")]


# --- Accounts ------------------------------------------------------------------------------------


class RegisterForm(forms.Form):
    role = forms.ChoiceField(
        label=_("Je suis"),
        choices=[(r.value, r.label) for r in SELF_REGISTERING_ROLES],
        widget=forms.RadioSelect,
    )
    display_name = forms.CharField(
        label=_("Votre prénom ou le nom à afficher"), max_length=80,
        help_text=_("C'est ce que verront les personnes avec qui vous serez en binôme."),
    )
    email = forms.EmailField(label=_("Adresse e-mail"), max_length=254)
    password = forms.CharField(
        label=_("Mot de passe"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("Au moins 10 caractères, pas seulement des chiffres."),
    )
    privacy = forms.BooleanField(
        label=_("J'ai lu la notice sur mes données personnelles."), required=True,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].widget.attrs["autocomplete"] = "email"
        self.fields["display_name"].widget.attrs["autocomplete"] = "given-name"


class LoginForm(AuthenticationForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].label = _("Adresse e-mail")
        self.fields["username"].widget = forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
        self.fields["password"].label = _("Mot de passe")
        self.error_messages["invalid_login"] = _("Adresse e-mail ou mot de passe incorrect.")


# --- Entrepreneur ---------------------------------------------------------------------------------


class EntrepreneurProfileForm(AvailabilityRowsMixin, forms.Form):
    town = RefChoiceField(label=_("Votre commune"), queryset=Town.objects.all(), empty_label=_("Choisir…"))
    neighbourhood = forms.ModelChoiceField(
        label=_("Votre quartier"), queryset=Neighbourhood.objects.select_related("town"), required=False,
        empty_label=_("Je préfère ne pas le dire"),
    )
    languages = RefMultipleChoiceField(label=_("Langues que vous parlez"), queryset=Language.objects.all())
    preferred_format = forms.TypedChoiceField(
        label=_("Comment préférez-vous vous rencontrer ?"), choices=Format.choices, coerce=int,
        widget=forms.RadioSelect, initial=Format.EITHER,
    )
    availability = AvailabilityField(initial=AVAILABILITY_ALL)
    priority_consent = forms.BooleanField(
        label=_("J'accepte que ces informations servent à donner la priorité à ma demande."),
        required=False,
        help_text=_("Facultatif. Vous pouvez retirer votre accord à tout moment : les informations sont alors effacées."),
    )
    age_band = forms.ChoiceField(label=_("Votre âge"), choices=[("", _("Je préfère ne pas le dire")), *AgeBand.choices], required=False)
    gender = forms.ChoiceField(label=_("Vous êtes"), choices=[("", _("Je préfère ne pas le dire")), *Gender.choices], required=False)
    qpv_resident = forms.TypedChoiceField(
        label=_("Habitez-vous un quartier prioritaire ?"), required=False,
        choices=[("", _("Je préfère ne pas le dire")), ("1", _("Oui")), ("0", _("Non"))],
        coerce=lambda v: v == "1", empty_value=None,
    )
    job_seeker = forms.TypedChoiceField(
        label=_("Êtes-vous demandeur ou demandeuse d'emploi ?"), required=False,
        choices=[("", _("Je préfère ne pas le dire")), ("1", _("Oui")), ("0", _("Non"))],
        coerce=lambda v: v == "1", empty_value=None,
    )

    PRIORITY_FIELDS = ("age_band", "gender", "qpv_resident", "job_seeker")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        town, neighbourhood = data.get("town"), data.get("neighbourhood")
        if town and neighbourhood and neighbourhood.town_id != town.pk:
            self.add_error("neighbourhood", _("Ce quartier n'est pas dans la commune choisie."))
        if not data.get("priority_consent"):
            given = [name for name in self.PRIORITY_FIELDS if data.get(name) not in ("", None)]
            if given:
                self.add_error(
                    "priority_consent",
                    _("Cochez cette case pour que nous puissions enregistrer ces informations, ou laissez-les vides."),
                )
        return data


class ProjectForm(forms.Form):
    title = forms.CharField(label=_("Nom de votre projet"), max_length=160,
                            help_text=_("Quelques mots suffisent, par exemple « Traiteur africain à Cenon »."))
    description = forms.CharField(
        label=_("Décrivez votre projet"), widget=forms.Textarea, max_length=4000, required=False,
    )
    sector = RefChoiceField(label=_("Secteur"), queryset=Sector.objects.all(), required=False, empty_label=_("Je ne sais pas encore"))
    stage = RefChoiceField(label=_("Où en est votre projet ?"), queryset=ProjectStage.objects.all(), widget=forms.RadioSelect, empty_label=None)


class NeedsForm(SkillLevelsMixin, forms.Form):
    skill_choices = [("0", _("Pas besoin")), ("1", _("Utile")), ("2", _("Important")), ("3", _("Essentiel"))]

    def __init__(self, *args: Any, initial_needs: dict[int, int] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_skill_fields(initial_needs or {})

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.errors and not self.chosen_skills():
            raise ValidationError(_("Choisissez au moins un besoin."))
        return data


class RequestForm(forms.Form):
    kind = forms.TypedChoiceField(
        label=_("Vous cherchez"), choices=RequestKind.choices, coerce=int, widget=forms.RadioSelect,
        initial=RequestKind.EITHER,
    )
    format = forms.TypedChoiceField(
        label=_("Rencontres"), choices=Format.choices, coerce=int, widget=forms.RadioSelect, initial=Format.EITHER,
    )
    languages = RefMultipleChoiceField(label=_("Langues pour échanger"), queryset=Language.objects.all())
    notes = forms.CharField(
        label=_("Un mot pour le coordinateur"), widget=forms.Textarea, max_length=2000, required=False,
        help_text=_("Par exemple vos contraintes d'horaires ou ce que vous attendez."),
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Raison"), widget=forms.Textarea(attrs={"rows": 3}), max_length=1000, required=False)


class RequiredReasonForm(forms.Form):
    reason = forms.CharField(label=_("Raison"), widget=forms.Textarea(attrs={"rows": 3}), max_length=1000)


# --- Mentor and company ---------------------------------------------------------------------------


LEVEL_CHOICES = [("0", _("Non")), ("1", _("Notions")), ("2", _("Bon niveau")), ("3", _("Expert"))]


class MentorProfileForm(SkillLevelsMixin, AvailabilityRowsMixin, forms.Form):
    skill_choices = LEVEL_CHOICES

    bio = forms.CharField(label=_("Présentez-vous"), widget=forms.Textarea, max_length=4000, required=False,
                          help_text=_("Votre parcours, ce que vous aimez transmettre."))
    town = RefChoiceField(label=_("Votre commune"), queryset=Town.objects.all(), empty_label=_("Choisir…"))
    reachable_towns = RefMultipleChoiceField(label=_("Communes où vous pouvez vous déplacer"), queryset=Town.objects.all(), required=False)
    format = forms.TypedChoiceField(label=_("Format"), choices=Format.choices, coerce=int, widget=forms.RadioSelect, initial=Format.EITHER)
    languages = RefMultipleChoiceField(label=_("Langues que vous parlez"), queryset=Language.objects.all())
    sectors = RefMultipleChoiceField(label=_("Secteurs que vous connaissez"), queryset=Sector.objects.all(), required=False)
    availability = AvailabilityField(initial=AVAILABILITY_ALL)
    capacity = forms.IntegerField(
        label=_("Combien de personnes pouvez-vous accompagner en même temps ?"), min_value=0, max_value=10, initial=1,
    )
    paused = forms.BooleanField(
        label=_("Mettre en pause : ne pas recevoir de nouvelle proposition pour le moment"), required=False,
    )

    def __init__(self, *args: Any, initial_skills: dict[int, int] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_skill_fields(initial_skills or {})


class CompanyProfileForm(forms.Form):
    name = forms.CharField(label=_("Nom de l'entreprise"), max_length=160)
    siret = forms.CharField(label=_("SIRET"), max_length=14, min_length=14, help_text=_("14 chiffres, sans espace."))
    town = RefChoiceField(label=_("Commune"), queryset=Town.objects.all(), empty_label=_("Choisir…"))
    description = forms.CharField(label=_("Présentation"), widget=forms.Textarea, max_length=4000, required=False)
    contact_name = forms.CharField(label=_("Personne à contacter"), max_length=120, required=False)
    contact_email = forms.EmailField(label=_("E-mail de contact"), required=False)
    contact_phone = forms.CharField(label=_("Téléphone de contact"), max_length=20, required=False)

    def clean_siret(self) -> str:
        return "".join(self.cleaned_data["siret"].split())


class OfferForm(SkillLevelsMixin, AvailabilityRowsMixin, forms.Form):
    skill_choices = LEVEL_CHOICES

    title = forms.CharField(label=_("Titre de l'offre"), max_length=160)
    description = forms.CharField(label=_("Description"), widget=forms.Textarea, max_length=4000, required=False)
    format = forms.TypedChoiceField(label=_("Format"), choices=Format.choices, coerce=int, widget=forms.RadioSelect, initial=Format.EITHER)
    town = RefChoiceField(label=_("Commune"), queryset=Town.objects.all(), empty_label=_("Choisir…"))
    reachable_towns = RefMultipleChoiceField(label=_("Autres communes où intervenir"), queryset=Town.objects.all(), required=False)
    languages = RefMultipleChoiceField(label=_("Langues"), queryset=Language.objects.all())
    sectors = RefMultipleChoiceField(label=_("Secteurs"), queryset=Sector.objects.all(), required=False)
    accepted_stages = RefMultipleChoiceField(label=_("Étapes de projet acceptées"), queryset=ProjectStage.objects.all())
    availability = AvailabilityField(initial=AVAILABILITY_ALL)
    capacity = forms.IntegerField(label=_("Nombre de bénéficiaires"), min_value=1, max_value=500)
    hours_budget = forms.IntegerField(label=_("Nombre d'heures offertes"), min_value=1, max_value=100_000)
    starts_on = forms.DateField(label=_("Début"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    ends_on = forms.DateField(label=_("Fin"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    active = forms.BooleanField(label=_("Offre active (visible pour les prochains cycles)"), required=False, initial=True)

    def __init__(self, *args: Any, initial_skills: dict[int, int] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_skill_fields(initial_skills or {})

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("starts_on") and data.get("ends_on") and data["ends_on"] < data["starts_on"]:
            self.add_error("ends_on", _("La fin doit suivre le début."))
        if not self.errors and not self.chosen_skills():
            raise ValidationError(self.skill_required_message)
        return data


def role_label(role: str) -> str:
    return str(Role(role).label)
