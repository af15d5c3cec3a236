"""Streaming downloads: one URL into one file, with size and sha256 checks and nothing half-written."""
from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .zoo_base import CHUNK, ChecksumError, ConnectionFailed, DownloadError, Progress


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or url


def download_file(url: str, dest: str | Path, *, expected_sha256: str | None = None,
                  progress: Progress | None = None, desc: str | None = None, show_progress: bool = True,
                  timeout: float = 60.0) -> str:
    """Stream `url` into `dest` (via a temporary file beside it) and return the file's sha256.

    The byte count is checked against Content-Length and the digest against `expected_sha256`; on any
    failure the temporary file is removed and `dest` is left untouched. `progress(done, total)` is
    called after every chunk (total is None when the server sends no Content-Length).
    Raises ConnectionFailed when the server cannot be reached, DownloadError / ChecksumError otherwise.
    """
    from tqdm.auto import tqdm

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    done = 0
    try:
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": "i2i-studio"})
            try:
                response = urllib.request.urlopen(request, timeout=timeout)
            except urllib.error.HTTPError as e:
                raise DownloadError(f"cannot download {url}: the server answered {e.code} {e.reason}") from e
            except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
                reason = getattr(e, "reason", e)
                raise ConnectionFailed(f"cannot reach {_host(url)} ({reason})") from e
            with response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.strip().isdigit() else None
                bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc or dest.name,
                           disable=not show_progress, leave=False)
                try:
                    while True:
                        try:
                            chunk = response.read(CHUNK)
                        except http.client.IncompleteRead as e:
                            chunk = e.partial
                            if chunk:
                                out.write(chunk)
                                digest.update(chunk)
                                done += len(chunk)
                            break
                        except (OSError, http.client.HTTPException) as e:
                            raise DownloadError(f"download of {url} failed after {done} bytes ({e}); "
                                                "nothing was saved, try again") from e
                        if not chunk:
                            break
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        bar.update(len(chunk))
                        if progress is not None:
                            progress(done, total)
                finally:
                    bar.close()
        if total is not None and done != total:
            raise DownloadError(f"download of {url} is truncated: got {done} of {total} bytes; "
                                "nothing was saved, try again")
        hexdigest = digest.hexdigest()
        if expected_sha256 and hexdigest != expected_sha256.lower():
            raise ChecksumError(f"{url} has sha256 {hexdigest}, expected {expected_sha256.lower()}; "
                                "the file is corrupt or was replaced, nothing was saved")
        os.replace(tmp, dest)
        return hexdigest
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
