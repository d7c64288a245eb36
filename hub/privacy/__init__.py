"""What the school owes families under the GDPR: a guardian's data export (``export``); erasure and retention
come here.

May import: ``hub.reports``, ``hub.delivery``, ``hub.records``, ``hub.messaging``, ``hub.people``, ``hub.store`` and the
leaf modules.
"""
