"""English formats: Django's own date rendering (admin change lists, read-only fields, ``|date``) in the one
date style of ``echopilot.timefmt.moment_format``, "2026-11-29 06:04 UTC" ("T" is the time zone's abbreviation).
"""

DATETIME_FORMAT = "Y-m-d H:i T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"
