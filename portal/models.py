import secrets

from django.db import models
from django.utils import timezone


def portal_link_public_id() -> str:
    return "pl_" + secrets.token_hex(12)


class PortalLink(models.Model):
    """One signed link to the customer portal.

    The link itself (its signature) is never stored: only ``sig_hash``, the
    SHA-256 of the signature, to find the row when the link is opened. A link
    works until ``expires_at``, unless ``revoked_at`` is set or a revoke-all of
    its email (``PortalRevocation``) came after it was issued.
    """

    public_id = models.CharField(max_length=30, unique=True, default=portal_link_public_id, editable=False)
    sig_hash = models.CharField(max_length=64, unique=True)
    email = models.EmailField(max_length=254, help_text="Stored lowercase and trimmed.")
    expires_at = models.DateTimeField()
    created_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    first_used_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    use_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("revoke_portallink", "Can revoke portal links")]
        indexes = [
            models.Index(fields=["email", "created_at"], name="portal_link_email_time"),
            models.Index(fields=["created_at"], name="portal_link_time"),
        ]

    def __str__(self):
        return self.public_id


class PortalRevocation(models.Model):
    """The last revoke-all of an email: its links issued at or before ``revoked_before`` stop working."""

    email = models.EmailField(max_length=254, unique=True)
    revoked_before = models.DateTimeField()

    def __str__(self):
        return self.email
