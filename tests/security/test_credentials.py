"""Least privilege: each role (gateway, worker, admin) signs in with its own credentials and is
refused what it must not do, on the real nats-server and the real SeaweedFS (the cluster's
object store), while the whole pipeline runs on exactly those grants."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import boto3
import nats
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from nats.aio.client import Client as NatsClient
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from gallery.servers import ManagedProcess, mongo_uri, start_nats, start_secantus
from pipeline.adapters.bus import JetStreamBus
from pipeline.adapters.catalog import issue_api_key
from pipeline.domain import names
from pipeline.domain.errors import BusError
from pipeline.domain.roles import (
    ROLES,
    Credential,
    Role,
    catalog_role,
    nats_authorization,
    seaweedfs_identities,
)
from pipeline.runtime.settings import NatsSettings, S3Settings
from tests.conftest import SettingsFactory, unique
from tests.e2e.stack import Stack
from tests.images import png_bytes
from tests.s3server import start_seaweedfs
from tests.waiting import eventually

pytestmark = pytest.mark.security
TOKEN = names.tenant_token("alice")
UNAUTHORIZED = 13  # MongoDB's error code for an action the user's roles do not grant


@pytest.fixture
def credentials() -> dict[Role, Credential]:
    return {role: Credential(f"gallery-{role}", secrets.token_urlsafe(16)) for role in ROLES}


@pytest.fixture
def guarded_nats(tmp_path: Path, credentials: dict[Role, Credential]) -> Iterator[ManagedProcess]:
    server = start_nats(tmp_path / "nats", authorization=nats_authorization(credentials))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bucket() -> str:
    return unique("gallery")


@pytest.fixture
def seaweedfs(tmp_path: Path, credentials: dict[Role, Credential], bucket: str) -> Iterator[str]:
    with start_seaweedfs(tmp_path / "weed", seaweedfs_identities(bucket, credentials)) as url:
        s3(url, credentials["admin"]).create_bucket(Bucket=bucket)
        yield url


def s3(endpoint: str, credential: Credential) -> BaseClient:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=credential.user,
        aws_secret_access_key=credential.password,
        region_name="us-east-1",
    )


class Violations:
    """A NATS connection as one role, collecting the server's permission violations."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def on_error(self, exc: Exception) -> None:
        self.seen.append(str(exc))

    async def refused(self, subject: str) -> bool:
        async def told() -> bool:
            return any(subject.lower() in message.lower() for message in self.seen)

        try:
            await eventually(told, f"a violation on {subject}", timeout=5)
        except AssertionError:
            return False
        return True


Connect = Callable[[Role], Awaitable[tuple[NatsClient, Violations]]]


@pytest.fixture
async def connect(
    guarded_nats: ManagedProcess, credentials: dict[Role, Credential]
) -> AsyncIterator[Connect]:
    opened: list[NatsClient] = []

    async def as_role(role: Role) -> tuple[NatsClient, Violations]:
        violations = Violations()
        nc = await nats.connect(
            f"nats://127.0.0.1:{guarded_nats.port}",
            user=credentials[role].user,
            password=credentials[role].password,
            error_cb=violations.on_error,
            max_reconnect_attempts=0,
        )
        opened.append(nc)
        return nc, violations

    yield as_role
    for nc in opened:
        await nc.close()


async def test_a_role_is_refused_the_subjects_of_the_others(connect: Connect) -> None:
    forbidden: dict[Role, list[str]] = {
        # The worker announces no uploads, trashes nothing, revokes no keys, drops no streams.
        "worker": [
            f"gallery.image.uploaded.{TOKEN}",
            f"gallery.image.trashed.{TOKEN}",
            f"gallery.album.created.{TOKEN}",
            names.KEYS_REVOKED_SUBJECT,
            f"$JS.API.STREAM.DELETE.{names.RENDER_STREAM}",
            f"$JS.API.STREAM.PURGE.{names.EVENTS_STREAM}",
        ],
        # The gateway takes no jobs, claims no renders, writes no dead letters.
        "gateway": [
            f"$JS.API.CONSUMER.MSG.NEXT.{names.RENDER_STREAM}.{names.RENDER_CONSUMER}",
            f"$JS.ACK.{names.RENDER_STREAM}.{names.RENDER_CONSUMER}.1.1.1.1.0",
            f"gallery.image.ready.{TOKEN}",
            f"gallery.image.failed.{TOKEN}",
            names.DLQ_SUBJECT,
            f"$JS.API.STREAM.DELETE.{names.JOBS_STREAM}",
        ],
    }
    for role, subjects in forbidden.items():
        nc, violations = await connect(role)
        for subject in subjects:
            await nc.publish(subject, b"{}")
            await nc.flush()
            assert await violations.refused(subject), (role, subject, violations.seen)
    # A worker cannot listen for revoked keys, an event stream of its own is the gateway's.
    worker, violations = await connect("worker")
    await worker.subscribe(names.KEYS_REVOKED_SUBJECT)
    await worker.flush()
    assert await violations.refused(names.KEYS_REVOKED_SUBJECT), violations.seen
    # The operator's admin user may do all of it.
    admin, violations = await connect("admin")
    await admin.publish(f"gallery.image.uploaded.{TOKEN}", b"{}")
    await admin.subscribe(names.KEYS_REVOKED_SUBJECT)
    await admin.flush()
    assert not await violations.refused("gallery"), violations.seen


async def test_no_credentials_or_a_wrong_password_are_refused(
    guarded_nats: ManagedProcess, credentials: dict[Role, Credential]
) -> None:
    url = f"nats://127.0.0.1:{guarded_nats.port}"
    for user, password in (("", ""), (credentials["worker"].user, "guess")):
        settings = NatsSettings(url=url, user=user, password=password)
        with pytest.raises(BusError, match="Authorization Violation"):
            async with JetStreamBus.connect(settings, wait_at_start=False):
                pass


def test_a_role_is_refused_the_objects_of_the_others(
    seaweedfs: str, credentials: dict[Role, Credential], bucket: str
) -> None:
    roles: tuple[Role, ...] = ("admin", "gateway", "worker")
    admin, gateway, worker = (s3(seaweedfs, credentials[r]) for r in roles)
    rendition = names.rendition_key("alice", "img1", "thumb", "abc123", "webp")
    original = names.original_key("alice", "img1")
    admin.put_object(Bucket=bucket, Key=rendition, Body=b"rendition")

    def denied(call: object) -> bool:
        try:
            call()  # type: ignore[operator]
        except ClientError as exc:
            return exc.response["Error"]["Code"] == "AccessDenied"
        return False

    # The gateway stores originals and serves renditions, but never deletes or overwrites one.
    gateway.put_object(Bucket=bucket, Key=original, Body=b"original")
    assert gateway.get_object(Bucket=bucket, Key=rendition)["Body"].read() == b"rendition"
    assert denied(lambda: gateway.delete_object(Bucket=bucket, Key=rendition))
    assert denied(lambda: gateway.put_object(Bucket=bucket, Key=rendition, Body=b"forged"))
    many = gateway.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": rendition}]})
    assert [e["Code"] for e in many.get("Errors", [])] == ["AccessDenied"]
    # The gateway makes and removes no bucket; the worker owns the gallery's, and no other.
    assert denied(lambda: gateway.create_bucket(Bucket=unique("other")))
    assert denied(lambda: gateway.delete_bucket(Bucket=bucket))
    assert denied(lambda: worker.create_bucket(Bucket=unique("other")))
    # The worker writes renditions.
    worker.put_object(Bucket=bucket, Key=rendition, Body=b"rendition 2")
    stored = admin.get_object(Bucket=bucket, Key=rendition)["Body"].read()
    assert stored == b"rendition 2", "a refused write changed nothing, the worker's did"


async def test_the_pipeline_runs_on_each_roles_own_credentials(
    *,
    make_settings: SettingsFactory,
    guarded_nats: ManagedProcess,
    seaweedfs: str,
    credentials: dict[Role, Credential],
    bucket: str,
    tmp_path: Path,
) -> None:
    """Gateway and worker processes, each with only its own NATS user and S3 identity: an
    upload is rendered, served, trashed, restored and deleted for good, its objects cleaned
    up, nothing refused."""
    settings = make_settings(
        nats=NatsSettings(url=f"nats://127.0.0.1:{guarded_nats.port}", ack_wait_seconds=5.0),
        s3=S3Settings(endpoint=seaweedfs, bucket=bucket),
    )

    def role(name: Role) -> dict[str, str]:
        return {
            "GALLERY_NATS_USER": credentials[name].user,
            "GALLERY_NATS_PASSWORD": credentials[name].password,
            "GALLERY_S3_ACCESS_KEY_ID": credentials[name].user,
            "GALLERY_S3_SECRET_ACCESS_KEY": credentials[name].password,
        }

    stack = Stack(settings, tmp_path / "logs")
    stack.launch_gateway(role("gateway"))
    stack.add_worker(role("worker"))
    try:
        await stack.wait_ready()
        await stack.wait_workers_ready()
        key = await issue_api_key(settings.mongo, "alice", "roles")
        headers = {"Authorization": f"Bearer {key}"}
        async with aiohttp.ClientSession(stack.url, headers=headers) as http:
            async with http.post("/v1/images", data=png_bytes(64, 48)) as sent:
                assert sent.status == 202, await sent.text()
                image_id = (await sent.json())["id"]

            async def ready() -> bool:
                async with http.get(f"/v1/images/{image_id}") as answer:
                    return bool((await answer.json())["status"] == "ready")

            await eventually(ready, "the upload rendered")
            async with http.get(f"/v1/images/{image_id}/renditions/thumb") as thumb:
                assert thumb.status == 200
            async with http.delete(f"/v1/images/{image_id}") as trashed:
                assert trashed.status == 204
            async with http.post(f"/v1/trash/{image_id}/restore") as restored:
                assert restored.status == 200
            async with http.delete(f"/v1/images/{image_id}?permanent=true") as gone:
                assert gone.status == 204

        admin = s3(seaweedfs, credentials["admin"])

        async def cleaned() -> bool:
            listed = await asyncio.to_thread(admin.list_objects_v2, Bucket=bucket)
            return not any(image_id in o["Key"] for o in listed.get("Contents", []))

        await eventually(cleaned, "the deleted image's objects removed")
        logs = "".join(p.read_text() for p in (tmp_path / "logs").glob("*.log")).lower()
        for refusal in ("permissions violation", "accessdenied", "access denied"):
            assert refusal not in logs, refusal
    finally:
        stack.stop()


async def test_a_client_without_credentials_may_only_declare(
    tmp_path: Path, credentials: dict[Role, Credential]
) -> None:
    """The cluster's NATS (components/nats/auth.conf): NACK connects without credentials and
    may declare streams and consumers; nothing it sends reaches a job or an event."""
    server = start_nats(
        tmp_path / "nats", authorization=nats_authorization(credentials, declarer=True)
    )
    violations = Violations()
    nc = await nats.connect(
        f"nats://127.0.0.1:{server.port}", error_cb=violations.on_error, max_reconnect_attempts=0
    )
    try:
        js = nc.jetstream()
        await js.add_stream(name="DECLARED", subjects=["declared.>"])
        assert (await js.stream_info("DECLARED")).config.name == "DECLARED"
        for subject in (f"gallery.job.render.{TOKEN}.0", f"gallery.image.ready.{TOKEN}"):
            await nc.publish(subject, b"{}")
            await nc.flush()
            assert await violations.refused(subject), violations.seen
        await nc.publish("$JS.API.STREAM.DELETE.DECLARED", b"")
        await nc.flush()
        assert await violations.refused("$JS.API.STREAM.DELETE.DECLARED"), violations.seen
    finally:
        await nc.close()
        server.stop()


async def test_catalog_users_get_only_their_roles_actions(
    tmp_path: Path, credentials: dict[Role, Credential]
) -> None:
    """The catalog stand-in (SecantusDB) with a user per role made from the roles' grants:
    what it enforces (actions per database), tried as the worker. It ignores a privilege's
    collection, so the worker's refusal on api_keys holds on MongoDB only (docs/security.md)."""
    data = tmp_path / "catalog"
    server = start_secantus(data)
    try:
        async with AsyncMongoClient(mongo_uri(server.port)) as root:
            for role in ROLES:
                await root["gallery"].command(catalog_role(role, "gallery"))
                await root["admin"].command(
                    "createUser",
                    credentials[role].user,
                    pwd=credentials[role].password,
                    roles=[{"role": f"gallery-{role}", "db": "gallery"}],
                )
    finally:
        server.stop()
    server = start_secantus(data, auth=True)
    worker = credentials["worker"]
    uri = (
        f"mongodb://{worker.user}:{worker.password}@127.0.0.1:{server.port}/"
        "?authSource=admin&directConnection=true"
    )
    try:
        async with AsyncMongoClient(uri) as client:
            images = client["gallery"]["images"]
            await images.insert_one({"_id": "img1", "tenant": "alice"})
            assert await images.find_one({"_id": "img1"}) is not None
            refused = [
                lambda: client.drop_database("gallery"),
                lambda: client["gallery"].drop_collection("images"),
                lambda: client["admin"].command("createUser", "mallory", pwd="x", roles=["root"]),
                lambda: client["other"]["images"].insert_one({"_id": "x"}),
            ]
            for call in refused:
                with pytest.raises(OperationFailure) as caught:
                    await call()
                assert caught.value.code == UNAUTHORIZED, caught.value
        async with AsyncMongoClient(mongo_uri(server.port)) as anonymous:
            with pytest.raises(OperationFailure):
                await anonymous["gallery"]["images"].find_one({})
    finally:
        server.stop()
