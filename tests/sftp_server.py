"""A minimal SFTP server for tests: ``python tests/sftp_server.py PORT ROOT``.

asyncssh serves ROOT as ``/`` to user ``ltx`` with password ``secret`` on 127.0.0.1.
Its rename refuses an existing target (SFTP v3), posix-rename overwrites, as OpenSSH.
"""

from __future__ import annotations

import asyncio
import sys

import asyncssh


class _Server(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == "ltx" and password == "secret"


async def _serve(port: int, root: str) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    await asyncssh.listen(
        "127.0.0.1",
        port,
        server_host_keys=[key],
        server_factory=_Server,
        sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=root.encode()),
        allow_scp=False,
    )
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1]), sys.argv[2]))
