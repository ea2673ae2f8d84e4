"""A database outage answers 503 in each dialect's shape (never 500), and service resumes."""

from __future__ import annotations

import httpx

from tests.conftest import ADMIN_TOKEN, amber_env
from tests.services import AmberServer, PostgresServer

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_database_outage_is_a_503_and_recovers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    postgres = PostgresServer().start()
    env = amber_env(tmp_path, AMBER_DATABASE_URL=postgres.url)
    server = AmberServer(env=env, args=("--no-workers",)).start()
    try:
        assert httpx.get(f"{server.url}/api/v1/core/snapshots", headers=AUTH).status_code == 200
        # Given PostgreSQL goes away
        postgres.stop_server()
        # When clients call, Then each dialect answers 503 in its own shape
        archive = httpx.get(f"{server.url}/api/v1/core/snapshots", headers=AUTH, timeout=30)
        assert archive.status_code == 503 and "database" in archive.json()["detail"]
        grafana = httpx.get(f"{server.url}/api/dashboard/snapshots", headers=AUTH, timeout=30)
        assert grafana.status_code == 503 and "message" in grafana.json()
        # When it comes back, Then the same server answers again
        postgres.start_server()
        again = httpx.get(f"{server.url}/api/v1/core/snapshots", headers=AUTH, timeout=30)
        assert again.status_code == 200
    finally:
        server.stop()
        postgres.stop()
