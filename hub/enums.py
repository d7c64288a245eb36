"""The closed vocabularies of Carnet, one StrEnum each.

They are the single home of these words: the models store their values, the rules compare them, the pages show
them. A StrEnum compares equal to its string value, so plain strings read from a CSV, a TOML charter or a form
can be checked with ``Enum(value)`` and used directly.
"""

from __future__ import annotations

from enum import StrEnum


class Language(StrEnum):
    FR = "fr"  #: French, the default in Wallonia-Brussels
    NL = "nl"  #: Dutch
    EN = "en"  #: English
    DE = "de"  #: German (the German-speaking Community)


class StaffRole(StrEnum):
    TEACHER = "teacher"  #: writes to the families of the pupils they teach
    SECRETARY = "secretary"  #: imports rosters, prints letters, records paper answers
    PRINCIPAL = "principal"  #: sees delivery reports, may send urgent messages
    ADMIN = "admin"  #: holds the keys: settings, staff, GDPR requests (at least two per school)


class GroupKind(StrEnum):
    CLASS = "class"  #: a class, e.g. "3B"
    COURSE = "course"  #: a course followed by some pupils across classes, e.g. "Latin 3"
    LEVEL = "level"  #: a year, e.g. "3e secondaire"
    SCHOOL = "school"  #: the whole school


class Relation(StrEnum):
    MOTHER = "mother"
    FATHER = "father"
    STEPMOTHER = "stepmother"
    STEPFATHER = "stepfather"
    GRANDMOTHER = "grandmother"
    GRANDFATHER = "grandfather"
    TUTOR = "tutor"  #: legal tutor appointed by a court
    FOSTER = "foster"  #: foster family (famille d'accueil)
    OTHER = "other"


class ContactKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"  #: E.164; used for SMS
    TELEGRAM = "telegram"  #: a Telegram chat id, linked by the guardian through a one-time deep link
    WEBPUSH = "webpush"  #: a push subscription (JSON) from the portal's service worker
    FCM = "fcm"  #: a Firebase Cloud Messaging registration token from the mobile app


class Channel(StrEnum):
    """Where a delivery goes. The portal and the letter need no contact: every guardian has both."""

    PORTAL = "portal"  #: the message waits in the guardian's inbox on the web portal
    EMAIL = "email"
    SMS = "sms"
    WEBPUSH = "webpush"
    FCM = "fcm"  #: mobile push
    TELEGRAM = "telegram"
    LETTER = "letter"  #: printed and handed to the pupil or posted: the end of every plan


#: The contact each electronic channel needs.
CHANNEL_CONTACT: dict[Channel, ContactKind] = {
    Channel.EMAIL: ContactKind.EMAIL,
    Channel.SMS: ContactKind.PHONE,
    Channel.WEBPUSH: ContactKind.WEBPUSH,
    Channel.FCM: ContactKind.FCM,
    Channel.TELEGRAM: ContactKind.TELEGRAM,
}


class ConsentPurpose(StrEnum):
    """What a guardian consents to (GDPR art. 6-7). Channels whose processor is outside the EU need their own."""

    SCHOOL_MESSAGES = "school_messages"  #: receiving the school's messages electronically at all
    EMAIL = "channel_email"
    SMS = "channel_sms"  #: processor outside the EU (Twilio)
    WEBPUSH = "channel_webpush"
    FCM = "channel_fcm"  #: processor outside the EU (Google Firebase)
    TELEGRAM = "channel_telegram"  #: processor outside the EU (Telegram)
    PHOTOS = "photos"  #: publication of photos of the pupil
    RECORDS_ONLINE = "records_online"  #: the pupil's records (grades, report cards) shown on the portal


#: The consent each electronic channel needs besides SCHOOL_MESSAGES.
CHANNEL_CONSENT: dict[Channel, ConsentPurpose] = {
    Channel.EMAIL: ConsentPurpose.EMAIL,
    Channel.SMS: ConsentPurpose.SMS,
    Channel.WEBPUSH: ConsentPurpose.WEBPUSH,
    Channel.FCM: ConsentPurpose.FCM,
    Channel.TELEGRAM: ConsentPurpose.TELEGRAM,
}


class ConsentSource(StrEnum):
    PORTAL = "portal"  #: ticked by the guardian on the web portal
    PAPER = "paper"  #: a signed paper form recorded by the secretary
    IMPORT = "import"  #: brought in by a roster import (the school's enrolment file)
    ADMIN = "admin"  #: recorded by an administrator on the guardian's request


class Urgency(StrEnum):
    NORMAL = "normal"  #: held in quiet hours, counted in the daily limit
    URGENT = "urgent"  #: today's matter (a cancelled trip); follows the charter's urgent hours
    EMERGENCY = "emergency"  #: safety (closure, lockdown): goes at once, audited


class Category(StrEnum):
    INFORMATION = "information"
    EVENT = "event"
    TRIP = "trip"
    ABSENCE = "absence"
    GRADES = "grades"
    REPORT_CARD = "report_card"
    JOURNAL = "journal"
    ADMINISTRATION = "administration"
    HEALTH = "health"
    SAFETY = "safety"


class Topic(StrEnum):
    """What a family may stop, by channel or altogether: the message categories as families name them."""

    SCHOOL_LIFE = "school_life"  #: the school's news, information, administration
    EVENTS = "events"  #: events and trips
    RECORDS = "records"  #: grades and report cards
    HOMEWORK = "homework"  #: homework and the class journal
    ABSENCES = "absences"  #: cannot be stopped: the school must reach the family about an absence
    EMERGENCIES = "emergencies"  #: cannot be stopped: safety and health


#: The one mapping of message categories onto the topics families stop.
CATEGORY_TOPIC: dict[Category, Topic] = {
    Category.INFORMATION: Topic.SCHOOL_LIFE,
    Category.ADMINISTRATION: Topic.SCHOOL_LIFE,
    Category.EVENT: Topic.EVENTS,
    Category.TRIP: Topic.EVENTS,
    Category.GRADES: Topic.RECORDS,
    Category.REPORT_CARD: Topic.RECORDS,
    Category.JOURNAL: Topic.HOMEWORK,
    Category.ABSENCE: Topic.ABSENCES,
    Category.HEALTH: Topic.EMERGENCIES,
    Category.SAFETY: Topic.EMERGENCIES,
}

#: The topics no opt-out can stop (nor can the urgency EMERGENCY, whatever the category).
UNSTOPPABLE_TOPICS: frozenset[Topic] = frozenset({Topic.ABSENCES, Topic.EMERGENCIES})


class MessageState(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"  #: published with a send time in the future
    PUBLISHED = "published"  #: notices and deliveries exist
    CANCELLED = "cancelled"


class AudienceKind(StrEnum):
    PUPIL = "pupil"
    GROUP = "group"  #: a class, course, level or the school group
    SCHOOL = "school"  #: every active pupil of the school


class QuestionKind(StrEnum):
    YES_NO = "yes_no"
    ONE_CHOICE = "one_choice"
    MANY_CHOICES = "many_choices"
    FREE_TEXT = "free_text"
    AMOUNT = "amount"  #: a sum of money, e.g. the number of tickets times a price


class AnswerMode(StrEnum):
    ONE_PER_PUPIL = "one_per_pupil"  #: one guardian's answer closes the slip for that pupil
    EVERY_GUARDIAN = "every_guardian"  #: each guardian with the right to answer must answer


class DeliveryState(StrEnum):
    """States only move forward; see ``hub.messaging.routing.can_move``."""

    PLANNED = "planned"  #: a later step of the plan, not yet due (fallback or escalation)
    HELD = "held"  #: due time moved past quiet hours
    DUE = "due"  #: may be claimed by a worker now
    CLAIMED = "claimed"  #: a worker holds it under a lease
    SENT = "sent"  #: the provider accepted it
    DELIVERED = "delivered"  #: the provider confirmed delivery (or the letter was printed)
    FAILED = "failed"  #: with a reason, transient or permanent
    CANCELLED = "cancelled"  #: no longer needed (acknowledged before this step came due)


class DeliveryPurpose(StrEnum):
    INITIAL = "initial"
    FALLBACK = "fallback"  #: the previous channel failed permanently
    ESCALATION = "escalation"  #: no acknowledgement within the step's waiting time
    REMINDER = "reminder"  #: a reply slip is still unanswered


class ErrorKind(StrEnum):
    TRANSIENT = "transient"  #: try again later (timeout, 429, 5xx)
    PERMANENT = "permanent"  #: this contact will never work (unknown number, 410 Gone)


class AbsenceReason(StrEnum):
    UNKNOWN = "unknown"
    ILLNESS = "illness"
    MEDICAL_CERTIFICATE = "medical_certificate"
    FAMILY = "family"
    UNJUSTIFIED = "unjustified"
    OTHER = "other"


class JournalKind(StrEnum):
    DONE = "done"  #: what was done in class
    HOMEWORK = "homework"
    TEST = "test"


class ActorKind(StrEnum):
    STAFF = "staff"
    GUARDIAN = "guardian"
    PUPIL = "pupil"  #: a pupil signed in to their own records
    SYSTEM = "system"


class LinkPurpose(StrEnum):
    SIGN_IN = "sign_in"  #: asked for on the sign-in page, sent by email or SMS, valid minutes
    ONBOARDING = "onboarding"  #: printed on the welcome letter's QR code, valid weeks
