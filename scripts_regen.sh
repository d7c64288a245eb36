#!/usr/bin/env bash
# regenerate the initial migration (only while nothing is deployed)
set -e
mv hub/migrations/0002_audit_append_only.py /tmp/
rm -f hub/migrations/0001_initial.py /tmp/carnet-mk.sqlite3
printf 'from hub.db import tortoise_config\nTORTOISE_ORM = tortoise_config("sqlite:///tmp/carnet-mk.sqlite3")\n' > hub/_mkcfg.py
.venv/bin/python -m tortoise -c hub._mkcfg.TORTOISE_ORM makemigrations --name initial | tail -1
rm hub/_mkcfg.py; mv /tmp/0002_audit_append_only.py hub/migrations/
