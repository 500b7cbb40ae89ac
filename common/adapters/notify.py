"""Notifier adapters. The log notifier is the default; SMTP and webhook
adapters join it when their settings are present (`build_notifier`).

A notifier never breaks a job: transient send failures are retried with
exponential backoff, and what still fails is logged and dropped.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from common.ports import Notifier

if TYPE_CHECKING:
    from common.config import Settings

log = logging.getLogger("oms.notify")


class LogNotifier:
    def notify(self, subject: str, body: str, *, level: str = "info", data: dict[str, Any] | None = None) -> None:
        # The subject is the line a person reads; the data rides along as a
        # field of the JSON log line (common.telemetry) for machines.
        log.log(logging.ERROR if level == "error" else logging.WARNING if level == "warning" else logging.INFO,
                "%s", subject, extra={"notification": json.loads(json.dumps(data or {}, default=str))})


class MemoryNotifier:
    """Keeps what it was told (tests)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def notify(self, subject: str, body: str, *, level: str = "info", data: dict[str, Any] | None = None) -> None:
        self.sent.append({"subject": subject, "body": body, "level": level, "data": data or {}})


class TransientSendError(Exception):
    """A send that may succeed when tried again."""


def with_retries(send: Callable[[], None], *, what: str, attempts: int = 4, base_delay: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep) -> bool:
    """Run `send`, retrying transient faults with exponential backoff
    (base, 2 x base, 4 x base ...). Never raises: a notification that cannot
    be delivered is logged, so the job that sent it goes on."""
    for attempt in range(1, attempts + 1):
        try:
            send()
            return True
        except TransientSendError as error:
            if attempt == attempts:
                log.error("%s failed after %d attempts: %s", what, attempts, error)
                return False
            delay = base_delay * 2 ** (attempt - 1)
            log.warning("%s failed (attempt %d of %d), retrying in %.1fs: %s", what, attempt, attempts, delay, error)
            sleep(delay)
        except Exception as error:  # permanent (bad address, auth refused): no point retrying
            log.error("%s failed: %s: %s", what, type(error).__name__, error)
            return False
    return False


class SmtpNotifier:
    """E-mail through an SMTP relay (stdlib smtplib), STARTTLS and login when configured."""

    def __init__(self, host: str, port: int = 25, *, sender: str, recipients: Sequence[str],
                 user: str | None = None, password: str | None = None, starttls: bool = False,
                 timeout: float = 10.0, attempts: int = 4, base_delay: float = 0.5,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.host, self.port = host, port
        self.sender, self.recipients = sender, list(recipients)
        self.user, self.password, self.starttls = user, password, starttls
        self.timeout, self.attempts, self.base_delay = timeout, attempts, base_delay
        self.ssl_context = ssl_context

    def message(self, subject: str, body: str, level: str, data: dict[str, Any] | None) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = subject
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["X-OMS-Level"] = level
        text = body
        if data:
            text += "\n\n-- details --\n" + json.dumps(data, indent=2, sort_keys=True, default=str)
        msg.set_content(text)
        return msg

    def _send(self, msg: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=self.ssl_context or ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(msg)
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError, TimeoutError) as error:
            raise TransientSendError(f"{type(error).__name__}: {error}") from error
        except smtplib.SMTPResponseException as error:
            if 400 <= error.smtp_code < 500:  # 4xx: try again later
                raise TransientSendError(f"SMTP {error.smtp_code}: {error.smtp_error!r}") from error
            raise

    def notify(self, subject: str, body: str, *, level: str = "info", data: dict[str, Any] | None = None) -> None:
        if not self.recipients:
            return
        msg = self.message(subject, body, level, data)
        with_retries(lambda: self._send(msg), what=f"mail {subject!r} via {self.host}:{self.port}",
                     attempts=self.attempts, base_delay=self.base_delay)


class WebhookNotifier:
    """A JSON POST for Teams / Slack incoming webhooks: `text` is what those
    show; `subject`, `level`, `body` and `data` are there for other receivers."""

    def __init__(self, url: str, *, timeout: float = 10.0, attempts: int = 4, base_delay: float = 0.5) -> None:
        self.url = url
        self.timeout, self.attempts, self.base_delay = timeout, attempts, base_delay
        self._client: Any = None

    def payload(self, subject: str, body: str, level: str, data: dict[str, Any] | None) -> dict[str, Any]:
        return {"text": f"{subject}\n\n{body}", "subject": subject, "level": level, "body": body,
                "data": json.loads(json.dumps(data or {}, default=str))}

    def _post(self, payload: dict[str, Any]) -> None:
        import httpx

        if self._client is None:  # one client per process, built on first use
            self._client = httpx.Client(timeout=self.timeout)
        try:
            response = self._client.post(self.url, json=payload)
        except httpx.TransportError as error:
            raise TransientSendError(f"{type(error).__name__}: {error}") from error
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientSendError(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")

    def notify(self, subject: str, body: str, *, level: str = "info", data: dict[str, Any] | None = None) -> None:
        payload = self.payload(subject, body, level, data)
        with_retries(lambda: self._post(payload), what=f"webhook {subject!r}", attempts=self.attempts,
                     base_delay=self.base_delay)


class FanoutNotifier:
    """Tells every notifier; one failing does not keep the others from hearing."""

    def __init__(self, notifiers: Sequence[Notifier]) -> None:
        self.notifiers = list(notifiers)

    def notify(self, subject: str, body: str, *, level: str = "info", data: dict[str, Any] | None = None) -> None:
        for notifier in self.notifiers:
            try:
                notifier.notify(subject, body, level=level, data=data)
            except Exception:
                log.exception("notifier %s failed", type(notifier).__name__)


def build_notifier(settings: Settings) -> Notifier:
    """The log, plus SMTP and a webhook when their settings are present."""
    notifiers: list[Notifier] = [LogNotifier()]
    if settings.smtp_host and settings.smtp_to:
        notifiers.append(SmtpNotifier(settings.smtp_host, settings.smtp_port, sender=settings.smtp_from,
                                      recipients=settings.smtp_to, user=settings.smtp_user,
                                      password=settings.smtp_password, starttls=settings.smtp_starttls))
    if settings.notify_webhook_url:
        notifiers.append(WebhookNotifier(settings.notify_webhook_url))
    return notifiers[0] if len(notifiers) == 1 else FanoutNotifier(notifiers)
