"""Admin access: what roles may do through admin actions, the lockout page, a CSP-clean schedule form.

The roles themselves are groups (omen_site/migrations/0005_roles.py); docs/operations.md, "Admin
access", says what each may do.
"""

from axes.helpers import get_client_username
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.shortcuts import render


def admin_actions_need_permissions(site: admin.AdminSite) -> None:
    """Make every admin action that declares no permission need the change permission.

    Django offers such an action to whoever may view the list, so an analyst could otherwise
    revoke, resume, enable or run things (django_celery_beat's task actions, the ledger's webhook
    resume). An action meant for viewers says so: ``@admin.action(permissions=["export"])`` with
    the admin's ``has_export_permission``. Called once every admin module is loaded (apps.py).
    """
    actions = [action for _, action in site.actions]
    for model in apps.get_models():
        if site.is_registered(model):
            model_admin = site.get_model_admin(model)
            for action in model_admin.actions or ():
                actions.append(getattr(type(model_admin), action) if isinstance(action, str) else action)
    for action in actions:
        if not hasattr(action, "allowed_permissions"):
            action.allowed_permissions = ("change",)


def periodic_task_form_without_inline_script(site: admin.AdminSite) -> None:
    """django_celery_beat's periodic task form runs an inline script, which the admin's CSP refuses;
    this template runs the same from a file (omen_site/static/omen_site/periodic_task_form.js)."""
    from django_celery_beat.models import PeriodicTask

    site.get_model_admin(PeriodicTask).change_form_template = "omen_site/periodic_task_change_form.html"


def lockout_response(request, original_response, credentials):
    """The page a refused login gets (AXES_LOCKOUT_CALLABLE): a 429 in the admin's dress saying why,
    for how long, and who can lift it."""
    cool_off_seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    context = {
        **admin.site.each_context(request),
        "title": "Login locked",
        "username": get_client_username(request, credentials) or "",
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cool_off_minutes": cool_off_seconds // 60,
    }
    response = render(request, "omen_site/lockout.html", context, status=429)
    response["Retry-After"] = str(cool_off_seconds)
    return response
