import pytest

pytestmark = pytest.mark.django_db


def test_reference_data_is_loaded_by_migrations(api):
    towns = api.get("/api/reference/towns/").json()
    assert {t["name"] for t in towns} == {"Bassens", "Lormont", "Cenon", "Floirac"}
    skills = api.get("/api/reference/skills/").json()
    assert 30 <= len(skills) <= 60
    assert len({s["group"] for s in skills}) >= 10


def test_schema_is_served(api):
    response = api.get("/api/schema/")
    assert response.status_code == 200
