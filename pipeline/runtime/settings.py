"""One frozen settings model per process.

Every value comes from a ``GALLERY_`` environment variable; the first ``_`` after the
prefix separates the section from the field, so ``GALLERY_NATS_URL`` sets ``nats.url`` and
``GALLERY_LIMITS_MAX_UPLOAD_BYTES`` sets ``limits.max_upload_bytes``. The model is built once
in ``main`` and passed down; tests build it directly. Invalid values fail at start with every
bad variable named (see :func:`load_settings`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.domain.errors import ConfigurationError

ENV_PREFIX = "GALLERY_"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NatsSettings(_Section):
    """The JetStream bus."""

    url: str = Field("nats://127.0.0.1:4222", description="NATS server URL(s), comma separated")
    user: str = Field(
        "",
        description="NATS user of this process's role (gateway, worker or admin: each its own, "
        "from its Secret in Kubernetes; empty = connect without credentials)",
    )
    password: str = Field("", description="Password of the NATS user (from a Secret)")
    stream_replicas: int = Field(
        1, ge=1, le=5, description="Replicas of every stream (3 in production)"
    )
    max_deliver: int = Field(
        6, ge=1, description="Deliveries of a render job before it is dead-lettered"
    )
    ack_wait_seconds: float = Field(
        30.0, gt=0, description="Seconds without ack or heartbeat before JetStream redelivers a job"
    )
    backoff_base_seconds: float = Field(
        1.0, gt=0, description="First retry delay; doubles each attempt"
    )
    backoff_max_seconds: float = Field(60.0, gt=0, description="Upper bound of the retry delay")
    duplicate_window_seconds: float = Field(
        120.0, gt=0, description="JetStream de-duplication window for Nats-Msg-Id"
    )


class MongoSettings(_Section):
    """The catalog."""

    uri: str = Field("mongodb://127.0.0.1:27017/?directConnection=true", description="MongoDB URI")
    database: str = Field("gallery", description="Database name")
    timeout_seconds: float = Field(
        5.0,
        gt=0,
        description="Server selection, connect and per-operation timeout (`timeoutMS`): "
        "a hung catalog answers 503 after this long",
    )
    journal: bool = Field(
        True,
        description="Acknowledge a catalog write only once it is in the server's journal "
        "(write concern `w=1, j=true`): a catalog killed right after loses none of them",
    )
    embedded_cache_size: str = Field(
        "1G",
        pattern=r"^[1-9][0-9]{0,5}[MG]$",
        description="Cache of the catalog `gallery up` runs (SecantusDB `--cache-size`, e.g. "
        "`512M`, `2G`): what bounds its memory as the library grows; ignored by an external "
        "MongoDB",
    )


class StorageSettings(_Section):
    """Which object store holds originals and renditions."""

    backend: Literal["s3", "filesystem"] = Field("s3", description="`s3` or `filesystem`")
    root: Path = Field(Path(".gallery/objects"), description="Root folder of the filesystem store")


class S3Settings(_Section):
    """The S3-compatible object store."""

    endpoint: str = Field("http://127.0.0.1:9000", description="S3 endpoint URL")
    bucket: str = Field("gallery", description="Bucket for originals and renditions")
    region: str = Field("us-east-1", description="Region name sent to the server")
    access_key_id: str = Field("", description="Access key (from a Secret in Kubernetes)")
    secret_access_key: str = Field("", description="Secret key (from a Secret in Kubernetes)")
    part_bytes: int = Field(
        8 * 1024 * 1024,
        ge=5 * 1024 * 1024,
        description="Multipart upload part size (S3 minimum 5 MiB)",
    )
    presign_seconds: int = Field(900, ge=1, description="Lifetime of presigned GET URLs")
    public_endpoint: str = Field(
        "",
        description="S3 endpoint URL browsers can reach, used in presigned URLs "
        "(empty = the endpoint)",
    )
    create_bucket: bool = Field(False, description="Create the bucket at start if it is missing")
    max_attempts: int = Field(
        4,
        ge=1,
        description="Tries per S3 request (botocore's standard mode: backoff with jitter on "
        "5xx, throttling and connection errors); 1 = no retry",
    )


class LimitsSettings(_Section):
    """What input is accepted. Every limit is checked by the gateway and again by the worker."""

    max_upload_bytes: int = Field(
        100 * 1024 * 1024, ge=1, description="Largest accepted upload (413 above)"
    )
    max_pixels: int = Field(
        120_000_000,
        ge=1,
        description="Largest width x height (422 above): stops decompression bombs",
    )
    max_side: int = Field(30_000, ge=1, description="Largest width or height in pixels")
    max_frames: int = Field(200, ge=1, description="Most frames (pages) an animated image may have")
    max_jpeg_scans: int = Field(
        100,
        ge=1,
        description="Most scans a progressive JPEG may have (422 above): each scan is another "
        "decode pass over the whole image",
    )
    max_video_upload_bytes: int = Field(
        4 * 1024**3,
        ge=1,
        description="Largest accepted video upload (413 above; use tus for big files)",
    )
    max_video_seconds: float = Field(
        3600.0, gt=0, description="Longest accepted video, by its header (422 above)"
    )
    max_video_pixels: int = Field(
        7680 * 4320,
        ge=1,
        description="Largest video frame, width x height (422 above; default 8K UHD)",
    )
    max_video_streams: int = Field(
        8, ge=1, description="Most audio and video streams a video may have (422 above)"
    )
    max_motion_seconds: float = Field(
        30.0,
        gt=0,
        description="Longest video inside a motion photo made into its `motion` rendition "
        "(longer: the photo renders without it, its metadata says why)",
    )
    render_timeout_seconds: float = Field(120.0, gt=0, description="Deadline of one render job")
    deep_zoom_min_side: int = Field(
        8192,
        ge=0,
        description="Photos whose long side is above this many pixels (panoramas, 45 MP and "
        "larger cameras) also get Deep Zoom tiles (the `tiles` rendition, decoded at full "
        "size); 0 turns tiles off",
    )
    animated_max_side: int = Field(
        640,
        ge=16,
        le=4096,
        description="Long side of each frame of the `animated` rendition (an animated GIF or "
        "WebP as an animated WebP)",
    )
    animated_max_frames: int = Field(
        200, ge=2, description="Frames the `animated` rendition keeps (the first ones)"
    )
    animated_max_pixels: int = Field(
        40_000_000,
        ge=1,
        description="Pixels of all frames of the `animated` rendition together; frames "
        "shrink to stay under it",
    )
    animated_max_bytes: int = Field(
        8 * 1024 * 1024,
        ge=1024,
        description="Largest `animated` rendition; over it the frames are halved (twice), "
        "then the rendition is left out",
    )
    letterbox_ratio: float = Field(
        4.0,
        ge=1.0,
        description="Cropped renditions (the grid's `thumb`) of photos whose long side is more "
        "than this many times the short one are fitted and padded instead of cut to a sliver",
    )

    @property
    def largest_upload_bytes(self) -> int:
        """The largest upload of any type: what a size declared before the first byte (a
        Content-Length, a tus Upload-Length) is held to until the bytes say photo or video."""
        return max(self.max_upload_bytes, self.max_video_upload_bytes)

    def upload_limit(self, mime: str) -> tuple[str, int]:
        """The setting's name and byte limit for an upload of type ``mime``."""
        if mime.startswith("video/"):
            return "max_video_upload_bytes", self.max_video_upload_bytes
        return "max_upload_bytes", self.max_upload_bytes

    upload_timeout_seconds: float = Field(
        600.0,
        gt=0,
        description="Longest an upload may take to arrive (408 above): stops trickling clients",
    )


class TusSettings(_Section):
    """Resumable uploads (tus 1.0) at ``/v1/uploads``; the size limit is ``max_upload_bytes``."""

    expire_seconds: float = Field(
        24 * 3600.0,
        gt=0,
        description="An unfinished resumable upload expires this long after its creation "
        "(absolute: PATCHes do not extend it)",
    )
    min_patch_bytes: int = Field(
        64 * 1024,
        ge=1,
        description="Smallest PATCH body but the one that completes the upload (400 below, "
        "the bytes are discarded): bounds the tail segments and catalog writes per byte",
    )
    part_bytes: int = Field(
        8 * 1024 * 1024,
        ge=5 * 1024 * 1024,
        description="Part size of a resumable upload in the object store (S3 minimum 5 MiB)",
    )
    lock_seconds: float = Field(
        60.0,
        gt=0,
        description="Lease of the lock a PATCH holds (renewed while it runs; frees a crashed one)",
    )
    sweep_interval_seconds: float = Field(
        300.0, gt=0, description="Seconds between sweeps that remove expired uploads"
    )
    sweep_batch: int = Field(
        500, ge=1, le=10_000, description="Expired uploads read per batch of a sweep"
    )
    sweep_max_per_pass: int = Field(
        5_000,
        ge=1,
        description="Expired uploads removed per sweep at most (the rest go in the next one)",
    )


class QuotaSettings(_Section):
    """Per-key upload rate and per-tenant quota, shared by every gateway replica (catalog)."""

    uploads_per_minute: int = Field(
        600,
        ge=0,
        description="Uploads one API key may start a minute (429 above); 0 = no limit",
    )
    patches_per_minute: int = Field(
        1200,
        ge=0,
        description="tus PATCHes one API key may send a minute (429 above); 0 = no limit",
    )
    bytes_per_minute: int = Field(
        4 * 1024**3,
        ge=0,
        description="Body bytes of uploads and PATCHes one API key may send a minute (429 "
        "above; counted by Content-Length, or as received for a chunked body); 0 = no limit",
    )
    albums_per_minute: int = Field(
        60,
        ge=0,
        description="Albums one tenant may create a minute, all its keys together (429 "
        "above); 0 = no limit",
    )
    max_bytes: int = Field(
        0, ge=0, description="Bytes of originals a key's tenant may store (403 above); 0 = no quota"
    )
    max_images: int = Field(
        0, ge=0, description="Images a key's tenant may have (403 above); 0 = no quota"
    )
    stream_reserve_bytes: int = Field(
        8 * 1024 * 1024,
        ge=64 * 1024,
        description="A POST without Content-Length (chunked) reserves its bytes against the "
        "byte quota in steps of this size as they arrive (exactly what arrived near the "
        "quota's edge): 403 `bytes` mid-body once the next bytes do not fit",
    )
    max_open_uploads: int = Field(
        100,
        ge=1,
        description="Unfinished resumable uploads one tenant may hold (403 above); each "
        "reserves its Upload-Length against the byte quota until it completes or expires",
    )


class ShareSettings(_Section):
    """Share links: capability URLs to one album or one photo."""

    default_expiry_seconds: int = Field(
        7 * 86400, ge=60, description="Lifetime of a share link made without expires_in_seconds"
    )
    max_expiry_seconds: int = Field(
        90 * 86400,
        ge=60,
        description="Longest lifetime a share link may be given (400 above)",
    )
    # Every thumbnail is a request: one visitor scrolling a 500-photo album makes ~520 in
    # its first minute, so the address limit sits above that and the link's above a few.
    requests_per_minute: int = Field(
        6000, ge=0, description="Requests one share link answers a minute (429 above); 0 = no limit"
    )
    address_requests_per_minute: int = Field(
        1200,
        ge=0,
        description="Share-link requests one client address may make a minute (429 above); "
        "0 = no limit",
    )

    @model_validator(mode="after")
    def _default_within_max(self) -> ShareSettings:
        if self.default_expiry_seconds > self.max_expiry_seconds:
            raise ValueError("default_expiry_seconds must not exceed max_expiry_seconds")
        return self


class GatewaySettings(_Section):
    """The HTTP gateway."""

    host: str = Field("0.0.0.0", description="Listen address")
    port: int = Field(8080, ge=0, le=65535, description="Listen port")
    public_url: str = Field("http://127.0.0.1:8080", description="Base URL used in links")
    page_size: int = Field(50, ge=1, le=500, description="Default page size of GET /v1/images")
    search_max_chars: int = Field(
        200,
        ge=1,
        description="Longest ?q=, ?camera= or ?lens= of GET /v1/images (400 above): each word "
        "is one more index term every candidate must hold",
    )
    max_concurrent_uploads: int = Field(
        32,
        ge=1,
        description="Uploads one gateway process receives at once (503 above); bounds its memory",
    )
    shutdown_timeout_seconds: float = Field(
        20.0, gt=0, description="Grace for open requests on stop"
    )
    key_cache_seconds: float = Field(
        4.0,
        gt=0,
        description="How long a gateway trusts a key it looked up; bounds how long a revoked "
        "key works if the bus announcement is missed",
    )
    tls_cert_file: str = Field(
        "",
        description="PEM certificate chain: with GALLERY_GATEWAY_TLS_KEY_FILE the gateway "
        "serves HTTPS itself (and sends HSTS); empty = plain HTTP behind a TLS-terminating edge",
    )
    tls_key_file: str = Field("", description="PEM private key of GALLERY_GATEWAY_TLS_CERT_FILE")
    ready_interval_seconds: float = Field(
        2.0,
        gt=0,
        description="Longest /readyz reuses its last backend checks: however many ask, the "
        "gateway checks its backends at most once per interval",
    )
    admin_listener: Literal["ops", "public"] = Field(
        "ops",
        description="Where the /v1/admin/ routes are served: `ops` (the metrics port, off the "
        "public listener; needs GALLERY_METRICS_PORT) or `public` (beside the API)",
    )
    admin_key: str = Field(
        "",
        description="Bearer key of the /v1/admin/ routes (API key management); empty = "
        "admin routes refuse every call",
    )
    redirect_downloads: bool = Field(
        False,
        description="Answer originals and renditions with a 302 to a presigned S3 URL "
        "(as `?redirect=1` does per request); the filesystem store always streams",
    )
    event_queue_size: int = Field(
        256,
        ge=1,
        description="Live events held for one /v1/events stream; a client further behind is "
        "disconnected with event: error and resumes with Last-Event-ID",
    )
    tile_indexes_cached: int = Field(
        64,
        ge=1,
        description="Deep Zoom tile archives whose ZIP index a gateway keeps in memory (each "
        "~100 bytes per tile), so a tile costs one ranged read of the store",
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> GatewaySettings:
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ValueError("set both GALLERY_GATEWAY_TLS_CERT_FILE and _TLS_KEY_FILE, or none")
        return self


class EdgeSettings(_Section):
    """What the gateway grants one connection or one client address before it cuts it off
    (slow and idle clients); a limit over many addresses belongs to the edge proxy
    (docs/security.md)."""

    header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="Longest a request head (request line and headers) may take to arrive, "
        "from the connection's start or the first byte of a next request; the connection "
        "closes after it",
    )
    keepalive_seconds: float = Field(
        15.0,
        gt=0,
        description="Longest an idle keep-alive connection stays open between requests",
    )
    body_idle_seconds: float = Field(
        30.0,
        gt=0,
        description="Longest wait for the next bytes of a request body (408 after it)",
    )
    min_body_bytes: int = Field(
        16 * 1024,
        ge=0,
        description="Bytes of a request body that must arrive in every "
        "GALLERY_EDGE_MIN_BODY_INTERVAL_SECONDS (408 below: a trickling upload); 0 = no minimum",
    )
    min_body_interval_seconds: float = Field(
        10.0, gt=0, description="Interval over which GALLERY_EDGE_MIN_BODY_BYTES is measured"
    )
    max_connections_per_address: int = Field(
        64,
        ge=1,
        description="Open connections one client address may hold (further ones get 503 "
        "and are closed)",
    )


class FairShareSettings(_Section):
    """Fair shares of one gateway process: what one API key and one tenant may hold at once.

    The process-wide caps are GALLERY_GATEWAY_MAX_CONCURRENT_UPLOADS and
    GALLERY_FAIR_EVENT_STREAMS; a tenant at its share gets 429, so it never fills the
    process for the others while its share is below the process cap.
    """

    uploads_per_tenant: int = Field(
        16, ge=1, description="Uploads and tus PATCHes one tenant may send to one gateway at once"
    )
    uploads_per_key: int = Field(
        8, ge=1, description="Uploads and tus PATCHes one API key may send to one gateway at once"
    )
    event_streams: int = Field(
        1024, ge=1, description="Open /v1/events streams one gateway serves (503 above)"
    )
    event_streams_per_tenant: int = Field(
        64, ge=1, description="Open /v1/events streams of one tenant on one gateway"
    )
    event_streams_per_key: int = Field(
        8, ge=1, description="Open /v1/events streams of one API key on one gateway"
    )


class WorkerSettings(_Section):
    """The render worker."""

    concurrency: int = Field(0, ge=0, description="Parallel render jobs; 0 = number of CPUs")
    fetch_batch: int = Field(4, ge=1, description="Messages pulled per fetch")
    drain_timeout_seconds: float = Field(
        25.0, gt=0, description="On SIGTERM, wait this long for in-flight jobs (< grace period)"
    )
    store_gps: bool = Field(False, description="Keep GPS coordinates in extracted metadata")
    vips_concurrency: int = Field(
        0,
        ge=0,
        description="libvips threads per render; 0 = libvips' default (every CPU of the "
        "machine, not of the pod: set it in containers)",
    )
    spool_dir: str = Field(
        "",
        description="Directory of the temporary files originals are streamed into for "
        "rendering (empty = the system's temporary directory)",
    )
    spool_bytes: int = Field(
        1024**3,
        ge=1,
        description="Disk space the originals being rendered may take at once (keep it under "
        "the worker's /tmp emptyDir, 2 Gi); a job over it waits and retries, an original "
        "larger than all of it fails",
    )
    render_memory_bytes: int = Field(
        1536 * 1024**2,
        ge=64 * 1024**2,
        description="Memory limit of each render process (RLIMIT_DATA); a render over it "
        "fails with render_memory",
    )
    render_cpu_seconds: float = Field(
        300.0,
        gt=0,
        description="CPU time one render may use (RLIMIT_CPU, every libvips thread counted); "
        "a render over it is killed and fails with render_timeout",
    )
    render_process_cpu_seconds: float = Field(
        3600.0,
        gt=0,
        description="CPU time a render process may use in its life (hard RLIMIT_CPU); it is "
        "replaced by a fresh one before it runs out",
    )
    render_env_pass: str = Field(
        "",
        description="Comma-separated names of extra environment variables the render "
        "processes inherit (a profiler's, a test hook's); never a secret: they start with an "
        "allow-listed environment",
    )
    max_crashes: int = Field(
        3,
        ge=1,
        description=(
            "Renders of one image that may kill their worker (or render process) before the"
            " image fails; below GALLERY_NATS_MAX_DELIVER it fails within one round"
        ),
    )
    max_rounds: int = Field(
        10,
        ge=1,
        description=(
            "Rounds of retries (GALLERY_NATS_MAX_DELIVER deliveries each) a dependency outage"
            " may take before the image fails with the last error; between rounds it is queued"
        ),
    )

    @model_validator(mode="after")
    def _cpu_budget(self) -> WorkerSettings:
        if self.render_process_cpu_seconds < self.render_cpu_seconds:
            raise ValueError(
                "render_process_cpu_seconds must be at least render_cpu_seconds (a render "
                "process must afford one render)"
            )
        return self


class JobsSettings(_Section):
    """The job lanes' consumer limits (pipeline.jobs.registry declares the lanes)."""

    render_max_ack_pending: int = Field(
        1000, ge=1, description="Render jobs delivered and not yet acknowledged, cluster-wide"
    )
    backfill_max_ack_pending: int = Field(
        8,
        ge=1,
        description="Backfill jobs delivered and not yet acknowledged, cluster-wide (a backfill "
        "of a million photos holds at most this many)",
    )
    cleanup_max_ack_pending: int = Field(
        1000, ge=1, description="Cleanup jobs delivered and not yet acknowledged, cluster-wide"
    )
    cleanup_slots: int = Field(
        4, ge=1, description="Cleanup jobs one worker runs at once (a few deletes each, no CPU)"
    )
    video_slots: int = Field(
        1,
        ge=0,
        description="Video jobs one worker runs at once, in render processes of their own (a "
        "transcode never holds a photo's render slot); 0: this worker takes no video jobs, "
        "which wait in the video lane for a worker that does",
    )
    video_max_ack_pending: int = Field(
        100, ge=1, description="Video jobs delivered and not yet acknowledged, cluster-wide"
    )
    video_timeout_base_seconds: float = Field(
        60.0, gt=0, description="Render budget of a video job before its duration counts"
    )
    video_timeout_per_video_second: float = Field(
        2.0,
        ge=0,
        description="Seconds of render budget per second of video, added to the base",
    )
    video_timeout_max_seconds: float = Field(
        4 * 3600.0, gt=0, description="Longest render budget of one video job, whatever it lasts"
    )
    tenant_queued: int = Field(
        4,
        ge=1,
        description="Render jobs one tenant (of weight 1) may have waiting in the render stream; "
        "the rest wait in the catalog. Bounds another tenant's wait; set it to about the "
        "cluster's render slots",
    )
    tenant_weights: str = Field(
        "",
        description="Tenants with more than one share of the render stream: tenant=weight, "
        "comma separated (e.g. acme=4,studio=2); others weigh 1",
    )

    @field_validator("tenant_weights")
    @classmethod
    def _weights_parse(cls, value: str) -> str:
        parse_weights(value)
        return value

    def video_timeout_seconds(self, duration_seconds: float | None) -> float:
        """A video job's render deadline in seconds: base + per-second x duration, at most
        the cap (the base alone when the header stated no duration)."""
        budget = self.video_timeout_base_seconds + self.video_timeout_per_video_second * (
            duration_seconds or 0.0
        )
        return min(budget, self.video_timeout_max_seconds)

    def weight(self, tenant: str) -> int:
        """The tenant's share of the render stream (1 unless ``tenant_weights`` names it)."""
        return parse_weights(self.tenant_weights).get(tenant, 1)


def parse_weights(text: str) -> dict[str, int]:
    """``acme=4,studio=2`` -> {"acme": 4, "studio": 2}; ValueError names a bad entry."""
    weights: dict[str, int] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        tenant, sep, number = entry.rpartition("=")
        if not sep or not tenant.strip() or not number.strip().isdigit() or int(number) < 1:
            raise ValueError(f"expected tenant=weight (weight 1 or more), got {entry!r}")
        weights[tenant.strip()] = int(number)
    return weights


class SweeperSettings(_Section):
    """The sweeper that republishes images stuck in `queued` or under an expired lease."""

    interval_seconds: float = Field(30.0, gt=0, description="Seconds between sweeps")
    stale_after_seconds: float = Field(
        60.0,
        gt=0,
        description="Age after which a queued image (or an expired lease) is republished",
    )
    batch_size: int = Field(
        500,
        ge=1,
        le=10_000,
        description="Images read per batch of a sweep (stale images; images of a deleted album, "
        "taken off it in one write per batch)",
    )
    max_per_pass: int = Field(
        5_000,
        ge=1,
        description="Images a sweep republishes (and takes off deleted albums) at most; the "
        "rest in the next sweep",
    )


class TrashSettings(_Section):
    """The trash: deleted photos wait here, restorable, until purged."""

    retention_days: float = Field(
        30.0,
        ge=0,
        description="Days a photo stays in the trash before the sweeper purges it for good",
    )
    sweep_interval_seconds: float = Field(
        300.0, gt=0, description="Seconds between purges of the trash past its retention"
    )


class ReconcileSettings(_Section):
    """`gallery reconcile`: store and catalog compared, mismatches fixed."""

    min_age_seconds: float = Field(
        3600.0,
        ge=0,
        description=(
            "Objects and documents younger than this are never touched (uploads, resumable"
            " uploads and renders in flight)"
        ),
    )
    batch_size: int = Field(
        500,
        ge=1,
        le=10_000,
        description="Images per batch of the catalog walk of `gallery reconcile` and "
        "`gallery backfill` (one bounded index range each)",
    )
    batch_pause_seconds: float = Field(
        0.05,
        ge=0,
        description="Pause after each batch of those walks, so uploads never wait behind them",
    )


class MetricsSettings(_Section):
    """Prometheus exposition."""

    host: str = Field("0.0.0.0", description="Listen address of the metrics endpoint")
    port: int = Field(9100, ge=0, le=65535, description="Metrics port (0 disables)")
    backlog_interval_seconds: float = Field(
        15.0,
        ge=0,
        description="How often the gateway counts the images queued for a render in the catalog "
        "(gallery_render_backlog, which KEDA and the backlog alert read; 0: never)",
    )


class Settings(BaseSettings):
    """All settings of one gallery process."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        frozen=True,
        extra="ignore",
        case_sensitive=False,
    )

    nats: NatsSettings = NatsSettings()
    mongo: MongoSettings = MongoSettings()
    storage: StorageSettings = StorageSettings()
    s3: S3Settings = S3Settings()
    limits: LimitsSettings = LimitsSettings()
    gateway: GatewaySettings = GatewaySettings()
    edge: EdgeSettings = EdgeSettings()
    fair: FairShareSettings = FairShareSettings()
    tus: TusSettings = TusSettings()
    quota: QuotaSettings = QuotaSettings()
    share: ShareSettings = ShareSettings()
    worker: WorkerSettings = WorkerSettings()
    jobs: JobsSettings = JobsSettings()
    sweeper: SweeperSettings = SweeperSettings()
    trash: TrashSettings = TrashSettings()
    reconcile: ReconcileSettings = ReconcileSettings()
    metrics: MetricsSettings = MetricsSettings()
    renditions: str = Field(
        "", description="Rendition spec as JSON (empty = the default thumb/preview/large spec)"
    )
    log_level: str = Field("INFO", description="Log level")

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return upper


SECTIONS: dict[str, type[_Section]] = {
    name: field.annotation
    for name, field in Settings.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, _Section)
}


def env_names() -> dict[str, str]:
    """Every environment variable the settings read, mapped to its description."""
    names: dict[str, str] = {}
    for section, model in SECTIONS.items():
        for field_name, field in model.model_fields.items():
            names[f"{ENV_PREFIX}{section}_{field_name}".upper()] = field.description or ""
    for field_name, field in Settings.model_fields.items():
        if field_name not in SECTIONS:
            names[f"{ENV_PREFIX}{field_name}".upper()] = field.description or ""
    return names


def load_settings() -> Settings:
    """Build settings from the environment, naming every bad or unknown variable at once."""
    known = env_names()
    unknown = sorted(
        k for k in os.environ if k.upper().startswith(ENV_PREFIX) and k.upper() not in known
    )
    problems = [f"{name}: not a known setting" for name in unknown]
    settings: Settings | None = None
    try:
        settings = Settings()
    except ValidationError as exc:
        for error in exc.errors():
            location = "_".join(str(part) for part in error["loc"])
            problems.append(f"{ENV_PREFIX}{location}".upper() + f": {error['msg']}")
    if problems or settings is None:
        raise ConfigurationError("invalid settings:\n  " + "\n  ".join(problems))
    return settings


def to_env(settings: Settings) -> dict[str, str]:
    """The environment variables that reproduce ``settings`` in another process."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump(mode="json").items():
        items = value.items() if name in SECTIONS else [(None, value)]
        for field_name, field_value in items:
            key = f"{ENV_PREFIX}{name}" + (f"_{field_name}" if field_name else "")
            rendered = (
                str(field_value).lower() if isinstance(field_value, bool) else str(field_value)
            )
            env[key.upper()] = rendered
    return env


def markdown_table() -> str:
    """The configuration table of the README, generated from the model (a test keeps them equal)."""
    defaults = to_env(Settings.model_construct())
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, description in env_names().items():
        default = defaults.get(name, "")
        rows.append(
            f"| `{name}` | `{default}` | {description} |"
            if default
            else f"| `{name}` | | {description} |"
        )
    return "\n".join(rows)
