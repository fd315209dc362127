"""The words of the customer's loyalty page, in each language the shop writes in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LoyaltyTexts:
    lang: str
    title: str  # {shop}
    points: str
    pending: str
    tier: str
    to_next_spend: str  # {amount} {tier}
    to_next_points: str  # {points} {tier}
    top_tier: str
    rewards: str
    no_rewards: str
    code: str
    until: str  # {date}
    history: str
    no_history: str
    date: str
    change: str
    kinds: dict[str, str]  # models.EntryKind → what the customer reads
    invalid: str  # {shop}: a link we did not sign, and what to do
    no_programme: str  # {shop}
    # The shipped programmes' tier names, as the shipped templates say them; another name is
    # shown as the programme file writes it.
    tiers: dict[str, str]
    # Giving points to a cause (`[[cause]]`).
    causes: str
    give: str  # the button
    given_so_far: str  # {points}
    thanks: str  # {points} {cause}
    too_few: str  # {points}: what they have


_TEXTS = {
    "en": LoyaltyTexts(
        "en", "Your points at {shop}", "Points to spend",
        "pending points: yours once the return window has passed", "Your tier",
        "{amount} more to spend to reach {tier}", "{points} more points to reach {tier}",
        "You are in our highest tier.", "Your rewards", "No reward to use yet.", "Code",
        "valid until {date}", "Points history", "No points yet.", "Date", "Points",
        {"earn": "Order", "approve": "Confirmed", "clawback": "Refund", "adjust": "Correction",
         "expire": "Expired", "spend": "Reward", "action": "Thank you",
         "donate": "Given"},
        "This link is not valid. Open the newest email from {shop} and follow its link again.",
        "{shop} runs no loyalty programme at the moment.",
        {"member": "Member", "silver": "Silver", "gold": "Gold"},
        "Give your points", "Give", "{points} points given so far",
        "Thank you: {points} points given to {cause}.", "You have {points} points to give.",
    ),
    "de": LoyaltyTexts(
        "de", "Ihre Punkte bei {shop}", "Punkte zum Einlösen",
        "Punkte vorgemerkt: Ihnen gutgeschrieben nach Ablauf der Rückgabefrist", "Ihre Stufe",
        "Noch {amount} bis {tier}", "Noch {points} Punkte bis {tier}",
        "Sie sind in unserer höchsten Stufe.", "Ihre Prämien", "Noch keine Prämie einzulösen.",
        "Code", "gültig bis {date}", "Punkteverlauf", "Noch keine Punkte.", "Datum", "Punkte",
        {"earn": "Bestellung", "approve": "Bestätigt", "clawback": "Erstattung",
         "adjust": "Korrektur", "expire": "Verfallen", "spend": "Prämie", "action": "Danke",
         "donate": "Gespendet"},
        "Dieser Link ist nicht gültig. Öffnen Sie die neueste E-Mail von {shop} und folgen Sie"
        " dem Link dort.",
        "{shop} bietet derzeit kein Treueprogramm an.",
        {"member": "Mitglied", "silver": "Silber", "gold": "Gold"},
        "Punkte spenden", "Spenden", "{points} Punkte bisher gespendet",
        "Danke: {points} Punkte für {cause} gespendet.", "Sie haben {points} Punkte zum Spenden.",
    ),
    "es": LoyaltyTexts(
        "es", "Tus puntos en {shop}", "Puntos para canjear",
        "puntos pendientes: tuyos cuando pase el plazo de devolución", "Tu nivel",
        "Te faltan {amount} para llegar a {tier}", "Te faltan {points} puntos para llegar a {tier}",
        "Estás en nuestro nivel más alto.", "Tus recompensas", "Aún no tienes recompensas.",
        "Código", "válido hasta el {date}", "Historial de puntos", "Aún no tienes puntos.",
        "Fecha", "Puntos",
        {"earn": "Pedido", "approve": "Confirmados", "clawback": "Reembolso",
         "adjust": "Corrección", "expire": "Caducados", "spend": "Recompensa",
         "action": "Gracias", "donate": "Donados"},
        "Este enlace no es válido. Abre el correo más reciente de {shop} y sigue su enlace.",
        "{shop} no tiene ahora un programa de fidelidad.",
        {"member": "Miembro", "silver": "Plata", "gold": "Oro"},
        "Dona tus puntos", "Donar", "{points} puntos donados hasta ahora",
        "Gracias: {points} puntos donados a {cause}.", "Tienes {points} puntos para donar.",
    ),
    "ru": LoyaltyTexts(
        "ru", "Ваши баллы в {shop}", "Баллы к списанию",
        "баллов ожидают: станут вашими после срока возврата", "Ваш уровень",
        "До уровня {tier} осталось {amount}", "До уровня {tier} осталось {points} баллов",
        "У вас наш самый высокий уровень.", "Ваши награды", "Пока нет наград.", "Код",
        "действует до {date}", "История баллов", "Баллов пока нет.", "Дата", "Баллы",
        {"earn": "Заказ", "approve": "Подтверждено", "clawback": "Возврат",
         "adjust": "Корректировка", "expire": "Сгорели", "spend": "Награда",
         "action": "Спасибо", "donate": "Пожертвовано"},
        "Эта ссылка недействительна. Откройте последнее письмо от {shop} и перейдите по ссылке"
        " из него.",
        "Сейчас у {shop} нет программы лояльности.",
        {"member": "Участник", "silver": "Серебро", "gold": "Золото"},
        "Пожертвовать баллы", "Пожертвовать", "Всего пожертвовано баллов: {points}",
        "Спасибо: {points} баллов пожертвовано на «{cause}».", "У вас {points} баллов.",
    ),
    "zh": LoyaltyTexts(
        "zh", "您在{shop}的积分", "可用积分", "积分待确认：退货期过后即归您所有", "您的等级",
        "再消费{amount}即可升至{tier}", "再获得{points}积分即可升至{tier}",
        "您已是我们的最高等级。", "您的奖励", "暂无可用奖励。", "优惠码", "有效期至{date}",
        "积分记录", "暂无积分。", "日期", "积分",
        {"earn": "订单", "approve": "已确认", "clawback": "退款", "adjust": "调整",
         "expire": "已过期", "spend": "奖励", "action": "感谢", "donate": "已捐赠"},
        "此链接无效。请打开{shop}最新的邮件，再次点击其中的链接。",
        "{shop}目前没有会员积分计划。",
        {"member": "会员", "silver": "银卡", "gold": "金卡"},
        "捐赠积分", "捐赠", "已累计捐赠{points}积分", "感谢您：已向{cause}捐赠{points}积分。",
        "您有{points}积分可捐赠。",
    ),
}  # fmt: skip


def texts_for(locale: str | None) -> LoyaltyTexts:
    """The texts in the customer's language (`de_AT` → `de`), English when there are none."""
    language = (locale or "en").replace("-", "_").split("_")[0].lower()
    return _TEXTS.get(language, _TEXTS["en"])


def language_asked(accept_language: str | None) -> str | None:
    """The first language of an Accept-Language header (for a link that names no customer)."""
    first = (accept_language or "").split(",")[0].split(";")[0].strip()
    return first or None
