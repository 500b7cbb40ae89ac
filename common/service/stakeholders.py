"""Stakeholder subscriptions and what each subscriber is told.

Subscribers come from the settings (OMS_INCIDENT_SUBSCRIBERS) and from the
store (added over the API or the CLI). A subscriber hears of an incident
whose impact names their market or project. The first message a subscriber
gets about an incident is its notice; then updates, and the summary at
resolution. Someone subscribed to two matching scopes is one recipient and
gets one message. Who was told is written on the incident together with the
change that tells them, and the messages go out after that write: a crash in
between loses a message rather than sending one twice.
"""

from __future__ import annotations

import hashlib
import logging
import re
from concurrent.futures import ThreadPoolExecutor

from common.adapters.stakeholders import StakeholderMessenger
from common.domain.incident_notices import Delivery, MessageKind, describe, plan, render
from common.domain.incidents import BLANK, Incident, Subscription, SubscriptionChannel, scoped
from common.domain.models import Actor, Reason
from common.ports import Messenger
from common.service.bootstrap import Deps

log = logging.getLogger("oms.stakeholders")

MESSENGER = "stakeholder_messenger"  # its key in Deps.extras (tests hand in their own)
# Printable ASCII, spelled out: the API's document (ECMAScript), pydantic (Rust)
# and Python read these classes alike (their \s and \S do not).
MAIL_PATTERN = r"^[!-?A-~]+@[!-?A-~]+$"  # no space, control character or second @
WEBHOOK_PATTERN = r"^https?://[!-.0-~]+[!-~]*$"  # a host, then any printable ASCII


def messenger_of(deps: Deps) -> Messenger:
    found = deps.extras.get(MESSENGER)
    if found is None:
        found = deps.extras.setdefault(MESSENGER, StakeholderMessenger(deps.settings))
    messenger: Messenger = found
    return messenger


# ------------------------------------------------------------ subscriptions
class SubscriptionInvalid(ValueError):
    def __init__(self, reasons: list[Reason]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, r.loc))}: {r.msg}" for r in reasons))
        self.reasons = reasons


def subscription_id(market: str | None, project_id: str | None, channel: str, address: str) -> str:
    """The same subscriber and scope always get the same id (adding twice is one subscription)."""
    key = f"{market or ''}|{project_id or ''}|{channel}|{address.strip().lower()}"
    return "SUB-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def check_subscription(market: str | None, project_id: str | None, mail: str | None,
                       webhook: str | None, loc: tuple[str | int, ...] = ("body",)) -> tuple[str, str]:
    """(channel, address), or SubscriptionInvalid naming every problem."""
    reasons = []
    scopes = [v for v in (market, project_id) if v]
    if len(scopes) != 1:
        reasons.append(Reason(loc=[*loc, "market"], msg="name exactly one of market and project_id",
                              type="one_scope"))
    for name, value in (("market", market), ("project_id", project_id)):
        if value is not None and (not value.strip(BLANK) or len(value) > 128):
            reasons.append(Reason(loc=[*loc, name], msg="1 to 128 characters", type="value_error"))
    channels = [(c, v) for c, v in (("mail", mail), ("webhook", webhook)) if v]
    if len(channels) != 1:
        reasons.append(Reason(loc=[*loc, "mail"], msg="name exactly one of mail and webhook", type="one_channel"))
    if mail and (len(mail) > 254 or not re.search(MAIL_PATTERN, mail.strip(BLANK))):
        reasons.append(Reason(loc=[*loc, "mail"], msg="not a mail address", type="value_error"))
    if webhook and (len(webhook) > 2048 or not re.search(WEBHOOK_PATTERN, webhook.strip(BLANK))):
        reasons.append(Reason(loc=[*loc, "webhook"], msg="not an http(s) URL", type="value_error"))
    if reasons:
        raise SubscriptionInvalid(reasons)
    channel, address = channels[0]
    return channel, address.strip(BLANK)


def from_settings(deps: Deps) -> list[Subscription]:
    out = []
    for entry in deps.settings.incident_subscribers:
        market, project_id = entry.get("market"), entry.get("project_id")
        channel = "mail" if entry.get("mail") else "webhook"
        address = str(entry.get(channel, "")).strip()
        out.append(Subscription(subscription_id=subscription_id(market, project_id, channel, address),
                                market=market, project_id=project_id, channel=SubscriptionChannel(channel),
                                address=address, name=entry.get("name"), from_settings=True))
    return out


def all_subscriptions(deps: Deps) -> list[Subscription]:
    stored = deps.store.list_subscriptions()
    ids = {s.subscription_id for s in stored}
    return [*(s for s in from_settings(deps) if s.subscription_id not in ids), *stored]


def subscribe(deps: Deps, *, market: str | None, project_id: str | None, mail: str | None, webhook: str | None,
              name: str | None, actor: Actor) -> tuple[Subscription, bool]:
    """Add a subscription (True), or the same one that exists (False)."""
    channel, address = check_subscription(market, project_id, mail, webhook)
    sid = subscription_id(market, project_id, channel, address)
    existing = next((s for s in all_subscriptions(deps) if s.subscription_id == sid), None)
    if existing is not None:
        return existing, False
    subscription = Subscription(subscription_id=sid, market=market, project_id=project_id,
                                channel=SubscriptionChannel(channel), address=address, name=name,
                                created_at=deps.clock.now(), created_by=actor.id)
    deps.store.put_subscription(subscription)
    log.info("incident subscription %s added by %s: %s %s -> %s", sid, actor.id, "market" if market else "project",
             market or project_id, subscription.recipient)
    return subscription, True


# ------------------------------------------------------------------ telling
__all__ = ["Delivery", "MessageKind", "describe", "plan", "send"]


SENDERS = 8  # messages in flight at once: a slow or unreachable relay holds up a round by one retry series


def send(deps: Deps, incident: Incident, deliveries: list[Delivery], update: str | None = None) -> int:
    """Send each delivery its message, several at a time (each recipient's
    retries run beside the others', so a failing job is not held up by one
    retry series per stakeholder); returns how many were handed over."""
    messenger = messenger_of(deps)

    def one(delivery: Delivery) -> bool:
        mine = scoped(incident.impact, set(delivery.markets), set(delivery.projects), delivery.everything)
        message = render(incident, delivery.kind, mine, update=update, markets=delivery.markets,
                         projects=delivery.projects, everything=delivery.everything)
        try:
            messenger.send(delivery.channel, delivery.address, message.subject, message.body, level=message.level,
                           data=message.data)
        except Exception:  # a messenger never should; one failing recipient must not stop the others
            log.exception("could not send incident %s to %s", incident.incident_id, delivery.recipient)
            return False
        return True

    if len(deliveries) <= 1:
        return sum(one(d) for d in deliveries)
    with ThreadPoolExecutor(max_workers=min(SENDERS, len(deliveries)), thread_name_prefix="oms-notice") as pool:
        return sum(pool.map(one, deliveries))
