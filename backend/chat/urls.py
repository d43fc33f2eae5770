"""Conversations API, included under /api/ (docs/api.md, "Conversations")."""

from django.urls import path

from chat.api import views

urlpatterns = [
    path("conversations/", views.ConversationListView.as_view(), name="conversation-list"),
    path("conversations/<int:conversation_id>/", views.ConversationDetailView.as_view(), name="conversation-detail"),
    path(
        "conversations/<int:conversation_id>/messages/",
        views.ConversationMessagesView.as_view(),
        name="conversation-messages",
    ),
    path("conversations/<int:conversation_id>/read/", views.ConversationReadView.as_view(), name="conversation-read"),
    path("messages/<int:message_id>/report/", views.MessageReportView.as_view(), name="message-report"),
    path("chat/reports/", views.ReportListView.as_view(), name="chat-report-list"),
    path("chat/reports/<int:report_id>/resolve/", views.ReportResolveView.as_view(), name="chat-report-resolve"),
]
