"""The service under hostile and careless input: a real `masklet serve` process on the
shared MP4, concurrent readers of one video, bombs that would spend memory or disk
before a limit is checked, links out of the data root, unbounded work, lies and
leftovers. Each test fails on the service as it was before these checks."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from masklet.rle import rle_encode

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`masklet serve` as a child process, so a crash shows as a dead process, not a dead test run."""

    def __init__(self, tmp: Path, root: Path, *args: str) -> None:
        self.tmp, self.port = tmp, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"serve-{self.port}.log"
        env = dict(os.environ, TMPDIR=str(tmp))  # its spooled uploads and session folders land here
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "masklet", "serve", "--port", str(self.port), "--data-root", str(root), "--token", TOKEN, *args],
            stdout=open(self.log, "w"), stderr=subprocess.STDOUT, env=env,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(self.url + "/api/info", headers=AUTH).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None and time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.2)

    def alive(self) -> bool:
        try:
            return self.proc.poll() is None and httpx.get(self.url + "/api/info", headers=AUTH, timeout=30).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)


@pytest.fixture(scope="module")
def root(tmp_path_factory, shared_data: Path) -> Path:
    root = tmp_path_factory.mktemp("root")
    shutil.copy(shared_data / "videos" / "bedroom.mp4", root / "bedroom.mp4")
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory, root: Path):
    srv = Server(tmp_path_factory.mktemp("srv"), root, "--max-upload-mb", "5")
    yield srv
    srv.stop()


def test_concurrent_frames_overlays_and_zips_during_a_propagation_on_one_mp4(server: Server) -> None:
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=300) as client:
        sid = client.post("/api/sessions", data={"path": "bedroom.mp4"}).json()["session_id"]
        assert client.post(f"/api/sessions/{sid}/prompts", json={"points": [[300, 250]]}).status_code == 200
        events: list[str] = []

        def propagate() -> None:
            with client.stream("POST", f"/api/sessions/{sid}/propagate", json={"max_frames": 60}) as r:
                events.extend(line[7:] for line in r.iter_lines() if line.startswith("event: "))

        runner = threading.Thread(target=propagate)
        runner.start()
        # The reproduction, many times over, beside the propagation's own decoding.
        frames = [10, 150, 60, 190, 30, 120, 5, 170] * 4
        urls = [f"/api/sessions/{sid}/frames/{t}" for t in frames] + [f"/api/sessions/{sid}/masks.zip"] * 2
        urls += [f"/api/sessions/{sid}/overlay.mp4"] * 2
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda u: client.get(u).status_code, urls))
        runner.join(300)
        assert server.alive(), server.log.read_text()[-2000:]
        assert codes == [200] * len(urls)
        assert events[-1] == "done" and events.count("frame") == 61
        # Frames decoded concurrently are the frames decoded alone.
        alone = client.get(f"/api/sessions/{sid}/frames/150?quality=95").content
        with ThreadPoolExecutor(4) as pool:
            together = list(pool.map(lambda t: client.get(f"/api/sessions/{sid}/frames/{t}?quality=95").content, [150, 3, 150, 99]))
        assert together[0] == together[2] == alone
        client.delete(f"/api/sessions/{sid}")


def test_an_rle_mask_claiming_a_huge_size_is_refused_before_it_is_decoded(server: Server) -> None:
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as client:
        sid = client.post("/api/sessions", data={"path": "bedroom.mp4"}).json()["session_id"]
        before = peak_rss_mb(server.proc.pid)
        body = b'{"mask": {"size": [40000, 40000], "counts": [0, 1600000000]}}'
        r = client.post(f"/api/sessions/{sid}/prompts", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "40000x40000" in r.json()["detail"] and "960x540" in r.json()["detail"]
        assert peak_rss_mb(server.proc.pid) - before < 200  # decoding it would take 1.6 GB
        client.delete(f"/api/sessions/{sid}")


@pytest.mark.parametrize("side", [12000, 20000])
def test_an_image_over_max_pixels_is_refused_from_its_header(server: Server, side: int, png_bomb) -> None:
    bomb = png_bomb(side, side)
    assert len(bomb) < 1_000_000
    before = peak_rss_mb(server.proc.pid)
    r = httpx.post(server.url + "/api/sessions", headers=AUTH, files={"file": ("big.png", bomb)}, timeout=60)
    assert r.status_code == 413, r.text
    assert f"{side}x{side}" in r.json()["detail"] or "too large" in r.json()["detail"]
    assert peak_rss_mb(server.proc.pid) - before < 200  # decoding would take 0.4-1.2 GB
    assert server.alive()


def test_a_chunked_upload_stops_at_the_limit_on_disk(server: Server) -> None:
    """60 MB without a Content-Length against a 5 MB limit: the server stops reading."""
    boundary = "masklet-test-boundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.mp4\"\r\n"
            f"Content-Type: video/mp4\r\n\r\n").encode()
    spool = server.tmp
    biggest, stop = [0], threading.Event()

    def watch() -> None:  # the most the server ever holds on disk, spooled or saved
        while not stop.is_set():
            size = sum(f.stat().st_size for f in spool.rglob("*") if f.is_file() and not f.name.endswith(".log"))
            biggest[0] = max(biggest[0], size)
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    sent, reply = 0, b""
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(f"POST /api/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                  f"Content-Type: multipart/form-data; boundary={boundary}\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        payload = head + b"\x00" * (60 << 20)
        s.settimeout(10)
        try:
            for i in range(0, len(payload), 1 << 16):
                piece = payload[i:i + (1 << 16)]
                s.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
                sent += len(piece)
        except OSError:
            pass  # the server answered and closed: what we wanted
        try:
            while chunk := s.recv(65536):
                reply += chunk
        except OSError:
            pass
    time.sleep(0.3)
    stop.set()
    watcher.join()
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b"5 MB" in reply
    assert sent < 40 << 20  # it stopped reading; socket buffers hold the rest
    assert biggest[0] < 8 << 20, biggest[0]
    assert server.alive()


def test_tokens_in_urls_only_on_download_links_and_never_in_the_log(server: Server) -> None:
    assert httpx.get(f"{server.url}/api/info?token={TOKEN}").status_code == 401
    assert httpx.get(f"{server.url}/api/sessions?token={TOKEN}").status_code == 401
    sid = httpx.post(server.url + "/api/sessions", headers=AUTH, data={"path": "bedroom.mp4"}).json()["session_id"]
    httpx.post(f"{server.url}/api/sessions/{sid}/prompts", headers=AUTH, json={"points": [[300, 250]]}, timeout=60)
    r = httpx.get(f"{server.url}/api/sessions/{sid}/masks.zip?token={TOKEN}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert httpx.get(f"{server.url}/api/sessions/{sid}/overlay.mp4?token={TOKEN}", timeout=60).status_code == 200
    assert httpx.get(f"{server.url}/api/sessions/{sid}/frames/0?token={TOKEN}").status_code == 401
    httpx.delete(f"{server.url}/api/sessions/{sid}", headers=AUTH)
    log = server.log.read_text()
    assert "masks.zip?token=***" in log and TOKEN not in log


def test_a_killed_server_s_folders_are_removed_by_the_next_one(tmp_path: Path, root: Path) -> None:
    first = Server(tmp_path, root)
    sid = httpx.post(first.url + "/api/sessions", headers=AUTH, files={"file": ("a.png", _png(64, 48))}).json()["session_id"]
    (folder,) = [p for p in tmp_path.glob("masklet-serve-*/*") if (p / sid).is_dir()]
    first.stop(signal.SIGKILL)
    assert folder.is_dir()  # -9 leaves it behind
    unrelated = folder.parent / "not-masklets"
    unrelated.mkdir()
    second = Server(tmp_path, root)
    try:
        assert not folder.exists() and unrelated.is_dir()
    finally:
        second.stop()
    assert not any(p.name.startswith(f"{second.proc.pid}-") for p in folder.parent.iterdir())  # a clean stop removes its own


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (40, 90, 160)).save(buf, format="PNG")
    return buf.getvalue()


# -- the service in process --------------------------------------------------------------


@pytest.fixture(scope="module")
def local(serve, root: Path) -> str:
    return serve(data_root=root)


def test_links_out_of_the_data_root_are_not_followed(serve, tmp_path: Path, shared_data: Path) -> None:
    data = tmp_path / "data"
    frames = data / "clip"
    frames.mkdir(parents=True)
    for i in range(3):
        shutil.copy(shared_data / "videos" / "bedroom" / f"{i:05d}.jpg", frames / f"{i:05d}.jpg")
    secret = tmp_path / "secret.jpg"
    Image.new("RGB", (960, 540), (255, 0, 0)).save(secret)
    base = serve(data_root=data)
    # A link inside the folder to a file outside: refused when the folder is opened ...
    (frames / "00001.jpg").unlink()
    (frames / "00001.jpg").symlink_to(secret)
    r = httpx.post(base + "/api/sessions", data={"path": "clip"})
    assert r.status_code == 403 and "00001.jpg" in r.json()["detail"] and str(tmp_path) not in r.json()["detail"]
    # ... and when a frame becomes such a link after it was opened.
    shutil.copy(shared_data / "videos" / "bedroom" / "00001.jpg", frames / "00001.jpg.tmp")
    (frames / "00001.jpg").unlink()
    (frames / "00001.jpg.tmp").rename(frames / "00001.jpg")
    sid = httpx.post(base + "/api/sessions", data={"path": "clip"}).json()["session_id"]
    assert httpx.get(f"{base}/api/sessions/{sid}/frames/1").status_code == 200
    (frames / "00002.jpg").unlink()
    (frames / "00002.jpg").symlink_to(secret)
    r = httpx.get(f"{base}/api/sessions/{sid}/frames/2")
    assert r.status_code == 403 and "outside the data root" in r.json()["detail"]
    # A link that stays inside the root is fine.
    (frames / "00002.jpg").unlink()
    (frames / "00002.jpg").symlink_to(frames / "00000.jpg")
    assert httpx.get(f"{base}/api/sessions/{sid}/frames/2").status_code == 200


def test_unbounded_work_is_refused_naming_the_cap(local: str) -> None:
    with httpx.Client(base_url=local, timeout=60) as client:
        sid = client.post("/api/sessions", data={"path": "bedroom.mp4"}).json()["session_id"]
        prompts = f"/api/sessions/{sid}/prompts"
        many = [[float(x % 900), float(x % 500)] for x in range(1001)]
        t0 = time.perf_counter()
        r = client.post(prompts, json={"points": many})
        assert r.status_code == 413 and "1000 points" in r.json()["detail"] and time.perf_counter() - t0 < 5
        assert client.post(prompts, json={"points": many[:600]}).status_code == 200
        r = client.post(prompts, json={"points": many[600:]})  # added to the 600 already there
        assert r.status_code == 413 and "600 points already" in r.json()["detail"]
        assert client.post(prompts, json={"points": many[600:], "clear_old_points": True}).status_code == 200
        # Boxes are checked against the frame.
        for box in ([0, 0, float("inf"), float("inf")], [2000, 2000, 3000, 3000], [-50, -50, -10, -10]):
            r = client.post(prompts, content=json.dumps({"obj_id": 2, "box": box}), headers={"Content-Type": "application/json"})
            assert r.status_code == 400 and "box" in r.json()["detail"], (box, r.text)
        assert client.post(prompts, json={"obj_id": 2, "box": [-20, -20, 500, 400]}).status_code == 200  # overlapping: fine
        # Bodies other than prompts and uploads are small; bad input is echoed only in part.
        r = client.put(f"/api/sessions/{sid}/objects/1", json={"name": "x" * 100_000})
        assert r.status_code == 413 and "64 KB" in r.json()["detail"]
        r = client.put(f"/api/sessions/{sid}/objects/1", json={"name": "y" * 50_000})
        assert r.status_code == 422 and len(r.content) < 1000
        r = client.post(prompts, json={"points": [["a", "b"]] * 5000})
        assert r.status_code == 422 and len(r.content) < 2000 and "more errors" in r.text
        client.delete(f"/api/sessions/{sid}")


@pytest.mark.parametrize("counts", ["!!", "0" * 9 + "\u00e9", "PPPPPPPPPP", [1, "a"], [-5, 5], [True], None, 7, [2**70], {"a": 1}])
def test_bad_rle_counts_are_a_400(local: str, counts) -> None:
    sid = httpx.post(local + "/api/sessions", data={"path": "bedroom.mp4"}).json()["session_id"]
    r = httpx.post(f"{local}/api/sessions/{sid}/prompts", json={"mask": {"size": [540, 960], "counts": counts}})
    assert r.status_code == 400 and "RLE" in r.json()["detail"], r.text
    httpx.delete(f"{local}/api/sessions/{sid}")


def test_a_second_propagation_is_refused_not_reported_cancelled(local: str) -> None:
    with httpx.Client(base_url=local, timeout=120) as client:
        sid = client.post("/api/sessions", data={"path": "bedroom.mp4"}).json()["session_id"]
        client.post(f"/api/sessions/{sid}/prompts", json={"points": [[300, 250]]})
        events, second = [], None
        with client.stream("POST", f"/api/sessions/{sid}/propagate", json={"max_frames": 30}) as r:
            for line in r.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
                    if len(events) == 1:
                        second = httpx.post(f"{local}/api/sessions/{sid}/propagate", json={}, timeout=30)
        assert second.status_code == 409 and "already running" in second.json()["detail"]
        assert events[-1] == {"frames": 31, "cancelled": False, "error": None}
        # Once it is done, the next one runs.
        with client.stream("POST", f"/api/sessions/{sid}/propagate", json={"max_frames": 2}) as r:
            assert r.status_code == 200 and sum(1 for line in r.iter_lines() if line == "event: frame") == 3
        client.delete(f"/api/sessions/{sid}")


def _open_files_under(folder: Path) -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(folder)):
            found.append(target)
    return found


def test_a_deleted_or_expired_session_closes_its_files(serve, tmp_path: Path, shared_data: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(shared_data / "videos" / "bedroom.mp4", data / "clip.mp4")
    base = serve(data_root=data, idle_timeout_s=1.0, workdir=tmp_path / "work")
    with httpx.Client(base_url=base, timeout=60) as client:
        ids = [client.post("/api/sessions", data={"path": "clip.mp4"}).json()["session_id"] for _ in range(2)]
        with open(data / "clip.mp4", "rb") as f:
            ids.append(client.post("/api/sessions", files={"file": ("up.mp4", f)}).json()["session_id"])
        for sid in ids:
            assert client.get(f"/api/sessions/{sid}/frames/40").status_code == 200
        assert len(_open_files_under(data)) >= 2 and _open_files_under(tmp_path / "work")
        for sid in ids[1:]:
            assert client.delete(f"/api/sessions/{sid}").status_code == 200
        assert len(_open_files_under(data)) == 1 and not _open_files_under(tmp_path / "work")
        time.sleep(2.5)  # the first one expires
        assert client.get(f"/api/sessions/{ids[0]}").status_code == 404
        assert _open_files_under(data) == []


def test_errors_name_files_not_server_paths(local: str, root: Path) -> None:
    (root / "broken.mp4").write_bytes(b"\x00" * 5000)
    for r in (httpx.post(local + "/api/sessions", files={"file": ("mine.mp4", b"\x00" * 1000)}),
              httpx.post(local + "/api/sessions", data={"path": "broken.mp4"})):
        detail = r.json()["detail"]
        assert r.status_code == 400 and ".mp4" in detail, detail
        assert "/" not in detail.replace("/api", ""), detail  # no folder of the server's


def test_a_mask_prompt_of_the_wrong_size_names_both(local: str) -> None:
    sid = httpx.post(local + "/api/sessions", data={"path": "bedroom.mp4"}).json()["session_id"]
    r = httpx.post(f"{local}/api/sessions/{sid}/prompts", json={"mask": rle_encode(np.ones((100, 200), bool))})
    assert r.status_code == 400 and "200x100" in r.json()["detail"] and "960x540" in r.json()["detail"]
    httpx.delete(f"{local}/api/sessions/{sid}")
