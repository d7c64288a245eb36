"""What the principal and the home page read: the delivery report (``delivery``) and the school in figures
(``overview``).

May import: ``hub.delivery``, ``hub.records``, ``hub.messaging``, ``hub.people``, ``hub.store`` and the leaf modules.
"""
