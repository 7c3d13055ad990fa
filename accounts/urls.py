from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from accounts import deletion_views, limits, views
from accounts.forms import EmailAuthenticationForm
from core.limits import limited

app_name = "accounts"

urlpatterns = [
    # Authentication
    path("accounts/signup/", views.signup, name="signup"),
    path(
        "accounts/login/",
        # Failed logins per account and address lock out through django-axes (settings);
        # this ceiling stops one address trying its luck across many accounts.
        limited(limits.LOGIN_PER_ADDRESS, reason="login attempts from your network")(
            auth_views.LoginView.as_view(
                authentication_form=EmailAuthenticationForm, redirect_authenticated_user=True
            )
        ),
        name="login",
    ),
    path("accounts/logout/", views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/change/",
        auth_views.PasswordChangeView.as_view(
            success_url=reverse_lazy("accounts:password_change_done")
        ),
        name="password_change",
    ),
    path(
        "accounts/password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("accounts/delete/", deletion_views.account_delete, name="account_delete"),
    path("accounts/deleted/", deletion_views.account_deleted, name="account_deleted"),
    path(
        "accounts/password/reset/",
        limited(
            limits.PASSWORD_RESET_PER_ADDRESS,
            limits.PASSWORD_RESET_PER_EMAIL,
            reason="password reset requests",
        )(
            auth_views.PasswordResetView.as_view(
                success_url=reverse_lazy("accounts:password_reset_done"),
                email_template_name="registration/password_reset_email.txt",
                subject_template_name="registration/password_reset_subject.txt",
            )
        ),
        name="password_reset",
    ),
    path(
        "accounts/password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            success_url=reverse_lazy("accounts:password_reset_complete")
        ),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password/reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    # Organizations, members and invites
    path("organizations/new/", views.organization_create, name="organization_create"),
    path("organizations/switch/", views.organization_switch, name="organization_switch"),
    path("organization/settings/", views.organization_settings, name="organization_settings"),
    path(
        "organizations/<int:pk>/delete/",
        deletion_views.organization_delete,
        name="organization_delete",
    ),
    path(
        "organizations/deleted/",
        deletion_views.organization_deleted,
        name="organization_deleted",
    ),
    path("organization/members/", views.member_list, name="member_list"),
    path(
        "organization/members/<int:pk>/role/", views.member_change_role, name="member_change_role"
    ),
    path("organization/members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    path("organization/invites/", views.invite_create, name="invite_create"),
    path("organization/invites/<int:pk>/revoke/", views.invite_revoke, name="invite_revoke"),
    path("invites/<str:token>/", views.invite_accept, name="invite_accept"),
    path("settings/api-tokens/", views.api_tokens, name="api_tokens"),
    path("settings/api-tokens/<int:pk>/revoke/", views.api_token_revoke, name="api_token_revoke"),
]
