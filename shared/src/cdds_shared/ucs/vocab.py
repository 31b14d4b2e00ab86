"""Word pools of the synthetic UCS data: several scripts, emoji (with skin tones, flags and ZWJ
sequences) and the characters JSON and COPY must escape (quotes, backslashes, tabs, newlines)."""

# ruff: noqa: RUF001 - look-alike letters of other scripts are the point of this module

from __future__ import annotations

__all__ = [
    "ATTACHMENTS",
    "CHAT_LINES",
    "CLOSINGS",
    "COMMENTS",
    "COMPANIES",
    "DISCLAIMERS",
    "DOMAINS",
    "FIRST_NAMES",
    "GREETINGS",
    "HANDLES",
    "LAST_NAMES",
    "PARAGRAPHS",
    "QUEUES",
    "SHORT_TEXTS",
    "SUBJECTS",
]

FIRST_NAMES = (
    "Anna", "José", "Zoë", "Łukasz", "Søren", "Aïcha", "Mohammed", "محمد", "Дмитрий", "陽菜",
    "Yūki", "Chloé", "Seán", "Björn", "Ngọc", "Άννα", "François", "Małgorzata", "Jürgen", "Priya",
    "John", "Mary", "Olivia", "Noah", "Lucía", "Çağla", "Ümit", "Håkon", "Đorđe", "Ōta",
)  # fmt: skip
LAST_NAMES = (
    "Müller", "García", "Nguyễn", "Ørsted", "O'Brien", "Smith-Jones", "李", "Παπαδόπουλος",
    "Kowalczyk", "d'Artagnan", "Иванов", "Dubois", "Schäfer", "Fernández", "Yılmaz", "Šimić",
    "佐藤", "Al-Farsi", "van der Berg", "Smith", "Brown", "Martin", "Lefèvre", "Ødegård",
)  # fmt: skip
HANDLES = (
    "anna",
    "jose",
    "zoe",
    "lukasz",
    "soren",
    "aicha",
    "mo",
    "dima",
    "hina",
    "yuki",
    "chloe",
    "sean",
    "bjorn",
    "ngoc",
    "francois",
    "gosia",
    "jurgen",
    "priya",
    "jsmith",
)
DOMAINS = ("example.com", "example.org", "mail.example.net", "bücher.example", "exemple.fr")
COMPANIES = (
    "Acme Corp", "Société Générale d'Électricité", "Müller & Söhne GmbH", "株式会社サンプル",
    "Café ☕ Ltd", 'The "Quoted" Company', "Back\\slash Industries", "Ελληνική Α.Ε.",
)  # fmt: skip
SUBJECTS = (
    "Re: Order {n} 📦", "Problème de facturation n°{n}", "Refund request — order #{n}",
    "Adresse geändert ✅", "Rückruf erbeten", "Где мой заказ? {n}", "注文について ({n})",
    "Delivery delayed 😡", "Thanks a lot! 🙏🏽", 'Quote "urgent" in C:\\temp\\{n}.txt',
    "Fwd: invoice {n}\tQ3", "¿Dónde está mi pedido {n}?", "Family plan 👨‍👩‍👧‍👦 upgrade",
    "Voyage 🇫🇷 → 🇯🇵 annulé", "Password reset", "Complaint: line\nbreak in subject",
)  # fmt: skip
PARAGRAPHS = (
    "Hello, I ordered a parcel three weeks ago and it still has not arrived. Could you please "
    "check the tracking number and tell me when I can expect it? Thank you in advance.",
    "Bonjour, je vous écris au sujet de ma dernière facture : le montant prélevé (129,90 €) ne "
    "correspond pas à l'offre souscrite. Merci de corriger l'erreur rapidement.",
    "Sehr geehrte Damen und Herren, bitte ändern Sie meine Lieferadresse auf Königstraße 12, "
    "70173 Stuttgart. Mit freundlichen Grüßen.",
    "Здравствуйте! Я до сих пор не получил возврат средств за отменённый заказ. Подскажите, "
    "пожалуйста, сроки.",
    "お世話になっております。先日注文した商品がまだ届いておりません。確認をお願いいたします。",
    "Great service today 😀👍🏽 — the agent was very helpful and solved everything in minutes!",
    'He said "it will be fixed tomorrow", but nothing happened. The log shows C:\\Users\\me\\err.',
    "Columns:\tID\tAmount\tDate\n\t42\t10.00\t2024-02-29",
    "> On Monday you wrote:\n> Please send the documents again.\n> Regards, Support Team",
    "مرحبا، أود الاستفسار عن حالة طلبي رقم ١٢٣٤٥. شكرا لكم.",
    "Γεια σας, θα ήθελα να ακυρώσω τη συνδρομή μου από τον επόμενο μήνα.",
    "Olá! Preciso de uma segunda via do boleto, por favor. Obrigado 🙏",
    "P.S. My daughter 👩‍🎓 starts university next month, can we move her to the family plan?",
    "Kind regards,\nJohn Smith\nAcme Corp | +44 20 7946 0958\n-- \nSent from my phone 📱",
    'The app crashes when I press <Pay> & then "Confirm"; error code 0x80070057 {retry=3}.',
    "Sent from Outlook:\r\nline one\r\nline two (CRLF line endings)",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt "
    "ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation.",
)
GREETINGS = (
    "Hello,", "Dear Sir or Madam,", "Hi team,", "Bonjour,", "Sehr geehrte Damen und Herren,",
    "Good morning,", "Dear customer service,", "Hi there,",
)  # fmt: skip
CLOSINGS = (
    "Kind regards,", "Best regards,", "Thanks in advance,", "Cordialement,",
    "Mit freundlichen Grüßen,", "Many thanks,", "Sincerely,", "Cheers,",
)  # fmt: skip
DISCLAIMERS = (
    "-- \nThis e-mail and any attachments are confidential and intended solely for the "
    "addressee. If you have received it in error, please notify the sender and delete it. Any "
    "unauthorised use, disclosure or copying is prohibited.",
    "-- \nAcme Retail Ltd · Registered in England and Wales No. 01234567 · Registered office: "
    "1 Market Street, London EC1A 1AA. Please consider the environment before printing this "
    "e-mail.",
    "-- \nCe message et ses pièces jointes sont confidentiels et établis à l'attention "
    "exclusive de leurs destinataires. Si vous l'avez reçu par erreur, merci de le détruire et "
    "d'en avertir l'expéditeur.",
    "-- \nDiese E-Mail enthält vertrauliche Informationen. Wenn Sie nicht der richtige Adressat "
    "sind, informieren Sie bitte sofort den Absender und vernichten Sie diese Mail.",
    "-- \nSent from my iPhone",
    "-- \nCustomer Care Team | Open Monday to Friday, 8:00-20:00 | Your reference is in the "
    "subject line: please keep it when you reply so that we can find your case quickly.",
)
CHAT_LINES = (
    "Hi, I need help with my order", "Bonjour 👋", "Can you check my account?",
    "Sure, one moment", "Thanks! 😊", "Mein Passwort funktioniert nicht", "Спасибо", "了解しました",
    'It says "error"', "Path is C:\\data\\x", "Is there anything else I can help with?",
    "No, that's all 👍",
)  # fmt: skip
SHORT_TEXTS = (
    "Your code is 482913", "Ok 👍", "Can you call me back after 6pm?", "Merci beaucoup ❤️",
    "STOP", "Wann kommt mein Paket?", "Пожалуйста, перезвоните", "届きました！🎉",
)  # fmt: skip
COMMENTS = (
    "Customer called about billing; transferred to 2nd level ✔", "Left voicemail",
    "Rappeler demain matin", "Kunde verärgert 😠 — Gutschrift 10 € angeboten", "No answer",
    'Said "thanks", case closed', "Escalated to supervisor\nTicket #4711",
)  # fmt: skip
QUEUES = {
    "email": ("Email_Inbound_EN", "Email_Inbound_FR", "Email_Outbound", "Réclamations"),
    "chat": ("Chat_Support", "Chat_Sales_DE"),
    "voice": ("Voice_Sales", "Voice_Support", "VIP ⭐"),
    "callback": ("Callbacks 📞",),
    "sms": ("SMS_Inbound",),
    "workitem": ("Backoffice",),
}
# (file name, MIME type or None, leading bytes of the content)
ATTACHMENTS = (
    ("invoice_{n}.pdf", "application/pdf", b"%PDF-1.4\n"),
    ("photo 📷 {n}.png", "image/png", b"\x89PNG\r\n\x1a\n"),
    (
        "Lettre de résiliation {n}.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        b"PK\x03\x04",
    ),
    ("données_{n}.csv", "text/csv", b"id;montant\n"),
    ("log.txt", None, b""),
)
