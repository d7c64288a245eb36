"""Sending what is due: one pass (``dispatch``), the worker processes and their provider limits
(``worker``), email bounces read back (``bounces``) and the families' email replies it receives too
(``mail_replies``).

May import: ``hub.messaging``, ``hub.people``, ``hub.store``, ``channels`` and the leaf modules.
"""
