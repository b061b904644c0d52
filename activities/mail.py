"""Emailing the shopper what their return did (label ready, a reminder before the ship-by day, the
items received, refunded or credited, declined, expired, ...), in the language they started it in.

The address is the order's, asked of the shop platform at sending (the system of record), never
carried in the workflow's history. The message links to the portal's status page when the portal's
links can be signed here and have a public address (PORTAL_SECRET and PORTAL_BASE_URL); without
SMTP settings, or an order without an email, nothing is sent (the answer says so).
"""

from __future__ import annotations

from temporalio import activity

from activities.models import ShopperEmail
from activities.vendor_call import vendor_call
from integrations.mail import mail_configured, send
from integrations.settings import Settings
from integrations.shop import ShopPlatform


class MailActivities:
    def __init__(self, shop: ShopPlatform, settings: Settings):
        # Here, not at the top: the workflow imports this module for the activity's name, and the
        # portal's templates and catalogs belong only where the activity runs.
        from portal.mail import return_news
        from portal.session import Signer

        self._news = return_news
        self._shop = shop
        self._settings = settings
        # Links must open in every API process: only with the portal's shared secret and address.
        self._links = Signer.from_settings(settings) if settings.portal_secret and settings.portal_base_url else None

    @activity.defn(name="email_shopper")
    async def email_shopper(self, email: ShopperEmail) -> bool:
        """True once sent; False when there is nothing to send with (no SMTP settings, no address)."""
        async with vendor_call() as logger:
            if not mail_configured(self._settings):
                logger.info("shopper not emailed: no SMTP settings", kind=email.kind.value)
                return False
            contact = await self._shop.load_order_contact(email.order_id)
            if not contact.email:
                logger.info("shopper not emailed: the order has no email", kind=email.kind.value)
                return False
            await send(self._settings, self._news(self._settings, email, contact.email, self._status_url(email)))
            logger.info("shopper emailed", kind=email.kind.value)  # never the address: it is the shopper's
            return True

    def _status_url(self, email: ShopperEmail) -> str | None:
        if self._links is None:
            return None
        base = (self._settings.portal_base_url or "").rstrip("/")
        return f"{base}/portal/returns/{self._links.status_link_token(email.return_id)}"
