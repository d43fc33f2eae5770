"""Page URLs (French paths: the default language of the service)."""

from django.urls import path

from frontend.views import chat, entrepreneur, matches, provider, public

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
]
