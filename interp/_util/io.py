"""Atomic file writing: a reader never finds a partial file under the final name."""

from __future__ import annotations

import contextlib
import glob
import os
import signal
import tempfile
import threading
from pathlib import Path

from interp._util.errors import InterpError, Terminated

__all__ = ["atomic_write", "check_writable", "remove_stale_temporaries", "sigterm_as_interrupt", "read_toml",
           "pid_lock", "available_memory"]


def check_writable(path: str | os.PathLike) -> Path:
    """Fail early, with a one-line message, if ``path`` cannot be written."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InterpError(f"output path {path} is a directory")
    if not parent.is_dir():
        raise InterpError(f"cannot write {path}: folder {parent} does not exist")
    try:  # really try: permission bits say nothing to root or on read-only file systems
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise InterpError(f"cannot write {path}: folder {parent} is not writable ({err.strerror})") from None
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb"):
    """Open a temporary file beside ``path``; rename it onto ``path`` only on success."""
    path = check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:  # any locale
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_stale_temporaries(*paths: str | os.PathLike) -> None:
    """Delete what a killed writer left behind: ``.NAME.*.tmp`` files beside each path.

    (:func:`atomic_write` writes to such a file and renames it; SIGKILL between the two leaves
    it. No reader mistakes it for the real file, but it takes space.) Call it before writing
    ``path`` again, not while another process may be writing it.
    """
    for p in map(Path, paths):
        for tmp in p.parent.glob(f".{glob.escape(p.name)}.*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM raises :class:`interp.cli.Terminated` (a KeyboardInterrupt), so
    that :func:`atomic_write` removes its temporary and :func:`interp.cli.run` exits with one
    line, as for Ctrl-C. Outside the main thread (where signals cannot be handled) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextlib.contextmanager
def pid_lock(path: str | os.PathLike, what: str):
    """Hold the lock file ``path`` (it holds this process's PID) for the block.

    A lock held by a running process is a one-line :class:`interp.cli.InterpError` naming its
    PID; a lock left by a process that no longer runs (killed by SIGKILL, say) is taken over.
    The file is removed when the block ends.
    """
    path = Path(path)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(path.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid > 0 and pid != os.getpid() and _alive(pid):
                raise InterpError(f"{what} is already running in process {pid} (lock {path}); wait for it to end, "
                                  f"or delete the lock if no such process is running") from None
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # stale: its process is gone
            continue
        except OSError as err:
            raise InterpError(f"cannot create the lock {path}: {err.strerror or err}") from None
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()}\n")
        break
    else:
        raise InterpError(f"cannot take the lock {path}: other processes keep taking it")
    try:
        yield path
    finally:
        with contextlib.suppress(OSError, ValueError):
            if int(path.read_text().strip()) == os.getpid():
                path.unlink()


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), or None if unknown."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return None


def toml_line(text: str, table: str | None, key: str | None = None, occurrence: int | None = None) -> int | None:
    """Line number (from 1) of a table header or of a key in a TOML text; None if not found.

    ``table`` is a table name (``"model"``; ``None`` for the top level before any header);
    ``occurrence`` picks the n-th ``[[table]]`` of an array of tables (from 1). With ``key``,
    the line of ``key = ...`` inside that table; without, the line of the header. A plain
    line scan for error messages, not a parser: it may miss keys written in unusual ways
    (dotted keys, inline tables, multi-line strings), and then says nothing.
    """
    import re

    header = re.compile(r"^\s*\[\[?\s*([^\[\]]+?)\s*\]\]?\s*(#.*)?$")
    key_re = None
    if key is not None:
        quoted = re.escape(key)
        key_re = re.compile(rf"^\s*(?:{quoted}|\"{quoted}\"|'{quoted}')\s*=")
    current, counts = None, {}
    for n, line in enumerate(text.splitlines(), 1):
        m = header.match(line)
        if m:
            current = m.group(1).strip().strip("\"'")
            counts[current] = counts.get(current, 0) + 1
            if key is None and current == table and (occurrence is None or counts[current] == occurrence):
                return n
            continue
        if key_re is not None and current == table \
                and (occurrence is None or counts.get(current, 0) == occurrence) and key_re.match(line):
            return n
    return None


def read_toml(path: str | os.PathLike, what: str, missing: str | None = None) -> tuple[str, dict]:
    """(text, parsed table) of a TOML file; a one-line error naming ``what`` and the file.

    ``missing`` replaces the message for a file that does not exist.
    """
    import tomllib

    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
        return text, tomllib.loads(text)
    except FileNotFoundError:
        raise InterpError(missing or f"{what} {path} not found") from None
    except IsADirectoryError:
        raise InterpError(f"{what} {path} is a directory") from None
    except tomllib.TOMLDecodeError as err:
        raise InterpError(f"{path}: malformed TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise InterpError(f"{path}: not UTF-8 text ({err.reason})") from None
    except OSError as err:
        raise InterpError(f"cannot read {what} {path}: {err.strerror or err}") from None

