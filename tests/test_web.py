"""The web app starts on a migrated database and serves the home page and the charter."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from hub.config import Settings
from hub.web import create_app


def test_home_and_charter_on_an_empty_database(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with TestClient(create_app(settings)) as client:
        home = client.get("/")
        assert home.status_code == 200
        assert "aucune école" in home.text
        charter = client.get("/charter")
        assert charter.status_code == 200
        assert "déconnexion" in charter.text
        pdf = client.get("/charter.pdf")
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        assert client.get("/health").json() == {"status": "ok", "pupils": 0}
