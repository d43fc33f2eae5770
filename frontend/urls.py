"""Page URLs (French paths: the default language of the service)."""

from django.urls import path

from frontend.views import (
    chat,
    coordinator,
    coordinator_dashboard,
    entrepreneur,
    matches,
    my_data,
    provider,
    public,
)

app_name = "frontend"

urlpatterns = [
    path("", public.home, name="home"),
    path("confidentialite/", public.privacy, name="privacy"),
    path("inscription/", public.register, name="register"),
    path("connexion/", public.LoginView.as_view(), name="login"),
    path("deconnexion/", public.logout_view, name="logout"),
    path("espace/", public.my_space, name="my_space"),
    path("mot-de-passe/oublie/", public.PasswordResetView.as_view(), name="password_reset"),
    path("mot-de-passe/envoye/", public.PasswordResetDoneView.as_view(), name="password_reset_done"),
    # The API's reset e-mail links here too (marketplace.api.views.PasswordResetView).
    path("mot-de-passe/nouveau/<uidb64>/<token>/", public.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("mot-de-passe/change/", public.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("mot-de-passe/modifier/", public.PasswordChangeView.as_view(), name="password_change"),
    # Entrepreneur
    path("porteur/", entrepreneur.home, name="entrepreneur_home"),
    path("porteur/profil/", entrepreneur.profile, name="entrepreneur_profile"),
    path("porteur/projets/nouveau/", entrepreneur.project_create, name="project_create"),
    path("porteur/projets/<int:project_id>/", entrepreneur.project_edit, name="project_edit"),
    path("porteur/projets/<int:project_id>/besoins/", entrepreneur.project_needs, name="project_needs"),
    path("porteur/projets/<int:project_id>/demande/", entrepreneur.request_create, name="request_create"),
    path("porteur/demandes/", entrepreneur.my_requests, name="my_requests"),
    path("porteur/demandes/<int:request_id>/retirer/", entrepreneur.request_withdraw, name="request_withdraw"),
    # Mentor
    path("parrainage/", provider.mentor_home, name="mentor_home"),
    path("parrainage/profil/", provider.mentor_profile, name="mentor_profile"),
    # Company
    path("entreprise/", provider.company_home, name="company_home"),
    path("entreprise/profil/", provider.company_profile, name="company_profile"),
    path("entreprise/offres/", provider.offers, name="offers"),
    path("entreprise/offres/nouvelle/", provider.offer_create, name="offer_create"),
    path("entreprise/offres/<int:offer_id>/", provider.offer_edit, name="offer_edit"),
    # Both parties of a match
    path("propositions/", matches.proposals, name="proposals"),
    path("binomes/", matches.my_matches, name="my_matches"),
    path("binomes/<int:match_id>/accepter/", matches.match_accept, name="match_accept"),
    path("binomes/<int:match_id>/refuser/", matches.match_decline, name="match_decline"),
    path("conversations/<int:conversation_id>/", chat.conversation, name="conversation"),
    # Every signed-in user
    path("mes-donnees/", my_data.my_data, name="my_data"),
    # Coordinator
    path("coordination/cycles/", coordinator.cycles, name="cycles"),
    path("coordination/cycles/nouveau/", coordinator.cycle_create, name="cycle_create"),
    path("coordination/cycles/<int:cycle_id>/", coordinator.cycle_detail, name="cycle_detail"),
    path("coordination/cycles/<int:cycle_id>/reglages/", coordinator.cycle_configure, name="cycle_configure"),
    path("coordination/cycles/<int:cycle_id>/progression/", coordinator.cycle_progress, name="cycle_progress"),
    path("coordination/cycles/<int:cycle_id>/ouvrir/", coordinator.cycle_open, name="cycle_open"),
    path("coordination/cycles/<int:cycle_id>/calculer/", coordinator.cycle_run, name="cycle_run"),
    path("coordination/cycles/<int:cycle_id>/publier/", coordinator.cycle_publish, name="cycle_publish"),
    path("coordination/cycles/<int:cycle_id>/clore/", coordinator.cycle_close, name="cycle_close"),
    path("coordination/cycles/<int:cycle_id>/propositions/", coordinator.cycle_proposals, name="cycle_proposals"),
    path("coordination/cycles/<int:cycle_id>/propositions.csv", coordinator.cycle_proposals_csv,
         name="cycle_proposals_csv"),
    path("coordination/cycles/<int:cycle_id>/propositions/lot/", coordinator.proposals_bulk, name="proposals_bulk"),
    path("coordination/cycles/<int:cycle_id>/sans-proposition/", coordinator.cycle_unmatched, name="cycle_unmatched"),
    path("coordination/cycles/<int:cycle_id>/affecter/", coordinator.cycle_assign, name="cycle_assign"),
    path("coordination/propositions/<int:proposal_id>/", coordinator.proposal_detail, name="proposal_detail"),
    path("coordination/propositions/<int:proposal_id>/approuver/", coordinator.proposal_approve,
         name="proposal_approve"),
    path("coordination/propositions/<int:proposal_id>/rejeter/", coordinator.proposal_reject, name="proposal_reject"),
    path("coordination/tableau-de-bord/", coordinator_dashboard.dashboard, name="dashboard"),
    path("coordination/tableau-de-bord/rapport.csv", coordinator_dashboard.dashboard_csv, name="dashboard_csv"),
]
