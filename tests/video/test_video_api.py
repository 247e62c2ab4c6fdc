"""The video predictor's behaviour beyond parity: inputs, errors, memory, directions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import masklet
from masklet.inference.video_predictor import VideoPredictor

CLICK = dict(points=[[60, 60]], labels=[1])


def test_list_of_frames_and_mp4_inputs(small_video_predictor, bedroom_frames, shared_data: Path) -> None:
    p = small_video_predictor
    state = p.init_state(list(bedroom_frames[:3]))
    assert (state.num_frames, state.video_height, state.video_width) == (3, 135, 240)
    frame_idx, obj_ids, masks = p.add_new_points_or_box(state, 0, 1, **CLICK)
    assert (frame_idx, obj_ids) == (0, [1]) and masks.shape == (1, 1, 135, 240) and masks.dtype == torch.float32
    mp4 = p.init_state(str(shared_data / "videos" / "bedroom.mp4"))
    assert (mp4.num_frames, mp4.video_height, mp4.video_width) == (200, 540, 960)
    _, _, masks = p.add_new_points_or_box(mp4, 150, 3, box=[300, 100, 700, 400])
    assert masks.shape == (1, 1, 540, 960)


def test_bad_input_is_clear_and_the_session_survives(small_video_predictor, bedroom_frames) -> None:
    p = small_video_predictor
    state = p.init_state(list(bedroom_frames[:4]))
    with pytest.raises(IndexError, match="frame_idx 4 out of range: the video has 4 frames"):
        p.add_new_points_or_box(state, 4, 1, **CLICK)
    with pytest.raises(ValueError, match="points and labels must be given together"):
        p.add_new_points_or_box(state, 0, 1, points=[[1, 2]])
    with pytest.raises(ValueError, match="2 points but labels"):
        p.add_new_points_or_box(state, 0, 1, points=[[1, 2], [3, 4]], labels=[1])
    with pytest.raises(ValueError, match="give points with labels, a box, or both"):
        p.add_new_points_or_box(state, 0, 1)
    with pytest.raises(ValueError, match="box must be x1, y1, x2, y2"):
        p.add_new_points_or_box(state, 0, 1, box=[1, 2, 3])
    with pytest.raises(TypeError, match="obj_id must be an integer"):
        p.add_new_points_or_box(state, 0, "car", **CLICK)
    with pytest.raises(ValueError, match="2-D"):
        p.add_new_mask(state, 0, 1, np.zeros((2, 3, 4)))
    with pytest.raises(RuntimeError, match="no object has prompts"):
        list(p.propagate_in_video(state))
    with pytest.raises(KeyError, match="unknown object id 9"):
        p.clear_all_prompts_in_frame(state, 0, 9)
    with pytest.raises(KeyError, match="cannot remove object id 9"):
        p.remove_object(state, 9, strict=True)
    assert state.obj_ids == []  # nothing half-added
    # The same session still works.
    p.add_new_points_or_box(state, 0, 1, **CLICK)
    frames = [f for f, _, _ in p.propagate_in_video(state)]
    assert frames == [0, 1, 2, 3]
    with pytest.raises(IndexError, match="out of range"):
        list(p.propagate_in_video(state, start_frame_idx=7))


def test_clear_prompts_and_remove(small_video_predictor, bedroom_frames) -> None:
    p = small_video_predictor
    state = p.init_state(list(bedroom_frames[:3]))
    p.add_new_points_or_box(state, 0, 1, **CLICK)
    p.add_new_points_or_box(state, 1, 2, box=[100, 20, 200, 100])
    frame_idx, ids, masks = p.clear_all_prompts_in_frame(state, 1, 2)
    assert ids == [1, 2] and (masks[1] <= -1000).all()  # object 2 has nothing on frame 1 now
    ids, updated = p.remove_object(state, 2)
    assert ids == [1] and updated == []
    ids, _ = p.remove_object(state, 1)
    assert ids == []  # the last object: the session is reset


def test_reverse_tracking_without_pointers_works_on_cpu(small_video_predictor, bedroom_frames) -> None:
    """The reference fails here on the CPU (bfloat16 memory, no object pointer)."""
    p = small_video_predictor
    state = p.init_state(list(bedroom_frames[:6]))
    p.add_new_points_or_box(state, 0, 1, **CLICK)
    results = list(p.propagate_in_video(state, start_frame_idx=5, reverse=True))
    assert [f for f, _, _ in results] == [5, 4, 3, 2, 1, 0]
    assert all(torch.isfinite(m).all() for _, _, m in results)


def test_object_tracked_from_before_its_prompted_frame(small_video_predictor, bedroom_frames) -> None:
    """Also a case the reference cannot run on the CPU: object 2 from frame 0, prompted on frame 3."""
    p = small_video_predictor
    state = p.init_state(list(bedroom_frames[:5]))
    p.add_new_points_or_box(state, 0, 1, **CLICK)
    p.add_new_mask(state, 3, 2, np.pad(np.ones((40, 60), dtype=bool), ((40, 55), (100, 80))))
    results = {f: m for f, _, m in p.propagate_in_video(state)}
    assert sorted(results) == [0, 1, 2, 3, 4]
    assert all(m.shape == (2, 1, 135, 240) and torch.isfinite(m).all() for m in results.values())
    assert (results[3][1, 0, 60, 130] > 0) and (results[3][1, 0, 5, 5] < 0)  # the mask prompt, as given


def test_corrections_persist_with_add_all_frames_to_correct_as_cond(standin_checkpoint, bedroom_frames) -> None:
    model = masklet.build_model("sam2.1_hiera_t", standin_checkpoint("sam2.1_hiera_t"), device="cpu", image_size=256)
    for as_cond in (False, True):
        p = VideoPredictor(model, fill_hole_area=0, add_all_frames_to_correct_as_cond=as_cond)
        s = p.start(list(bedroom_frames[:4]))
        p.add_points(s, 0, 1, [[60, 60]], [1])
        list(p.propagate(s))
        refined = p.add_points(s, 2, 1, [[180, 90]], [1]).masks
        again = {r.frame_idx: r.masks for r in p.propagate(s)}
        # The reference's default drops a correction on a tracked frame at the next
        # propagation; as a conditioning frame it stays.
        assert torch.equal(again[2], refined) == as_cond


def test_released_memories_are_re_encoded_exactly(standin_checkpoint, bedroom_frames) -> None:
    model = masklet.build_model("sam2.1_hiera_t", standin_checkpoint("sam2.1_hiera_t"), device="cpu", image_size=256)

    def run(release: bool) -> list[torch.Tensor]:
        p = VideoPredictor(model, fill_hole_area=0)
        if not release:
            p._release_old = lambda *args: None
        s = p.start(list(bedroom_frames))
        p.add_points(s, 0, 1, [[60, 60]], [1])
        list(p.propagate(s))  # 24 frames: the oldest leave the 16-frame window
        if release:
            out = s.objects[1].non_cond_outputs
            assert out[3].maskmem_features is None and not out[3].in_memory
            assert out[20].maskmem_features is not None
        return [r.masks for r in p.propagate(s, start_frame_idx=5, max_frame_num_to_track=3)]

    for a, b in zip(run(True), run(False)):
        torch.testing.assert_close(a, b)


def test_closing_a_session_releases_its_video(small_video_predictor, shared_data: Path) -> None:
    from masklet.inference.video_io import VideoError, open_video

    p = small_video_predictor.predictor
    with p.start(shared_data / "videos" / "bedroom.mp4") as session:
        source = session.frames.source
        p.add_points(session, 0, 1, [[300, 250]], [1])
        assert source._container is not None
    assert source._container is None and not session.objects  # closed with the session
    with pytest.raises(VideoError, match="closed"):
        source.frame(3)
    # A source the caller opened stays the caller's to close.
    mine = open_video(shared_data / "videos" / "bedroom.mp4")
    p.start(mine).close()
    assert mine.frame(3).shape == (540, 960, 3)
    mine.close()


def test_the_session_reads_like_the_official_inference_state(small_video_predictor, bedroom_frames) -> None:
    state = small_video_predictor.init_state(list(bedroom_frames[:5]))
    small_video_predictor.add_new_points_or_box(state, 0, 7, points=[[60, 60]], labels=[1])
    assert (state["num_frames"], state["video_height"], state["video_width"]) == (5, 135, 240)
    assert state["obj_ids"] == [7] and state["obj_id_to_idx"] == {7: 0} and state["obj_idx_to_id"] == {0: 7}
    assert state["device"] == small_video_predictor.device and "num_frames" in state and state.get("nope") is None
    with pytest.raises(KeyError, match="typed attributes"):
        state["output_dict_per_obj"]
    with pytest.raises(TypeError):
        state["num_frames"] = 3  # read-only
    # The official error types: removing an unknown object strictly is a RuntimeError there.
    with pytest.raises(RuntimeError):
        small_video_predictor.remove_object(state, 99, strict=True)
    assert small_video_predictor.to("cpu") is small_video_predictor and small_video_predictor.eval() is small_video_predictor
    assert small_video_predictor.model.image_size == 256
