"""Sending what is due: one pass (``dispatch``), the worker processes and their provider limits
(``worker``), and email bounces read back (``bounces``).

May import: ``hub.messaging``, ``hub.people``, ``hub.store``, ``channels`` and the leaf modules.
"""
