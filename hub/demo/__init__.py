"""The demo, kept out of the product's path: the demo school generator (``school``), its local providers
(``peers``) and its landing page's guide (``guide``).

May import anything but ``hub.web``; only ``hub.web``, the CLI and the test equipment import it.
"""
