"""``{% omen_dashboard %}``: the admin index's dashboard (omen_site.dashboard), where the tag stands."""

from datetime import datetime

from django import template
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.utils.timezone import localtime

from omen_site.dashboard import CHART_DAYS, dashboard

register = template.Library()


@register.inclusion_tag("omen_site/dashboard.html")
def omen_dashboard():
    return {"dashboard": dashboard(), "chart_days": CHART_DAYS}


@register.simple_tag
def moment(value: datetime, now: datetime) -> str:
    """A time as the dashboard shows every one: when, in the site's time zone, and how long before ``now``."""
    value = localtime(value)
    return format_html(
        '<time datetime="{}">{}</time> ({} ago)',
        value.isoformat(timespec="seconds"),
        date_format(value, "Y-m-d H:i T"),
        timesince(value, now),
    )
