"""Serializer conventions shared by every app's API.

Output: every API view answers ``Response(XSerializer(instance).data)`` with an output serializer whose
name is the one its ``extend_schema(responses=...)`` documents, so the answer and the schema cannot drift
apart. A success carries ``"ok": true`` (``OutputSerializer``). The one exception, the fraud check's hot
path, says why where it lives (``fraud.views.CheckView``).

Input: query parameters (``QuerySerializer``), and JSON values of the type the schema names.
"""

from datetime import UTC, datetime
from decimal import Decimal

from rest_framework import serializers

BLANK = "This field may not be blank."


class MomentField(serializers.DateTimeField):
    """A bound of a time range. A moment the schema's ``date-time`` allows but UTC's calendar cannot hold
    (``0001-01-01T00:00:00+01:00`` is in year 0 in UTC) is the calendar's first or last moment, not a 400:
    as a bound it means "from the beginning" or "to the end"."""

    def enforce_timezone(self, value):
        try:
            return super().enforce_timezone(value)
        except serializers.ValidationError:
            if value.tzinfo is None:
                raise
            return datetime.min.replace(tzinfo=UTC) if value.year == 1 else datetime.max.replace(tzinfo=UTC)


class QuerySerializer(serializers.Serializer):
    """Query parameters. One sent without a value (``?since=``) is refused with 400, not taken as absent.

    DRF reads an empty query value as a missing one, so ``?since=`` listed everything and ``?fresh=``
    read the latest snapshot: an answer to a question nobody asked. The schema documents each
    parameter's form, and no form is empty.
    """

    def to_internal_value(self, data):
        values = data.getlist if hasattr(data, "getlist") else lambda name: [data.get(name)]
        blank = {name: [BLANK] for name in self.fields if "" in values(name)}
        if blank:
            raise serializers.ValidationError(blank)
        return super().to_internal_value(data)


class TextField(serializers.CharField):
    """Text in a JSON body: a JSON string, as the schema says. DRF's ``CharField`` also reads the number 5 as "5"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class WholeNumberField(serializers.IntegerField):
    """A whole number in a JSON body: a JSON number, as the schema says. DRF's ``IntegerField`` also reads "5"."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, Decimal)):  # the API's JSON has Decimal fractions
            self.fail("invalid")
        return super().to_internal_value(data)


class TrueFalseField(serializers.BooleanField):
    """A JSON true or false, as the schema says. DRF's ``BooleanField`` also reads "yes", "on", 1 and "0"."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


# A JSON object with only the fields it names: any other is refused (400 naming it), not silently ignored.
# For bodies where a misspelt field would change the answer without a word (a rule left as it was). The
# schema says ``additionalProperties: false`` (``openapi_rules``). (A comment, not a docstring: the schema
# would show a docstring as the description of every body built on it.)
class ClosedSerializer(serializers.Serializer):
    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(str(name) for name in data if name not in self.fields)
            if unknown:
                raise serializers.ValidationError({name[:100]: ["Unknown field."] for name in unknown[:20]})
        return super().to_internal_value(data)

    @classmethod
    def openapi_rules(cls) -> dict:
        return {"additionalProperties": False}


# An API answer: "ok": true, as every success says, then the answer's own fields. (A comment, not a
# docstring: the schema would show a docstring as the description of every answer built on it.)
class OutputSerializer(serializers.Serializer):
    ok = serializers.SerializerMethodField()

    def get_ok(self, instance) -> bool:
        return True


class PrincipalSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="dashboard_key or api_key.")
    name = serializers.CharField(help_text="The index of the DASHBOARD_KEY value, or the API key's name.")


class WhoAmISerializer(OutputSerializer):
    """Which key the request was authenticated with (never the key itself)."""

    principal = PrincipalSerializer(source="*")
