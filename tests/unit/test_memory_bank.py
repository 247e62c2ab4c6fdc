"""Which frames a frame's memory bank holds: prompted frames, recent frames, pointers."""

from masklet.inference.memory_bank import pointer_frames, recent_memory_frames, select_cond_frames


def test_recent_frames_forward_and_reverse() -> None:
    assert recent_memory_frames(10, 7, reverse=False) == [(1, 4), (2, 5), (3, 6), (4, 7), (5, 8), (6, 9)]
    assert recent_memory_frames(10, 7, reverse=True) == [(1, 16), (2, 15), (3, 14), (4, 13), (5, 12), (6, 11)]


def test_recent_frames_with_stride() -> None:
    # The adjacent frame always; the rest on multiples of the stride further back.
    assert recent_memory_frames(10, 4, reverse=False, stride=3) == [(1, 3), (2, 6), (3, 9)]


def test_cond_frame_selection() -> None:
    assert select_cond_frames(5, [0, 3, 9], -1) == ([0, 3, 9], [])
    selected, rest = select_cond_frames(5, [0, 3, 6, 9, 20], 3)
    assert selected[:2] == [3, 6] and len(selected) == 3 and selected[2] in (0, 9)
    assert sorted(selected + rest) == [0, 3, 6, 9, 20]


def test_pointer_frames_stop_at_the_video_ends() -> None:
    assert pointer_frames(3, 100, 16, reverse=False) == [(1, 2), (2, 1), (3, 0)]
    assert pointer_frames(97, 100, 16, reverse=True) == [(1, 98), (2, 99)]
    assert len(pointer_frames(50, 100, 16, reverse=False)) == 15
