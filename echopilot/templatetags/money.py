"""``{% load money %}{{ payment.amount|money:payment.currency }}``: ``echopilot.money.money_format`` in templates."""

from decimal import Decimal, InvalidOperation

from django import template

from echopilot.money import money_format

register = template.Library()


@register.filter
def money(amount, currency: str) -> str:
    """The amount as ``money_format`` shows it; empty when there is no amount (None, "", not a number)."""
    if amount is None or amount == "":
        return ""
    try:
        amount = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    except InvalidOperation:
        return ""
    if not amount.is_finite():
        return ""
    return money_format(amount, str(currency))
