"""The embedded ledger's state directory: a write-ahead journal plus checkpoints, so that the ledger keeps
its whole state across restarts (and crashes) of the process.

Layout of a directory:

    LOCK                        flock()ed by the one process using the directory (its pid inside)
    checkpoint-<N>/             the whole state when journal segment N began (see "Checkpoints")
    journal-<N>.log, <N+1>...   every write applied since, in order (see journal.py)

Recovery: the newest checkpoint is loaded (every file's size and CRC-32 checked against its manifest),
then every journal segment from its number on is replayed through the ledger's own write paths at the
clock each write saw; each entry also records the sequence the write ended at, and a replay that ends
elsewhere stops with an error instead of serving a different state. The result is the state the
process had when it stopped, sequence numbers, remembered event ids and reservation operation ids
included. A torn last entry (the process died while writing it; its caller never had an answer) is
dropped with a warning and cut from the file; damage anywhere else stops the start with the file and
byte offset named, as does a damaged checkpoint.

Checkpoints: when the current segment passes `checkpoint_bytes` (or `checkpoint_seconds` after its first
entry), the checkpointer thread takes the ledger's lock just long enough to start segment N+1 and copy
the state (a memcpy of the arrays and shallow copies of the Python structures), then writes the copy
without the lock (writes go on meanwhile) into `tmp-checkpoint-...`, fsyncs it, renames it to
`checkpoint-<N+1>` and deletes the older checkpoint and segments. A crash at any point leaves the
previous checkpoint and every segment after it in place. A snapshot load is not journaled: the loaded
state is checkpointed before the load returns.

Why the checkpoint is a dump of the arrays (npy files) and not a snapshot directory (ingest.write_snapshot):
a snapshot keeps stock, ring-fences and locations, but not what the rules need to continue exactly
where they stopped: count times and the journal of recent deltas (a late count adds back the deltas
after it), ring-fence consumption by holds, group holds, remembered event ids, or the slot layout that
makes a replay take exactly the original steps. The dump holds all of it, loads in about the time of
reading the files, and needs no validation beyond its checksums.

Durability of a write: with `fsync` (the default) a write returns only after its journal entry was
fdatasync()ed; concurrent writers share one fdatasync (group commit). Without it a write returns once
its entry is in the OS (it survives a crash of the process, not of the machine). Readers may see a
write a moment before it is durable; if the machine fails in that moment, the write is lost with its
caller having had no answer, and a retry with the same ids is safe.
"""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import shutil
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from ..errors import InvalidArgument, Unavailable
from . import journal as J
from .memory import EVENT_TYPE_NAMES, LedgerState, MemoryLedger
from .network_json import network_from_json, network_to_json
from .onhand import BaseTable, OnHandAudit, position_table

log = logging.getLogger(__name__)

LOCK_NAME = "LOCK"
CHECKPOINT_FORMAT = 1
_CHECKPOINT = "checkpoint-"
_TMP = "tmp-"
_MANIFEST = "manifest.json"
_ARRAYS = ("idx", "pos", "inb", "alloc", "ht_keys", "ht_vals", "j_key", "j_time", "j_delta", "j_prev", "meta")
StateDirError = J.StateDirError


@dataclass(frozen=True, slots=True)
class StateDirOptions:
    """How a state directory keeps its promises (see the module docstring)."""

    fsync: bool = True  # a write returns once its entry is on disk (False: once it is in the OS)
    checkpoint_bytes: int = 64 << 20  # a journal segment this large gets a checkpoint
    checkpoint_seconds: float = 600.0  # ... and so does one whose first entry is this old

    def __post_init__(self) -> None:
        if not isinstance(self.fsync, bool):
            raise InvalidArgument("fsync", self.fsync, "must be true or false")
        if isinstance(self.checkpoint_bytes, bool) or not isinstance(self.checkpoint_bytes, int):
            raise InvalidArgument("checkpoint_bytes", self.checkpoint_bytes, "must be an integer")
        if not 1 <= self.checkpoint_bytes <= 1 << 40:
            raise InvalidArgument("checkpoint_bytes", self.checkpoint_bytes, "must be in [1, 2**40]")
        if not (isinstance(self.checkpoint_seconds, (int, float)) and 0.01 <= self.checkpoint_seconds <= 86_400):
            raise InvalidArgument("checkpoint_seconds", self.checkpoint_seconds, "must be in [0.01, 86400] seconds")


def checkpoint_name(number: int) -> str:
    return f"{_CHECKPOINT}{number:012d}"


def _checkpoint_number(name: str) -> int | None:
    rest = name.removeprefix(_CHECKPOINT)
    return int(rest) if rest != name and rest.isdigit() else None


# ---------------------------------------------------------------------------------------------- opening
def open_ledger(
    directory: Path,
    bootstrap: Callable[[], MemoryLedger],
    *,
    options: StateDirOptions | None = None,
    sweep_interval_s: float = 0.5,
    **ledger_kwargs: Any,
) -> MemoryLedger:
    """The embedded ledger kept in `directory`: restored from it when it holds a ledger (`bootstrap` is
    not called), else `bootstrap()`'s ledger, checkpointed as the first state. `ledger_kwargs` go to
    MemoryLedger when restoring (clock, windows); the bootstrap makes its own ledger."""
    opts = options or StateDirOptions()
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise StateDirError(f"state directory {directory} exists and is not a directory") from None
    except OSError as err:
        raise StateDirError(f"cannot create the state directory {directory}: {err}") from None
    lock_fd = _lock(directory)
    try:
        state = StateDir(directory, lock_fd, opts)
        checkpoints, segments = state.scan()
        if not checkpoints:
            ledger = bootstrap()
            state.start_fresh(ledger)
        else:
            ledger = state.restore(checkpoints[-1], segments, ledger_kwargs)
            ledger.start_sweeper(sweep_interval_s)
        return ledger
    except BaseException:
        os.close(lock_fd)  # closing the descriptor releases the flock
        raise


def _lock(directory: Path) -> int:
    path = directory / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise StateDirError(f"cannot open {path}: {err}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StateDirError(
            f"state directory {directory} is in use by another process (pid {holder}): one ledger per directory"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


class StateDir:
    """One open state directory, attached to one ledger (implements memory.WriteAhead)."""

    def __init__(self, directory: Path, lock_fd: int, options: StateDirOptions) -> None:
        self.path = directory
        self.options = options
        self._lock_fd = lock_fd
        self._ledger: MemoryLedger | None = None
        self._writer: J.JournalWriter | None = None
        self._closed = False
        # the newest checkpoint on disk, complete; guards deleting files against reading a base
        self._files = threading.Lock()
        self._durable = 0
        self._trimmed = 0
        self._segment_started = 0.0  # monotonic time of the current segment's first entry (0: none)
        self._force = False  # checkpoint at the next wake-up even if the segment is empty (after a replay)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def fsync(self) -> bool:
        return self.options.fsync

    # ------------------------------------------------------------------ scanning and recovery
    def scan(self) -> tuple[list[int], list[int]]:
        """(complete checkpoint numbers, journal segment numbers), both sorted; leftovers of interrupted
        checkpoints are removed. A directory holding something else is refused, not overwritten."""
        checkpoints: list[int] = []
        segments: list[int] = []
        others: list[str] = []
        for entry in sorted(self.path.iterdir()):
            name = entry.name
            if name == LOCK_NAME:
                continue
            if name.startswith(_TMP):
                shutil.rmtree(entry, ignore_errors=True)
                continue
            n = _checkpoint_number(name)
            if n is not None and entry.is_dir():
                if (entry / _MANIFEST).exists():
                    checkpoints.append(n)
                else:  # pragma: no cover - renamed only once complete; an operator's half copy
                    others.append(name)
                continue
            seg = J.segment_number(name)
            if seg is not None and entry.is_file():
                segments.append(seg)
                continue
            others.append(name)
        if not checkpoints and (segments or others):
            what = ", ".join((others + [J.segment_name(s) for s in segments])[:5])
            raise StateDirError(
                f"state directory {self.path} is not empty but holds no checkpoint ({what}): give an empty "
                "or new directory, or restore the directory's checkpoint"
            )
        return checkpoints, segments

    def restore(self, number: int, segments: list[int], ledger_kwargs: dict[str, Any]) -> MemoryLedger:
        started = time.perf_counter()
        ledger = MemoryLedger.from_state(read_checkpoint(self.path / checkpoint_name(number)), **ledger_kwargs)
        self._durable = self._trimmed = number
        ledger.audit = OnHandAudit(self._audit_base, epoch=number)
        later = [s for s in segments if s >= number]
        if later and later != list(range(later[0], later[0] + len(later))):
            raise StateDirError(f"state directory {self.path}: journal segments {later} have a gap")
        if later and later[0] != number:
            raise StateDirError(
                f"state directory {self.path}: checkpoint {number} needs {J.segment_name(number)}, which is missing"
            )
        replayed = 0
        for i, seg in enumerate(later):
            ledger.audit.start_epoch(seg)  # the on-hand changes of each segment, as when they were written
            path = self.path / J.segment_name(seg)
            read = J.read_segment(path, last=i == len(later) - 1)
            if read.torn_bytes:
                log.warning(
                    "%s: dropped %d bytes of a torn entry at its end (a write cut short when the process "
                    "stopped; its caller had no answer yet)",
                    path,
                    read.torn_bytes,
                )
                J.truncate_segment(path, read.valid_bytes)
            for entry in read.entries:
                try:
                    ledger.replay(entry)
                except Exception as err:
                    raise StateDirError(
                        f"{path}, entry at byte {entry.offset} ({entry.kind.name}): replay failed: {err}"
                    ) from err
                if ledger.sequence != entry.sequence:
                    raise StateDirError(
                        f"{path}, entry at byte {entry.offset} ({entry.kind.name}): the replay ended at sequence "
                        f"{ledger.sequence}, the write at {entry.sequence}: this version applies the journal "
                        "differently from the one that wrote it"
                    )
                replayed += 1
        for seg in segments:
            if seg < number:
                (self.path / J.segment_name(seg)).unlink(missing_ok=True)  # left by a crash after a checkpoint
        # appends continue the last segment (its torn tail, if any, is cut off above)
        self._attach(ledger, later[-1] if later else number)
        log.info(
            "state directory %s: checkpoint %d and %d journal entries replayed in %.2f s (sequence %d)",
            self.path,
            number,
            replayed,
            time.perf_counter() - started,
            ledger.sequence,
        )
        if replayed:  # the next start need not replay them again
            self._force = True
            self._wake.set()
        return ledger

    def start_fresh(self, ledger: MemoryLedger) -> None:
        """A bootstrapped ledger's first checkpoint, then its journal (in that order: a crash in between
        leaves a checkpoint without a journal, which is a valid state)."""
        with ledger.write_lock:
            write_checkpoint(self.path, 1, ledger.export_state(), fsync=self.options.fsync)
            self._durable = self._trimmed = 1
            ledger.audit = OnHandAudit(self._audit_base, epoch=1)
            self._attach(ledger, 1)
        log.info("state directory %s: empty; the ledger's first state is checkpoint 1", self.path)

    def _attach(self, ledger: MemoryLedger, segment: int) -> None:
        self._ledger = ledger
        self._writer = J.JournalWriter(self.path, segment, fsync=self.options.fsync)
        if ledger.audit is not None:
            ledger.audit.start_epoch(segment)
        ledger.attach_write_ahead(self)
        self._thread = threading.Thread(target=self._run, name="omniroute-checkpoint", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ memory.WriteAhead
    def check_writable(self) -> None:
        if self._closed:
            raise Unavailable(f"the ledger of state directory {self.path} is closed")
        writer = self._writer
        if writer is not None and writer.failure:
            raise Unavailable(
                f"state directory {self.path}: {writer.failure}; writes are refused until the service restarts"
            )

    def append(self, kind: J.Kind, now_ms: int, sequence: int, payload: bytes) -> int:
        writer = self._writer
        assert writer is not None
        try:
            ticket = writer.append(kind, now_ms, sequence, payload)
        except StateDirError as err:
            raise Unavailable(f"{err}; writes are refused until the service restarts") from err
        if not self._segment_started:
            self._segment_started = time.monotonic()
        if writer.segment_bytes >= self.options.checkpoint_bytes:
            self._wake.set()
        durable = self._durable
        if durable > self._trimmed and self._ledger is not None and self._ledger.audit is not None:
            self._ledger.audit.drop_before(durable)  # changes the new base already holds
            self._trimmed = durable
        return ticket

    def sync(self, ticket: int) -> None:
        writer = self._writer
        if writer is None:
            return
        try:
            writer.sync(ticket)
        except StateDirError as err:
            raise Unavailable(f"{err}; writes are refused until the service restarts") from err

    def checkpoint_now(self) -> None:
        """Under the ledger's lock: checkpoint before returning (a snapshot load)."""
        try:
            number, state = self._capture()
            self._write(number, state)
        except OSError as err:
            raise Unavailable(f"state directory {self.path}: checkpoint failed: {err}") from err

    def close(self) -> None:
        """Stop the checkpointer (an unfinished checkpoint is completed), sync and close the journal,
        release the directory. Idempotent. Not under the ledger's lock: the checkpointer may need it."""
        if self._closed:
            return
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        ledger = self._ledger
        lock = ledger.write_lock if ledger is not None else threading.RLock()
        with lock:
            if self._closed:
                return
            self._closed = True
            if self._writer is not None:
                self._writer.close()
            os.close(self._lock_fd)

    # ------------------------------------------------------------------ checkpoints
    def _run(self) -> None:
        while not self._stop.is_set():
            started = self._segment_started
            timeout = self.options.checkpoint_seconds - (time.monotonic() - started) if started else None
            self._wake.wait(None if timeout is None else max(timeout, 0.0))
            self._wake.clear()
            if self._stop.is_set():
                return
            writer = self._writer
            if writer is None or writer.failure or not (writer.segment_bytes or self._force):
                continue
            self._force = False
            try:
                self.checkpoint()
            except Exception:  # a failed checkpoint loses nothing: the journal goes on; try again later
                log.exception("state directory %s: checkpoint failed", self.path)
                self._segment_started = time.monotonic()

    def checkpoint(self) -> int:
        """Take a checkpoint now, holding the ledger's lock only to copy the state. Returns its number."""
        ledger = self._ledger
        assert ledger is not None
        with ledger.write_lock:
            if self._closed:
                return self._durable
            number, state = self._capture()
        self._write(number, state)
        return number

    def _capture(self) -> tuple[int, LedgerState]:
        """Under the ledger's lock: start the next journal segment and copy the state it starts from."""
        ledger, writer = self._ledger, self._writer
        assert ledger is not None and writer is not None
        number = writer.number + 1
        try:
            writer.rotate(number)
        except OSError as err:
            writer.failure = f"starting {J.segment_name(number)} failed: {err}"
            raise
        self._segment_started = 0.0
        if ledger.audit is not None:
            ledger.audit.start_epoch(number)
        return number, ledger.export_state()

    def _write(self, number: int, state: LedgerState) -> None:
        started = time.perf_counter()
        write_checkpoint(self.path, number, state, fsync=self.options.fsync)
        with self._files:
            if number > self._durable:
                self._durable = number
                for entry in self.path.iterdir():
                    n = _checkpoint_number(entry.name)
                    if n is not None and n < number:
                        shutil.rmtree(entry, ignore_errors=True)
                    seg = J.segment_number(entry.name)
                    if seg is not None and seg < number:
                        entry.unlink(missing_ok=True)
            else:  # a snapshot load's checkpoint overtook this one
                shutil.rmtree(self.path / checkpoint_name(number), ignore_errors=True)
        log.info(
            "state directory %s: checkpoint %d (sequence %d) written in %.2f s",
            self.path,
            number,
            state.sequence,
            time.perf_counter() - started,
        )

    def _audit_base(self) -> tuple[BaseTable, int]:
        """On hand of every position in the newest checkpoint, and the epoch (segment) it starts."""
        with self._files:
            number = self._durable
            folder = self.path / checkpoint_name(number)
            manifest = _read_manifest(folder)
            idx = _read_array(folder, "idx.npy", manifest)
            pos = _read_array(folder, "pos.npy", manifest)
        return position_table(idx, pos, int(manifest["skus"])), number


# ---------------------------------------------------------------------------------------------- checkpoint files
class _Checked:
    """A binary file being written, with its size and CRC-32 kept as it goes."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.crc = 0
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)
        return self.f.write(data)


def write_checkpoint(directory: Path, number: int, state: LedgerState, *, fsync: bool) -> Path:
    """Write `state` as checkpoint `number`: into a temporary directory, each file synced, its manifest
    (sizes and CRC-32s) last, then renamed into place. Returns the checkpoint's path."""
    final = directory / checkpoint_name(number)
    tmp = directory / f"{_TMP}{checkpoint_name(number)}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    files: dict[str, dict[str, int]] = {}

    def put(name: str, write: Callable[[_Checked], object]) -> None:
        with open(tmp / name, "wb") as f:
            out = _Checked(f)
            write(out)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        files[name] = {"bytes": out.size, "crc32": out.crc}

    for name in _ARRAYS:
        put(f"{name}.npy", _array_writer(state.arrays[name]))

    ids, types, locs, skus, qtys, times, chans = _seen_columns(state)
    put("seen.bin", lambda out: out.write(J.encode_columns(ids, types, locs, skus, chans, qtys, times)))
    put("skus.txt", lambda out: out.write("\n".join(state.sku_ids).encode()))
    doc = {
        "sequence": state.sequence,
        "window_start": state.window_start,
        "network": network_to_json(state.network),
        "sku_weights": state.sku_weights,
        "seen_batches": state.seen_batches,
        "holds": state.holds,
    }
    put("state.json", lambda out: out.write(json.dumps(doc, separators=(",", ":")).encode()))
    manifest = {
        "format": CHECKPOINT_FORMAT,
        "checkpoint": number,
        "sequence": state.sequence,
        "skus": len(state.sku_ids),
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
    }
    with open(tmp / _MANIFEST, "w") as f:
        json.dump(manifest, f, indent=1)
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    if fsync:
        J._fsync_dir(tmp)
    os.rename(tmp, final)
    if fsync:
        J._fsync_dir(directory)
    return final


def _array_writer(array: npt.NDArray[Any]) -> Callable[[_Checked], None]:
    def write(out: _Checked) -> None:
        np.lib.format.write_array(out, array, allow_pickle=False)

    return write


def _seen_columns(state: LedgerState) -> tuple[list[str], list[str], list[str], list[str], Any, Any, list[str]]:
    """The remembered events' payloads as columns: (ids, type names, locations, SKUs, quantities,
    times, channels). zip(*...) transposes millions of tuples in C."""
    if not state.seen_ids:
        return [], [], [], [], [], [], []
    codes, locs, skus, qtys, times, chans = zip(*state.seen_payloads, strict=True)
    names = state.event_types
    return (
        state.seen_ids,
        [names[c] for c in codes],
        list(locs),
        list(skus),
        np.array(qtys, np.int64),
        np.array(times, np.int64),
        list(chans),
    )


def _damaged(folder: Path, what: str) -> StateDirError:
    return StateDirError(
        f"checkpoint {folder} is damaged: {what}. The ledger cannot start from it; restore the state "
        "directory from a backup, or move it aside to start from the snapshot or demo network "
        "(losing the state it held)"
    )


def _read_manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((folder / _MANIFEST).read_text())
    except (OSError, ValueError) as err:
        raise _damaged(folder, f"{_MANIFEST} is unreadable ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != CHECKPOINT_FORMAT:
        raise _damaged(folder, f"{_MANIFEST} has format {manifest.get('format')!r}, not {CHECKPOINT_FORMAT}")
    return manifest


def _read_file(folder: Path, name: str, manifest: dict[str, Any]) -> bytearray:
    """A checkpoint file's bytes (writable, so arrays can live in them), checked against the manifest."""
    meta = manifest["files"].get(name)
    if meta is None:
        raise _damaged(folder, f"{name} is not in its manifest")
    path = folder / name
    try:
        size = path.stat().st_size
        if size != meta["bytes"]:
            raise _damaged(folder, f"{name} has {size} bytes, the manifest says {meta['bytes']}")
        buf = bytearray(size)
        with open(path, "rb") as f:
            if f.readinto(buf) != size:
                raise _damaged(folder, f"{name} could not be read in full")
    except OSError as err:
        raise _damaged(folder, f"{name}: {err}") from None
    crc = zlib.crc32(buf)
    if crc != meta["crc32"]:
        raise _damaged(folder, f"{name} has CRC-32 {crc:#010x}, the manifest says {meta['crc32']:#010x}")
    return buf


def _read_array(folder: Path, name: str, manifest: dict[str, Any]) -> npt.NDArray[Any]:
    buf = _read_file(folder, name, manifest)
    head = io.BytesIO(bytes(buf[: 1 << 16]))
    try:
        version = np.lib.format.read_magic(head)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(head)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(head)
        count = int(np.prod(shape))
        array = np.frombuffer(buf, dtype=dtype, count=count, offset=head.tell())
    except ValueError as err:
        raise _damaged(folder, f"{name} is not a numpy array file ({err})") from None
    return array.reshape(shape, order="F" if fortran else "C")


def read_checkpoint(folder: Path) -> LedgerState:
    """The state a checkpoint holds; StateDirError naming the file if anything is damaged."""
    manifest = _read_manifest(folder)
    arrays = {name: _read_array(folder, f"{name}.npy", manifest) for name in _ARRAYS}
    try:
        doc = json.loads(_read_file(folder, "state.json", manifest))
        sku_ids = _read_file(folder, "skus.txt", manifest).decode().split("\n") if manifest["skus"] else []
        ids, types, locs, skus, chans, qtys, times = J.decode_columns(bytes(_read_file(folder, "seen.bin", manifest)))
        code_of = {name: i for i, name in enumerate(EVENT_TYPE_NAMES)}
        codes = [code_of[t] for t in types]
        network = network_from_json(doc["network"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
        raise _damaged(folder, f"its contents do not parse ({type(err).__name__}: {err})") from None
    if len(sku_ids) != manifest["skus"]:
        raise _damaged(folder, f"skus.txt holds {len(sku_ids)} SKUs, the manifest says {manifest['skus']}")
    return LedgerState(
        sequence=int(doc["sequence"]),
        window_start=int(doc["window_start"]),
        network=network,
        sku_ids=sku_ids,
        sku_weights=list(doc["sku_weights"]),
        arrays=arrays,
        seen_ids=ids,
        seen_payloads=list(zip(codes, locs, skus, qtys, times, chans, strict=True)),
        seen_batches=[(int(t), int(n)) for t, n in doc["seen_batches"]],
        holds=doc["holds"],
        event_types=EVENT_TYPE_NAMES,
    )
