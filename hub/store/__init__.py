"""The database: connecting and migrating (``db``), the one migration history (``migrations``), and the
append-only audit log (``audit``).

May import: the leaf modules of ``hub`` (config, enums, clock). Every other package builds on it.
"""
