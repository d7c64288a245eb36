"""The school and its people as stored: staff and their roles, classes and courses, pupils, households,
guardians, their contacts, consents and preferences, and the web app's sessions and sign-in links.

One Tortoise app (``models``) over every package's models, one migration history (``hub/store/migrations``).
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from hub.enums import (
    ActorKind,
    Channel,
    ConsentPurpose,
    ConsentSource,
    ContactKind,
    GroupKind,
    Language,
    LinkPurpose,
    Relation,
    StaffRole,
)


class School(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    #: The IANA zone every local time of the school (quiet hours, deadlines) is read in.
    timezone = fields.CharField(max_length=64, default="Europe/Brussels")
    default_language = fields.CharEnumField(Language, default=Language.FR)
    address = fields.TextField(default="")
    #: The school year the roster describes, e.g. "2026-2027".
    school_year = fields.CharField(max_length=9, default="")
    #: Hours after a grade's or report card's publication before families see it (the pupil sees it at once).
    family_records_delay_hours = fields.IntField(default=0, db_default=0)
    #: Unjustified half-days of absence in a school year past which the principal sees the pupil flagged.
    absence_threshold_half_days = fields.IntField(default=9, db_default=9)
    #: Whether families hear of single grades: a weekly bundle, after the delay for families, off by default.
    grade_notices = fields.BooleanField(default=False, db_default=False)
    #: The weekday (0 Monday .. 6 Sunday) families get the journal's weekly digest of coming homework and tests.
    journal_digest_weekday = fields.SmallIntField(default=4, db_default=4)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "school"

    def __str__(self) -> str:
        return self.name


class Staff(Model):
    id = fields.IntField(primary_key=True)
    school: fields.ForeignKeyRelation[School] = fields.ForeignKeyField("models.School", related_name="staff")
    school_id: int
    first_name = fields.CharField(max_length=100)
    last_name = fields.CharField(max_length=100)
    email = fields.CharField(max_length=254, unique=True)
    language = fields.CharEnumField(Language, default=Language.FR)
    #: argon2 hash, empty until the member sets a password.
    password_hash = fields.CharField(max_length=255, default="")
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    roles: fields.ReverseRelation[StaffRoleGrant]
    teachings: fields.ReverseRelation[Teaching]

    class Meta:
        table = "staff"

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"


class StaffRoleGrant(Model):
    """One role of one staff member: a member may be teacher and principal."""

    id = fields.IntField(primary_key=True)
    staff: fields.ForeignKeyRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name="roles", on_delete=fields.CASCADE
    )
    staff_id: int
    role = fields.CharEnumField(StaffRole)
    granted_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "staff_role"
        unique_together = (("staff", "role"),)


class Group(Model):
    """A class, a course, a level or the whole school: whatever a message can be addressed to."""

    id = fields.IntField(primary_key=True)
    school: fields.ForeignKeyRelation[School] = fields.ForeignKeyField("models.School", related_name="groups")
    school_id: int
    kind = fields.CharEnumField(GroupKind)
    #: Short, unique per school and kind: "3B", "LAT3", "3".
    code = fields.CharField(max_length=50)
    name = fields.CharField(max_length=200)
    #: A class belongs to its level, a level to the school group.
    parent: fields.ForeignKeyNullableRelation[Group] = fields.ForeignKeyField(
        "models.Group", related_name="children", null=True, on_delete=fields.SET_NULL
    )
    parent_id: int | None

    memberships: fields.ReverseRelation[Membership]

    class Meta:
        table = "pupil_group"
        unique_together = (("school", "kind", "code"),)

    def __str__(self) -> str:
        return self.name


class Pupil(Model):
    id = fields.IntField(primary_key=True)
    school: fields.ForeignKeyRelation[School] = fields.ForeignKeyField("models.School", related_name="pupils")
    school_id: int
    external_id = fields.CharField(max_length=64)
    first_name = fields.CharField(max_length=100)
    last_name = fields.CharField(max_length=100)
    birth_date = fields.DateField(null=True)
    #: A pupil who left keeps their history but receives nothing.
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    memberships: fields.ReverseRelation[Membership]
    guardianships: fields.ReverseRelation[Guardianship]

    class Meta:
        table = "pupil"
        unique_together = (("school", "external_id"),)

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Membership(Model):
    id = fields.IntField(primary_key=True)
    group: fields.ForeignKeyRelation[Group] = fields.ForeignKeyField(
        "models.Group", related_name="memberships", on_delete=fields.CASCADE
    )
    group_id: int
    pupil: fields.ForeignKeyRelation[Pupil] = fields.ForeignKeyField(
        "models.Pupil", related_name="memberships", on_delete=fields.CASCADE
    )
    pupil_id: int

    class Meta:
        table = "membership"
        unique_together = (("group", "pupil"),)


class Teaching(Model):
    """A staff member teaches a class or a course: what they may write to and read about."""

    id = fields.IntField(primary_key=True)
    staff: fields.ForeignKeyRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name="teachings", on_delete=fields.CASCADE
    )
    staff_id: int
    group: fields.ForeignKeyRelation[Group] = fields.ForeignKeyField(
        "models.Group", related_name="teachings", on_delete=fields.CASCADE
    )
    group_id: int
    subject = fields.CharField(max_length=100, default="")
    #: The class teacher (titulaire) of a class.
    is_titular = fields.BooleanField(default=False)

    class Meta:
        table = "teaching"
        unique_together = (("staff", "group", "subject"),)


class Household(Model):
    """The guardians living together. Separated parents are two households, each with its own copy of a letter."""

    id = fields.IntField(primary_key=True)
    school: fields.ForeignKeyRelation[School] = fields.ForeignKeyField("models.School", related_name="households")
    school_id: int
    external_id = fields.CharField(max_length=64)
    #: The postal address a printed letter goes to.
    street = fields.CharField(max_length=200, default="")
    postal_code = fields.CharField(max_length=16, default="")
    city = fields.CharField(max_length=100, default="")
    country = fields.CharField(max_length=2, default="BE")

    class Meta:
        table = "household"
        unique_together = (("school", "external_id"),)


class Guardian(Model):
    id = fields.IntField(primary_key=True)
    school: fields.ForeignKeyRelation[School] = fields.ForeignKeyField("models.School", related_name="guardians")
    school_id: int
    external_id = fields.CharField(max_length=64)
    first_name = fields.CharField(max_length=100)
    last_name = fields.CharField(max_length=100)
    language = fields.CharEnumField(Language, default=Language.FR)
    household: fields.ForeignKeyNullableRelation[Household] = fields.ForeignKeyField(
        "models.Household", related_name="guardians", null=True, on_delete=fields.SET_NULL
    )
    household_id: int | None
    #: The guardian's own postal address (falls back to the household's).
    street = fields.CharField(max_length=200, default="")
    postal_code = fields.CharField(max_length=16, default="")
    city = fields.CharField(max_length=100, default="")
    country = fields.CharField(max_length=2, default="BE")
    password_hash = fields.CharField(max_length=255, default="")
    #: When the guardian confirmed their contacts through the welcome letter.
    onboarded_at = fields.DatetimeField(null=True)
    #: The guardian's own quiet hours (local time, may cross midnight): non-urgent messages wait until they end.
    quiet_from = fields.TimeField(null=True)
    quiet_until = fields.TimeField(null=True)
    #: Set by a GDPR erasure: the row stays for the history's integrity, the personal data is gone.
    erased_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    contacts: fields.ReverseRelation[Contact]
    guardianships: fields.ReverseRelation[Guardianship]
    consents: fields.ReverseRelation[Consent]
    preferences: fields.ReverseRelation[ChannelPreference]

    class Meta:
        table = "guardian"
        unique_together = (("school", "external_id"),)

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Contact(Model):
    """One way to reach a guardian. Unverified contacts are kept but the router does not use them."""

    id = fields.IntField(primary_key=True)
    guardian: fields.ForeignKeyRelation[Guardian] = fields.ForeignKeyField(
        "models.Guardian", related_name="contacts", on_delete=fields.CASCADE
    )
    guardian_id: int
    kind = fields.CharEnumField(ContactKind)
    #: An email, an E.164 phone number, a Telegram chat id, an FCM token, or a push subscription as JSON.
    value = fields.CharField(max_length=2048)
    verified = fields.BooleanField(default=False)
    verified_at = fields.DatetimeField(null=True)
    #: A channel reported this contact dead (bounce, unknown number, 410 Gone): the router skips it.
    dead_at = fields.DatetimeField(null=True)
    dead_reason = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "contact"
        unique_together = (("guardian", "kind", "value"),)


class Guardianship(Model):
    """Pupil <-> guardian, with the relation and the rights a court or the family decided."""

    id = fields.IntField(primary_key=True)
    pupil: fields.ForeignKeyRelation[Pupil] = fields.ForeignKeyField(
        "models.Pupil", related_name="guardianships", on_delete=fields.CASCADE
    )
    pupil_id: int
    guardian: fields.ForeignKeyRelation[Guardian] = fields.ForeignKeyField(
        "models.Guardian", related_name="guardianships", on_delete=fields.CASCADE
    )
    guardian_id: int
    relation = fields.CharEnumField(Relation)
    #: The household this link belongs to: a step-parent lives in one parent's household.
    household: fields.ForeignKeyNullableRelation[Household] = fields.ForeignKeyField(
        "models.Household", related_name="guardianships", null=True, on_delete=fields.SET_NULL
    )
    household_id: int | None
    receives = fields.BooleanField(default=True)  #: receives the school's messages about this pupil
    may_answer = fields.BooleanField(default=True)  #: may answer reply slips and sign for this pupil
    #: A court order bars this guardian: nothing about this pupil reaches them, whatever else says.
    barred = fields.BooleanField(default=False)
    barred_reason = fields.CharField(max_length=500, default="")
    #: May see the pupil's records (grades, report cards, absences, the class journal): a school can record that a
    #: guardian receives messages but may not see results. A bar overrides it.
    sees_records = fields.BooleanField(default=True, db_default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "guardianship"
        unique_together = (("pupil", "guardian"),)


class Consent(Model):
    """A guardian's yes to one purpose. Withdrawal sets ``withdrawn_at``, a new yes is a new row: the history stays."""

    id = fields.IntField(primary_key=True)
    guardian: fields.ForeignKeyRelation[Guardian] = fields.ForeignKeyField(
        "models.Guardian", related_name="consents", on_delete=fields.CASCADE
    )
    guardian_id: int
    purpose = fields.CharEnumField(ConsentPurpose)
    #: The version of the text the guardian agreed to (the charter's or the privacy notice's).
    version = fields.CharField(max_length=32)
    given_at = fields.DatetimeField()
    source = fields.CharEnumField(ConsentSource)
    withdrawn_at = fields.DatetimeField(null=True)
    withdrawn_source = fields.CharField(max_length=16, default="")

    class Meta:
        table = "consent"
        indexes = (("guardian_id", "purpose"),)


class ChannelPreference(Model):
    """The guardian's order of channels: rank 1 is tried first."""

    id = fields.IntField(primary_key=True)
    guardian: fields.ForeignKeyRelation[Guardian] = fields.ForeignKeyField(
        "models.Guardian", related_name="preferences", on_delete=fields.CASCADE
    )
    guardian_id: int
    channel = fields.CharEnumField(Channel)
    rank = fields.SmallIntField()
    enabled = fields.BooleanField(default=True)

    class Meta:
        table = "channel_preference"
        unique_together = (("guardian", "channel"),)


class WebSession(Model):
    """A signed-in browser. The cookie holds a random token, this row only its SHA-256 (a stolen table signs
    nobody in). A session ends at ``expires_at``, when idle too long, or when revoked (sign-out)."""

    id = fields.BigIntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    actor_kind = fields.CharEnumField(ActorKind)
    staff: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name="sessions", null=True, on_delete=fields.CASCADE
    )
    staff_id: int | None
    guardian: fields.ForeignKeyNullableRelation[Guardian] = fields.ForeignKeyField(
        "models.Guardian", related_name="sessions", null=True, on_delete=fields.CASCADE
    )
    guardian_id: int | None
    pupil: fields.ForeignKeyNullableRelation[Pupil] = fields.ForeignKeyField(
        "models.Pupil", related_name=False, null=True, on_delete=fields.CASCADE
    )
    pupil_id: int | None
    #: The token every form of this session carries (double-submit is not enough against a sibling subdomain).
    csrf_token = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    last_seen_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    user_agent = fields.CharField(max_length=300, default="")

    class Meta:
        table = "web_session"


class SignInLink(Model):
    """A personal sign-in link for a guardian: random, expiring, single use, bound to that guardian. The link
    holds the token, this row its SHA-256. Welcome letters carry an onboarding link that lives longer."""

    id = fields.BigIntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    guardian: fields.ForeignKeyRelation[Guardian] = fields.ForeignKeyField(
        "models.Guardian", related_name="sign_in_links", on_delete=fields.CASCADE
    )
    guardian_id: int
    purpose = fields.CharEnumField(LinkPurpose, default=LinkPurpose.SIGN_IN)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "sign_in_link"


class Throttle(Model):
    """Attempts per key (e.g. sign-in per address, link requests per email) in a fixed window, shared by every
    process: the rate limit of sign-in and of personal-link requests."""

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=200)
    window_start = fields.DatetimeField()
    count = fields.IntField(default=0)

    class Meta:
        table = "throttle"
        unique_together = (("key", "window_start"),)


class VerificationCode(Model):
    """A code sent to a new email or phone: the contact is verified when the guardian types it back."""

    id = fields.BigIntField(primary_key=True)
    guardian: fields.ForeignKeyRelation[Guardian] = fields.ForeignKeyField(
        "models.Guardian", related_name="verification_codes", on_delete=fields.CASCADE
    )
    guardian_id: int
    contact: fields.ForeignKeyRelation[Contact] = fields.ForeignKeyField(
        "models.Contact", related_name="verification_codes", on_delete=fields.CASCADE
    )
    contact_id: int
    code_hash = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    attempts = fields.SmallIntField(default=0)
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "verification_code"


class PupilAccount(Model):
    """A pupil's own sign-in (:mod:`hub.people.pupil_accounts`): a login and a password, or a personal link the
    school hands out (one use); the pupil then sees their own records, never a sibling's nor their guardians'
    messages."""

    id = fields.IntField(primary_key=True)
    pupil: fields.OneToOneRelation[Pupil] = fields.OneToOneField(
        "models.Pupil", related_name="account", on_delete=fields.CASCADE
    )
    pupil_id: int
    login = fields.CharField(max_length=100, unique=True)
    password_hash = fields.CharField(max_length=255, default="")
    #: The SHA-256 of the token of the personal link (never the link itself), until used or replaced.
    link_hash = fields.CharField(max_length=64, null=True, unique=True)
    link_expires_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "pupil_account"
