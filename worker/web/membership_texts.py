"""The words of a paid membership on the customer's loyalty page, in each language the shop
writes in: `{date}` the paid period's end, `{n}` the member's earn multiplier."""

# ruff: noqa: RUF001  (Russian and Chinese copy is the point of this module)

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MembershipTexts:
    heading: str
    renews: str  # {date}
    ends: str  # {date}: cancelled at the period's end
    lapsed: str  # the period and its grace passed without a payment
    earn: str  # {n}
    free_shipping: str


_TEXTS = {
    "en": MembershipTexts(
        "Your membership", "Active, renews on {date}", "Active until {date}",
        "Your membership has ended. Renew it to get your benefits back.",
        "Every order earns you {n} times the points", "Free shipping on every order",
    ),
    "de": MembershipTexts(
        "Ihre Mitgliedschaft", "Aktiv, verlängert sich am {date}", "Aktiv bis {date}",
        "Ihre Mitgliedschaft ist abgelaufen. Verlängern Sie sie, um Ihre Vorteile zurückzuholen.",
        "Jede Bestellung bringt Ihnen das {n}-Fache an Punkten", "Kostenloser Versand für jede"
        " Bestellung",
    ),
    "es": MembershipTexts(
        "Tu membresía", "Activa, se renueva el {date}", "Activa hasta el {date}",
        "Tu membresía ha terminado. Renuévala para recuperar tus ventajas.",
        "Cada pedido te da {n} veces los puntos", "Envío gratis en cada pedido",
    ),
    "ru": MembershipTexts(
        "Ваше членство", "Активно, продлится {date}", "Активно до {date}",
        "Ваше членство закончилось. Продлите его, чтобы вернуть привилегии.",
        "За каждый заказ в {n} раза больше баллов", "Бесплатная доставка каждого заказа",
    ),
    "zh": MembershipTexts(
        "您的会员资格", "有效，将于{date}续订", "有效期至{date}",
        "您的会员资格已到期。续订即可恢复您的会员权益。",
        "每笔订单可获得{n}倍积分", "每笔订单免费配送",
    ),
}  # fmt: skip


def membership_texts(lang: str) -> MembershipTexts:
    """The texts in `lang` (a LoyaltyTexts' language), English when there are none."""
    return _TEXTS.get(lang, _TEXTS["en"])
