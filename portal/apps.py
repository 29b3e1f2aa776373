from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Customer portal"

    def ready(self):
        # Receipts get their portal link when they are handed to SMTP; notifications must not import the portal.
        from notifications.links import register_link_minter
        from portal.services import receipt_link_mint

        register_link_minter(receipt_link_mint)
