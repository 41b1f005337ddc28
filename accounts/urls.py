"""URLs of the accounts API, mounted at /api/auth/."""

from django.urls import path

from accounts import views

urlpatterns = [
    path("register/", views.RegisterView.as_view(), name="register"),
    path("token/", views.ThrottledTokenObtainPairView.as_view(), name="token"),
    path("token/refresh/", views.ThrottledTokenRefreshView.as_view(), name="token-refresh"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChangeView.as_view(), name="password"),
    path("me/", views.MeView.as_view(), name="me"),
]
