"""Optional encryption of message text at rest.

With MESSAGE_ENCRYPTION_KEYS set (comma-separated Fernet keys), message bodies, inbox previews and
stored events are kept as Fernet tokens (AES-128-CBC with HMAC-SHA256: authenticated, so tampering
is detected). The first key encrypts; every key decrypts, which is how keys rotate: put the new key
first, run `flask --app app rotate-message-keys`, then drop the old key. A first entry of `plain`
writes plain text while the keys after it still read, which is how encryption is switched off.
docs/security.md has the procedures.

Encrypted values carry a prefix, so a database may mix plain and encrypted bodies. The prefix
starts with NUL, which message validation strips from user text, so no plain text can look
encrypted.
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from mongoengine import StringField

PREFIX = "\x00fernet:"
PLAIN = "plain"  # as the first key: store new text unencrypted
_encrypting = False  # whether new text is encrypted (with the first key)
_cipher = None  # every configured key, for reading; None when there is none


class UnreadableMessage(Exception):
    """A stored body could not be decrypted with any configured key."""


class UnreadableText(str):
    """A stored value that no configured key decrypts. It reads as empty text, and saved back it
    stays the value it was, so loading a document never destroys what a restored key can read."""

    def __new__(cls, stored):
        text = super().__new__(cls, "")
        text.stored = stored
        return text


def configure(keys):
    """Install the keys from configuration (a comma-separated string or a list)."""
    global _cipher, _encrypting
    if isinstance(keys, str):
        keys = [k.strip() for k in keys.split(",") if k.strip()]
    _encrypting = bool(keys) and keys[0] != PLAIN
    keys = [k for k in keys if k != PLAIN]
    _cipher = MultiFernet([Fernet(k) for k in keys]) if keys else None


def encrypt(text):
    if not _encrypting or not text:
        return text
    return PREFIX + _cipher.encrypt(text.encode()).decode()


def decrypt(value):
    if not value or not value.startswith(PREFIX):
        return value
    if _cipher is None:
        raise UnreadableMessage("message is encrypted but MESSAGE_ENCRYPTION_KEYS is empty")
    try:
        return _cipher.decrypt(value[len(PREFIX):].encode()).decode()
    except InvalidToken as exc:
        raise UnreadableMessage("no configured key decrypts this message") from exc


BYTES_PREFIX = PREFIX.encode()


def encrypt_bytes(data):
    """File contents as they are stored: a Fernet token under the prefix while encrypting. No
    accepted file starts with NUL (services/filetypes.py), so none can look encrypted."""
    if not _encrypting:
        return data
    return BYTES_PREFIX + _cipher.encrypt(data)


def decrypt_bytes(data):
    if not data.startswith(BYTES_PREFIX):
        return data
    if _cipher is None:
        raise UnreadableMessage("file is encrypted but MESSAGE_ENCRYPTION_KEYS is empty")
    try:
        return _cipher.decrypt(data[len(BYTES_PREFIX):])
    except InvalidToken as exc:
        raise UnreadableMessage("no configured key decrypts this file") from exc


def rotate(value):
    """A stored value as the current configuration would write it (UnreadableMessage if no
    configured key reads it)."""
    return encrypt(decrypt(value))


class EncryptedStringField(StringField):
    """A string that is encrypted on its way to MongoDB and decrypted on its way back."""

    def to_mongo(self, value):
        if isinstance(value, UnreadableText):
            return value.stored
        return encrypt(value)

    def to_python(self, value):
        try:
            return decrypt(value)
        except UnreadableMessage:
            return UnreadableText(value)

    def prepare_query_value(self, op, value):
        if op in ("set", "set_on_insert"):
            return self.to_mongo(value)
        raise TypeError("encrypted fields cannot be queried")
