"""The school and its people: staff and roles, the roster (pupils, classes, households, guardians), who may
see what...  and their sign-in (``security``, ``account``, ``onboarding``), consents,
preferences, the staff settings.

May import: ``hub.store`` and the leaf modules. Never messaging, delivery, reports, demo or web.
"""
