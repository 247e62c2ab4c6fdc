"""The streaming API: frames pushed one at a time, prompts on arrival, flat memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import masklet
from masklet.inference.video_predictor import VideoPredictor


@pytest.fixture(scope="module")
def small_model(standin_checkpoint):
    return masklet.build_model("sam2.1_hiera_t", standin_checkpoint("sam2.1_hiera_t"), device="cpu", image_size=256)


def test_stream_equals_offline_propagation(small_model, bedroom_frames) -> None:
    # A stream has no known end: it matches a video of at least max_obj_ptrs_in_encoder
    # frames, whose pointer distances are normalised the same way.
    frames = bedroom_frames[:6]
    offline = VideoPredictor(small_model, fill_hole_area=0)
    s = offline.start(list(bedroom_frames[:17]))
    offline.add_points(s, 0, 1, [[60, 60]], [1])
    expected = [r.masks for r in offline.propagate(s, max_frame_num_to_track=5)]

    stream = masklet.VideoStream(small_model, fill_hole_area=0)
    got = [stream.step(frames[0], {1: {"points": [[60, 60]], "labels": [1]}}).masks]
    got += [stream.step(f).masks for f in frames[1:]]
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)


def test_objects_join_and_corrections_apply_on_arrival(small_model, bedroom_frames) -> None:
    stream = masklet.VideoStream(small_model, fill_hole_area=0)
    assert stream.step(bedroom_frames[0]).obj_ids == []  # nothing to track yet
    stream.push(bedroom_frames[1])
    stream.add_points(1, [[60, 60]], [1])
    r = stream.track()
    assert r.frame_idx == 1 and r.obj_ids == [1]
    r = stream.step(bedroom_frames[2], {2: {"box": [120, 20, 220, 110]}})
    assert r.obj_ids == [1, 2] and r.masks.shape == (2, 1, 135, 240)
    tracked = stream.step(bedroom_frames[3]).masks[0]
    stream.add_points(1, [[200, 100]], [1])  # a correction on the newest frame
    corrected = stream.track().masks[0]
    assert not torch.equal(tracked, corrected)
    assert 3 in stream.session.objects[1].cond_outputs


def test_memory_is_bounded_by_the_window(small_model, bedroom_frames) -> None:
    stream = masklet.VideoStream(small_model, fill_hole_area=0)
    stream.step(bedroom_frames[0], {1: {"points": [[60, 60]], "labels": [1]}})
    for i in range(1, 24):
        stream.step(bedroom_frames[i])
    obj = stream.session.objects[1]
    window = small_model.cfg.max_obj_ptrs_in_encoder
    assert len(obj.non_cond_outputs) <= window and min(obj.non_cond_outputs) > 23 - window
    assert list(obj.cond_outputs) == [0] and not obj.cond_outputs[0].in_memory  # logits spilled
    assert len(stream.source._frames) <= 2 and len(stream.session.frames._cache) <= 8


def test_stream_errors(small_model) -> None:
    stream = masklet.VideoStream(small_model)
    with pytest.raises(RuntimeError, match="push\\(frame\\)"):
        stream.add_points(1, [[1, 1]], [1])
    with pytest.raises(Exception, match="uint8"):
        stream.push(np.zeros((10, 10, 3), dtype=np.float32))
    stream.push(np.zeros((10, 12, 3), dtype=np.uint8))
    with pytest.raises(Exception, match="differs"):
        stream.push(np.zeros((11, 12, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="unknown prompt keys"):
        stream.step(np.zeros((10, 12, 3), dtype=np.uint8), {1: {"clicks": [[1, 1]]}})
