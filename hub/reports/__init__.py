"""What the principal and the home page read: the delivery report (``delivery``, from per-message tallies kept by
``tally`` in the tables of ``models``), the school in figures (``overview``) and the call lists of the families to
phone (``calls``).

May import: ``hub.delivery``, ``hub.records``, ``hub.messaging``, ``hub.people``, ``hub.store`` and the leaf modules.
"""
