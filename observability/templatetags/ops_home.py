"""``{% ops_home_panels as panels %}``: the admin home's work panels for the logged-in user (observability.home)."""

from django import template
from django.utils import timezone

from observability.home import home_panels

register = template.Library()


@register.simple_tag(takes_context=True)
def ops_home_panels(context):
    return home_panels(user=context["request"].user, now=timezone.now())
