"""Every model of the project is in Django's admin (or edited inline in its parent), with search
and, where a model has categories to filter on, filters; every admin list page renders."""

import pytest
from django.apps import apps
from django.contrib import admin

APPS = ["accounts", "audit", "marketplace", "cycles", "chat", "followup"]
# Small reference tables: nothing to filter on, a search box is enough.
NO_FILTER = {"marketplace.territory", "marketplace.skillgroup", "marketplace.sector", "marketplace.language",
             "marketplace.projectstage"}


def _inlined() -> set:
    found = set()
    for model_admin in admin.site._registry.values():
        for inline in model_admin.inlines:
            found.add(inline.model)
    return found


def _models():
    return [model for label in APPS for model in apps.get_app_config(label).get_models()]


def test_every_model_is_in_the_admin_with_search_and_filters():
    inlined = _inlined()
    problems = []
    for model in _models():
        model_admin = admin.site._registry.get(model)
        if model_admin is None:
            if model not in inlined:
                problems.append(f"{model._meta.label_lower}: not in the admin")
            continue
        if not model_admin.search_fields:
            problems.append(f"{model._meta.label_lower}: no search")
        if not model_admin.list_filter and model._meta.label_lower not in NO_FILTER:
            problems.append(f"{model._meta.label_lower}: no filters")
    assert not problems, problems


@pytest.mark.django_db
def test_every_admin_list_page_renders_for_an_administrator(client, administrator):
    client.force_login(administrator)
    for model in admin.site._registry:
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        response = client.get(url, {"q": "x"})
        assert response.status_code == 200, url
