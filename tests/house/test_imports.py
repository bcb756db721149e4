"""The codec is sans-I/O: importing it never imports fsspec; the public API is stable."""

from __future__ import annotations

import subprocess
import sys

import ltx


def test_codec_imports_without_fsspec():
    code = (
        "import sys; sys.modules['fsspec'] = None; sys.modules['s3fs'] = None\n"
        "import ltx, ltx.codec\n"
        "assert 'fsspec' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "print(ltx.Header, ltx.codec.Decoder)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_public_names_resolve():
    for name in ltx.__all__:
        assert getattr(ltx, name) is not None, name
    assert issubclass(ltx.FormatError, ValueError) and issubclass(ltx.StorageError, OSError)
    assert issubclass(ltx.NotFoundError, FileNotFoundError)
    assert issubclass(ltx.ConflictError, FileExistsError)
    assert issubclass(ltx.TxidNotAvailableError, LookupError)


def _ltx(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the ``ltx`` command in a subprocess."""
    return subprocess.run([sys.executable, "-m", "ltx", *args], capture_output=True, text=True)


def test_cli_demo_runs(tmp_path):
    out = _ltx("demo", "--dir", str(tmp_path / "demo"))
    assert out.returncode == 0, out.stderr
    assert "rows in notes" in out.stdout
    url = (tmp_path / "demo").as_uri()
    ls = _ltx("ls", url)
    assert ls.returncode == 0 and "0000000000000001" in ls.stdout
    bad = _ltx("page", url, "1", "--txid", "0x99")
    assert bad.returncode == 1 and "not available" in bad.stderr
    short = _ltx("page", url, "1", "--txid", "14")
    assert short.returncode == 2 and "000000000000000e" in short.stderr
    dry = _ltx("compact", url, "--dry-run", "--now", "2100-01-01T00:00:00Z")
    assert dry.returncode == 0 and "compact L0 -> L1" in dry.stdout, dry.stderr
