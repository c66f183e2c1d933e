"""Server settings: every limit has a safe default and an environment variable `LAMINA_<NAME>`."""

from __future__ import annotations

from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAMINA_")

    host: str = "127.0.0.1"
    port: int = 8000
    device: Literal["auto", "cpu", "gpu"] = "auto"

    # uploads
    max_upload_bytes: int = 10_000_000
    max_image_pixels: int = 16_000_000
    max_uploads: int = 64
    max_uploads_per_address: int = 16  # one client's uploads beyond this evict its own oldest, not others'
    max_upload_store_bytes: int = 512_000_000  # decoded float32 images held in memory, all together
    max_stored_side: int = 1024  # an upload is kept at most this many pixels on its longer side (the lab works at 512)
    upload_ttl_seconds: float = 3600.0

    # runs
    max_input_elements: int = 4 * 1024 * 1024  # elements of the input tensor of one run
    max_tensor_elements: int = 16 * 1024 * 1024  # elements of any layer output in one run
    max_work_flops: int = 20_000_000_000  # multiply-adds per run, estimated from the spec before computing
    max_parameter_elements: int = 32 * 1024 * 1024  # weights of one requested network, checked before building it
    max_concurrent_runs: int = 8  # runs computing at once, over all sockets
    run_queue_seconds: float = 1.0  # how long a run waits for a free slot before "server busy"
    max_sockets: int = 64
    max_sockets_per_address: int = 32  # open sockets of one client address, on each of /ws/run and /ws/live
    max_message_bytes: int = 4_000_000  # one WebSocket text message from a client
    # a client that stops reading: a message not taken within send_stall_seconds plus its size at
    # slow_client_bytes_per_second ends the run (freeing its slot) and closes the socket
    send_stall_seconds: float = 15.0
    slow_client_bytes_per_second: int = 250_000
    max_spec_layers: int = 64
    share_identical_runs: bool = True  # requests equal but for their id share one computation (shared_runs.py)

    # live classroom sessions (/ws/live)
    max_live_sessions: int = 64
    max_live_followers: int = 500  # followers of one session
    max_live_sockets: int = 2000  # open /ws/live sockets, all together
    live_grace_seconds: float = 30.0  # how long a session waits for its presenter's next page
