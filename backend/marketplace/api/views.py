"""Thin API views: parse with a serializer, fetch through a ``*_get_for_user`` selector, write
through a service."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django_filters import rest_framework as filters
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import generics, mixins, permissions, serializers, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, Throttled
from rest_framework.request import Request as HttpRequest
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts.models import Consent, Role, User
from accounts.services import consent_grant, consent_withdraw, user_register
from accounts.throttling import (
    THROTTLED_MESSAGE,
    LoginAddressThrottle,
    LoginThrottled,
    authenticate_guarded,
)
from audit.services import audit_record
from config.response_cache import ResponseCacheMixin
from marketplace import selectors, services
from marketplace.api import serializers as s
from marketplace.models import Offer, Project, Request, RequestStatus

# --- Reference data -------------------------------------------------------------------------------

REFERENCE_CACHE_SECONDS = 300


class ReferenceListView(ResponseCacheMixin, APIView):
    """Public reference data (territories, towns, skills, sectors, languages, stages), cached:
    where answers are kept (``config.response_cache``, PostgreSQL), by that cache, so that an
    administrator's change is seen by the next request; elsewhere in Django's cache for
    ``REFERENCE_CACHE_SECONDS``."""

    permission_classes = [permissions.AllowAny]
    kind = ""

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return s.REFERENCE_SERIALIZERS[self.kind]

    def _data(self) -> Any:
        return self.get_serializer_class()(selectors.reference_querysets()[self.kind], many=True).data

    def get(self, request: HttpRequest) -> Response:
        if self.answer_is_recorded:
            # Computed under the recording: kept until a reference table changes. (Read from
            # Django's cache, the answer would depend on no table and never be renewed.)
            return Response(self._data())
        key = f"reference:{self.kind}"
        data = cache.get(key)
        if data is None:
            data = self._data()
            cache.set(key, data, REFERENCE_CACHE_SECONDS)
        return Response(data)


def reference_view(kind: str) -> Any:
    serializer = s.REFERENCE_SERIALIZERS[kind]
    view = extend_schema(responses=serializer(many=True), summary=f"List {kind}")(
        type(f"{kind.title()}ReferenceView", (ReferenceListView,), {"kind": kind})
    )
    return view.as_view()


# --- Accounts -------------------------------------------------------------------------------------


def _authenticate(request: HttpRequest, data: dict[str, Any]) -> User | None:
    try:
        return authenticate_guarded(request, email=data["email"], password=data["password"])
    except LoginThrottled as exc:
        raise Throttled(wait=exc.retry_after, detail=str(THROTTLED_MESSAGE)) from None


class RegisterView(generics.GenericAPIView):
    permission_classes = [permissions.AllowAny]
    serializer_class = s.RegisterSerializer
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "register"

    @extend_schema(responses={201: s.UserSerializer})
    def post(self, request: HttpRequest) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_register(**serializer.validated_data, request=request)
        login(request, user, backend="accounts.authcache.CachedModelBackend")
        return Response(s.UserSerializer(user).data, status=status.HTTP_201_CREATED)


class LoginView(generics.GenericAPIView):
    permission_classes = [permissions.AllowAny]
    serializer_class = s.LoginSerializer
    # Per address for every attempt, and per (account, address) and address for failures; never
    # per account alone (accounts/throttling.py).
    throttle_classes = [LoginAddressThrottle]

    @extend_schema(responses={200: s.UserSerializer})
    def post(self, request: HttpRequest) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = _authenticate(request, serializer.validated_data)
        if user is None:
            raise serializers.ValidationError({"non_field_errors": ["E-mail ou mot de passe incorrect."]})
        login(request, user)  # rotates the session key
        audit_record(actor=user, action="account.login", target=user, request=request)
        return Response(s.UserSerializer(user).data)


class LogoutView(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: HttpRequest) -> Response:
        logout(request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenView(generics.GenericAPIView):
    """Exchange e-mail and password for an API token (for API clients, not browsers)."""

    permission_classes = [permissions.AllowAny]
    serializer_class = s.LoginSerializer
    throttle_classes = [LoginAddressThrottle]

    @extend_schema(responses={200: s.TokenSerializer})
    def post(self, request: HttpRequest) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = _authenticate(request, serializer.validated_data)
        if user is None:
            raise serializers.ValidationError({"non_field_errors": ["E-mail ou mot de passe incorrect."]})
        token, _ = Token.objects.get_or_create(user=user)
        audit_record(actor=user, action="account.token", target=user, request=request)
        return Response({"token": token.key})


class PasswordChangeView(generics.GenericAPIView):
    serializer_class = s.PasswordChangeSerializer

    @extend_schema(responses={204: None})
    def post(self, request: HttpRequest) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = request.user
        if not user.check_password(serializer.validated_data["old_password"]):
            raise serializers.ValidationError({"old_password": ["Mot de passe actuel incorrect."]})
        try:
            validate_password(serializer.validated_data["new_password"], user=user)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"new_password": exc.messages}) from exc
        user.set_password(serializer.validated_data["new_password"])
        user.save(update_fields=["password"])
        update_session_auth_hash(request, user)
        Token.objects.filter(user=user).delete()
        audit_record(actor=user, action="account.password_change", target=user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordResetView(generics.GenericAPIView):
    """Send a reset link. Answers 204 whether or not the address exists (no account probing)."""

    permission_classes = [permissions.AllowAny]
    serializer_class = s.PasswordResetSerializer
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "password_reset"

    @extend_schema(responses={204: None})
    def post(self, request: HttpRequest) -> Response:
        from django.conf import settings

        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = User.objects.filter(email__iexact=serializer.validated_data["email"], is_active=True).first()
        if user is not None:
            uid = urlsafe_base64_encode(force_bytes(user.pk))
            token = default_token_generator.make_token(user)
            link = f"{settings.SITE_URL}/mot-de-passe/nouveau/{uid}/{token}/"
            transaction.on_commit(
                lambda: send_mail(
                    "Social LAB : nouveau mot de passe / new password",
                    f"Pour choisir un nouveau mot de passe / to choose a new password:\n{link}\n\n"
                    f"uid={uid} token={token}\n",
                    None,
                    [user.email],
                )
            )
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordResetConfirmView(generics.GenericAPIView):
    permission_classes = [permissions.AllowAny]
    serializer_class = s.PasswordResetConfirmSerializer
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "password_reset"

    @extend_schema(responses={204: None})
    def post(self, request: HttpRequest) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            user = User.objects.get(pk=int(force_str(urlsafe_base64_decode(data["uid"]))))
        except (ValueError, TypeError, OverflowError, User.DoesNotExist):
            user = None
        if user is None or not default_token_generator.check_token(user, data["token"]):
            raise serializers.ValidationError({"token": ["Lien invalide ou expiré."]})
        try:
            validate_password(data["new_password"], user=user)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"new_password": exc.messages}) from exc
        user.set_password(data["new_password"])
        user.save(update_fields=["password"])
        Token.objects.filter(user=user).delete()
        audit_record(actor=user, action="account.password_reset", target=user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(generics.RetrieveUpdateAPIView):
    serializer_class = s.UserSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self) -> User:
        return self.request.user


PROFILE_SERIALIZERS: dict[str, type[serializers.ModelSerializer]] = {
    Role.ENTREPRENEUR: s.EntrepreneurProfileSerializer,
    Role.MENTOR: s.MentorProfileSerializer,
    Role.COMPANY: s.CompanyProfileSerializer,
}


PROFILE_SCHEMA = PolymorphicProxySerializer(
    component_name="RoleProfile",
    serializers=[s.EntrepreneurProfileSerializer, s.MentorProfileSerializer, s.CompanyProfileSerializer],
    resource_type_field_name=None,
)


class MyProfileView(APIView):
    """The caller's own role profile: GET it, PUT to create or replace it."""

    def _serializer_class(self) -> type[serializers.ModelSerializer]:
        cls = PROFILE_SERIALIZERS.get(self.request.user.role)
        if cls is None:
            raise NotFound("This role has no profile.")
        return cls

    @extend_schema(responses=PROFILE_SCHEMA)
    def get(self, request: HttpRequest) -> Response:
        cls = self._serializer_class()
        profile = selectors.own_profile(request.user)
        if profile is None:
            raise NotFound("No profile yet: PUT one.")
        return Response(cls(profile).data)

    @extend_schema(request=PROFILE_SCHEMA, responses=PROFILE_SCHEMA)
    def put(self, request: HttpRequest) -> Response:
        cls = self._serializer_class()
        serializer = cls(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        user = request.user
        if user.role == Role.ENTREPRENEUR:
            profile = services.entrepreneur_profile_upsert(user=user, **data)
        elif user.role == Role.MENTOR:
            skills = [services.SkillLevel(**item) for item in data.pop("skills")]
            profile = services.mentor_profile_upsert(user=user, skills=skills, **data)
        else:
            profile = services.company_profile_upsert(user=user, **data)
        return Response(cls(selectors.own_profile(user) or profile).data)


class ConsentViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Consents the caller gave (history kept); grant or withdraw one purpose."""

    serializer_class = s.ConsentSerializer
    filterset_fields = ["purpose"]
    ordering_fields = ["granted_at"]

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Consent.objects.none()
        return Consent.objects.filter(user=self.request.user).order_by("-granted_at", "-id")

    @extend_schema(request=s.ConsentPurposeSerializer, responses={201: s.ConsentSerializer})
    @action(detail=False, methods=["post"])
    def grant(self, request: HttpRequest) -> Response:
        data = s.ConsentPurposeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        consent = consent_grant(user=request.user, purpose=data.validated_data["purpose"])
        return Response(s.ConsentSerializer(consent).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ConsentPurposeSerializer, responses={204: None})
    @action(detail=False, methods=["post"])
    def withdraw(self, request: HttpRequest) -> Response:
        data = s.ConsentPurposeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        consent_withdraw(user=request.user, purpose=data.validated_data["purpose"])
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Projects, requests, offers -------------------------------------------------------------------


class ProjectFilter(filters.FilterSet):
    stage = filters.CharFilter(field_name="stage__code")
    sector = filters.CharFilter(field_name="sector__code")

    class Meta:
        model = Project
        fields = ["stage", "sector"]


class ProjectViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.ProjectSerializer
    filterset_class = ProjectFilter
    ordering_fields = ["created_at", "title"]
    ordering = ["-created_at", "-id"]
    http_method_names = ["get", "post", "put", "head", "options"]

    def get_queryset(self) -> Any:
        return selectors.project_list_for_user(self.request.user)

    def get_object(self) -> Project:
        return selectors.project_get_for_user(user=self.request.user, project_id=self.kwargs["pk"])

    def perform_create(self, serializer: s.ProjectSerializer) -> None:
        data = dict(serializer.validated_data)
        needs = [services.Need(**n) for n in data.pop("needs")]
        serializer.instance = services.project_create(user=self.request.user, needs=needs, **data)

    def perform_update(self, serializer: s.ProjectSerializer) -> None:
        project = serializer.instance
        if project.owner_id != self.request.user.pk:
            raise PermissionDenied("Only the project's owner can change it.")
        data = dict(serializer.validated_data)
        needs = [services.Need(**n) for n in data.pop("needs")]
        serializer.instance = services.project_update(project=project, needs=needs, **data)


class RequestFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=RequestStatus.choices)
    territory = filters.CharFilter(field_name="territory__code")
    created_after = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")

    class Meta:
        model = Request
        fields = ["status", "kind", "territory"]


def _rows_list(view: Any, values: tuple[str, ...], build: Any) -> Response:
    """A list answered from ``.values()`` rows: the page's keys first (filters and ordering of the
    view; counted by the pagination without the rows' joins), then the rows of those keys, then
    ``build(rows)`` in the page's order."""
    base = view.filter_queryset(view.get_queryset()).prefetch_related(None)
    keys = base.values_list("pk", flat=True)
    page = view.paginate_queryset(keys)
    wanted = list(keys) if page is None else page
    by_key = {row["id"]: row for row in base.order_by().filter(pk__in=wanted).values(*values)}
    data = build([by_key[key] for key in wanted])
    return Response(data) if page is None else view.get_paginated_response(data)


def _rows_detail(view: Any, values: tuple[str, ...], build: Any, what: str) -> Response:
    """A detail answered like ``_rows_list``'s items: the object's row among those the caller may
    see (``get_queryset``, the selector's list; missing or not visible: 404), built by ``build``."""
    try:
        pk = int(view.kwargs["pk"])
    except (TypeError, ValueError):
        raise NotFound(f"{what} not found") from None
    rows = list(view.get_queryset().prefetch_related(None).order_by().filter(pk=pk).values(*values))
    if not rows:
        raise NotFound(f"{what} not found")
    return Response(build(rows)[0])


class RequestViewSet(
    ResponseCacheMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    serializer_class = s.RequestSerializer
    filterset_class = RequestFilter
    ordering_fields = ["created_at", "status"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self) -> Any:
        return selectors.request_list_for_user(self.request.user)

    def get_object(self) -> Request:
        return selectors.request_get_for_user(user=self.request.user, request_id=self.kwargs["pk"])

    def list(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Response:
        """The same items as ``RequestSerializer``, built from ``.values()`` rows
        (``serializers.request_rows_data``): a national list is the hottest read of the API."""
        return _rows_list(self, s.REQUEST_ROW_VALUES, s.request_rows_data)

    def retrieve(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Response:
        return _rows_detail(self, s.REQUEST_ROW_VALUES, s.request_rows_data, "request")

    def perform_create(self, serializer: s.RequestSerializer) -> None:
        data = dict(serializer.validated_data)
        if self.request.user.role != Role.ENTREPRENEUR:
            raise PermissionDenied("Only an entrepreneur can file a request.")
        project = selectors.project_get_for_user(user=self.request.user, project_id=data.pop("project_id"))
        needs = data.pop("needs", None)
        serializer.instance = services.request_create(
            user=self.request.user,
            project=project,
            needs=[services.Need(**n) for n in needs] if needs is not None else None,
            **data,
        )

    @extend_schema(request=s.WithdrawSerializer, responses=s.RequestSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: HttpRequest, pk: str) -> Response:
        body = s.WithdrawSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        obj = self.get_object()
        obj = services.request_withdraw(user=request.user, request=obj, reason=body.validated_data["reason"])
        return Response(s.RequestSerializer(selectors.request_get_for_user(user=request.user, request_id=obj.pk)).data)


class OfferFilter(filters.FilterSet):
    active = filters.BooleanFilter()
    skill = filters.CharFilter(field_name="skills__skill__code", distinct=True)

    class Meta:
        model = Offer
        fields = ["active", "format"]


class OfferViewSet(
    ResponseCacheMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.OfferSerializer
    filterset_class = OfferFilter
    ordering_fields = ["created_at", "title", "ends_on"]
    ordering = ["-created_at", "-id"]
    http_method_names = ["get", "post", "put", "head", "options"]

    def get_queryset(self) -> Any:
        return selectors.offer_list_for_user(self.request.user)

    def get_object(self) -> Offer:
        return selectors.offer_get_for_user(user=self.request.user, offer_id=self.kwargs["pk"])

    def list(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Response:
        """The same items as ``OfferSerializer``, from ``.values()`` rows (``serializers.offer_rows_data``)."""
        return _rows_list(self, s.OFFER_ROW_VALUES, s.offer_rows_data)

    def retrieve(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Response:
        return _rows_detail(self, s.OFFER_ROW_VALUES, s.offer_rows_data, "offer")

    def _split(self, serializer: s.OfferSerializer) -> dict[str, Any]:
        data = dict(serializer.validated_data)
        data["skills"] = [services.SkillLevel(**item) for item in data.pop("skills")]
        return data

    def perform_create(self, serializer: s.OfferSerializer) -> None:
        serializer.instance = services.offer_create(user=self.request.user, **self._split(serializer))

    def perform_update(self, serializer: s.OfferSerializer) -> None:
        serializer.instance = services.offer_update(
            user=self.request.user, offer=serializer.instance, **self._split(serializer)
        )


# --- Profiles seen by others (coordinators, matched parties) --------------------------------------


class MentorViewSet(ResponseCacheMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.MentorProfileSerializer
    filterset_fields = ["paused", "format"]
    ordering_fields = ["created_at", "capacity"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self) -> Any:
        return selectors.mentor_profile_list_for_user(self.request.user)

    def list(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Response:
        """The same items as ``MentorProfileSerializer``, from ``.values()`` rows
        (``serializers.mentor_rows_data``)."""
        return _rows_list(self, s.MENTOR_ROW_VALUES, s.mentor_rows_data)

    def retrieve(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Response:
        return _rows_detail(self, s.MENTOR_ROW_VALUES, s.mentor_rows_data, "mentor")

    def get_object(self) -> Any:
        return selectors.mentor_profile_get_for_user(user=self.request.user, mentor_id=self.kwargs["pk"])


class CompanyViewSet(ResponseCacheMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.CompanyProfileSerializer
    ordering_fields = ["name"]
    ordering = ["name", "id"]
    filterset_fields: list[str] = []

    def get_queryset(self) -> Any:
        return selectors.company_profile_list_for_user(self.request.user)

    def get_object(self) -> Any:
        return selectors.company_profile_get_for_user(user=self.request.user, company_id=self.kwargs["pk"])


class EntrepreneurViewSet(ResponseCacheMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.EntrepreneurProfileSerializer
    filterset_fields = ["preferred_format"]
    ordering_fields = ["created_at"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self) -> Any:
        return selectors.entrepreneur_profile_list_for_user(self.request.user)

    def get_object(self) -> Any:
        return selectors.entrepreneur_profile_get_for_user(user=self.request.user, entrepreneur_id=self.kwargs["pk"])

    def list(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Response:
        """The same items as ``EntrepreneurProfileSerializer``, from ``.values()`` rows
        (``serializers.entrepreneur_rows_data``)."""
        return _rows_list(self, s.ENTREPRENEUR_ROW_VALUES, s.entrepreneur_rows_data)
