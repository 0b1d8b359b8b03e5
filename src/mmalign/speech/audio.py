"""Audio input: any file soundfile reads, or an array plus its sample rate."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["load_audio"]

SILENCE_RMS = 1e-4
_STREAM_FRAMES = 10 * 60 * 48000  # files longer than this are read block by block
_BLOCK_FRAMES = 1 << 20


def _read_streaming(path: Path, sr: int, target_rate: int) -> np.ndarray:
    """Read, downmix and resample a long file a block at a time (memory ~ the output)."""
    import soundfile as sf
    import soxr

    stream = (
        soxr.ResampleStream(sr, target_rate, 1, dtype="float32", quality="HQ")
        if sr != target_rate
        else None
    )
    parts = []
    for block in sf.blocks(str(path), blocksize=_BLOCK_FRAMES, dtype="float32", always_2d=True):
        mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0].copy()
        parts.append(stream.resample_chunk(mono) if stream is not None else mono)
    if stream is not None:
        parts.append(stream.resample_chunk(np.zeros(0, np.float32), last=True))
    return np.ascontiguousarray(
        np.concatenate(parts), dtype=np.float32
    )  # about -80 dBFS: below this the recording holds no speech


def load_audio(
    audio, sample_rate: int | None = None, *, target_rate: int = 16000, check_silence: bool = True
) -> np.ndarray:
    """Read, downmix and resample audio to mono float32 at ``target_rate``.

    Parameters
    ----------
    audio : str, PathLike or ndarray of shape (n_samples,) or (n_samples, n_channels)
        A file soundfile can read, or samples (then ``sample_rate`` is required).
    sample_rate : int, optional
        Sample rate of an array input.
    target_rate : int
        Output rate (resampled with soxr, high quality).
    check_silence : bool
        Raise on all-silent input.

    Returns
    -------
    ndarray of shape (n_out,), float32
    """
    if isinstance(audio, (str, os.PathLike)):
        import soundfile as sf

        path = Path(audio)
        if not path.is_file():
            raise FileNotFoundError(f"audio file {str(path)!r} does not exist.")
        try:
            info = sf.info(str(path))
        except Exception as exc:  # soundfile raises its own LibsndfileError
            raise ValueError(
                f"audio {str(path)!r} is not readable by soundfile ({exc}); convert it to "
                f"WAV/FLAC/OGG first (e.g. ffmpeg -i in.mp3 out.wav)."
            ) from exc
        sr = info.samplerate
        if sample_rate is not None and int(sample_rate) != sr:
            raise ValueError(
                f"sample_rate={sample_rate} given for file {path.name} recorded at {sr} Hz; "
                f"leave sample_rate out for files."
            )
        name = repr(str(path))
        if info.frames > _STREAM_FRAMES:
            mono = _read_streaming(path, sr, target_rate)
            return _finish(mono, name, check_silence)
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    else:
        if sample_rate is None:
            raise ValueError(
                "sample_rate is required when audio is an array; pass e.g. sample_rate=16000."
            )
        if isinstance(audio, (bytes, str)) or not hasattr(audio, "__len__"):
            raise TypeError(
                f"audio must be a file path or an array of samples, got {type(audio).__name__}."
            )
        data = np.asarray(audio)
        if not np.issubdtype(data.dtype, np.number):
            raise TypeError(f"audio must hold numbers, got dtype {data.dtype}.")
        if np.issubdtype(data.dtype, np.integer):
            data = data.astype(np.float32) / float(np.iinfo(data.dtype).max)
        data = data.astype(np.float32)
        if data.ndim == 1:
            data = data[:, None]
        elif data.ndim != 2:
            raise ValueError(
                f"audio must have shape (n_samples,) or (n_samples, n_channels), got {data.shape}."
            )
        elif data.shape[0] < data.shape[1]:  # (channels, samples) as torchaudio gives
            data = data.T
        sr = sample_rate
        name = "audio array"
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ValueError(f"sample_rate must be a positive int, got {sr!r}.")
    if data.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 samples); pass a recording with speech in it.")
    if not np.all(np.isfinite(data)):
        raise ValueError(f"{name} holds NaN or inf samples.")
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if int(sr) != target_rate:
        import soxr

        mono = soxr.resample(mono, int(sr), target_rate, quality="HQ").astype(np.float32)
    return _finish(mono, name, check_silence)


def _finish(mono: np.ndarray, name: str, check_silence: bool) -> np.ndarray:
    if len(mono) == 0:
        raise ValueError(f"{name} is empty (0 samples); pass a recording with speech in it.")
    rms = float(
        np.sqrt(np.mean(np.square(mono[:: max(1, len(mono) // 1_000_000)], dtype=np.float64)))
    )
    if check_silence and rms < SILENCE_RMS:
        raise ValueError(
            f"{name} is silent (RMS below {SILENCE_RMS:g}); nothing to align. Check the file "
            f"or its gain."
        )
    return np.ascontiguousarray(mono)
