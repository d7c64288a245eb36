"""Mobile push through the real firebase_admin (service-account OAuth, httpx async FCM v1 send) pointed at a
local FCM + OAuth token peer on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from channels.base import Rendered
from channels.fcm import FcmAdapter, FcmSettings
from channels.peers.fcm import FcmPeer
from hub.enums import Channel, DeliveryState, ErrorKind

MESSAGE = Rendered(
    language="nl",
    subject="Oudercontact",
    text="Dinsdag 18 uur, lokaal 12.",
    link="https://carnet.example.be/n/xyz789",
)


@pytest.fixture
async def peer() -> AsyncIterator[FcmPeer]:
    async with FcmPeer(project_id="carnet-test") as p:
        yield p


@pytest.fixture
async def adapter(peer: FcmPeer) -> AsyncIterator[FcmAdapter]:
    a = FcmAdapter(FcmSettings(service_account=peer.service_account(), fcm_base_url=peer.base_url, timeout=10))
    yield a
    await a.close()


async def test_delivered_with_title_body_and_link(peer: FcmPeer, adapter: FcmAdapter) -> None:
    assert adapter.channel is Channel.FCM
    assert adapter.fcm_url == f"{peer.base_url}/v1/projects/carnet-test/messages:send"
    outcome = await adapter.send("device-token-1", MESSAGE)
    assert outcome.state is DeliveryState.SENT, outcome.error
    [got] = peer.to("device-token-1")
    assert outcome.provider_id == got.name and got.name.startswith("projects/carnet-test/messages/")
    assert got.message["notification"] == {"title": "Oudercontact", "body": "Dinsdag 18 uur, lokaal 12."}
    assert got.message["data"] == {"url": MESSAGE.link, "lang": "nl"}
    assert not got.validate_only
    # One OAuth token, granted to the service account through the JWT-bearer grant, reused for the next send.
    assert (await adapter.send("device-token-2", MESSAGE)).ok
    assert [granted for _, granted, _ in peer.token_requests] == [True]


async def test_unregistered_token_is_dead(peer: FcmPeer, adapter: FcmAdapter) -> None:
    outcome = await adapter.send("unregistered-abc", MESSAGE)
    assert outcome.error_kind is ErrorKind.PERMANENT and outcome.dead_contact
    assert "UNREGISTERED" in outcome.error or "NOT_FOUND" in outcome.error
    assert peer.messages == []


async def test_sender_id_mismatch_is_dead(adapter: FcmAdapter) -> None:
    outcome = await adapter.send("mismatch-abc", MESSAGE)
    assert outcome.error_kind is ErrorKind.PERMANENT and outcome.dead_contact


async def test_unavailable_is_transient(peer: FcmPeer, adapter: FcmAdapter) -> None:
    outcome = await adapter.send("busy-abc", MESSAGE)
    assert outcome.error_kind is ErrorKind.TRANSIENT and not outcome.dead_contact
    assert "UNAVAILABLE" in outcome.error
    assert peer.messages == []


async def test_quota_is_transient_with_retry_after(adapter: FcmAdapter) -> None:
    outcome = await adapter.send("quota-abc", MESSAGE)
    assert outcome.error_kind is ErrorKind.TRANSIENT and outcome.retry_after == 30.0


async def test_invalid_argument_is_permanent_token_kept(adapter: FcmAdapter) -> None:
    outcome = await adapter.send("invalid-abc", MESSAGE)
    assert outcome.error_kind is ErrorKind.PERMANENT and not outcome.dead_contact


async def test_unknown_service_account_is_refused(peer: FcmPeer) -> None:
    """A service account the token endpoint does not know: permanent (configuration), token kept, nothing sent."""
    account = peer.service_account()
    async with FcmPeer(project_id="carnet-test") as other:
        account["private_key"] = other.service_account()["private_key"]
    a = FcmAdapter(FcmSettings(service_account=account, fcm_base_url=peer.base_url, timeout=10))
    try:
        outcome = await a.send("device-token-1", MESSAGE)
    finally:
        await a.close()
    assert outcome.error_kind is ErrorKind.PERMANENT and not outcome.dead_contact
    assert "refused" in outcome.error
    assert peer.messages == [] and [granted for _, granted, _ in peer.token_requests] == [False]


async def test_unreachable_fcm_is_transient(peer: FcmPeer, adapter: FcmAdapter) -> None:
    assert (await adapter.send("device-token-1", MESSAGE)).ok  # token fetched while the peer is up
    await peer.__aexit__()
    outcome = await adapter.send("device-token-1", MESSAGE)
    assert outcome.error_kind is ErrorKind.TRANSIENT


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"type": "authorized_user"}, "service account"),
        ({"private_key": ""}, "lacks private_key"),
        ({"token_uri": "ftp://x"}, "token_uri"),
    ],
)
def test_settings_are_validated(change: dict, message: str) -> None:
    account = {
        "type": "service_account",
        "project_id": "p",
        "private_key": "-----BEGIN PRIVATE KEY-----",
        "client_email": "a@p.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    with pytest.raises(ValueError, match=message):
        FcmSettings(service_account={**account, **change})


async def test_installation_id_contact(peer: FcmPeer, adapter: FcmAdapter) -> None:
    assert (await adapter.send("fid:installation-1", MESSAGE)).ok
    [got] = peer.to("installation-1")
    assert got.message["fid"] == "installation-1" and "token" not in got.message


async def test_empty_contact_sends_nothing(peer: FcmPeer, adapter: FcmAdapter) -> None:
    outcome = await adapter.send("  ", MESSAGE)
    assert outcome.error_kind is ErrorKind.PERMANENT and outcome.dead_contact
    assert peer.messages == [] and peer.token_requests == []
