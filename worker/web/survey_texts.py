"""The words of the survey answer pages, in each language the shop writes in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SurveyTexts:
    lang: str
    title: str
    your_answer: str
    send: str
    thanks: str
    already: str
    preview: str
    comment: str  # the question over the comment box, after the answer is saved
    send_comment: str
    comment_saved: str


_TEXTS = {
    "en": SurveyTexts(
        "en", "Thank you", "Your answer:", "Send my answer", "Thank you: your answer is saved.",
        "You have answered this survey already: thank you.",
        "This link is from a preview or a test email: no answer is saved.",
        "Anything you would like to tell us? (optional)", "Send",
        "Thank you: we read every comment.",
    ),
    "es": SurveyTexts(
        "es", "Gracias", "Tu respuesta:", "Enviar mi respuesta",
        "Gracias: hemos guardado tu respuesta.", "Ya respondiste esta encuesta: gracias.",
        "Este enlace es de una vista previa o de un correo de prueba: no se guarda nada.",
        "¿Quieres contarnos algo más? (opcional)", "Enviar",
        "Gracias: leemos todos los comentarios.",
    ),
    "de": SurveyTexts(
        "de", "Vielen Dank", "Ihre Antwort:", "Antwort senden",
        "Vielen Dank: Ihre Antwort ist gespeichert.",
        "Sie haben diese Umfrage schon beantwortet: vielen Dank.",
        "Dieser Link stammt aus einer Vorschau oder Test-E-Mail: es wird nichts gespeichert.",
        "Möchten Sie uns noch etwas sagen? (optional)", "Senden",
        "Vielen Dank: wir lesen jeden Kommentar.",
    ),
    "ru": SurveyTexts(
        "ru", "Спасибо", "Ваш ответ:", "Отправить ответ", "Спасибо: ваш ответ сохранён.",
        "Вы уже ответили на этот опрос. Спасибо!",
        "Эта ссылка из предпросмотра или тестового письма: ответ не сохраняется.",
        "Хотите что-нибудь добавить? (необязательно)", "Отправить",
        "Спасибо: мы читаем каждый комментарий.",
    ),
    "zh": SurveyTexts(
        "zh", "谢谢", "您的回答：", "提交回答", "谢谢！您的回答已保存。",
        "您已回答过此调查，谢谢！",
        "此链接来自预览或测试邮件：不会保存回答。",
        "还有什么想告诉我们的吗？（可选）", "发送",
        "谢谢！每条意见我们都会认真阅读。",
    ),
}  # fmt: skip


def texts_for(locale: str | None) -> SurveyTexts:
    """The texts in the customer's language (`es_MX` → `es`), English when there are none."""
    language = (locale or "en").replace("-", "_").split("_")[0].lower()
    return _TEXTS.get(language, _TEXTS["en"])
