import threading

import numpy as np
import pytest

from mmalign.speech.tts import list_voices, synthesize, text_to_phonemes, tokenize


def test_tokenize_strips_punctuation_and_drops_symbols():
    assert tokenize("Hello, world -- 42!") == [("Hello", 0, 6), ("world", 7, 12), ("42", 16, 19)]
    assert tokenize("  ") == []


def test_synthesize_words_are_ordered_and_inside_audio():
    s = synthesize("one two three four", sample_rate=16000)
    assert s.sample_rate == 16000
    assert s.samples.dtype == np.float32 and s.samples.ndim == 1
    assert [w for w, _, _ in s.words] == ["one", "two", "three", "four"]
    starts = [a for _, a, _ in s.words]
    ends = [b for _, _, b in s.words]
    assert all(a < b for a, b in zip(starts, ends))
    assert all(b <= c + 1e-9 for b, c in zip(ends[:-1], starts[1:]))
    assert 0 <= starts[0] < 0.1 and ends[-1] <= s.duration + 1e-9
    # speech energy sits inside the word spans, not in the trailing pause
    assert np.abs(s.samples[: int(ends[-1] * 16000)]).max() > 0.1


def test_synthesize_rate_changes_duration_and_native_rate():
    slow = synthesize("the quick brown fox", rate=120)
    fast = synthesize("the quick brown fox", rate=300)
    assert slow.sample_rate == 22050
    assert fast.duration < 0.7 * slow.duration


def test_synthesize_numbers_and_punctuation_map_to_tokens():
    s = synthesize("café -- 1984 (ok)!")
    assert [w for w, _, _ in s.words] == ["café", "1984", "ok"]
    assert all(b > a for _, a, b in s.words)
    assert len(s.phones) == len(s.word_of_phone) > 5


def test_synthesize_is_thread_safe():
    out = {}

    def run(i):
        out[i] = synthesize("seven eight nine", rate=150 + 10 * i).duration

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out[0] > out[3] > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="not an eSpeak NG voice"):
        synthesize("hello", voice="zz-nope")
    with pytest.raises(ValueError, match="rate must lie"):
        synthesize("hello", rate=10)
    with pytest.raises(ValueError, match="no words"):
        synthesize(" -- ")
    with pytest.raises(TypeError, match="text must be a str"):
        synthesize(3)


def test_phonemes_and_voices():
    assert text_to_phonemes("cat") == ["k 'a t"]
    assert "gmw/en" in list_voices()


def test_same_input_same_samples_whatever_came_between():
    from mmalign.speech.tts import synthesize as synth

    a = synth("carrots are a good source of vitamins", voice="en", rate=175, sample_rate=16000)
    synth("one two three", voice="en+f3", rate=300, sample_rate=16000)
    b = synth("carrots are a good source of vitamins", voice="en", rate=175, sample_rate=16000)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert a.words == b.words
    b.samples[:] = 0  # callers get copies: the cached waveform is untouched
    c = synth("carrots are a good source of vitamins", voice="en", rate=175, sample_rate=16000)
    np.testing.assert_array_equal(a.samples, c.samples)


def test_fresh_processes_give_the_same_samples():
    # eSpeak NG's noise generator is seeded before every utterance; without it two processes
    # gave different waveforms for the same text
    import subprocess
    import sys

    code = (
        "import hashlib; from mmalign.speech.tts import synthesize; "
        "s = synthesize('Glue the sheet to the dark blue background.', voice='en-us+f2'); "
        "print(hashlib.sha1(s.samples.tobytes()).hexdigest())"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(3)
    }
    assert len(runs) == 1, runs
