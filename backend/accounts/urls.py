"""Accounts API routes, included under /api/ (docs/api.md, docs/security.md)."""

from django.urls import path

from accounts import api

urlpatterns = [
    path("me/export/", api.MyDataExportView.as_view(), name="me-export"),
    path("me/erase/", api.MyAccountEraseView.as_view(), name="me-erase"),
]
