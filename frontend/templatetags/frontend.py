"""Template helpers: accessible form fields and the role's navigation."""

from __future__ import annotations

from typing import Any

from django import forms, template
from django.urls import reverse
from django.utils.translation import gettext as _

from frontend.navigation import nav_for

register = template.Library()

GROUPED_WIDGETS = (forms.CheckboxSelectMultiple, forms.RadioSelect)


@register.inclusion_tag("frontend/includes/field.html")
def field(bound_field: forms.BoundField, optional_mark: bool = True) -> dict[str, Any]:
    """Label, help, errors and widget, tied together: the widget is described by its help and
    its errors (aria-describedby) and flagged aria-invalid when it has errors (RGAA 11.10)."""
    described_by = []
    if bound_field.help_text:
        described_by.append(f"{bound_field.auto_id}_help")
    if bound_field.errors:
        described_by.append(f"{bound_field.auto_id}_error")
    attrs: dict[str, str] = {}
    if described_by:
        attrs["aria-describedby"] = " ".join(described_by)
    if bound_field.errors:
        attrs["aria-invalid"] = "true"
    widget = bound_field.field.widget
    grouped = isinstance(widget, GROUPED_WIDGETS)
    return {
        "f": bound_field,
        "widget_html": bound_field.as_widget(attrs=attrs),
        "grouped": grouped,
        "checkbox": isinstance(widget, forms.CheckboxInput),
        "optional": optional_mark and not bound_field.field.required and not isinstance(widget, forms.CheckboxInput),
        "described_by": " ".join(described_by),
    }


@register.inclusion_tag("frontend/includes/error_summary.html")
def error_summary(form: forms.Form) -> dict[str, Any]:
    """A list of the form's errors at its top, each linking to its field, focused on load."""
    items = []
    for name, errors in form.errors.items():
        if name == forms.forms.NON_FIELD_ERRORS:
            continue
        bound = form[name] if name in form.fields else None
        label = bound.label if bound is not None else name
        anchor = f"#{bound.auto_id}" if bound is not None else ""
        for error in errors:
            items.append({"label": label, "error": error, "anchor": anchor})
    return {"form": form, "items": items, "non_field": form.non_field_errors()}


@register.simple_tag(takes_context=True)
def nav_items(context: template.Context) -> list[dict[str, Any]]:
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return []
    current = request.resolver_match.url_name if request.resolver_match else ""
    items = []
    for url_name, label in nav_for(request.user):
        items.append({"url": reverse(url_name), "label": label, "current": url_name.split(":")[-1] == current})
    return items


@register.filter
def percent(value: Any) -> str:
    try:
        return f"{float(value) * 100:.0f} %"
    except (TypeError, ValueError):
        return "–"


@register.filter
def hours(minutes: Any) -> str:
    """Minutes as hours: 90 → "1 h 30", 120 → "2 h"."""
    try:
        whole, rest = divmod(int(minutes), 60)
    except (TypeError, ValueError):
        return "–"
    return f"{whole} h {rest:02d}" if rest else f"{whole} h"


@register.simple_tag
def yes_no(value: Any) -> str:
    return _("Oui") if value else _("Non")
