"""A realistic demo school, generated from a seed: ``carnet demo-data --seed N [--replace]``.

An invented French-speaking Belgian secondary school in Namur, school year 2026-2027: 18 classes over six
levels, about 450 pupils and 800 guardians with the families a real school has (separated parents in two
households, step-parents, grandparents, a tutor, a foster family, siblings, a parent barred by a court order,
families with no internet at all), staff with every role, and a term of grades, absences and class diary.

Everything is drawn from one ``random.Random(seed)`` before the database is touched, so the same seed gives the
same school, names included; every date is a fixed date of the school year (only the ``created_at`` columns carry
the real time, and the audit entry the product's clock: in the demo, the demo's clock of :func:`install_demo_clock`).
Every email address is on the reserved ``example.*`` domains.

The rows go in with ``bulk_create`` inside one transaction (a failure leaves the database as it was); the ids
are read back by external id, email or code, a handful of queries per table, never one per pupil.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.transactions import in_transaction

from charter import Charter, is_allowed, is_school_day, school_charter
from hub import clock
from hub.enums import (
    AbsenceReason,
    Channel,
    ConsentPurpose,
    ConsentSource,
    ContactKind,
    GroupKind,
    JournalKind,
    Language,
    Relation,
    StaffRole,
    Urgency,
)
from hub.people import pupil_accounts
from hub.people.models import (
    ChannelPreference,
    Consent,
    Contact,
    Group,
    Guardian,
    Guardianship,
    Household,
    Membership,
    Pupil,
    School,
    Staff,
    StaffRoleGrant,
    Teaching,
)
from hub.people.setup_models import SchoolProfile
from hub.records.models import Absence, Grade, JournalEntry
from hub.store.audit import audit

DEMO_SCHOOL_NAME = "Athénée royal de Namur-Bomel"
SCHOOL_YEAR = "2026-2027"
STAFF_DOMAIN = "athenee-demo.example.be"
WEBPUSH_PLACEHOLDER = '{"endpoint": "http://127.0.0.1:9/push/demo", "keys": {}}'
DEMO_PASSWORD = "demo"
CONSENT_VERSION = "2026-1"
TERM = "T1"
BATCH = 1000

TZ = ZoneInfo("Europe/Brussels")
#: School days of the demo term: September to November 2026, without the autumn break and 11 November.
TERM_START = dt.date(2026, 9, 1)
TERM_END = dt.date(2026, 11, 27)
AUTUMN_BREAK = (dt.date(2026, 10, 19), dt.date(2026, 10, 30))
HOLIDAYS = {dt.date(2026, 11, 11)}
#: The demo's "today": grades assessed after it are not published yet.
DEMO_TODAY = dt.date(2026, 11, 23)

LEVELS = range(1, 7)
LETTERS = "ABC"
ORDINAL = {1: "1re", 2: "2e", 3: "3e", 4: "4e", 5: "5e", 6: "6e"}


class DemoError(Exception):
    """The demo cannot be generated here (the database already holds a school)."""


# --------------------------------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class DemoPerson:
    """Someone the demo page points at: an id to open and a line to show."""

    id: int
    name: str
    detail: str = ""


@dataclass(frozen=True)
class DemoAccount:
    role: StaffRole
    email: str
    name: str
    staff_id: int
    password: str = DEMO_PASSWORD


@dataclass
class DemoSummary:
    school_id: int
    school_name: str
    seed: int
    pupils: int
    guardians: int
    households: int
    classes: int
    levels: int
    course_groups: int
    staff: int
    roles: dict[str, int]
    #: Share (0..1) of pupils whose guardians live in two or more households.
    separated_pupils_share: float
    paper_only_families: int
    paper_only_guardians: int
    #: Guardians per language code.
    languages: dict[str, int]
    grades: int
    absences: int
    journal_entries: int
    accounts: list[DemoAccount] = field(default_factory=list)
    #: The two parents of one pupil, each in their own household.
    separated_parents: list[DemoPerson] = field(default_factory=list)
    #: Who else lives with one of them and receives (a step-parent), if anyone.
    separated_others: list[DemoPerson] = field(default_factory=list)
    separated_pupil: DemoPerson | None = None
    #: A family reached by letter only, its guardians and its pupil.
    paper_only_family: list[DemoPerson] = field(default_factory=list)
    paper_only_pupil: DemoPerson | None = None
    barred_guardian: DemoPerson | None = None
    barred_pupil: DemoPerson | None = None
    #: A guardian with three children in the school, and the children.
    three_children_guardian: DemoPerson | None = None
    three_children: list[DemoPerson] = field(default_factory=list)
    seconds: float = 0.0

    def describe(self) -> str:
        langs = ", ".join(f"{code} {n}" for code, n in sorted(self.languages.items(), key=lambda kv: -kv[1]))
        roles = ", ".join(f"{role} {n}" for role, n in self.roles.items())
        lines = [
            f"Demo school {self.school_name!r} (id {self.school_id}), school year {SCHOOL_YEAR}, seed {self.seed}",
            f"  pupils       {self.pupils} in {self.classes} classes over {self.levels} levels"
            f" (+ {self.course_groups} course groups)",
            f"  guardians    {self.guardians} in {self.households} households; languages: {langs}",
            f"  separated    {self.separated_pupils_share:.1%} of pupils have guardians in two or more households",
            f"  paper only   {self.paper_only_families} families ({self.paper_only_guardians} guardians):"
            " no email, no phone, letters only",
            f"  staff        {self.staff} ({roles})",
            f"  records      {self.grades} grades ({TERM}), {self.absences} absences,"
            f" {self.journal_entries} journal entries",
            "",
            f'Demo accounts (password "{DEMO_PASSWORD}"):',
        ]
        lines += [f"  {a.role.value:<10} {a.email:<40} {a.name} (staff {a.staff_id})" for a in self.accounts]
        lines.append("  pupils     /pupil/signin, the login is the pupil's enrolment number (Pupil.external_id)")
        lines.append("")
        lines.append("Families to show:")

        def who(p: DemoPerson | None) -> str:
            if p is None:
                return "-"
            return f"{p.name} (id {p.id}{', ' + p.detail if p.detail else ''})"

        if self.separated_pupil:
            lines.append(f"  separated parents of {who(self.separated_pupil)}:")
            lines += [f"    guardian {who(p)}" for p in self.separated_parents]
            lines += [f"    also guardian {who(p)}" for p in self.separated_others]
        if self.paper_only_pupil:
            lines.append(f"  paper-only family of {who(self.paper_only_pupil)}:")
            lines += [f"    guardian {who(p)}" for p in self.paper_only_family]
        if self.barred_guardian:
            lines.append(f"  barred by a court order: guardian {who(self.barred_guardian)}")
            lines.append(f"    for pupil {who(self.barred_pupil)}")
        if self.three_children_guardian:
            lines.append(f"  three children in the school: guardian {who(self.three_children_guardian)}")
            lines += [f"    pupil {who(p)}" for p in self.three_children]
        lines.append("")
        lines.append(f"Generated in {self.seconds:.1f} s")
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- vocabulary

# Names by origin: adult men, adult women, boys, girls, surnames. Children's lists default to the French ones.
_FR = (
    "Jean Pierre Philippe Olivier Christophe Frédéric Laurent Vincent Nicolas Sébastien Thierry Benoît Julien "
    "Michaël David Grégory Stéphane Fabrice Xavier Damien Jérôme Cédric Arnaud François Didier Pascal Marc Alain "
    "Bruno Yves Geoffrey Jonathan Raphaël Maxime Quentin Renaud Gilles Luc Éric Patrick",
    "Marie Isabelle Nathalie Sophie Catherine Valérie Stéphanie Caroline Anne Véronique Sandrine Virginie "
    "Aurélie Julie Céline Laurence Christine Florence Delphine Émilie Hélène Sylvie Anne-Sophie Marie-Laure "
    "Géraldine Audrey Vanessa Séverine Pauline Charlotte Cécile Françoise Muriel Ingrid Carine Martine",
    "Lucas Noah Louis Nathan Hugo Arthur Théo Tom Jules Mathis Maxime Thomas Antoine Sacha Victor Adam Gabriel "
    "Simon Martin Romain Ethan Léo Baptiste Clément Alexandre Liam Elias Mathéo Nolan Robin Lucien Basile",
    "Emma Louise Léa Chloé Camille Manon Juliette Zoé Lina Clara Alice Sarah Julie Inès Eva Lucie Élise Margaux "
    "Charlotte Jeanne Laura Anaïs Noémie Romane Maëlle Célia Lou Mila Olivia Léna Agathe Victoire",
    "Dubois Lambert Martin Dupont Leclercq Simon Laurent Lejeune Renard Collard François Henry Leroy Noël "
    "Hubert Fontaine Lemaire Gérard Dumont Denis Thiry Mathieu Bertrand Marchal Delvaux Lecomte Gilson Piette "
    "Jacquet Wilmet Hardy Baudoin Demoulin Lambotte Rousseau Masson Gillet Bodart Charlier Massart Lallemand "
    "Poncelet Delhaye Closset Bastin Servais Mahy Gobert Dethier Pirson Dewez Marot Colin Gillard Goffin Jadot "
    "Lhoest Paquet Hennaux Detry Bauduin Wauthier Lecocq Defossez Rase Burnotte Delforge Stassin Mathy Colson",
)
_NL = (
    "Jan Pieter Koen Bart Tom Wim Dirk Geert Stijn Joris Kristof Jeroen Wouter Filip Bram Tim Steven",
    "An Els Katrien Sofie Lien Inge Veerle Griet Leen Evelien Nele Hilde Sarah Lotte Ellen Annelies Tine",
    "Lars Wout Seppe Jonas Milan Arne Mats Vic Stan Lowie Kobe Warre Senne Jasper Ruben",
    "Lotte Fien Noor Marie Elise Lore Hanne Jana Febe Ella Nina Amber Lena Ines Roos",
    "Peeters Janssens Maes Jacobs Mertens Willems Claes Goossens Wouters De Smet Vermeulen Van den Broeck "
    "Hermans Pauwels Verstraeten Van Damme De Clercq Lemmens Van Dyck Segers Michiels Aerts Vandenberghe "
    "De Backer Verhoeven Claeys Smets Bogaerts Coppens",
)
_EN = (
    "James Oliver Daniel Michael Andrew Patrick Mark Ryan Thomas Richard",
    "Emily Sarah Rachel Laura Hannah Claire Jessica Rebecca Fiona Helen",
    "Jack Harry Oliver Leo Charlie Finn Ethan Oscar Henry Noah",
    "Amelia Isla Ava Grace Sophie Ella Freya Maya Ruby Lily",
    "Smith Murphy O'Brien Walker Taylor Brown Wilson Kelly Evans Hughes Byrne Campbell Davies Clarke",
)
_IT = (
    "Giuseppe Marco Salvatore Antonio Luca Giovanni Fabio",
    "Maria Giulia Francesca Rosa Angela Silvia Paola",
    "",
    "",
    "Rossi Russo Esposito Lombardi Di Marco Caruso Greco Cannella Vitale Romano Mancini Di Stefano Lo Bue",
)
_MA = (
    "Mohamed Youssef Karim Rachid Saïd Hassan Mustapha Khalid",
    "Fatima Nadia Samira Khadija Leila Naïma Malika Hanane",
    "Adam Yanis Ilyas Amine Rayan Ayoub Bilal Zakaria",
    "Inès Yasmine Sofia Nour Salma Aya Lina Hiba",
    "El Amrani Benali Bouzid El Idrissi Haddad Azzouzi Chakir Mansouri Bennani Ouali El Khattabi",
)
_CD = (
    "Jean-Pierre Patrick Guy Serge Christian Blaise",
    "Mireille Chantal Grâce Clarisse Nadine Josée",
    "Prince Exaucé Nathan Ryan Joël Samuel",
    "Divine Grâce Merveille Océane Kelly Naomie",
    "Kabongo Mbuyi Tshibanda Ilunga Lukusa Kalonji Mukendi Kasongo Ngalula",
)
_TR = (
    "Mehmet Mustafa Emre Murat Ali Hakan",
    "Ayşe Elif Zeynep Fatma Emine Hülya",
    "Emir Yusuf Kerem Arda Eren",
    "Elif Ecem Defne Zeynep Ela",
    "Yilmaz Kaya Demir Öztürk Çelik Aydin Arslan Doğan",
)
_PT = (
    "João Carlos Rui Paulo Nuno Miguel",
    "Ana Sofia Paula Cristina Teresa Rita",
    "Tiago Diogo Rodrigo Gonçalo",
    "Beatriz Mariana Inês Leonor",
    "Da Silva Pereira Ferreira Gonçalves Rodrigues Costa Oliveira Martins",
)
_PL = (
    "Piotr Tomasz Krzysztof Marek Paweł",
    "Agnieszka Katarzyna Magdalena Joanna Anna",
    "Jakub Kacper Szymon Filip",
    "Zuzanna Julia Maja Hanna",
    "Nowak Wójcik Kaczmarek Mazur Krawczyk Zieliński Szymański",
)


def _split(spec: tuple[str, str, str, str, str]) -> tuple[list[str], ...]:
    men, women, boys, girls, surnames = spec
    return men.split(), women.split(), (boys or _FR[2]).split(), (girls or _FR[3]).split(), _surnames(surnames)


_PARTICLES = {"de", "van", "den", "der", "di", "da", "lo", "el", "le", "la", "o'"}


def _surnames(text: str) -> list[str]:
    """Split a list of surnames, keeping particles with the name they belong to ("Van den Broeck")."""
    out: list[str] = []
    pending: list[str] = []
    for word in text.split():
        pending.append(word)
        if word.lower() not in _PARTICLES:
            out.append(" ".join(pending))
            pending = []
    return out


ORIGINS: dict[str, tuple[list[str], ...]] = {
    "fr": _split(_FR),
    "nl": _split(_NL),
    "en": _split(_EN),
    "it": _split(_IT),
    "ma": _split(_MA),
    "cd": _split(_CD),
    "tr": _split(_TR),
    "pt": _split(_PT),
    "pl": _split(_PL),
}
#: Origins of the French-speaking families besides the Walloon ones, with their weights.
OTHER_ORIGINS = {"it": 5, "ma": 5, "cd": 3, "tr": 2, "pt": 2, "pl": 2}

#: Postal codes of the Namur area and their localities; weights favour the town itself.
LOCALITIES: list[tuple[str, str, int]] = [
    ("5000", "Namur", 14),
    ("5002", "Saint-Servais", 10),
    ("5003", "Saint-Marc", 4),
    ("5004", "Bouge", 6),
    ("5020", "Vedrin", 4),
    ("5020", "Champion", 3),
    ("5020", "Malonne", 4),
    ("5020", "Flawinne", 3),
    ("5020", "Temploux", 2),
    ("5021", "Boninne", 2),
    ("5022", "Cognelée", 1),
    ("5024", "Gelbressée", 1),
    ("5100", "Jambes", 10),
    ("5100", "Wépion", 4),
    ("5100", "Dave", 2),
    ("5100", "Naninne", 2),
    ("5101", "Erpent", 4),
    ("5101", "Lives-sur-Meuse", 1),
    ("5080", "Rhisnes", 2),
    ("5150", "Floreffe", 2),
    ("5170", "Profondeville", 2),
    ("5190", "Jemeppe-sur-Sambre", 1),
    ("5310", "Éghezée", 2),
    ("5330", "Assesse", 1),
    ("5340", "Gesves", 1),
    ("5380", "Fernelmont", 1),
]
#: Where the second household of separated parents sometimes lives, further away.
FAR_LOCALITIES = [
    ("1000", "Bruxelles"),
    ("4000", "Liège"),
    ("6000", "Charleroi"),
    ("1300", "Wavre"),
    ("5500", "Dinant"),
]
STREETS = [
    "Rue de l'Église",
    "Rue du Village",
    "Rue de la Gare",
    "Rue du Moulin",
    "Rue des Champs",
    "Rue des Écoles",
    "Rue de la Station",
    "Rue du Château",
    "Rue des Tilleuls",
    "Rue des Peupliers",
    "Rue des Lilas",
    "Rue du Centre",
    "Rue de la Chapelle",
    "Rue du Bois",
    "Rue des Prés",
    "Rue de la Fontaine",
    "Rue Saint-Joseph",
    "Avenue des Acacias",
    "Avenue des Bouleaux",
    "Avenue de la Citadelle",
    "Chaussée de Louvain",
    "Chaussée de Dinant",
    "Chaussée de Marche",
    "Chaussée de Waterloo",
    "Rue de Gembloux",
    "Rue Haute",
    "Rue Basse",
    "Place communale",
    "Clos des Hêtres",
    "Allée des Mésanges",
]
MOBILE_PREFIXES = ["470", "471", "472", "473", "474", "475", "476", "477", "478", "479", "484", "485", "486"]
MOBILE_PREFIXES += ["487", "488", "489", "490", "491", "492", "493", "494", "495", "496", "497", "498", "499"]
GUARDIAN_DOMAINS = ["example.be"] * 7 + ["example.com"] * 2 + ["example.org"]

MATH = "Mathématiques"
FRENCH = "Français"
SCIENCES = "Sciences"
HISTORY = "Histoire"
GEOGRAPHY = "Géographie"
PE = "Éducation physique"
CPC = "Philosophie et citoyenneté"
ARTS = "Éducation artistique"
DUTCH = "Néerlandais"
ENGLISH = "Anglais"
LATIN = "Latin"
GERMAN = "Allemand"

#: How many teachers teach each subject (40 in all).
TEACHERS_PER_SUBJECT = {
    MATH: 6,
    FRENCH: 6,
    SCIENCES: 5,
    HISTORY: 3,
    GEOGRAPHY: 3,
    PE: 4,
    CPC: 3,
    ARTS: 1,
    DUTCH: 3,
    ENGLISH: 3,
    LATIN: 2,
    GERMAN: 1,
}
#: The subjects a class follows as a whole (languages and options are course groups).
CLASS_SUBJECTS = [MATH, FRENCH, SCIENCES, HISTORY, GEOGRAPHY, PE, CPC]
#: Course groups: code prefix, subject, levels.
COURSES = [("NL", DUTCH, LEVELS), ("ANG", ENGLISH, LEVELS), ("LAT", LATIN, range(1, 5)), ("ALL", GERMAN, range(3, 7))]

GRADE_TITLES = {
    MATH: [
        "Interrogation : fractions",
        "Contrôle : équations du premier degré",
        "Devoir : géométrie",
        "Test : puissances",
    ],
    FRENCH: ["Contrôle de lecture", "Dictée", "Rédaction : le texte argumentatif", "Interrogation : grammaire"],
    DUTCH: ["Woordenschat", "Luistertoets", "Spreekvaardigheid", "Grammatica : de werkwoorden"],
    ENGLISH: ["Vocabulary test", "Listening", "Reading comprehension", "Irregular verbs"],
    SCIENCES: ["Interrogation : la cellule", "Rapport de laboratoire", "Test : les forces", "Contrôle : la matière"],
    HISTORY: ["Critique de sources", "Interrogation : l'Antiquité", "Travail : la ligne du temps"],
    GEOGRAPHY: ["Lecture de cartes", "Interrogation : les climats", "Croquis : la vallée de la Meuse"],
}
JOURNAL_DONE = {
    MATH: ["Théorie : {t}", "Exercices sur {t}", "Correction des exercices : {t}"],
    FRENCH: ["Lecture suivie : chapitres 3 et 4", "Grammaire : {t}", "Atelier d'écriture : {t}"],
    SCIENCES: ["Laboratoire : {t}", "Théorie : {t}"],
    HISTORY: ["Analyse de documents : {t}", "Synthèse : {t}"],
    GEOGRAPHY: ["Étude de cas : {t}", "Travail sur carte : {t}"],
    PE: ["Athlétisme : {t}", "Sports collectifs : {t}"],
    CPC: ["Débat : {t}", "Réflexion : {t}"],
    DUTCH: ["Woordenschat : {t}", "Luisteroefening : {t}"],
    ENGLISH: ["Vocabulary : {t}", "Grammar : {t}"],
    LATIN: ["Version : {t}", "Déclinaisons : {t}"],
    GERMAN: ["Wortschatz : {t}", "Grammatik : {t}"],
}
JOURNAL_TOPICS = {
    MATH: ["les fractions", "le théorème de Pythagore", "les équations", "les fonctions du premier degré"],
    FRENCH: ["le passé simple", "l'accord du participe passé", "le texte narratif", "la lettre formelle"],
    SCIENCES: ["la photosynthèse", "les circuits électriques", "la masse volumique", "les états de la matière"],
    HISTORY: ["la révolution industrielle", "l'Empire romain", "la Belgique de 1830", "les Temps modernes"],
    GEOGRAPHY: ["le bassin de la Meuse", "les paysages wallons", "la population mondiale"],
    PE: ["endurance", "volley-ball", "basket-ball", "gymnastique"],
    CPC: ["la liberté d'expression", "le vivre-ensemble", "les réseaux sociaux"],
    DUTCH: ["op school", "de vrije tijd", "het weer", "de familie"],
    ENGLISH: ["the present perfect", "my town", "daily routine", "the weather"],
    LATIN: ["César, Guerre des Gaules", "la troisième déclinaison", "Ovide, Métamorphoses"],
    GERMAN: ["die Familie", "das Perfekt", "in der Stadt"],
}
ABSENCE_NOTES = {
    AbsenceReason.MEDICAL_CERTIFICATE: "Certificat médical remis au secrétariat.",
    AbsenceReason.ILLNESS: "Mot des parents : malade.",
    AbsenceReason.FAMILY: "Raison familiale (mot des parents).",
    AbsenceReason.UNKNOWN: "",
    AbsenceReason.UNJUSTIFIED: "Absence non justifiée dans les délais.",
}


# ----------------------------------------------------------------------------------------------- the plan


@dataclass
class _Home:
    key: str
    street: str
    postal_code: str
    city: str


@dataclass
class _Person:
    key: str
    first_name: str
    last_name: str
    male: bool
    language: Language
    home: str | None = None
    paper_only: bool = False
    older: bool = False
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    telegram: str = ""
    #: A browser subscribed to web push (the demo peers subscribe it afresh at each start), a phone with the app.
    webpush: bool = False
    fcm_token: str = ""
    verified_at: dt.datetime | None = None
    onboarded_at: dt.datetime | None = None
    consents: list[dict[str, Any]] = field(default_factory=list)
    preferences: list[Channel] = field(default_factory=list)


@dataclass
class _Link:
    guardian: str
    relation: Relation
    home: str | None
    may_answer: bool = True
    barred: bool = False
    barred_reason: str = ""


@dataclass
class _Child:
    key: str
    first_name: str
    last_name: str
    birth_date: dt.date
    level: int
    klass: str = ""
    lm1: str = "NL"
    latin: bool = False
    german: bool = False


@dataclass
class _Family:
    index: int
    levels: list[int]
    kind: str = "together"
    language: Language = Language.FR
    origin: str = "fr"
    paper_only: bool = False
    extra_grandparent: bool = False
    step_parent: bool = False
    barred: bool = False
    children: list[_Child] = field(default_factory=list)
    guardians: list[_Person] = field(default_factory=list)
    links: list[_Link] = field(default_factory=list)
    homes: list[_Home] = field(default_factory=list)


@dataclass
class _StaffPlan:
    first_name: str
    last_name: str
    email: str
    roles: list[StaffRole]
    subject: str = ""
    demo_account: bool = False


#: Letters that do not decompose into a base letter and an accent.
_ASCII_LETTERS = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "ß": "ss", "æ": "ae", "œ": "oe", "ı": "i", "đ": "d"})


def _ascii(text: str) -> str:
    """The name as it goes into an email address: "Paweł Öztürk" -> "pawel", "ozturk"."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_ASCII_LETTERS))
    plain = decomposed.encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum() or c == "-")


def _school_days(start: dt.date, end: dt.date) -> list[dt.date]:
    days = []
    day = start
    while day <= end:
        if day.weekday() < 5 and not (AUTUMN_BREAK[0] <= day <= AUTUMN_BREAK[1]) and day not in HOLIDAYS:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """A local time of the school, stored in UTC."""
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ).astimezone(dt.UTC)


class _Planner:
    """Draws the whole school from the seed, in plain Python values (no database)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        #: Devices (web push, the mobile app) are drawn apart, so adding them did not move the rest of the school.
        self.devices = random.Random(seed + 1)
        self.families: list[_Family] = []
        self.emails: set[str] = set()
        self.phones: set[str] = set()
        self.telegrams: set[str] = set()
        self.class_sizes: dict[str, int] = {}
        self.staff: list[_StaffPlan] = []
        self.teacher_of: dict[tuple[str, str], int] = {}  # (group code, subject) -> staff index
        self.titular_of: dict[str, int] = {}  # class code -> staff index
        self.person_seq = 0
        self.home_seq = 0

    # ---------------------------------------------------------------- families and children

    def plan(self) -> None:
        self._plan_classes()
        self._plan_families()
        self._plan_kinds()
        for family in self.families:
            self._plan_people(family)
        self._place_in_classes()
        for family in self.families:
            for person in family.guardians:
                self._plan_contacts(person)
        self._withdraw_some_sms()
        self._plan_staff()

    def _plan_classes(self) -> None:
        codes = [f"{level}{letter}" for level in LEVELS for letter in LETTERS]
        sizes = dict.fromkeys(codes, 25)
        for _ in range(14):
            a, b = self.rng.sample(codes, 2)
            if sizes[a] < 28 and sizes[b] > 22:
                sizes[a] += 1
                sizes[b] -= 1
        self.class_sizes = sizes

    def _plan_families(self) -> None:
        rng = self.rng
        remaining = {level: sum(self.class_sizes[f"{level}{x}"] for x in LETTERS) for level in LEVELS}
        while any(remaining.values()):
            free = [level for level in LEVELS if remaining[level]]
            size = 3 if len(self.families) < 4 else rng.choices([1, 2, 3], weights=[87, 11, 2])[0]
            levels = sorted(rng.sample(free, min(size, len(free))))
            for level in levels:
                remaining[level] -= 1
            self.families.append(_Family(index=len(self.families), levels=levels))

    def _plan_kinds(self) -> None:
        """Family situations by quota, so that every seed has each of them in the stated proportions."""
        rng = self.rng
        total_pupils = sum(len(f.levels) for f in self.families)
        order = self.families[:]
        rng.shuffle(order)
        singles = [f for f in order if len(f.levels) == 1]
        singles[0].kind = "tutor"
        singles[1].kind = "foster"
        singles[2].kind = "separated"
        singles[2].barred = True
        separated_pupils = 1
        for family in order:
            if separated_pupils >= 0.205 * total_pupils:
                break
            if family.kind == "together" and len(family.levels) < 3:
                family.kind = "separated"
                separated_pupils += len(family.levels)
        plain = [f for f in order if f.kind == "together" and len(f.levels) < 3]
        n = len(self.families)
        for family in plain[: round(0.025 * n)]:
            family.kind = "grandparents"
        for family in plain[round(0.025 * n) : round(0.085 * n)]:
            family.kind = "single"
        for family in plain[round(0.085 * n) : round(0.125 * n)]:
            family.extra_grandparent = True
        for family in self.families:
            if family.kind == "separated":
                family.step_parent = rng.random() < 0.45
        # Languages and origins, independently of the situation.
        order = self.families[:]
        rng.shuffle(order)
        for i, family in enumerate(order):
            if i < round(0.10 * n):
                family.language, family.origin = Language.NL, "nl"
            elif i < round(0.15 * n):
                family.language, family.origin = Language.EN, "en"
            elif rng.random() < 0.2:
                family.origin = rng.choices(list(OTHER_ORIGINS), weights=list(OTHER_ORIGINS.values()))[0]
        # No internet at all: about 5 % of the families, never the ones the demo shows for something else.
        candidates = [f for f in order if f.kind in ("together", "single", "grandparents") and len(f.levels) < 3]
        for family in candidates[: max(1, round(0.05 * n))]:
            family.paper_only = True

    def _key(self, prefix: str) -> str:
        self.person_seq += 1
        return f"DEMO-{prefix}{self.person_seq:05d}"

    def _home(self, family: _Family, far: bool = False) -> _Home:
        rng = self.rng
        self.home_seq += 1
        if far:
            postal_code, city = rng.choice(FAR_LOCALITIES)
        else:
            postal_code, city, _ = rng.choices(LOCALITIES, weights=[w for *_, w in LOCALITIES])[0]
        number = rng.randint(1, 220)
        suffix = rng.choice(["", "", "", "", "A", " bte 2", " bte 3"])
        home = _Home(f"DEMO-H{self.home_seq:05d}", f"{rng.choice(STREETS)} {number}{suffix}", postal_code, city)
        family.homes.append(home)
        return home

    def _adult(self, family: _Family, male: bool, *, origin: str | None = None, older: bool = False) -> _Person:
        men, women, _, _, surnames = ORIGINS[origin or family.origin]
        first = self.rng.choice(men if male else women)
        person = _Person(
            key=self._key("G"),
            first_name=first,
            last_name=self.rng.choice(surnames),
            male=male,
            language=family.language,
            paper_only=family.paper_only,
            older=older,
        )
        family.guardians.append(person)
        return person

    def _plan_people(self, family: _Family) -> None:
        rng = self.rng
        father = mother = None
        if family.kind in ("together", "separated", "single"):
            father = self._adult(family, True)
            mother = self._adult(family, False)
            if family.origin != "fr" and rng.random() < 0.15:
                mother.first_name = rng.choice(ORIGINS["fr"][1])  # a mixed couple
                mother.last_name = rng.choice(ORIGINS["fr"][4])
        # The children's surname: mostly the father's, sometimes the mother's or both (Belgian law since 2014).
        if father and mother:
            draw = rng.random()
            surname = (
                father.last_name
                if draw < 0.85
                else mother.last_name
                if draw < 0.93
                else f"{father.last_name} {mother.last_name}"
            )
        else:
            surname = rng.choice(ORIGINS[family.origin][4])
        _, _, boys, girls, _ = ORIGINS[family.origin]
        used: set[str] = set()
        for level in family.levels:
            boy = rng.random() < 0.5
            first = rng.choice(boys if boy else girls)
            while first in used:
                first = rng.choice(boys + girls)
            used.add(first)
            year = 2015 - level - (1 if rng.random() < 0.12 else 0)  # about one pupil in eight repeated a year
            birth = dt.date(year, 1, 1) + dt.timedelta(days=rng.randrange(365))
            family.children.append(_Child(self._key("P"), first, surname, birth, level))

        if family.kind == "together":
            home = self._home(family)
            for person, relation in ((mother, Relation.MOTHER), (father, Relation.FATHER)):
                assert person is not None
                person.home = home.key
                family.links.append(_Link(person.key, relation, home.key))
        elif family.kind == "single":
            home = self._home(family)
            keep, drop = (mother, father) if rng.random() < 0.75 else (father, mother)
            assert keep is not None and drop is not None
            family.guardians.remove(drop)
            keep.home = home.key
            family.links.append(_Link(keep.key, Relation.MOTHER if keep is mother else Relation.FATHER, home.key))
        elif family.kind == "separated":
            assert mother is not None and father is not None
            mother_home = self._home(family)
            father_home = self._home(family, far=rng.random() < 0.15)
            mother.home, father.home = mother_home.key, father_home.key
            family.links.append(_Link(mother.key, Relation.MOTHER, mother_home.key))
            father_link = _Link(father.key, Relation.FATHER, father_home.key)
            family.links.append(father_link)
            if family.barred:
                father_link.barred = True
                father_link.may_answer = False
                father_link.barred_reason = (
                    "Décision du tribunal de la famille de Namur du 14 septembre 2026 : aucune information "
                    "scolaire ne peut être communiquée au père."
                )
            if family.step_parent:
                in_mother_home = rng.random() < 0.6
                step = self._adult(family, in_mother_home, origin=rng.choice([family.origin, "fr"]))
                step.home = mother_home.key if in_mother_home else father_home.key
                relation = Relation.STEPFATHER if in_mother_home else Relation.STEPMOTHER
                family.links.append(_Link(step.key, relation, step.home, may_answer=False))
        elif family.kind == "grandparents":
            home = self._home(family)
            grandmother = self._adult(family, False, older=True)
            grandfather = self._adult(family, True, older=True)
            grandfather.last_name = surname.split(" ")[0] if rng.random() < 0.7 else grandfather.last_name
            for person, relation in ((grandmother, Relation.GRANDMOTHER), (grandfather, Relation.GRANDFATHER)):
                person.home = home.key
                family.links.append(_Link(person.key, relation, home.key))
        elif family.kind == "tutor":
            home = self._home(family)
            tutor = self._adult(family, rng.random() < 0.5, origin="fr")
            tutor.home = home.key
            family.links.append(_Link(tutor.key, Relation.TUTOR, home.key))
        elif family.kind == "foster":
            home = self._home(family)
            for male in (False, True):
                person = self._adult(family, male, origin="fr")
                person.home = home.key
                family.links.append(_Link(person.key, Relation.FOSTER, home.key))
        if family.extra_grandparent:
            home = self._home(family)
            grandmother = self._adult(family, False, older=True)
            grandmother.home = home.key
            family.links.append(_Link(grandmother.key, Relation.GRANDMOTHER, home.key, may_answer=False))

    def _place_in_classes(self) -> None:
        rng = self.rng
        for level in LEVELS:
            pupils = [c for f in self.families for c in f.children if c.level == level]
            rng.shuffle(pupils)
            start = 0
            for letter in LETTERS:
                code = f"{level}{letter}"
                for child in pupils[start : start + self.class_sizes[code]]:
                    child.klass = code
                    child.lm1 = "NL" if rng.random() < 0.62 else "ANG"
                    child.latin = level <= 4 and rng.random() < 0.22
                    child.german = level >= 3 and rng.random() < 0.18
                start += self.class_sizes[code]

    # ---------------------------------------------------------------- contacts, consents, preferences

    def _email(self, person: _Person) -> str:
        rng = self.rng
        first, last = _ascii(person.first_name), _ascii(person.last_name)
        local = rng.choices([f"{first}.{last}", f"{first[0]}.{last}", f"{first}{last}"], weights=[7, 2, 1])[0]
        domain = rng.choice(GUARDIAN_DOMAINS)
        email, n = f"{local}@{domain}", 1
        while email in self.emails:
            n += 1
            email = f"{local}{n}@{domain}"
        self.emails.add(email)
        return email

    def _phone(self) -> str:
        while True:
            phone = f"+32{self.rng.choice(MOBILE_PREFIXES)}{self.rng.randrange(10**6):06d}"
            if phone not in self.phones:
                self.phones.add(phone)
                return phone

    def _plan_contacts(self, person: _Person) -> None:
        rng = self.rng
        given = _at(rng.choice(_school_days(dt.date(2026, 8, 24), dt.date(2026, 9, 18))), rng.randint(8, 21))
        source = rng.choices([ConsentSource.PORTAL, ConsentSource.PAPER, ConsentSource.IMPORT], [6, 2, 2])[0]
        if person.paper_only:
            if rng.random() < 0.6:
                person.consents.append(dict(purpose=ConsentPurpose.PHOTOS, given_at=given, source=ConsentSource.PAPER))
            person.preferences = [Channel.LETTER]
            return
        if rng.random() < (0.65 if person.older else 0.93):
            person.emails.append(self._email(person))
        if rng.random() < (0.9 if person.older else 0.87) or not person.emails:
            person.phones.append(self._phone())
        if person.phones and not person.older and rng.random() < 0.13:
            while True:
                chat = str(rng.randint(100_000_000, 7_999_999_999))
                if chat not in self.telegrams:
                    self.telegrams.add(chat)
                    person.telegram = chat
                    break
        person.verified_at = given
        if rng.random() < 0.88:
            person.onboarded_at = given

        def consent(purpose: ConsentPurpose) -> None:
            person.consents.append(dict(purpose=purpose, given_at=given, source=source))

        consent(ConsentPurpose.SCHOOL_MESSAGES)
        channels: list[Channel] = []
        if person.emails:
            consent(ConsentPurpose.EMAIL)
            channels.append(Channel.EMAIL)
        if person.phones and rng.random() < 0.8:
            consent(ConsentPurpose.SMS)
            channels.append(Channel.SMS)
        if person.telegram:
            consent(ConsentPurpose.TELEGRAM)
        if person.emails and not person.older and self.devices.random() < 0.12:
            person.webpush = True
            consent(ConsentPurpose.WEBPUSH)
        if person.phones and not person.older and self.devices.random() < 0.10:
            person.fcm_token = f"demo-{self.devices.getrandbits(64):016x}"
            consent(ConsentPurpose.FCM)
        if rng.random() < 0.75:
            consent(ConsentPurpose.PHOTOS)
        rng.shuffle(channels)
        if channels and channels[0] is Channel.SMS and rng.random() < 0.5:
            channels.reverse()
        if person.telegram:
            channels.insert(0, Channel.TELEGRAM)
        if person.fcm_token:
            channels.insert(0, Channel.FCM)
        if person.webpush:
            channels.insert(0, Channel.WEBPUSH)
        person.preferences = [*channels, Channel.PORTAL, Channel.LETTER]

    def _withdraw_some_sms(self) -> None:
        """A few guardians gave the SMS consent and withdrew it later; some of them gave it again."""
        rng = self.rng
        people = [
            p for f in self.families for p in f.guardians if any(c["purpose"] == "channel_sms" for c in p.consents)
        ]
        for person in rng.sample(people, max(3, len(people) // 20)):
            sms = next(c for c in person.consents if c["purpose"] == ConsentPurpose.SMS)
            day = rng.choice(_school_days(dt.date(2026, 9, 28), dt.date(2026, 10, 16)))
            sms["withdrawn_at"] = _at(day, rng.randint(7, 22), rng.randrange(60))
            sms["withdrawn_source"] = "portal"
            if rng.random() < 0.3:
                again = _at(rng.choice(_school_days(dt.date(2026, 11, 2), dt.date(2026, 11, 20))), 20)
                person.consents.append(dict(purpose=ConsentPurpose.SMS, given_at=again, source=ConsentSource.PORTAL))
            else:
                person.preferences.remove(Channel.SMS)

    # ---------------------------------------------------------------- staff

    def _plan_staff(self) -> None:
        rng = self.rng
        used_emails: set[str] = set()

        def member(roles: list[StaffRole], subject: str = "", email: str = "", origin: str = "fr") -> _StaffPlan:
            men, women, _, _, surnames = ORIGINS[origin]
            male = rng.random() < 0.4
            first, last = rng.choice(men if male else women), rng.choice(surnames)
            while not email:
                candidate = f"{_ascii(first)}.{_ascii(last)}@{STAFF_DOMAIN}"
                if candidate in used_emails:
                    first, last = rng.choice(men if male else women), rng.choice(surnames)
                else:
                    email = candidate
            used_emails.add(email)
            plan = _StaffPlan(first, last, email, roles, subject)
            self.staff.append(plan)
            return plan

        self.staff = []
        member([StaffRole.PRINCIPAL], email=f"direction@{STAFF_DOMAIN}").demo_account = True
        member([StaffRole.SECRETARY], email=f"secretariat@{STAFF_DOMAIN}").demo_account = True
        member([StaffRole.SECRETARY])
        member([StaffRole.ADMIN], email=f"admin@{STAFF_DOMAIN}").demo_account = True
        member([StaffRole.ADMIN])
        by_subject: dict[str, list[int]] = {}
        for subject, count in TEACHERS_PER_SUBJECT.items():
            for i in range(count):
                # The demo teacher teaches mathematics in 3e (the third mathematics teacher).
                demo = subject == MATH and i == 2
                origin = "nl" if subject == DUTCH and i == 0 else "fr"
                plan = member(
                    [StaffRole.TEACHER], subject, email=f"prof.demo@{STAFF_DOMAIN}" if demo else "", origin=origin
                )
                plan.demo_account = demo
                by_subject.setdefault(subject, []).append(len(self.staff) - 1)
        classes = [f"{level}{letter}" for level in LEVELS for letter in LETTERS]
        for i, code in enumerate(classes):
            for subject in [*CLASS_SUBJECTS, *([ARTS] if code[0] in "12" else [])]:
                teachers = by_subject[subject]
                self.teacher_of[(code, subject)] = teachers[i * len(teachers) // len(classes)]
        for prefix, subject, levels in COURSES:
            teachers = by_subject[subject]
            for j, level in enumerate(levels):
                self.teacher_of[(f"{prefix}{level}", subject)] = teachers[j * len(teachers) // len(levels)]
        # One titular per class, never twice the same teacher: French in A, mathematics in B, someone else in C.
        taken: set[int] = set()
        for code in classes:
            titular_subject = {"A": FRENCH, "B": MATH}.get(code[1])
            candidates = (
                [self.teacher_of[(code, titular_subject)]]
                if titular_subject
                else [self.teacher_of[(code, s)] for s in (SCIENCES, HISTORY, GEOGRAPHY, PE, CPC)]
            )
            choice = next((t for t in candidates if t not in taken), candidates[0])
            taken.add(choice)
            self.titular_of[code] = choice


# ----------------------------------------------------------------------------------------------- writing


async def _bulk(model: Any, rows: list[Any]) -> None:
    if rows:
        await model.bulk_create(rows, batch_size=BATCH)


async def _clear_existing(replace: bool) -> None:
    schools = await School.all().order_by("id")
    if not schools:
        return
    names = ", ".join(repr(s.name) for s in schools)
    if not replace:
        raise DemoError(
            f"the database already holds a school ({names}); use --replace to remove the demo school and "
            "generate it again"
        )
    foreign = [s for s in schools if s.name != DEMO_SCHOOL_NAME]
    if foreign:
        raise DemoError(
            f"the database holds a school that is not the demo school ({', '.join(repr(s.name) for s in foreign)});"
            " --replace only replaces the demo school: use an empty database for the demo"
        )
    # Every table of the school hangs from it with ON DELETE CASCADE; the audit log does not, and stays.
    await School.filter(id__in=[s.id for s in schools]).delete()


def _next_school_day(day: dt.date, after: int) -> dt.date:
    """The school day at least ``after`` days after ``day`` (homework is not due on a Saturday or 11 November)."""
    day += dt.timedelta(days=after)
    while day.weekday() >= 5 or day in HOLIDAYS or AUTUMN_BREAK[0] <= day <= AUTUMN_BREAK[1]:
        day += dt.timedelta(days=1)
    return day


class _Writer:
    """Writes a plan into the database, tier by tier, reading the new ids back by their natural keys."""

    def __init__(self, planner: _Planner, password_hash: str) -> None:
        self.planner = planner
        self.rng = planner.rng
        self.password_hash = password_hash
        self.children = [c for f in planner.families for c in f.children]
        self.people = [p for f in planner.families for p in f.guardians]
        self.sid = 0
        self.group_id: dict[str, int] = {}
        self.staff_id: list[int] = []
        self.home_id: dict[str, int] = {}
        self.pupil_id: dict[str, int] = {}
        self.guardian_id: dict[str, int] = {}
        self.counts: dict[str, int] = {}

    async def write(self) -> School:
        school = await School.create(
            name=DEMO_SCHOOL_NAME,
            timezone="Europe/Brussels",
            default_language=Language.FR,
            address="Rue des Écoliers 12, 5000 Namur",
            school_year=SCHOOL_YEAR,
        )
        await SchoolProfile.create(school=school, dpo_name="Claire Dubois", dpo_email="dpo@athenee-demo.example.be")
        self.sid = school.id
        await self._groups()
        await self._staff()
        await self._pupils()
        await self._guardians()
        await self._records()
        # Pupils' own accounts (/pupil/signin): the login is the pupil's enrolment number, the demo password.
        await pupil_accounts.give_accounts(self.sid, self.password_hash)
        return school

    async def _groups(self) -> None:
        """The school, its levels, the classes and the courses, each tier pointing at its parent."""
        sid = self.sid
        top = await Group.create(school_id=sid, kind=GroupKind.SCHOOL, code="school", name="Toute l'école")
        levels = [
            Group(school_id=sid, kind=GroupKind.LEVEL, code=str(lv), name=f"{ORDINAL[lv]} secondaire", parent_id=top.id)
            for lv in LEVELS
        ]
        await _bulk(Group, levels)
        rows = await Group.filter(school_id=sid, kind=GroupKind.LEVEL).values_list("code", "id")
        level_id = {int(code): gid for code, gid in rows}
        classes = [
            Group(
                school_id=sid, kind=GroupKind.CLASS, code=f"{lv}{x}", name=f"{ORDINAL[lv]} {x}", parent_id=level_id[lv]
            )
            for lv in LEVELS
            for x in LETTERS
        ]
        courses = [
            Group(
                school_id=sid,
                kind=GroupKind.COURSE,
                code=f"{prefix}{lv}",
                name=f"{subject} {ORDINAL[lv]}",
                parent_id=level_id[lv],
            )
            for prefix, subject, levels in COURSES
            for lv in levels
        ]
        await _bulk(Group, classes + courses)
        kinds = [GroupKind.CLASS, GroupKind.COURSE]
        self.group_id = dict(await Group.filter(school_id=sid, kind__in=kinds).values_list("code", "id"))
        self.counts["course_groups"] = len(courses)

    async def _staff(self) -> None:
        """Staff, their roles and what they teach."""
        staff = self.planner.staff
        await _bulk(
            Staff,
            [
                Staff(
                    school_id=self.sid,
                    first_name=s.first_name,
                    last_name=s.last_name,
                    email=s.email,
                    language=Language.FR,
                    password_hash=self.password_hash if s.demo_account else "",
                )
                for s in staff
            ],
        )
        by_email = dict(await Staff.filter(school_id=self.sid).values_list("email", "id"))
        self.staff_id = [by_email[s.email] for s in staff]
        grants = [StaffRoleGrant(staff_id=self.staff_id[i], role=role) for i, s in enumerate(staff) for role in s.roles]
        await _bulk(StaffRoleGrant, grants)
        titular = set(self.planner.titular_of.items())
        await _bulk(
            Teaching,
            [
                Teaching(
                    staff_id=self.staff_id[idx],
                    group_id=self.group_id[code],
                    subject=subject,
                    is_titular=(code, idx) in titular,
                )
                for (code, subject), idx in self.planner.teacher_of.items()
            ],
        )

    async def _pupils(self) -> None:
        """Households, pupils and their groups (the school and level groups reach pupils through the classes)."""
        homes = [h for f in self.planner.families for h in f.homes]
        await _bulk(
            Household,
            [
                Household(
                    school_id=self.sid, external_id=h.key, street=h.street, postal_code=h.postal_code, city=h.city
                )
                for h in homes
            ],
        )
        self.home_id = dict(await Household.filter(school_id=self.sid).values_list("external_id", "id"))
        await _bulk(
            Pupil,
            [
                Pupil(
                    school_id=self.sid,
                    external_id=c.key,
                    first_name=c.first_name,
                    last_name=c.last_name,
                    birth_date=c.birth_date,
                )
                for c in self.children
            ],
        )
        self.pupil_id = dict(await Pupil.filter(school_id=self.sid).values_list("external_id", "id"))
        memberships = []
        for c in self.children:
            codes = [c.klass, f"{c.lm1}{c.level}"]
            codes += [f"LAT{c.level}"] if c.latin else []
            codes += [f"ALL{c.level}"] if c.german else []
            memberships += [Membership(group_id=self.group_id[code], pupil_id=self.pupil_id[c.key]) for code in codes]
        await _bulk(Membership, memberships)

    async def _guardians(self) -> None:
        """Guardians and everything hanging from them: contacts, consents, preferences, guardianships."""
        home_id = self.home_id
        await _bulk(
            Guardian,
            [
                Guardian(
                    school_id=self.sid,
                    external_id=p.key,
                    first_name=p.first_name,
                    last_name=p.last_name,
                    language=p.language,
                    household_id=home_id[p.home] if p.home else None,
                    onboarded_at=p.onboarded_at,
                )
                for p in self.people
            ],
        )
        self.guardian_id = dict(await Guardian.filter(school_id=self.sid).values_list("external_id", "id"))
        contacts, consents, preferences, guardianships = [], [], [], []
        for p in self.people:
            gid = self.guardian_id[p.key]
            values = [(ContactKind.EMAIL, v) for v in p.emails] + [(ContactKind.PHONE, v) for v in p.phones]
            values += [(ContactKind.TELEGRAM, p.telegram)] if p.telegram else []
            # A placeholder subscription: DemoPeers.start() replaces it with one of that run's push service.
            values += [(ContactKind.WEBPUSH, WEBPUSH_PLACEHOLDER)] if p.webpush else []
            values += [(ContactKind.FCM, p.fcm_token)] if p.fcm_token else []
            contacts += [
                Contact(guardian_id=gid, kind=kind, value=value, verified=True, verified_at=p.verified_at)
                for kind, value in values
            ]
            consents += [Consent(guardian_id=gid, version=CONSENT_VERSION, **c) for c in p.consents]
            preferences += [
                ChannelPreference(guardian_id=gid, channel=ch, rank=rank) for rank, ch in enumerate(p.preferences, 1)
            ]
        for f in self.planner.families:
            for c in f.children:
                guardianships += [
                    Guardianship(
                        pupil_id=self.pupil_id[c.key],
                        guardian_id=self.guardian_id[link.guardian],
                        relation=link.relation,
                        household_id=home_id[link.home] if link.home else None,
                        receives=not link.barred,
                        may_answer=link.may_answer,
                        barred=link.barred,
                        barred_reason=link.barred_reason,
                    )
                    for link in f.links
                ]
        await _bulk(Contact, contacts)
        await _bulk(Consent, consents)
        await _bulk(ChannelPreference, preferences)
        await _bulk(Guardianship, guardianships)

    async def _records(self) -> None:
        """The term's records: grades, absences, the class diary."""
        days = _school_days(TERM_START, TERM_END)
        grades, absences, journal = self._grades(days), self._absences(days), self._journal(days)
        await _bulk(Grade, grades)
        await _bulk(Absence, absences)
        await _bulk(JournalEntry, journal)
        self.counts.update(grades=len(grades), absences=len(absences), journal=len(journal))

    def _grades(self, days: list[dt.date]) -> list[Grade]:
        rng, teacher_of = self.rng, self.planner.teacher_of
        grade_days = [d for d in days if d >= dt.date(2026, 9, 21)]
        grades: list[Grade] = []
        for c in self.children:
            ability = min(0.97, max(0.3, rng.gauss(0.68, 0.13)))
            lm1 = DUTCH if c.lm1 == "NL" else ENGLISH
            for subject in (MATH, FRENCH, lm1, SCIENCES, HISTORY, GEOGRAPHY):
                group = f"{c.lm1}{c.level}" if subject == lm1 else c.klass
                teacher = self.staff_id[teacher_of[(group, subject)]]
                for _ in range(2 if subject in (MATH, FRENCH) else rng.choice([1, 1, 2])):
                    max_score = rng.choice([10, 20, 20])
                    score = min(max_score, max(0.0, rng.gauss(ability, 0.1) * max_score))
                    day = rng.choice(grade_days)
                    # Grades of the last days are still being corrected: not published yet.
                    published = _at(_next_school_day(day, rng.randint(2, 5)), 17) if day < DEMO_TODAY else None
                    grades.append(
                        Grade(
                            pupil_id=self.pupil_id[c.key],
                            teacher_id=teacher,
                            subject=subject,
                            title=rng.choice(GRADE_TITLES[subject]),
                            term=TERM,
                            score=Decimal(str(round(score * 2) / 2)),
                            max_score=Decimal(max_score),
                            comment=rng.choice(["", "", "", "Bon travail.", "Des progrès.", "À retravailler."]),
                            assessed_on=day,
                            published_at=published,
                        )
                    )
        return grades

    def _absences(self, days: list[dt.date]) -> list[Absence]:
        rng = self.rng
        secretaries = [self.staff_id[i] for i, s in enumerate(self.planner.staff) if StaffRole.SECRETARY in s.roles]
        reasons = [
            (AbsenceReason.MEDICAL_CERTIFICATE, True, 40),
            (AbsenceReason.ILLNESS, True, 25),
            (AbsenceReason.FAMILY, True, 5),
            (AbsenceReason.UNKNOWN, False, 20),
            (AbsenceReason.UNJUSTIFIED, False, 10),
        ]
        absences: list[Absence] = []
        for c in self.children:
            if rng.random() > 0.4:
                continue
            for _ in range(rng.choice([1, 1, 2, 3])):
                reason, justified, _weight = rng.choices(reasons, weights=[w for *_, w in reasons])[0]
                i = rng.randrange(len(days))
                shape = rng.choice(["day", "morning", "afternoon", "days"])
                last = days[min(len(days) - 1, i + rng.randint(1, 3))] if shape == "days" else days[i]
                absences.append(
                    Absence(
                        pupil_id=self.pupil_id[c.key],
                        starts_at=_at(days[i], 13) if shape == "afternoon" else _at(days[i], 8, 20),
                        ends_at=_at(last, 12) if shape == "morning" else _at(last, 15, 45),
                        reason=reason,
                        justified=justified,
                        note=ABSENCE_NOTES[reason],
                        recorded_by_id=rng.choice(secretaries),
                    )
                )
        return absences

    def _journal(self, days: list[dt.date]) -> list[JournalEntry]:
        """Each class and course's diary for the weeks of November 2026."""
        rng = self.rng
        november = [d for d in days if d.month == 11]
        journal: list[JournalEntry] = []
        for (code, subject), idx in sorted(self.planner.teacher_of.items()):
            is_class = code[0].isdigit()
            topics = JOURNAL_TOPICS.get(subject, ["le projet de l'année"])
            common = dict(group_id=self.group_id[code], author_id=self.staff_id[idx], subject=subject)
            for week_start in range(0, len(november), 5):
                week = november[week_start : week_start + 5]
                for day in sorted(rng.sample(week, min(len(week), 2 if is_class else 1))):
                    topic = rng.choice(topics)
                    text = rng.choice(JOURNAL_DONE.get(subject, ["{t}"])).format(t=topic)
                    journal.append(JournalEntry(kind=JournalKind.DONE, text=text, on_date=day, **common))
                    if rng.random() < 0.35:
                        journal.append(
                            JournalEntry(
                                kind=JournalKind.HOMEWORK,
                                text=f"Exercices : {topic}",
                                on_date=day,
                                due_on=_next_school_day(day, rng.choice([2, 7])),
                                **common,
                            )
                        )
                if is_class and subject in (MATH, FRENCH, SCIENCES) and rng.random() < 0.5:
                    day = rng.choice(week)
                    journal.append(
                        JournalEntry(
                            kind=JournalKind.TEST,
                            text=f"Interrogation : {rng.choice(topics)}",
                            on_date=day,
                            due_on=_next_school_day(day, 7),
                            **common,
                        )
                    )
        return journal


async def generate_demo(seed: int = 2026, replace: bool = False) -> DemoSummary:
    """Fill the database with the demo school drawn from ``seed`` and say what was made.

    Raises ``DemoError`` when the database already holds a school and ``replace`` is false, or when the school
    it holds is not the demo school (``replace`` never removes a real school's data). All or nothing: one
    transaction.
    """
    from argon2 import PasswordHasher

    started = time.perf_counter()
    planner = _Planner(seed)
    planner.plan()
    # One hash for every demo account: argon2 is slow on purpose.
    writer = _Writer(planner, PasswordHasher().hash(DEMO_PASSWORD))
    async with in_transaction():
        await _clear_existing(replace)
        school = await writer.write()
        summary = _summarise(planner, school, writer)
        await audit(
            "demo.generated",
            at=clock.now(),  # the audit log records when it happened, not a demo date
            subject_type="school",
            subject_id=school.id,
            seed=seed,
            replace=replace,
            pupils=summary.pupils,
            guardians=summary.guardians,
            households=summary.households,
            staff=summary.staff,
        )
    await _name_the_guides_families(summary)
    summary.seconds = time.perf_counter() - started
    return summary


async def _name_the_guides_families(summary: DemoSummary) -> None:
    """The separated parents and the paper-only family the summary names are those of the demo's landing page
    (``hub.demo.guide``, which reads them from the database): the terminal and the page name the same people."""
    from hub.demo.guide import TRIP_CLASS, GuidePerson, demo_guide

    guide = await demo_guide()
    if guide is None:
        return

    def person(p: GuidePerson) -> DemoPerson:
        return DemoPerson(p.guardian_id, p.name, f"{p.relation}, {p.address}")

    if guide.separated_parents:
        summary.separated_pupil = DemoPerson(
            guide.separated_pupil_id, guide.separated_pupil_name, f"class {TRIP_CLASS}"
        )
        summary.separated_parents = [person(p) for p in guide.separated_parents]
        summary.separated_others = [person(p) for p in guide.separated_others]
    if guide.paper_family:
        summary.paper_only_pupil = DemoPerson(guide.paper_pupil_id, guide.paper_pupil_name, f"class {TRIP_CLASS}")
        summary.paper_only_family = [person(p) for p in guide.paper_family]


def _summarise(planner: _Planner, school: School, writer: _Writer) -> DemoSummary:
    families = planner.families
    people = writer.people
    children = writer.children
    staff_id, pupil_id, guardian_id = writer.staff_id, writer.pupil_id, writer.guardian_id
    separated_pupils = sum(len(f.children) for f in families if len({link.home for link in f.links}) >= 2)
    roles = Counter(role.value for s in planner.staff for role in s.roles)

    def person(p: _Person, detail: str = "") -> DemoPerson:
        return DemoPerson(guardian_id[p.key], f"{p.first_name} {p.last_name}", detail)

    def pupil(c: _Child) -> DemoPerson:
        return DemoPerson(pupil_id[c.key], f"{c.first_name} {c.last_name}", f"class {c.klass}")

    def relation_of(f: _Family, p: _Person) -> str:
        link = next(link for link in f.links if link.guardian == p.key)
        home = next(h for h in f.homes if h.key == link.home)
        return f"{link.relation.value}, {home.street}, {home.postal_code} {home.city}"

    summary = DemoSummary(
        school_id=school.id,
        school_name=school.name,
        seed=planner.seed,
        pupils=len(children),
        guardians=len(people),
        households=sum(len(f.homes) for f in families),
        classes=len(planner.class_sizes),
        levels=len(LEVELS),
        staff=len(planner.staff),
        roles={role.value: roles[role.value] for role in StaffRole},
        separated_pupils_share=separated_pupils / len(children),
        paper_only_families=sum(1 for f in families if f.paper_only),
        paper_only_guardians=sum(1 for p in people if p.paper_only),
        languages=dict(sorted(Counter(p.language.value for p in people).items())),
        grades=writer.counts["grades"],
        absences=writer.counts["absences"],
        journal_entries=writer.counts["journal"],
        course_groups=writer.counts["course_groups"],
    )
    summary.accounts = [
        DemoAccount(s.roles[0], s.email, f"{s.first_name} {s.last_name}", staff_id[i])
        for i, s in enumerate(planner.staff)
        if s.demo_account
    ]
    summary.accounts.sort(key=lambda a: list(StaffRole).index(a.role))
    separated = _first(families, lambda f: f.kind == "separated" and not f.barred and f.step_parent) or _first(
        families, lambda f: f.kind == "separated" and not f.barred
    )
    assert separated is not None
    summary.separated_pupil = pupil(separated.children[0])
    parents = [link.guardian for link in separated.links if link.relation in (Relation.MOTHER, Relation.FATHER)]
    steps = [link.guardian for link in separated.links if link.relation not in (Relation.MOTHER, Relation.FATHER)]
    summary.separated_parents = [person(p, relation_of(separated, p)) for p in separated.guardians if p.key in parents]
    summary.separated_others = [person(p, relation_of(separated, p)) for p in separated.guardians if p.key in steps]
    paper = _first(families, lambda f: f.paper_only and f.kind == "together") or _first(
        families, lambda f: f.paper_only
    )
    assert paper is not None
    summary.paper_only_pupil = pupil(paper.children[0])
    summary.paper_only_family = [person(p, relation_of(paper, p)) for p in paper.guardians]
    barred = next(f for f in families if f.barred)
    barred_link = next(link for link in barred.links if link.barred)
    barred_person = next(p for p in barred.guardians if p.key == barred_link.guardian)
    summary.barred_guardian = person(barred_person, barred_link.barred_reason)
    summary.barred_pupil = pupil(barred.children[0])
    three = next(f for f in families if len(f.children) == 3 and f.kind == "together")
    summary.three_children_guardian = person(three.guardians[0], relation_of(three, three.guardians[0]))
    summary.three_children = [pupil(c) for c in three.children]
    return summary


def _first(families: list[_Family], test: Callable[[_Family], bool]) -> _Family | None:
    return next((f for f in families if test(f)), None)


async def publish_demo_messages(now: dt.datetime) -> list[int]:
    """Two messages to follow in the demo's outbox: a teacher's trip with a reply slip for class 3A, and the
    principal's news for the whole school. Sent as the charter allows at ``now`` (held at night or at weekends)."""
    from hub.enums import AnswerMode, AudienceKind, QuestionKind
    from hub.messaging.models import Message, MessageAudience, ReplySlip, SlipQuestion
    from hub.messaging.planning import publish

    school = await School.get(name=DEMO_SCHOOL_NAME)
    teacher = await Staff.get(email=f"prof.demo@{STAFF_DOMAIN}")
    principal = await Staff.get(email=f"direction@{STAFF_DOMAIN}")
    class_3a = await Group.get(school=school, kind=GroupKind.CLASS, code="3A")
    school_group = await Group.get(school=school, kind=GroupKind.SCHOOL)

    trip = await Message.create(
        school=school,
        author=teacher,
        subject="Visite du musée Félicien Rops",
        body="Le jeudi 3 décembre, la classe visitera le musée Félicien Rops à Namur.\n\n"
        "Départ de l'école à 9 h, retour vers 12 h 30. Merci de compléter le talon.",
        needs_acknowledgement=True,
    )
    await MessageAudience.create(message=trip, kind=AudienceKind.GROUP, group=class_3a)
    slip = await ReplySlip.create(
        message=trip,
        deadline=slip_deadline(now, school_charter()),
        answer_mode=AnswerMode.ONE_PER_PUPIL,
        needs_signature=True,
        reminder_hours=[48],
    )
    await SlipQuestion.create(
        slip=slip, position=1, kind=QuestionKind.YES_NO, text="J'autorise mon enfant à participer."
    )
    await SlipQuestion.create(
        slip=slip, position=2, kind=QuestionKind.AMOUNT, text="Entrée : 3 € par élève.", unit_price_cents=300
    )
    news = await Message.create(
        school=school,
        author=principal,
        subject="Réunion des parents du premier trimestre",
        body="Les titulaires vous accueillent le lundi 14 décembre de 16 h à 19 h. "
        "Les bulletins seront remis ce jour-là.",
    )
    await MessageAudience.create(message=news, kind=AudienceKind.GROUP, group=school_group)
    for message, author in ((trip, teacher), (news, principal)):
        await publish(message.id, now=now, actor_staff_id=author.id)
    return [trip.id, news.id]


def slip_deadline(now: dt.datetime, charter: Charter) -> dt.datetime:
    """A week after ``now``, at noon of a school day whose sending hours are open then (never "due at 22:10"): the
    deadline a teacher would write, inside the charter's hours whatever the hour the demo was started."""
    day = (now.astimezone(charter.tz) + dt.timedelta(days=7)).date()
    for _ in range(60):  # the longest holidays are shorter than two months
        noon = dt.datetime.combine(day, dt.time(12), charter.tz)
        if is_school_day(charter, day) and is_allowed(charter, noon, Urgency.NORMAL):
            return noon.astimezone(dt.UTC)
        day += dt.timedelta(days=1)
    return (now + dt.timedelta(days=7)).astimezone(dt.UTC)


# ------------------------------------------------------------------------------------------------ the clock


def opens_at_start_hour(charter: Charter) -> Callable[[dt.date], bool]:
    """The days the demo clock may start on: school days whose normal sending hours are open at 10:00."""

    def accept(day: dt.date) -> bool:
        start = dt.datetime.combine(day, dt.time(clock.DEMO_START_HOUR), charter.tz)
        return is_school_day(charter, day) and is_allowed(charter, start, Urgency.NORMAL)

    return accept


def install_demo_clock(data_dir: Path, charter: Charter | None = None, *, fresh: bool = False) -> clock.DemoClock:
    """Run this process on the demo's clock (``<data dir>/demo-clock.json``), started at the next school day's
    10:00 if the demo has none yet, or anew when ``fresh`` (a new demo school: the caller saves it once the
    school exists). Only the demo's commands call this: ``carnet demo-data`` and ``carnet serve`` with
    ``CARNET_DEMO_PEERS``."""
    charter = charter or school_charter()
    return clock.demo_clock(data_dir, opens_at_start_hour(charter), charter.tz, fresh=fresh)
