"""The school records messages report on: grades, report cards, absences, the class journal (``models``).

May import: ``hub.messaging`` (records are reported through messages), ``hub.people``, ``hub.store`` and the leaf
modules.
"""
