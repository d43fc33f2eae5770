"""Reference data, profiles, projects, requests and sponsorship offers."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from marketplace.validators import validate_siret


class LabelledModel(models.Model):
    """Reference rows with a stable code and a label per interface language."""

    code = models.SlugField(max_length=60, unique=True)
    label_fr = models.CharField(max_length=120)
    label_en = models.CharField(max_length=120)

    class Meta:
        abstract = True
        ordering = ["code"]

    def __str__(self) -> str:
        return self.label_fr

    @property
    def label(self) -> str:
        return self.label_en if (get_language() or "fr").startswith("en") else self.label_fr


# --- Reference data -------------------------------------------------------------------------------


class Territory(models.Model):
    """A programme area (e.g. the Rive Droite): coordinators and cycles are scoped to it."""

    code = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "territories"

    def __str__(self) -> str:
        return self.name


class Town(models.Model):
    """A commune. Coordinates feed the distance criterion of matching."""

    territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="towns")
    insee_code = models.CharField(max_length=5, unique=True)
    name = models.CharField(max_length=120)
    latitude = models.FloatField(validators=[MinValueValidator(-90), MaxValueValidator(90)])
    longitude = models.FloatField(validators=[MinValueValidator(-180), MaxValueValidator(180)])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Neighbourhood(models.Model):
    """A priority neighbourhood (quartier prioritaire de la politique de la ville)."""

    town = models.ForeignKey(Town, on_delete=models.PROTECT, related_name="neighbourhoods")
    name = models.CharField(max_length=120)
    qpv_code = models.CharField(max_length=12, blank=True)

    class Meta:
        ordering = ["town__name", "name"]
        constraints = [models.UniqueConstraint(fields=["town", "name"], name="neighbourhood_unique")]

    def __str__(self) -> str:
        return f"{self.name} ({self.town.name})"


class SkillGroup(LabelledModel):
    position = models.PositiveSmallIntegerField(default=0)

    class Meta(LabelledModel.Meta):
        ordering = ["position", "code"]


class Skill(LabelledModel):
    group = models.ForeignKey(SkillGroup, on_delete=models.PROTECT, related_name="skills")

    class Meta(LabelledModel.Meta):
        ordering = ["group__position", "code"]


class Sector(LabelledModel):
    pass


class Language(LabelledModel):
    """Matching stores spoken languages as a 64-bit mask, indexed by ``bit``."""

    bit = models.PositiveSmallIntegerField(unique=True, validators=[MaxValueValidator(63)])


class ProjectStage(LabelledModel):
    position = models.PositiveSmallIntegerField(unique=True, validators=[MaxValueValidator(63)])

    class Meta(LabelledModel.Meta):
        ordering = ["position"]


# --- Shared choices -------------------------------------------------------------------------------


class Format(models.IntegerChoices):
    # Values equal matching.FORMAT_* so the adapter passes them through.
    IN_PERSON = 1, _("En présentiel")
    REMOTE = 2, _("À distance")
    EITHER = 3, _("Les deux")


AVAILABILITY_ALL = (1 << 14) - 1  # 14 half-days, Monday morning = bit 0 … Sunday afternoon = bit 13


def _availability_field() -> models.PositiveIntegerField:
    return models.PositiveIntegerField(
        _("disponibilités"),
        default=AVAILABILITY_ALL,
        validators=[MaxValueValidator(AVAILABILITY_ALL)],
        help_text=_("Demi-journées de la semaine (bit 0 = lundi matin … bit 13 = dimanche après-midi)"),
    )


# --- Profiles -------------------------------------------------------------------------------------


class AgeBand(models.TextChoices):
    UNDER_26 = "under_26", _("Moins de 26 ans")
    FROM_26_TO_49 = "26_49", _("26 à 49 ans")
    OVER_50 = "over_50", _("50 ans et plus")


class Gender(models.TextChoices):
    WOMAN = "woman", _("Femme")
    MAN = "man", _("Homme")
    OTHER = "other", _("Autre")


class EntrepreneurProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="entrepreneur_profile"
    )
    town = models.ForeignKey(Town, on_delete=models.PROTECT, related_name="+")
    neighbourhood = models.ForeignKey(
        Neighbourhood, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    languages = models.ManyToManyField(Language, related_name="+")
    preferred_format = models.PositiveSmallIntegerField(choices=Format.choices, default=Format.EITHER)
    availability = _availability_field()
    # Self-declared priority-public data: stored only while the PRIORITY_DATA consent is live.
    age_band = models.CharField(max_length=10, choices=AgeBand.choices, blank=True)
    gender = models.CharField(max_length=10, choices=Gender.choices, blank=True)
    qpv_resident = models.BooleanField(null=True, blank=True)
    job_seeker = models.BooleanField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # The list's default order (-created_at, -id) reads the newest rows of 100,000 from this
        # index instead of sorting the table on every page.
        indexes = [models.Index(fields=["created_at", "id"], name="entrepreneur_created_idx")]

    def __str__(self) -> str:
        return f"Entrepreneur {self.user_id}"

    @property
    def territory_id(self) -> int:
        return self.town.territory_id

    def priority_tier(self) -> int:
        """0 none, 1 one priority criterion, 2 several (used only with live consent)."""
        criteria = sum(
            [
                self.age_band in (AgeBand.UNDER_26, AgeBand.OVER_50),
                self.gender == Gender.WOMAN,
                bool(self.qpv_resident),
                bool(self.job_seeker),
            ]
        )
        return min(criteria, 2)


class CompanyProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="company_profile"
    )
    name = models.CharField(max_length=160)
    siret = models.CharField(max_length=14, unique=True, validators=[validate_siret])
    description = models.TextField(max_length=4000, blank=True)
    contact_name = models.CharField(max_length=120, blank=True)
    contact_email = models.EmailField(blank=True)
    contact_phone = models.CharField(max_length=20, blank=True)
    town = models.ForeignKey(Town, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MentorProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mentor_profile"
    )
    bio = models.TextField(max_length=4000, blank=True)
    town = models.ForeignKey(Town, on_delete=models.PROTECT, related_name="+")
    reachable_towns = models.ManyToManyField(Town, blank=True, related_name="+")
    format = models.PositiveSmallIntegerField(choices=Format.choices, default=Format.EITHER)
    languages = models.ManyToManyField(Language, related_name="+")
    sectors = models.ManyToManyField(Sector, blank=True, related_name="+")
    availability = _availability_field()
    capacity = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(0), MaxValueValidator(10)]
    )
    paused = models.BooleanField(default=False)
    employer = models.ForeignKey(
        CompanyProfile, null=True, blank=True, on_delete=models.SET_NULL, related_name="employees"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(capacity__lte=10), name="mentor_capacity_range")
        ]
        # Default list order (-created_at, -id) without a sort of the 50,000 mentors per page.
        indexes = [models.Index(fields=["created_at", "id"], name="mentor_created_idx")]

    def __str__(self) -> str:
        return f"Mentor {self.user_id}"


class MentorSkill(models.Model):
    mentor = models.ForeignKey(MentorProfile, on_delete=models.CASCADE, related_name="skills")
    skill = models.ForeignKey(Skill, on_delete=models.PROTECT, related_name="+")
    level = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(3)])

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mentor", "skill"], name="mentor_skill_unique"),
            models.CheckConstraint(condition=Q(level__gte=1, level__lte=3), name="mentor_skill_level"),
        ]

    def __str__(self) -> str:
        return f"mentor {self.mentor_id}: skill {self.skill_id} level {self.level}"


class CoordinatorScope(models.Model):
    """The territories a coordinator works for; set by an administrator."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="coordinator_scopes"
    )
    territory = models.ForeignKey(Territory, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "territory"], name="coordinator_scope_unique")
        ]

    def __str__(self) -> str:
        return f"coordinator {self.user_id}: territory {self.territory_id}"


# --- Offers ---------------------------------------------------------------------------------------


class Offer(models.Model):
    """A company's skills sponsorship offer (offre de mécénat de compétences)."""

    company = models.ForeignKey(CompanyProfile, on_delete=models.CASCADE, related_name="offers")
    title = models.CharField(max_length=160)
    description = models.TextField(max_length=4000, blank=True)
    format = models.PositiveSmallIntegerField(choices=Format.choices, default=Format.EITHER)
    town = models.ForeignKey(Town, on_delete=models.PROTECT, related_name="+")
    reachable_towns = models.ManyToManyField(Town, blank=True, related_name="+")
    languages = models.ManyToManyField(Language, related_name="+")
    sectors = models.ManyToManyField(Sector, blank=True, related_name="+")
    availability = _availability_field()
    capacity = models.PositiveSmallIntegerField(
        _("bénéficiaires"), validators=[MinValueValidator(1), MaxValueValidator(500)]
    )
    hours_budget = models.PositiveIntegerField(
        _("heures"), validators=[MinValueValidator(1), MaxValueValidator(100_000)]
    )
    accepted_stages = models.ManyToManyField(ProjectStage, related_name="+")
    starts_on = models.DateField()
    ends_on = models.DateField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_on__gte=models.F("starts_on")), name="offer_period"),
            models.CheckConstraint(condition=Q(capacity__gte=1), name="offer_capacity_positive"),
        ]
        indexes = [
            models.Index(fields=["active", "ends_on"]),
            # Default list order (-created_at, -id), read from the index.
            models.Index(fields=["created_at", "id"], name="offer_created_idx"),
        ]

    def __str__(self) -> str:
        return self.title


class OfferSkill(models.Model):
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="skills")
    skill = models.ForeignKey(Skill, on_delete=models.PROTECT, related_name="+")
    level = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(3)])

    class Meta:
        constraints = [models.UniqueConstraint(fields=["offer", "skill"], name="offer_skill_unique")]

    def __str__(self) -> str:
        return f"offer {self.offer_id}: skill {self.skill_id} level {self.level}"


# --- Projects and requests ------------------------------------------------------------------------


class Project(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="projects")
    title = models.CharField(max_length=160)
    description = models.TextField(max_length=4000, blank=True)
    sector = models.ForeignKey(Sector, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    stage = models.ForeignKey(ProjectStage, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # The default order of the list, read from the index (100,000 projects nationally).
        indexes = [models.Index(fields=["created_at", "id"], name="project_created_idx")]

    def __str__(self) -> str:
        return self.title


class ProjectNeed(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="needs")
    skill = models.ForeignKey(Skill, on_delete=models.PROTECT, related_name="+")
    importance = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(3)])

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "skill"], name="project_need_unique"),
            models.CheckConstraint(condition=Q(importance__gte=1, importance__lte=3), name="project_need_importance"),
        ]

    def __str__(self) -> str:
        return f"project {self.project_id}: skill {self.skill_id} importance {self.importance}"


class RequestKind(models.IntegerChoices):
    # Values equal matching's request kinds.
    MENTOR = 1, _("Un parrain ou une marraine")
    SPONSORSHIP = 2, _("Du mécénat de compétences")
    EITHER = 3, _("L'un ou l'autre")


class RequestStatus(models.TextChoices):
    OPEN = "open", _("Ouverte")
    PROPOSED = "proposed", _("Proposition en cours")
    MATCHED = "matched", _("Binôme formé")
    WITHDRAWN = "withdrawn", _("Retirée")
    EXPIRED = "expired", _("Expirée")


LIVE_REQUEST_STATUSES = (RequestStatus.OPEN, RequestStatus.PROPOSED)


class Request(models.Model):
    """A request for support (demande d'accompagnement) for one project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="requests")
    entrepreneur = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="support_requests"
    )
    # Denormalised from the entrepreneur's town at filing, so coordinators' scope is one index.
    territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="+")
    kind = models.PositiveSmallIntegerField(choices=RequestKind.choices, default=RequestKind.EITHER)
    format = models.PositiveSmallIntegerField(choices=Format.choices, default=Format.EITHER)
    languages = models.ManyToManyField(Language, related_name="+")
    notes = models.TextField(max_length=2000, blank=True)
    status = models.CharField(max_length=12, choices=RequestStatus.choices, default=RequestStatus.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    status_changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One live request per project: the database is the last line behind the service check.
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(status__in=["open", "proposed"]),
                name="one_live_request_per_project",
            )
        ]
        indexes = [
            models.Index(fields=["territory", "status", "created_at"]),
            models.Index(fields=["status", "created_at"]),
            # The list's default order (-created_at, -id) with no status filter: all requests for an
            # administrator, one territory's for a coordinator. Without these, every page sorted
            # the 100,000 national requests (0.5 s measured by benchmarks/http_load.py).
            models.Index(fields=["created_at", "id"], name="request_created_idx"),
            models.Index(fields=["territory", "created_at", "id"], name="request_territory_created_idx"),
        ]

    def __str__(self) -> str:
        return f"Request {self.pk} ({self.status})"


class RequestNeed(models.Model):
    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="needs")
    skill = models.ForeignKey(Skill, on_delete=models.PROTECT, related_name="+")
    importance = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(3)])

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["request", "skill"], name="request_need_unique"),
            models.CheckConstraint(condition=Q(importance__gte=1, importance__lte=3), name="request_need_importance"),
        ]

    def __str__(self) -> str:
        return f"request {self.request_id}: skill {self.skill_id} importance {self.importance}"
