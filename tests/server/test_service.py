"""The HTTP service over real HTTP: the session life cycle on a shared clip, streaming and
cancelling propagation, limits, the bearer token, and bad requests."""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from masklet.rle import rle_decode

JSON = {"Content-Type": "application/json"}


def sse_events(response: httpx.Response) -> list[tuple[str, dict]]:
    """Parse a server-sent event stream into (event, data) pairs."""
    events, event = [], None
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            events.append((event, json.loads(line[6:])))
    return events


def upload(client: httpx.Client, path: Path) -> httpx.Response:
    with open(path, "rb") as f:
        return client.post("/api/sessions", files={"file": (path.name, f)})


@pytest.fixture(scope="module")
def base(serve, shared_data: Path) -> str:
    return serve(data_root=shared_data)


def test_session_life_cycle_on_a_shared_clip(base: str, shared_data: Path, tmp_path: Path) -> None:
    with httpx.Client(base_url=base, timeout=120) as client:
        r = upload(client, shared_data / "videos" / "01_dog.mp4")
        assert r.status_code == 201, r.text
        info = r.json()
        sid = info["session_id"]
        assert (info["kind"], info["num_frames"], info["width"], info["height"]) == ("video", 289, 1280, 720)
        assert client.get(f"/api/sessions/{sid}/frames/10").headers["content-type"] == "image/jpeg"

        # A click: every object's mask on that frame comes back at once, as COCO RLE.
        r = client.post(f"/api/sessions/{sid}/prompts", json={"frame": 0, "obj_id": 1, "points": [[600, 450]], "labels": [1]})
        assert r.status_code == 200, r.text
        (mask1,) = r.json()["masks"]
        assert mask1["obj_id"] == 1 and rle_decode(mask1["rle"]).shape == (720, 1280)
        assert rle_decode(mask1["rle"]).sum() == mask1["area"]
        # A second object from a box, answered as a palette PNG whose indices are object ids.
        r = client.post(f"/api/sessions/{sid}/prompts?format=png", json={"frame": 0, "obj_id": 2, "box": [100, 100, 500, 600], "name": "planter"})
        assert r.headers["content-type"] == "image/png"
        png = Image.open(io.BytesIO(r.content))
        assert png.mode == "P" and png.size == (1280, 720) and set(np.unique(np.asarray(png))) <= {0, 1, 2}
        assert [o["name"] for o in client.get(f"/api/sessions/{sid}").json()["objects"]] == ["object 1", "planter"]

        # Propagate: each frame arrives as its own event, then "done".
        with client.stream("POST", f"/api/sessions/{sid}/propagate", json={"direction": "forward", "max_frames": 4}) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            events = sse_events(r)
        assert [e for e, _ in events] == ["frame"] * 5 + ["done"]
        assert [d["frame"] for _, d in events[:-1]] == [0, 1, 2, 3, 4]
        assert all([m["obj_id"] for m in d["masks"]] == [1, 2] for _, d in events[:-1])
        assert events[-1][1] == {"frames": 5, "cancelled": False, "error": None}
        frame3 = client.get(f"/api/sessions/{sid}/masks/3").json()
        assert {m["obj_id"] for m in frame3["masks"]} == {1, 2}
        streamed = {m["obj_id"]: m["rle"] for m in events[3][1]["masks"]}
        assert all(streamed[m["obj_id"]] == m["rle"] for m in frame3["masks"])

        # Remove an object: gone from the session and from the stored masks.
        r = client.delete(f"/api/sessions/{sid}/objects/2")
        assert [o["obj_id"] for o in r.json()["objects"]] == [1]
        assert [m["obj_id"] for m in client.get(f"/api/sessions/{sid}/masks/3").json()["masks"]] == [1]
        assert client.delete(f"/api/sessions/{sid}/objects/7").status_code == 404

        # Downloads: a zip of palette PNGs per frame and an overlay MP4.
        z = zipfile.ZipFile(io.BytesIO(client.get(f"/api/sessions/{sid}/masks.zip").content))
        assert z.namelist() == [f"{t:05d}.png" for t in range(5)]
        labels = np.asarray(Image.open(z.open("00003.png")))
        expected = np.zeros((720, 1280), np.uint8)
        expected[rle_decode(frame3["masks"][0]["rle"] if frame3["masks"][0]["obj_id"] == 1 else frame3["masks"][1]["rle"])] = 1
        assert np.array_equal(labels, expected)
        r = client.get(f"/api/sessions/{sid}/overlay.mp4")
        assert r.headers["content-type"] == "video/mp4"
        (tmp_path / "o.mp4").write_bytes(r.content)
        import av

        with av.open(str(tmp_path / "o.mp4")) as container:
            assert sum(1 for _ in container.decode(video=0)) == 5

        assert client.delete(f"/api/sessions/{sid}").status_code == 200
        assert client.get(f"/api/sessions/{sid}").status_code == 404


def test_propagation_can_be_cancelled_and_does_not_block_the_service(base: str) -> None:
    with httpx.Client(base_url=base, timeout=120) as client:
        sid = client.post("/api/sessions", data={"path": "videos/bedroom"}).json()["session_id"]
        client.post(f"/api/sessions/{sid}/prompts", json={"frame": 0, "points": [[300, 250]]})
        seen, latencies = [], []
        with client.stream("POST", f"/api/sessions/{sid}/propagate", json={}) as r:
            event = None
            for line in r.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    seen.append((event, json.loads(line[6:])))
                    if len(seen) == 2:
                        # The event loop is free while the model works: other requests answer.
                        t0 = time.perf_counter()
                        assert httpx.get(base + "/api/info").status_code == 200
                        latencies.append(time.perf_counter() - t0)
                        assert httpx.post(f"{base}/api/sessions/{sid}/cancel").json() == {"cancelled": True}
        assert seen[-1][0] == "done" and seen[-1][1]["cancelled"] is True
        assert 2 <= seen[-1][1]["frames"] < 200
        assert latencies[0] < 2.0
        client.delete(f"/api/sessions/{sid}")


def test_server_side_paths_stay_under_the_data_root(base: str, serve) -> None:
    with httpx.Client(base_url=base) as client:
        r = client.post("/api/sessions", data={"path": "images/truck.jpg"})
        assert r.status_code == 201 and r.json()["kind"] == "image"
        client.delete(f"/api/sessions/{r.json()['session_id']}")
        assert client.post("/api/sessions", data={"path": "../../etc"}).status_code == 403
        assert client.post("/api/sessions", data={"path": "images/nope.jpg"}).status_code == 404
    no_root = serve()
    r = httpx.post(no_root + "/api/sessions", data={"path": "images/truck.jpg"})
    assert r.status_code == 403 and "--data-root" in r.json()["detail"]


def test_bad_requests_get_json_errors_naming_the_problem(base: str, shared_data: Path, tmp_path: Path) -> None:
    with httpx.Client(base_url=base) as client:
        assert client.get("/api/sessions/nope").status_code == 404
        r = client.post("/api/sessions", files={"file": ("notes.txt", b"hello")})
        assert r.status_code == 415 and "unsupported file type" in r.json()["detail"]
        r = client.post("/api/sessions", files={"file": ("broken.mp4", b"\x00" * 1000)})
        assert r.status_code == 400 and "broken.mp4" in r.json()["detail"]
        assert client.post("/api/sessions").status_code == 400
        sid = upload(client, shared_data / "images" / "truck.jpg").json()["session_id"]
        prompts = f"/api/sessions/{sid}/prompts"
        r = client.post(prompts, content=b"{not json", headers=JSON)
        assert r.status_code == 422
        r = client.post(prompts, json={"frame": 3, "points": [[10, 10]]})
        assert r.status_code == 400 and "out of range" in r.json()["detail"]
        r = client.post(prompts, json={"points": [[10, 10]], "labels": [1, 0]})
        assert r.status_code == 400 and "label" in r.json()["detail"]
        r = client.post(prompts, json={"points": [[5000, 10]]})
        assert r.status_code == 400 and "outside" in r.json()["detail"]
        r = client.post(prompts, json={"obj_id": 300, "points": [[10, 10]]})
        assert r.status_code == 422
        assert client.post(f"/api/sessions/{sid}/propagate", json={}).status_code == 409
        assert client.post(f"/api/sessions/{sid}/propagate", json={"direction": "sideways"}).status_code == 422
        # A failure in one session leaves the service and the session working.
        r = client.post(prompts, json={"points": [[900, 700]]})
        assert r.status_code == 200 and len(r.json()["masks"]) == 1


def test_limits(serve, shared_data: Path) -> None:
    base = serve(data_root=shared_data, max_upload_mb=1.0, max_frames=100, max_pixels=1280 * 720, max_sessions=2, idle_timeout_s=1.0)
    with httpx.Client(base_url=base) as client:
        r = upload(client, shared_data / "videos" / "01_dog.mp4")  # 1.7 MB
        assert r.status_code == 413 and "1 MB" in r.json()["detail"]
        r = client.post("/api/sessions", data={"path": "videos/bedroom"})  # 200 frames
        assert r.status_code == 413 and "200 frames" in r.json()["detail"]
        r = client.post("/api/sessions", data={"path": "images/truck.jpg"})  # 1800x1200
        assert r.status_code == 413 and "1800x1200" in r.json()["detail"]
        # Two sessions at most; idle ones expire and free their place.
        tiny = Image.new("RGB", (64, 48), (40, 90, 160))
        buf = io.BytesIO()
        tiny.save(buf, format="PNG")
        ids = [client.post("/api/sessions", files={"file": ("a.png", buf.getvalue())}).json()["session_id"] for _ in range(2)]
        r = client.post("/api/sessions", files={"file": ("a.png", buf.getvalue())})
        assert r.status_code == 429 and "maximum of 2 sessions" in r.json()["detail"]
        time.sleep(2.5)
        assert all(client.get(f"/api/sessions/{i}").status_code == 404 for i in ids)
        assert client.post("/api/sessions", files={"file": ("a.png", buf.getvalue())}).status_code == 201


def test_bearer_token(serve, shared_data: Path) -> None:
    base = serve(token="s3cret")
    assert httpx.get(base + "/api/info").status_code == 401
    assert httpx.get(base + "/api/info", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(base + "/api/info", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert httpx.get(base + "/api/info?token=s3cret").status_code == 401  # only download links take ?token=
    assert httpx.get(base + "/").status_code == 200  # the page itself is public; its API calls carry the token


def test_openapi_docs_and_the_annotator_page(base: str) -> None:
    assert httpx.get(base + "/docs").status_code == 200
    paths = httpx.get(base + "/openapi.json").json()["paths"]
    assert {"/api/sessions", "/api/sessions/{session_id}/prompts", "/api/sessions/{session_id}/propagate"} <= set(paths)
    page = httpx.get(base + "/")
    assert page.status_code == 200 and "masklet annotator" in page.text
    assert httpx.get(base + "/static/app.js").status_code == 200


def test_sessions_are_independent_under_concurrent_prompts(base: str, shared_data: Path) -> None:
    with httpx.Client(base_url=base, timeout=60) as client:
        ids = [client.post("/api/sessions", data={"path": "images/truck.jpg"}).json()["session_id"] for _ in range(2)]
    answers: dict[str, list] = {}

    def click(sid: str) -> None:
        r = httpx.post(f"{base}/api/sessions/{sid}/prompts", json={"points": [[900, 700]]}, timeout=60)
        answers[sid] = r.json()["masks"]

    threads = [threading.Thread(target=click, args=(sid,)) for sid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers[ids[0]] == answers[ids[1]]  # same image, same click, separate state
    for sid in ids:
        httpx.delete(f"{base}/api/sessions/{sid}")


def test_a_mask_prompt_in_rle_comes_back_as_the_object(base: str) -> None:
    from masklet.rle import rle_encode

    with httpx.Client(base_url=base, timeout=60) as client:
        sid = client.post("/api/sessions", data={"path": "images/truck.jpg"}).json()["session_id"]
        given = np.zeros((1200, 1800), bool)
        given[300:900, 200:1500] = True
        r = client.post(f"/api/sessions/{sid}/prompts", json={"obj_id": 4, "mask": rle_encode(given)})
        assert r.status_code == 200, r.text
        (answer,) = r.json()["masks"]
        back = rle_decode(answer["rle"])
        assert answer["obj_id"] == 4 and (back & given).sum() / (back | given).sum() > 0.95
        r = client.post(f"/api/sessions/{sid}/prompts", json={"obj_id": 4, "mask": rle_encode(given[:100])})
        assert r.status_code == 400 and "1800x100" in r.json()["detail"]
        client.delete(f"/api/sessions/{sid}")
