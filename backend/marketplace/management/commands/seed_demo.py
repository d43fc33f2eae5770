"""Load a plausible, deterministic demo: entrepreneurs with projects and open requests, mentors,
companies with sponsorship offers, a coordinator and an administrator.

Small by default (the Rive Droite, for `make run`); sized by flags for benchmarks, e.g.
``seed_demo --reset --entrepreneurs 100000 --mentors 50000 --companies 2000``: beyond the four
towns it then spreads people over a national set of real towns. Everything is bulk-inserted with
one pre-computed password hash, so 10,000 entrepreneurs and 5,000 mentors load in seconds."""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Iterator, Sequence
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.models import Consent, ConsentPurpose, Role, User
from marketplace import models as m
from marketplace.validators import luhn_valid

DEMO_DOMAIN = "demo.sociallab.fr"
DEMO_PASSWORD = "SocialLab-demo-2026"
DEMO_LOGINS = [
    ("administrator", f"admin@{DEMO_DOMAIN}", "Administratrice de la plateforme"),
    ("coordinator", f"coordination@{DEMO_DOMAIN}", "Nadia (CitésLab Rive Droite)"),
    ("entrepreneur", f"amina@{DEMO_DOMAIN}", "Amina B."),
    ("mentor", f"sophie@{DEMO_DOMAIN}", "Sophie M."),
    ("company", f"mecenat@{DEMO_DOMAIN}", "Garonne Numérique"),
]

# Real towns for national-size demos (INSEE code, name, latitude, longitude), grouped in territories.
NATIONAL_TERRITORIES: dict[str, tuple[str, list[tuple[str, str, float, float]]]] = {
    "grand-paris": ("Grand Paris", [
        ("93066", "Saint-Denis", 48.9362, 2.3574), ("93008", "Bobigny", 48.9077, 2.4390),
        ("93001", "Aubervilliers", 48.9146, 2.3821), ("93048", "Montreuil", 48.8638, 2.4485),
        ("94081", "Vitry-sur-Seine", 48.7875, 2.3928), ("95018", "Argenteuil", 48.9472, 2.2467),
        ("92050", "Nanterre", 48.8924, 2.2071), ("91228", "Évry-Courcouronnes", 48.6290, 2.4410),
    ]),
    "lyon-metropole": ("Métropole de Lyon", [
        ("69266", "Villeurbanne", 45.7719, 4.8902), ("69259", "Vénissieux", 45.6975, 4.8867),
        ("69290", "Saint-Priest", 45.6960, 4.9440), ("69282", "Rillieux-la-Pape", 45.8214, 4.8983),
    ]),
    "aix-marseille": ("Aix-Marseille", [
        ("13055", "Marseille", 43.2965, 5.3698), ("13001", "Aix-en-Provence", 43.5297, 5.4474),
        ("13056", "Martigues", 43.4045, 5.0476), ("13103", "Vitrolles", 43.4600, 5.2486),
    ]),
    "hauts-de-france": ("Hauts-de-France", [
        ("59350", "Lille", 50.6292, 3.0573), ("59512", "Roubaix", 50.6942, 3.1746),
        ("59599", "Tourcoing", 50.7239, 3.1612), ("80021", "Amiens", 49.8941, 2.2958),
    ]),
    "toulouse-occitanie": ("Toulouse et Occitanie", [
        ("31555", "Toulouse", 43.6047, 1.4442), ("34172", "Montpellier", 43.6108, 3.8767),
        ("30189", "Nîmes", 43.8367, 4.3601), ("66136", "Perpignan", 42.6887, 2.8948),
    ]),
    "grand-ouest": ("Grand Ouest", [
        ("44109", "Nantes", 47.2184, -1.5536), ("35238", "Rennes", 48.1173, -1.6778),
        ("49007", "Angers", 47.4784, -0.5632), ("37261", "Tours", 47.3941, 0.6848),
    ]),
    "grand-est": ("Grand Est", [
        ("67482", "Strasbourg", 48.5734, 7.7521), ("68224", "Mulhouse", 47.7508, 7.3359),
        ("57463", "Metz", 49.1193, 6.1757), ("51454", "Reims", 49.2583, 4.0317),
    ]),
}

FIRST_NAMES = [
    "Amina", "Karim", "Fatou", "Mamadou", "Léa", "Yasmine", "Nour", "Kevin", "Sofia", "Ibrahim",
    "Inès", "Moussa", "Chloé", "Mehdi", "Aïcha", "Thomas", "Samira", "Rachid", "Julie", "Ousmane",
    "Leïla", "Youssef", "Camille", "Djeneba", "Hugo", "Sarah", "Bilal", "Manon", "Awa", "Nicolas",
    "Khadija", "Lucas", "Mariam", "Sébastien", "Zineb", "Antoine", "Hawa", "Éric", "Naïma", "Ali",
]
PROJECT_IDEAS = [
    ("Food truck de cuisine du monde", "food"), ("Salon de coiffure afro", "beauty"),
    ("Épicerie solidaire de quartier", "retail"), ("Atelier de couture et retouches", "fashion"),
    ("Service d'aide aux seniors", "personal_services"), ("Entreprise de nettoyage", "cleaning"),
    ("Agence de développement web", "digital"), ("Traiteur pour événements", "food"),
    ("Jardin maraîcher urbain", "urban_farming"), ("Livraison à vélo", "transport"),
    ("Rénovation et peinture", "construction"), ("Cours de soutien scolaire", "training"),
    ("Studio photo et vidéo", "culture"), ("Réparation de smartphones", "digital"),
    ("Boutique de produits du Maghreb", "retail"), ("Menuiserie artisanale", "crafts"),
    ("Garde d'enfants à domicile", "personal_services"), ("Esthétique à domicile", "beauty"),
    ("Organisation de mariages", "culture"), ("Friperie et seconde main", "social_economy"),
]
COMPANY_NAMES = [
    "Garonne Numérique", "Crédit Rive Droite", "Bâti Aquitaine", "Cabinet Expert Gironde",
    "Transports du Bec d'Ambès", "Assurances Bastide", "Agence Com' Atlantique", "Juris Conseil 33",
    "Logistique Bassens Port", "Banque Solidaire Aquitaine", "Hôtellerie Quai de Brazza",
    "Énergies Hauts-de-Garonne",
]
LANGUAGE_SHARES = [("ar", 0.28), ("en", 0.22), ("es", 0.08), ("pt", 0.08), ("tr", 0.05),
                   ("ber", 0.08), ("wo", 0.05), ("ro", 0.03), ("ru", 0.02), ("it", 0.02)]
BATCH = 5000


def _batches(rows: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _siret(rng: random.Random) -> str:
    prefix = "".join(str(rng.randrange(10)) for _ in range(13))
    for digit in "0123456789":
        if luhn_valid(prefix + digit) and not prefix.startswith("356000000"):
            return prefix + digit
    raise AssertionError("unreachable")


class Command(BaseCommand):
    help = "Load a deterministic demo territory (sized by flags) with known demo logins."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--entrepreneurs", type=int, default=60)
        parser.add_argument("--mentors", type=int, default=30)
        parser.add_argument("--companies", type=int, default=6)
        parser.add_argument("--seed", type=int, default=2016)
        parser.add_argument("--national", action="store_true",
                            help="also spread people over real towns across France (automatic above 2,000)")
        parser.add_argument("--if-empty", action="store_true", help="do nothing if demo accounts exist")
        parser.add_argument("--reset", action="store_true", help="delete existing demo accounts first")
        parser.add_argument("--print-logins", action="store_true")

    def handle(self, *args: Any, **opts: Any) -> None:
        for name in ("entrepreneurs", "mentors", "companies"):
            if opts[name] < 0 or opts[name] > 1_000_000:
                raise CommandError(f"--{name} must be between 0 and 1,000,000")
        existing = User.objects.filter(email__endswith=f"@{DEMO_DOMAIN}")
        if existing.exists():
            if opts["if_empty"]:
                self.stdout.write("Demo data already present: nothing loaded.")
                self._print_logins(opts)
                return
            if not opts["reset"]:
                raise CommandError("Demo data already present: use --reset to replace it or --if-empty to keep it.")
            self._reset()
        started = time.monotonic()
        with transaction.atomic():
            counts = self._seed(opts)
        elapsed = time.monotonic() - started
        self.stdout.write(
            "Loaded " + ", ".join(f"{v} {k}" for k, v in counts.items()) + f" in {elapsed:.1f} s."
        )
        self._print_logins(opts)

    def _print_logins(self, opts: dict[str, Any]) -> None:
        if not opts["print_logins"]:
            return
        self.stdout.write("")
        self.stdout.write("Comptes de démonstration / demo logins (mot de passe / password: "
                          f"{DEMO_PASSWORD})")
        for role, email, _name in DEMO_LOGINS:
            self.stdout.write(f"  {role:<13} {email}")
        self.stdout.write("Site: http://127.0.0.1:8000/   API: http://127.0.0.1:8000/api/docs/   "
                          "Admin: http://127.0.0.1:8000/admin/")
        self.stdout.write("")

    def _reset(self) -> None:
        from cycles.models import Match

        demo = User.objects.filter(email__endswith=f"@{DEMO_DOMAIN}")
        Match.objects.filter(entrepreneur__in=demo).delete()
        m.Request.objects.filter(entrepreneur__in=demo).delete()
        m.Project.objects.filter(owner__in=demo).delete()
        m.MentorProfile.objects.filter(user__in=demo).delete()
        m.Offer.objects.filter(company__user__in=demo).delete()
        m.CompanyProfile.objects.filter(user__in=demo).delete()
        demo.delete()

    # --- the data ---------------------------------------------------------------------------------

    def _towns(self, national: bool) -> list[m.Town]:
        if national:
            for code, (name, towns) in NATIONAL_TERRITORIES.items():
                territory, _ = m.Territory.objects.get_or_create(code=code, defaults={"name": name})
                for insee, town_name, lat, lon in towns:
                    m.Town.objects.get_or_create(
                        insee_code=insee,
                        defaults={"name": town_name, "latitude": lat, "longitude": lon, "territory": territory},
                    )
            return list(m.Town.objects.order_by("insee_code"))
        return list(m.Town.objects.filter(territory__code="rive-droite").order_by("insee_code"))

    def _seed(self, opts: dict[str, Any]) -> dict[str, int]:
        rng = random.Random(opts["seed"])
        n_ent, n_men, n_com = opts["entrepreneurs"], opts["mentors"], opts["companies"]
        national = opts["national"] or n_ent + n_men > 2000
        towns = self._towns(national)
        rive_droite = [t for t in towns if t.territory.code == "rive-droite"] if national else towns
        if not rive_droite:
            raise CommandError("The Rive Droite towns are missing: run migrate first.")
        neighbourhoods: dict[int, list[int]] = {}
        for town_id, hood_id in m.Neighbourhood.objects.values_list("town_id", "id"):
            neighbourhoods.setdefault(town_id, []).append(hood_id)
        skills = list(m.Skill.objects.order_by("code").values_list("id", flat=True))
        sectors = {code: pk for code, pk in m.Sector.objects.values_list("code", "id")}
        sector_ids = sorted(sectors.values())
        languages = {code: pk for code, pk in m.Language.objects.values_list("code", "id")}
        stages = list(m.ProjectStage.objects.order_by("position").values_list("id", flat=True))
        password = make_password(DEMO_PASSWORD)
        demo_suffix = f"@{DEMO_DOMAIN}"
        now = timezone.now()

        def pick_town() -> m.Town:
            # Two thirds of a national demo live outside the Rive Droite; all of a small one inside.
            if national and rng.random() < 0.67:
                return rng.choice(towns)
            return rng.choice(rive_droite)

        def pick_languages(francophone: float) -> list[int]:
            chosen = [languages["fr"]] if rng.random() < francophone else []
            for code, share in LANGUAGE_SHARES:
                if rng.random() < share:
                    chosen.append(languages[code])
            return chosen or [languages["fr"]]

        def availability() -> int:
            mask = 0
            for bit in range(14):
                if rng.random() < 0.45:
                    mask |= 1 << bit
            return mask or 0b11

        # Accounts: the named demo logins first, then the crowd.
        users: list[User] = []
        for role, email, name in DEMO_LOGINS:
            users.append(User(email=email, display_name=name, role=role, password=password,
                              email_verified=True, is_staff=role == Role.ADMINISTRATOR,
                              is_superuser=role == Role.ADMINISTRATOR))
        named = {role: i for i, (role, _e, _n) in enumerate(DEMO_LOGINS)}
        crowd: dict[str, list[int]] = {Role.ENTREPRENEUR: [named["entrepreneur"]], Role.MENTOR: [named["mentor"]],
                                       Role.COMPANY: [named["company"]]}
        for role, count, prefix in ((Role.ENTREPRENEUR, n_ent - 1, "e"), (Role.MENTOR, n_men - 1, "m"),
                                    (Role.COMPANY, n_com - 1, "c")):
            for i in range(max(count, 0)):
                first = rng.choice(FIRST_NAMES)
                crowd[role].append(len(users))
                users.append(User(email=f"{prefix}{i:06d}@{DEMO_DOMAIN}",
                                  display_name=f"{first} {chr(65 + rng.randrange(26))}.",
                                  role=role, password=password, email_verified=True,
                                  date_joined=now - dt.timedelta(days=rng.randrange(1, 400))))
        for batch in _batches(users):
            User.objects.bulk_create(batch)
        users = list(User.objects.filter(email__endswith=f"@{DEMO_DOMAIN}").order_by("id"))
        by_email = {u.email: u for u in users}
        ordered = [by_email[u] for u in [*(e for _r, e, _n in DEMO_LOGINS)]]
        coordinator = ordered[named["coordinator"]]
        for territory in m.Territory.objects.all():
            m.CoordinatorScope.objects.get_or_create(user=coordinator, territory=territory)

        def role_users(role: str, prefix: str, named_email: str, count: int) -> list[User]:
            head = [by_email[named_email]] if count > 0 else []
            tail = [by_email[f"{prefix}{i:06d}@{DEMO_DOMAIN}"] for i in range(max(count - 1, 0))]
            return head + tail

        entrepreneurs = role_users(Role.ENTREPRENEUR, "e", DEMO_LOGINS[2][1], n_ent)
        mentors = role_users(Role.MENTOR, "m", DEMO_LOGINS[3][1], n_men)
        companies = role_users(Role.COMPANY, "c", DEMO_LOGINS[4][1], n_com)

        # Entrepreneurs: profile, consent for priority data (most of them), a project, an open request.
        profiles, consents = [], []
        ent_langs: list[list[int]] = []
        for index, user in enumerate(entrepreneurs):
            town = rive_droite[0] if index == 0 else pick_town()
            consent = rng.random() < 0.75
            hoods = neighbourhoods.get(town.pk, [])
            profiles.append(m.EntrepreneurProfile(
                user=user, town=town,
                neighbourhood_id=(rng.choice(hoods) if hoods and rng.random() < 0.7 else None),
                preferred_format=rng.choices([1, 2, 3], weights=[3, 2, 5])[0],
                availability=availability(),
                age_band=rng.choice(["under_26", "26_49", "26_49", "over_50"]) if consent else "",
                gender=rng.choice(["woman", "woman", "man", "man", "other"]) if consent else "",
                qpv_resident=(rng.random() < 0.7) if consent else None,
                job_seeker=(rng.random() < 0.4) if consent else None,
            ))
            ent_langs.append(pick_languages(0.96))
            if consent:
                consents.append(Consent(user=user, purpose=ConsentPurpose.PRIORITY_DATA, granted_at=now))
        for batch in _batches(profiles):
            m.EntrepreneurProfile.objects.bulk_create(batch)
        for batch in _batches(consents):
            Consent.objects.bulk_create(batch)
        profiles = list(m.EntrepreneurProfile.objects.filter(user__email__endswith=demo_suffix)
                        .select_related("town"))
        profile_of = {p.user_id: p for p in profiles}
        through = m.EntrepreneurProfile.languages.through
        rows = [through(entrepreneurprofile_id=profile_of[u.pk].pk, language_id=lang)
                for u, langs in zip(entrepreneurs, ent_langs, strict=True) for lang in langs]
        for batch in _batches(rows):
            through.objects.bulk_create(batch)

        projects, project_needs = [], []
        for user in entrepreneurs:
            title, sector = rng.choice(PROJECT_IDEAS)
            projects.append(m.Project(owner=user, title=title, description="",
                                      sector_id=sectors[sector], stage_id=rng.choice(stages),
                                      created_at=now - dt.timedelta(days=rng.randrange(1, 200))))
        for batch in _batches(projects):
            m.Project.objects.bulk_create(batch)
        projects = list(m.Project.objects.filter(owner__email__endswith=demo_suffix))
        project_of = {p.owner_id: p for p in projects}
        needs_of: dict[int, list[tuple[int, int]]] = {}
        for user in entrepreneurs:
            chosen = rng.sample(skills, rng.randint(1, 4))
            needs_of[user.pk] = [(s, rng.randint(1, 3)) for s in chosen]
            project_needs += [m.ProjectNeed(project=project_of[user.pk], skill_id=s, importance=i)
                              for s, i in needs_of[user.pk]]
        for batch in _batches(project_needs):
            m.ProjectNeed.objects.bulk_create(batch)

        requests = []
        for user in entrepreneurs:
            profile = profile_of[user.pk]
            created = now - dt.timedelta(days=rng.randrange(0, 120), hours=rng.randrange(24))
            requests.append(m.Request(project=project_of[user.pk], entrepreneur=user,
                                      territory_id=profile.town.territory_id,
                                      kind=rng.choices([1, 2, 3], weights=[5, 2, 3])[0],
                                      format=profile.preferred_format, status=m.RequestStatus.OPEN,
                                      created_at=created, status_changed_at=created))
        for batch in _batches(requests):
            m.Request.objects.bulk_create(batch)
        request_of = {r.entrepreneur_id: r for r in m.Request.objects.filter(entrepreneur__email__endswith=demo_suffix)}
        requests = [request_of[u.pk] for u in entrepreneurs]
        req_through = m.Request.languages.through
        rows = [req_through(request_id=r.pk, language_id=lang)
                for r, langs in zip(requests, ent_langs, strict=True) for lang in langs]
        for batch in _batches(rows):
            req_through.objects.bulk_create(batch)
        rows = [m.RequestNeed(request=r, skill_id=s, importance=i)
                for r in requests for s, i in needs_of[r.entrepreneur_id]]
        for batch in _batches(rows):
            m.RequestNeed.objects.bulk_create(batch)

        # Companies and their offers.
        company_rows = []
        for index, user in enumerate(companies):
            name = COMPANY_NAMES[index % len(COMPANY_NAMES)] + ("" if index < len(COMPANY_NAMES) else f" {index}")
            company_rows.append(m.CompanyProfile(user=user, name=name, siret=_siret(rng),
                                                 town=rive_droite[index % len(rive_droite)] if index < 12 else pick_town(),
                                                 contact_name=user.display_name,
                                                 description="Entreprise engagée dans le mécénat de compétences."))
        for batch in _batches(company_rows):
            m.CompanyProfile.objects.bulk_create(batch)
        company_rows = list(m.CompanyProfile.objects.filter(user__email__endswith=demo_suffix)
                            .select_related("town").order_by("user_id"))
        offers = []
        for company in company_rows:
            for _ in range(rng.randint(1, 2)):
                start = now.date() - dt.timedelta(days=rng.randrange(0, 60))
                offers.append(m.Offer(company=company, title=f"Mécénat {company.name}", town=company.town,
                                      format=rng.choice([1, 2, 3]), availability=availability(),
                                      capacity=rng.randint(1, 5), hours_budget=rng.choice([20, 40, 60, 100]),
                                      starts_on=start, ends_on=start + dt.timedelta(days=365)))
        for batch in _batches(offers):
            m.Offer.objects.bulk_create(batch)
        offers = list(m.Offer.objects.filter(company__user__email__endswith=demo_suffix).order_by("id"))
        o_skill, o_lang, o_stage = [], [], []
        for offer in offers:
            o_skill += [m.OfferSkill(offer=offer, skill_id=s, level=rng.randint(2, 3))
                        for s in rng.sample(skills, rng.randint(2, 6))]
            o_lang += [m.Offer.languages.through(offer_id=offer.pk, language_id=lang)
                       for lang in pick_languages(1.0)]
            o_stage += [m.Offer.accepted_stages.through(offer_id=offer.pk, projectstage_id=st)
                        for st in rng.sample(stages, rng.randint(1, len(stages)))]
        for model, rows in ((m.OfferSkill, o_skill), (m.Offer.languages.through, o_lang),
                            (m.Offer.accepted_stages.through, o_stage)):
            for batch in _batches(rows):
                model.objects.bulk_create(batch)

        # Mentors.
        mentor_rows, men_langs = [], []
        for index, user in enumerate(mentors):
            town = rive_droite[1] if index == 0 else pick_town()
            mentor_rows.append(m.MentorProfile(
                user=user, town=town, bio="Bénévole, ancien cadre et chef d'entreprise.",
                format=rng.choices([1, 2, 3], weights=[2, 3, 5])[0], availability=availability(),
                capacity=rng.choices([1, 2, 3], weights=[5, 3, 2])[0], paused=rng.random() < 0.05,
                employer=(rng.choice(company_rows) if company_rows and rng.random() < 0.2 else None),
            ))
            men_langs.append(pick_languages(0.99))
        for batch in _batches(mentor_rows):
            m.MentorProfile.objects.bulk_create(batch)
        mentor_of = {p.user_id: p for p in m.MentorProfile.objects.filter(user__email__endswith=demo_suffix)
                     .select_related("town")}
        mentor_rows = [mentor_of[u.pk] for u in mentors]
        by_territory: dict[int, list[int]] = {}
        for town in towns:
            by_territory.setdefault(town.territory_id, []).append(town.pk)
        m_skill, m_lang, m_sector, m_reach = [], [], [], []
        for mentor, langs in zip(mentor_rows, men_langs, strict=True):
            m_skill += [m.MentorSkill(mentor=mentor, skill_id=s, level=rng.randint(1, 3))
                        for s in rng.sample(skills, rng.randint(3, 8))]
            m_lang += [m.MentorProfile.languages.through(mentorprofile_id=mentor.pk, language_id=lang) for lang in langs]
            m_sector += [m.MentorProfile.sectors.through(mentorprofile_id=mentor.pk, sector_id=s)
                         for s in rng.sample(sector_ids, rng.randint(1, 3))]
            # Mentors reach the other towns of their territory in person.
            m_reach += [m.MentorProfile.reachable_towns.through(mentorprofile_id=mentor.pk, town_id=t)
                        for t in by_territory.get(mentor.town.territory_id, []) if t != mentor.town_id]
        for model, rows in ((m.MentorSkill, m_skill), (m.MentorProfile.languages.through, m_lang),
                            (m.MentorProfile.sectors.through, m_sector),
                            (m.MentorProfile.reachable_towns.through, m_reach)):
            for batch in _batches(rows):
                model.objects.bulk_create(batch)

        return {"entrepreneurs": len(entrepreneurs), "open requests": len(requests), "mentors": len(mentors),
                "companies": len(company_rows), "offers": len(offers)}
