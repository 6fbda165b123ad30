"""``apt-get update`` that cannot wait forever.

Seen in the lab, through the DC mirror's apt-cacher-ng and through the control machine's: apt's
http method waits for good on a kept-alive connection the cache has closed (CLOSE-WAIT), and
``apt-get update`` with it; the deploy waited with them. A bounded run that is retried gets past
it. The cache logic is pyinfra's ``apt.update``'s: the stamp pyinfra touches after a good update,
younger than ``cache_time``, means nothing to do.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pyinfra import host
from pyinfra.api import operation
from pyinfra.facts.files import File
from pyinfra.facts.server import Date
from pyinfra.operations.apt import APT_UPDATE_FILENAME

from deploys.ops import OperationCommands

# A cold update through the mirror fetches the Packages files of main, updates and security: well
# under a minute here; four minutes is a hang, not a slow mirror.
UPDATE_TIMEOUT = 240
# runs after a timed-out one: the hang has not been seen twice in a row
UPDATE_RETRIES = 2


@operation(is_idempotent=False)
def update(cache_time: int = 3600, timeout: int = UPDATE_TIMEOUT) -> OperationCommands:
    """
    The package lists fetched unless fetched less than ``cache_time`` seconds ago; a run longer
    than ``timeout`` seconds is killed (and fails, so ``_retries`` runs it again).
    """
    stamp = host.get_fact(File, path=APT_UPDATE_FILENAME)
    if stamp and stamp["mtime"]:
        # pyinfra's reading: the stamp's mtime and the host's clock, both taken as UTC
        now = datetime.fromtimestamp(host.get_fact(Date).timestamp(), UTC).replace(tzinfo=None)
        if stamp["mtime"] > now - timedelta(seconds=cache_time):
            host.noop("apt is already up to date")
            return
    yield f"timeout -k 10 {timeout} apt-get update"
    yield f"touch {APT_UPDATE_FILENAME}"
