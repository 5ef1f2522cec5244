"""Where attachment bytes live: MongoDB GridFS in the app's own database (replicated and backed
up with it), behind the few calls an object store would also offer, so one can replace it.

Contents are encrypted at rest when MESSAGE_ENCRYPTION_KEYS says so (elako/crypto.py).
"""

import gridfs
import mongoengine

from . import crypto

COLLECTION = "attachments"  # GridFS's attachments.files and attachments.chunks


class GridFSStore:
    """put / get / exists / delete of whole files by id."""

    def __init__(self, database):
        self.fs = gridfs.GridFS(database, collection=COLLECTION)

    def put(self, data, *, content_type):
        """Store `data`; its id (an ObjectId)."""
        return self.fs.put(crypto.encrypt_bytes(data), contentType=content_type)

    def get(self, file_id):
        """The file's bytes, or None if there is no such file."""
        try:
            return crypto.decrypt_bytes(self.fs.get(file_id).read())
        except gridfs.errors.NoFile:
            return None

    def exists(self, file_id):
        """Whether a file is stored under `file_id` (its bytes are not read)."""
        return self.fs.exists(file_id)

    def delete(self, file_id):
        """Remove the file (its chunks first); nothing happens if it is gone already."""
        self.fs.delete(file_id)


_current = [None, None]  # (database, store): tests reconnect, and a new database gets a new store


def get_store():
    """The store on the current MongoDB connection (mongomock's needs its GridFS switched on)."""
    database = mongoengine.connection.get_db()
    if _current[0] is not database:
        if type(database.client).__module__.startswith("mongomock"):
            import mongomock.gridfs

            mongomock.gridfs.enable_gridfs_integration()
        _current[:] = [database, GridFSStore(database)]
    return _current[1]
