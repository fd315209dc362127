"""The words of the unsubscribe and preferences pages, in each language the shop writes in."""

from __future__ import annotations

from typing import Any

Texts = dict[str, Any]

_TEXTS: dict[str, Texts] = {
    "en": {
        "title": "Unsubscribe",
        "question": {
            "marketing": "Stop marketing emails from {shop}?",
            "transactional": "Stop emails about your orders from {shop}?",
        },
        "button": "Unsubscribe",
        "done": {
            "marketing": "You will get no more marketing emails from {shop}.",
            "transactional": "You will get no more emails about your orders from {shop}.",
        },
        "preferences": "Choose which emails you get",
        "intro": "Tick the emails you want to keep getting.",
        "marketing": "News and offers",
        "transactional": "About my orders",
        "save": "Save",
        "saved": "Your choice is saved.",
    },
    "es": {
        "title": "Darse de baja",
        "question": {
            "marketing": "¿Dejar de recibir correos promocionales de {shop}?",
            "transactional": "¿Dejar de recibir correos sobre tus pedidos de {shop}?",
        },
        "button": "Darme de baja",
        "done": {
            "marketing": "No recibirás más correos promocionales de {shop}.",
            "transactional": "No recibirás más correos sobre tus pedidos de {shop}.",
        },
        "preferences": "Elige qué correos recibes",
        "intro": "Marca los correos que quieres seguir recibiendo.",
        "marketing": "Novedades y ofertas",
        "transactional": "Sobre mis pedidos",
        "save": "Guardar",
        "saved": "Tu elección está guardada.",
    },
    "de": {
        "title": "Abmelden",
        "question": {
            "marketing": "Keine Werbe-E-Mails mehr von {shop}?",
            "transactional": "Keine E-Mails mehr zu Ihren Bestellungen von {shop}?",
        },
        "button": "Abmelden",
        "done": {
            "marketing": "Sie erhalten keine Werbe-E-Mails mehr von {shop}.",
            "transactional": "Sie erhalten keine E-Mails zu Ihren Bestellungen mehr von {shop}.",
        },
        "preferences": "Wählen Sie, welche E-Mails Sie erhalten",
        "intro": "Kreuzen Sie die E-Mails an, die Sie weiter erhalten möchten.",
        "marketing": "Neuigkeiten und Angebote",
        "transactional": "Zu meinen Bestellungen",
        "save": "Speichern",
        "saved": "Ihre Auswahl ist gespeichert.",
    },
    "ru": {
        "title": "Отписаться",
        "question": {
            "marketing": "Больше не получать рекламные письма от {shop}?",
            "transactional": "Больше не получать письма о ваших заказах от {shop}?",
        },
        "button": "Отписаться",
        "done": {
            "marketing": "Вы больше не будете получать рекламные письма от {shop}.",
            "transactional": "Вы больше не будете получать письма о ваших заказах от {shop}.",
        },
        "preferences": "Выберите, какие письма получать",
        "intro": "Отметьте письма, которые хотите получать и дальше.",
        "marketing": "Новости и предложения",
        "transactional": "О моих заказах",
        "save": "Сохранить",
        "saved": "Ваш выбор сохранён.",
    },
    "zh": {
        "title": "退订",
        "question": {
            "marketing": "不再接收{shop}的营销邮件？",
            "transactional": "不再接收{shop}关于您订单的邮件？",
        },
        "button": "退订",
        "done": {
            "marketing": "您将不再收到{shop}的营销邮件。",
            "transactional": "您将不再收到{shop}关于您订单的邮件。",
        },
        "preferences": "选择您想接收的邮件",
        "intro": "请勾选您希望继续接收的邮件。",
        "marketing": "新品与优惠",
        "transactional": "我的订单相关",
        "save": "保存",
        "saved": "您的选择已保存。",
    },
}


def texts_for(locale: str | None) -> tuple[str, Texts]:
    """The language code and texts for a customer's locale (`es-MX` → `es`); English if none."""
    lang = (locale or "en").replace("_", "-").split("-")[0].lower()
    return (lang, _TEXTS[lang]) if lang in _TEXTS else ("en", _TEXTS["en"])
