"""Kombu's filesystem transport, with message files that appear whole or not at all.

Kombu's `_put` opens the message file under its final name and then writes it; a consumer that
lists the folder in between moves away an empty file and loses the message (a JSONDecodeError in
the worker log, seen in about one test run in five). Writing under a name consumers ignore and
renaming it into place (atomic on one filesystem) closes that window. Selected by settings when
CELERY_BROKER_URL is filesystem://. The first channel opened creates the folders it uses.
"""

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for folder in (self.data_folder_in, self.data_folder_out, self.control_folder):
            os.makedirs(folder, exist_ok=True)
        if self.store_processed:
            os.makedirs(self.processed_folder, exist_ok=True)

    def _put(self, queue, payload, **kwargs):
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # A leading dot: `_get` keeps only names whose part after the first dot is "<queue>.msg".
        temporary = os.path.join(self.data_folder_out, f".{name}.part")
        try:
            with open(temporary, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(temporary, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
