"""The service maps only masklet's own errors to 4xx; anything else is a 500 with one
line, and the service goes on (a torch out-of-memory is not a 409, a stray KeyError not a 404)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from masklet.inference.video_predictor import VideoPredictor


class Failing(VideoPredictor):
    """The packaged model, with add_points failing as the given exception."""

    error: BaseException = RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB\nmore detail")

    def add_points(self, *args, **kwargs):
        raise self.error


@pytest.fixture(scope="module")
def failing(serve, nano_predictor, shared_data: Path):
    predictor = Failing(nano_predictor.model)
    return predictor, serve(predictor=predictor, data_root=shared_data)


@pytest.mark.parametrize("error", [RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB\nmore detail"),
                                   KeyError("a stray key"), ValueError("something internal"), IndexError("deep inside")])
def test_an_internal_error_is_a_500_in_one_line(failing, error: BaseException) -> None:
    predictor, base = failing
    predictor.error = error
    sid = httpx.post(base + "/api/sessions", data={"path": "images/truck.jpg"}).json()["session_id"]
    r = httpx.post(f"{base}/api/sessions/{sid}/prompts", json={"points": [[900, 700]]}, timeout=60)
    assert r.status_code == 500, r.text
    detail = r.json()["detail"]
    assert detail.startswith(f"internal error ({type(error).__name__}: ") and "\n" not in detail and "more detail" not in detail
    assert httpx.get(base + "/api/info").status_code == 200  # the service goes on
    httpx.delete(f"{base}/api/sessions/{sid}")


def test_masklet_errors_keep_their_statuses(serve, shared_data: Path) -> None:
    base = serve(data_root=shared_data)
    with httpx.Client(base_url=base, timeout=60) as client:
        sid = client.post("/api/sessions", data={"path": "videos/bedroom"}).json()["session_id"]
        assert client.delete(f"/api/sessions/{sid}/objects/3").status_code == 404  # unknown object
        assert client.put(f"/api/sessions/{sid}/objects/3", json={"name": "x"}).status_code == 404
        assert client.post(f"/api/sessions/{sid}/prompts", json={"frame": 500, "points": [[1, 1]]}).status_code == 400
        assert client.get(f"/api/sessions/{sid}/frames/500").status_code == 400
        assert client.get("/api/sessions/nope").status_code == 404  # unknown session
        r = client.post(f"/api/sessions/{sid}/prompts", json={"points": [[1, 1]], "labels": [1, 0]})
        assert r.status_code == 400
        client.delete(f"/api/sessions/{sid}")
