"""lstm.data.batching as a PyTorch DataLoader user would drive it: layout, shifts, copies, hostile sizes."""

import numpy as np
import pytest

from lstm.data import ShuffledBatches, StreamBatches


def test_stream_chunks_are_next_token_pairs_laid_out_like_torch_batchify():
    ids = np.arange(41)
    s = StreamBatches(ids, batch_size=2, seq_len=4)
    row_len = (len(ids) - 1) // 2
    assert len(s) == row_len // 4
    xs = np.concatenate([s(k).x for k in range(len(s))], axis=1)          # (B, chunks * T)
    ys = np.concatenate([s(k).y for k in range(len(s))], axis=1)
    for b in range(2):                                                    # row b is a contiguous stretch
        assert np.array_equal(xs[b], ids[b * row_len:b * row_len + len(s) * 4])
    assert np.array_equal(ys, xs + 1)
    assert [s(k).reset for k in range(2 * len(s))] == ([True] + [False] * (len(s) - 1)) * 2
    assert np.array_equal(s(len(s)).x, s(0).x)                            # a pass is a pure function of the step


def test_a_pass_reads_every_position_of_every_row_with_a_shorter_last_chunk():
    """As torch's word-language-model get_batch (seq_len = min(bptt, len - 1 - i)): with 23 positions per row and
    seq_len 5 the fifth chunk has 3 steps; before, the last 3 positions of every row were never read (a small text
    lost up to half of itself with the defaults)."""
    ids = np.arange(48)                                                 # (48 - 1) // 2 = 23 positions per row
    s = StreamBatches(ids, batch_size=2, seq_len=5)
    assert len(s) == 5 and [s(k).x.shape[1] for k in range(5)] == [5, 5, 5, 5, 3]
    assert [s.predictions(k) for k in range(6)] == [10, 10, 10, 10, 6, 10]
    xs = np.concatenate([s(k).x for k in range(len(s))], axis=1)
    ys = np.concatenate([s(k).y for k in range(len(s))], axis=1)
    for b in range(2):
        row = ids[b * 23:(b + 1) * 23 + 1]
        assert np.array_equal(xs[b], row[:-1]) and np.array_equal(ys[b], row[1:])
    assert [s(k).reset for k in range(6)] == [True, False, False, False, False, True]


def test_changing_a_chunk_in_place_leaves_the_stream_unchanged():
    # chunks used to be views of the stream: word dropout done in place (x[mask] = 0) corrupted every later pass
    s = StreamBatches(np.arange(1, 42), batch_size=2, seq_len=4)
    first = s(0)
    expected_x, expected_y = first.x.copy(), first.y.copy()
    first.x[:] = 0
    first.y[:] = 0
    again = s(len(s))
    assert np.array_equal(again.x, expected_x) and np.array_equal(again.y, expected_y)
    assert np.array_equal(s(1).x[:, 0], expected_x[:, -1] + 1)


@pytest.mark.parametrize("kwargs", [{"batch_size": 2.5, "seq_len": 4}, {"batch_size": 2, "seq_len": 4.0},
                                    {"batch_size": float("nan"), "seq_len": 4}, {"batch_size": True, "seq_len": 4},
                                    {"batch_size": "2", "seq_len": 4}, {"batch_size": 2, "seq_len": None}])
def test_stream_sizes_that_are_not_whole_numbers_are_refused_with_one_line(kwargs):
    # these raised IndexError / "cannot convert float NaN" / "'<' not supported"; True was taken as 1
    with pytest.raises(TypeError, match=r"batch_size and seq_len must be whole numbers, got"):
        StreamBatches(np.arange(50), **kwargs)


def test_stream_sizes_that_are_numpy_integers_are_fine():
    s = StreamBatches(np.arange(50), np.int64(2), np.int32(4))
    assert s(0).x.shape == (2, 4)


@pytest.mark.parametrize("n", [0, 1])
def test_a_stream_too_short_for_one_target_says_so(n):
    # an empty list used to be called a float array
    with pytest.raises(ValueError, match=f"the stream has {n} tokens"):
        StreamBatches(np.arange(n, dtype=np.int64), 1, 1)
    with pytest.raises(ValueError, match=f"the stream has {n} tokens"):
        StreamBatches(list(range(n)), 1, 1)


def test_negative_token_ids_are_refused():
    # -1 would index the last embedding row silently (torch.nn.Embedding raises IndexError)
    with pytest.raises(ValueError, match="token ids must be >= 0, got -1"):
        StreamBatches(np.array([3, -1, 2, 5, 6]), 1, 2)


@pytest.mark.parametrize("kwargs", [{"n_items": 2.5}, {"n_items": float("nan")}, {"batch_size": 1.5},
                                    {"seed": 1.7}, {"seed": -1}, {"seed": None}])
def test_shuffled_batches_refuse_bad_sizes_and_seeds_when_made(kwargs):
    # n_items=2.5 became 2 items, seed=1.7 seed 1, and seed=-1 failed only at the first step in NumPy's words
    args = {"n_items": 10, "batch_size": 3, "seed": 0} | kwargs
    with pytest.raises((TypeError, ValueError), match=rf"{next(iter(kwargs))} must be"):
        ShuffledBatches(**args)


def test_a_negative_step_is_refused():
    with pytest.raises(ValueError, match="step must be >= 0, got -1"):
        ShuffledBatches(10, 3)(-1)
    with pytest.raises(ValueError, match="step must be >= 0, got -1"):
        StreamBatches(np.arange(50), 2, 4)(-1)


@pytest.mark.parametrize("drop_last", [True, False])
def test_each_item_is_used_at_most_once_per_epoch_and_all_without_drop_last(drop_last):
    b = ShuffledBatches(10, 4, seed=3, drop_last=drop_last)
    for epoch in range(3):
        seen = np.concatenate([b(epoch * b.steps_per_epoch + k) for k in range(b.steps_per_epoch)])
        assert len(seen) == len(set(seen.tolist())) == (8 if drop_last else 10)
        assert np.array_equal(seen, b.order(epoch)[:len(seen)])
    assert "at most once" in ShuffledBatches.__doc__
