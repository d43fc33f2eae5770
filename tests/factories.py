"""factory-boy factories for the domain. Reference data (towns, skills, languages, stages) comes
from the migrations, so factories pick existing rows."""

from __future__ import annotations

import datetime as dt

import factory
from django.contrib.auth.hashers import make_password

from accounts.models import Role, User
from marketplace import models as m

PASSWORD = "correct-horse-battery-42"
_HASH = None


def _password_hash() -> str:
    global _HASH
    if _HASH is None:
        _HASH = make_password(PASSWORD)
    return _HASH


def town(code: str = "33249") -> m.Town:
    return m.Town.objects.get(insee_code=code)


def skill(code: str) -> m.Skill:
    return m.Skill.objects.get(code=code)


def language(code: str = "fr") -> m.Language:
    return m.Language.objects.get(code=code)


def stage(code: str = "idea") -> m.ProjectStage:
    return m.ProjectStage.objects.get(code=code)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.org")
    display_name = factory.Sequence(lambda n: f"Personne {n}")
    role = Role.ENTREPRENEUR
    password = factory.LazyFunction(_password_hash)
    email_verified = True


class EntrepreneurProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.EntrepreneurProfile
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory, role=Role.ENTREPRENEUR)
    town = factory.LazyFunction(lambda: town("33249"))

    @factory.post_generation
    def languages(self, create, extracted, **kwargs):
        if create:
            self.languages.set(extracted or [language("fr")])


class MentorProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.MentorProfile
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory, role=Role.MENTOR)
    town = factory.LazyFunction(lambda: town("33119"))
    capacity = 2
    bio = "Ancienne cheffe d'entreprise."

    @factory.post_generation
    def languages(self, create, extracted, **kwargs):
        if create:
            self.languages.set(extracted or [language("fr")])

    @factory.post_generation
    def skills(self, create, extracted, **kwargs):
        if create:
            for code, level in extracted or [("business_model", 3), ("financial_forecast", 2)]:
                m.MentorSkill.objects.create(mentor=self, skill=skill(code), level=level)


class CompanyProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.CompanyProfile

    user = factory.SubFactory(UserFactory, role=Role.COMPANY)
    name = factory.Sequence(lambda n: f"Entreprise {n}")
    siret = factory.Sequence(lambda n: luhn_complete(f"7321{n:09d}"))
    town = factory.LazyFunction(lambda: town("33032"))


def luhn_complete(prefix13: str) -> str:
    from marketplace.validators import luhn_valid

    for digit in "0123456789":
        if luhn_valid(prefix13 + digit):
            return prefix13 + digit
    raise AssertionError("unreachable")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Project
        skip_postgeneration_save = True

    owner = factory.SubFactory(UserFactory, role=Role.ENTREPRENEUR)
    title = factory.Sequence(lambda n: f"Projet {n}")
    stage = factory.LazyFunction(lambda: stage("idea"))

    @factory.post_generation
    def needs(self, create, extracted, **kwargs):
        if create:
            for code, importance in extracted or [("business_model", 3), ("microcredit", 2)]:
                m.ProjectNeed.objects.create(project=self, skill=skill(code), importance=importance)


class OfferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Offer
        skip_postgeneration_save = True

    company = factory.SubFactory(CompanyProfileFactory)
    title = factory.Sequence(lambda n: f"Offre {n}")
    town = factory.LazyAttribute(lambda o: o.company.town)
    capacity = 3
    hours_budget = 40
    starts_on = factory.LazyFunction(lambda: dt.date.today())
    ends_on = factory.LazyFunction(lambda: dt.date.today() + dt.timedelta(days=180))

    @factory.post_generation
    def languages(self, create, extracted, **kwargs):
        if create:
            self.languages.set(extracted or [language("fr")])

    @factory.post_generation
    def accepted_stages(self, create, extracted, **kwargs):
        if create:
            self.accepted_stages.set(extracted or list(m.ProjectStage.objects.all()))

    @factory.post_generation
    def skills(self, create, extracted, **kwargs):
        if create:
            for code, level in extracted or [("website", 3), ("social_media", 2)]:
                m.OfferSkill.objects.create(offer=self, skill=skill(code), level=level)


def request_for(project: m.Project, **kwargs) -> m.Request:
    """A live request through the service, as the entrepreneur would file it."""
    from marketplace.services import request_create

    return request_create(user=project.owner, project=project, **kwargs)


def coordinator(territory_code: str = "rive-droite", **kwargs) -> User:
    user = UserFactory(role=Role.COORDINATOR, **kwargs)
    m.CoordinatorScope.objects.create(user=user, territory=m.Territory.objects.get(code=territory_code))
    return user


def other_territory() -> m.Territory:
    territory, _ = m.Territory.objects.get_or_create(code="grand-paris", defaults={"name": "Grand Paris"})
    m.Town.objects.get_or_create(
        insee_code="93066",
        defaults={"name": "Saint-Denis", "latitude": 48.9362, "longitude": 2.3574, "territory": territory},
    )
    return territory
