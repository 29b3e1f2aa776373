"""Path converters shared by every app's URLs."""

from django.urls.converters import StringConverter


class IdConverter(StringConverter):
    """A record's id in a URL: like ``str`` (no slash), and no NUL, which PostgreSQL refuses in any query."""

    regex = "[^/\x00]+"
