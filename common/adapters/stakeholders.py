"""Messages to one stakeholder at a time (incident notices, updates and
summaries): mail through the configured SMTP relay to the subscriber's
address, or a JSON post to the subscriber's webhook. The same SMTP and
webhook adapters as the support team's notifier (common/adapters/notify.py),
so retries and their limits are the same: a message that still fails is
logged and dropped, and never breaks what sent it.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from common.adapters.notify import SmtpNotifier, WebhookNotifier

if TYPE_CHECKING:
    from common.config import Settings

log = logging.getLogger("oms.stakeholders")


class StakeholderMessenger:
    """`common.ports.Messenger` over SMTP (OMS_SMTP_* settings) and webhooks."""

    def __init__(self, settings: Settings, *, attempts: int = 4, base_delay: float = 0.5) -> None:
        self.settings = settings
        self.attempts, self.base_delay = attempts, base_delay
        self._hooks: dict[str, WebhookNotifier] = {}  # one HTTP client per URL, reused
        self._lock = threading.Lock()

    def _mailer(self, address: str) -> SmtpNotifier | None:
        s = self.settings
        if not s.smtp_host:
            return None
        return SmtpNotifier(s.smtp_host, s.smtp_port, sender=s.smtp_from, recipients=[address], user=s.smtp_user,
                            password=s.smtp_password, starttls=s.smtp_starttls, attempts=self.attempts,
                            base_delay=self.base_delay)

    def _hook(self, url: str) -> WebhookNotifier:
        with self._lock:
            hook = self._hooks.get(url)
            if hook is None:
                hook = self._hooks[url] = WebhookNotifier(url, attempts=self.attempts, base_delay=self.base_delay)
            return hook

    def send(self, channel: str, address: str, subject: str, body: str, *, level: str = "info",
             data: dict[str, Any] | None = None) -> None:
        if channel == "webhook":
            self._hook(address).notify(subject, body, level=level, data=data)
            return
        mailer = self._mailer(address)
        if mailer is None:
            log.warning("no SMTP relay set (OMS_SMTP_HOST): %r not mailed to %s", subject, address)
            return
        mailer.notify(subject, body, level=level, data=data)


class MemoryMessenger:
    """Keeps what it was asked to send (tests)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, channel: str, address: str, subject: str, body: str, *, level: str = "info",
             data: dict[str, Any] | None = None) -> None:
        self.sent.append({"channel": channel, "address": address, "subject": subject, "body": body, "level": level,
                          "data": data or {}})
