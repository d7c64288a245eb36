"""The journey of a message up to the queue: who may see which message and notice (``access``), composing
(``composer``), the audience and channel rules (``routing``, pure) and their database shell (``planning``, which
also owns the queue's state machine), rendering per channel and language, SMS segments, personal links, reply
slips and answers, reply threads, inbound provider callbacks, the guardians' inbox (``portal``, ``notice_page``)
and paper (``paper``, ``office``).

May import: ``hub.people``, ``hub.store``, ``channels`` (the adapters' vocabulary) and the leaf modules.
"""
