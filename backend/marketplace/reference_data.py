"""Reference data of the Social LAB (loaded by migration 0002, editable in the admin).

Functions take the app registry so migrations can use historical models."""

from __future__ import annotations

from typing import Any

TERRITORIES = [("rive-droite", "Rive Droite (Bordeaux)")]

# INSEE code, name, latitude, longitude, priority neighbourhoods (quartiers prioritaires)
TOWNS = [
    ("33032", "Bassens", 44.9019, -0.5175, ["Avenue de la Libération", "Meignan"]),
    ("33249", "Lormont", 44.8792, -0.5217, ["Génicart", "Carriet", "Bois-Fleuri", "Alpilles-Vincennes"]),
    ("33119", "Cenon", 44.8578, -0.5317, ["Palmer", "Saraillère", "8 Mai 45", "La Marègue"]),
    ("33167", "Floirac", 44.8364, -0.5281, ["Dravemont", "Jean Jaurès"]),
]

SKILL_GROUPS: list[tuple[str, str, str, list[tuple[str, str, str]]]] = [
    ("business_plan", "Projet et business plan", "Business plan", [
        ("business_model", "Modèle économique", "Business model"),
        ("market_study", "Étude de marché", "Market research"),
        ("financial_forecast", "Prévisionnel financier", "Financial forecast"),
        ("pitch", "Présenter son projet (pitch)", "Pitching the project"),
    ]),
    ("financing", "Financement et microcrédit", "Financing and microcredit", [
        ("microcredit", "Microcrédit", "Microcredit"),
        ("bank_loan", "Prêt bancaire", "Bank loan"),
        ("public_grants", "Aides et subventions publiques", "Public grants"),
        ("honour_loan", "Prêt d'honneur", "Interest-free honour loan"),
        ("crowdfunding", "Financement participatif", "Crowdfunding"),
    ]),
    ("legal", "Statut juridique", "Legal status", [
        ("legal_form", "Choisir son statut", "Choosing a legal form"),
        ("micro_enterprise", "Micro-entreprise", "Micro-enterprise"),
        ("contracts", "Contrats et CGV", "Contracts and terms of sale"),
        ("insurance", "Assurances", "Insurance"),
        ("intellectual_property", "Propriété intellectuelle", "Intellectual property"),
    ]),
    ("accounting", "Comptabilité et gestion", "Accounting and management", [
        ("bookkeeping", "Tenir sa comptabilité", "Bookkeeping"),
        ("pricing", "Fixer ses prix", "Pricing"),
        ("cash_management", "Gestion de trésorerie", "Cash management"),
        ("tax_vat", "Fiscalité et TVA", "Tax and VAT"),
    ]),
    ("marketing", "Marketing et communication", "Marketing and communication", [
        ("branding", "Marque et identité visuelle", "Brand and visual identity"),
        ("positioning", "Positionnement et offre", "Positioning and offer"),
        ("communication", "Communication locale", "Local communication"),
        ("events", "Salons et événements", "Fairs and events"),
    ]),
    ("sales", "Vente et relation client", "Sales and customers", [
        ("prospecting", "Trouver des clients", "Finding customers"),
        ("negotiation", "Négocier", "Negotiation"),
        ("customer_relations", "Relation client", "Customer relations"),
        ("b2b_sales", "Vendre aux entreprises", "Selling to businesses"),
    ]),
    ("digital", "Présence numérique", "Digital presence", [
        ("website", "Site internet", "Website"),
        ("social_media", "Réseaux sociaux", "Social media"),
        ("ecommerce", "Vente en ligne", "Online sales"),
        ("digital_tools", "Outils numériques du quotidien", "Everyday digital tools"),
    ]),
    ("hr", "Ressources humaines", "Human resources", [
        ("first_hire", "Premier recrutement", "First hire"),
        ("management", "Management d'équipe", "Team management"),
        ("employment_law", "Droit du travail", "Employment law"),
        ("apprenticeship", "Apprentissage et alternance", "Apprenticeships"),
    ]),
    ("premises", "Locaux et implantation", "Premises", [
        ("premises_search", "Trouver un local", "Finding premises"),
        ("commercial_lease", "Bail commercial", "Commercial lease"),
        ("fit_out", "Aménagement et normes", "Fit-out and regulations"),
    ]),
    ("public_procurement", "Marchés publics", "Public procurement", [
        ("tenders", "Répondre à un appel d'offres", "Answering a tender"),
        ("social_clauses", "Clauses sociales", "Social clauses"),
    ]),
    ("personal", "Posture d'entrepreneur", "Entrepreneurial skills", [
        ("confidence", "Confiance en soi", "Self-confidence"),
        ("organisation", "Organisation et priorités", "Organisation and priorities"),
        ("networking", "Réseau professionnel", "Professional network"),
        ("professional_french", "Français professionnel", "Professional French"),
    ]),
]

SECTORS = [
    ("retail", "Commerce de proximité", "Local retail"),
    ("food", "Restauration et alimentation", "Food and catering"),
    ("personal_services", "Services à la personne", "Personal services"),
    ("construction", "Bâtiment et travaux", "Construction"),
    ("transport", "Transport et logistique", "Transport and logistics"),
    ("digital", "Numérique", "Digital"),
    ("beauty", "Beauté et bien-être", "Beauty and wellbeing"),
    ("culture", "Culture et événementiel", "Culture and events"),
    ("fashion", "Textile et mode", "Textile and fashion"),
    ("urban_farming", "Agriculture urbaine", "Urban farming"),
    ("social_economy", "Économie sociale et solidaire", "Social economy"),
    ("health", "Santé", "Health"),
    ("training", "Conseil et formation", "Consulting and training"),
    ("crafts", "Artisanat", "Crafts"),
    ("cleaning", "Nettoyage et entretien", "Cleaning and maintenance"),
]

LANGUAGES = [
    ("fr", "Français", "French"),
    ("ar", "Arabe", "Arabic"),
    ("en", "Anglais", "English"),
    ("es", "Espagnol", "Spanish"),
    ("pt", "Portugais", "Portuguese"),
    ("tr", "Turc", "Turkish"),
    ("ber", "Tamazight (berbère)", "Tamazight (Berber)"),
    ("wo", "Wolof", "Wolof"),
    ("ro", "Roumain", "Romanian"),
    ("ru", "Russe", "Russian"),
    ("it", "Italien", "Italian"),
    ("de", "Allemand", "German"),
    ("so", "Somali", "Somali"),
    ("ln", "Lingala", "Lingala"),
]

STAGES = [
    ("idea", "Idée", "Idea"),
    ("creation", "En création", "Being set up"),
    ("young", "Jeune entreprise (moins de 3 ans)", "Young business (under 3 years)"),
    ("growth", "Développement", "Growth"),
]


def load_reference_data(apps: Any) -> None:
    Territory = apps.get_model("marketplace", "Territory")
    Town = apps.get_model("marketplace", "Town")
    Neighbourhood = apps.get_model("marketplace", "Neighbourhood")
    SkillGroup = apps.get_model("marketplace", "SkillGroup")
    Skill = apps.get_model("marketplace", "Skill")
    Sector = apps.get_model("marketplace", "Sector")
    Language = apps.get_model("marketplace", "Language")
    ProjectStage = apps.get_model("marketplace", "ProjectStage")

    territory, _ = Territory.objects.get_or_create(code=TERRITORIES[0][0], defaults={"name": TERRITORIES[0][1]})
    for insee, name, lat, lon, neighbourhoods in TOWNS:
        town, _ = Town.objects.get_or_create(
            insee_code=insee, defaults={"name": name, "latitude": lat, "longitude": lon, "territory": territory}
        )
        for neighbourhood in neighbourhoods:
            Neighbourhood.objects.get_or_create(town=town, name=neighbourhood)
    for position, (code, fr, en, skills) in enumerate(SKILL_GROUPS):
        group, _ = SkillGroup.objects.get_or_create(
            code=code, defaults={"label_fr": fr, "label_en": en, "position": position}
        )
        for skill_code, skill_fr, skill_en in skills:
            Skill.objects.get_or_create(
                code=skill_code, defaults={"label_fr": skill_fr, "label_en": skill_en, "group": group}
            )
    for code, fr, en in SECTORS:
        Sector.objects.get_or_create(code=code, defaults={"label_fr": fr, "label_en": en})
    for bit, (code, fr, en) in enumerate(LANGUAGES):
        Language.objects.get_or_create(code=code, defaults={"label_fr": fr, "label_en": en, "bit": bit})
    for position, (code, fr, en) in enumerate(STAGES):
        ProjectStage.objects.get_or_create(code=code, defaults={"label_fr": fr, "label_en": en, "position": position})
