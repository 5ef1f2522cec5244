"""Optional encryption of message text at rest.

With MESSAGE_ENCRYPTION_KEYS set (comma-separated Fernet keys), message bodies and inbox previews are
stored as Fernet tokens (AES-128-CBC with HMAC-SHA256: authenticated, so tampering is detected). The
first key encrypts; every key decrypts, which is how keys rotate: put the new key first, run
`flask --app app rotate-message-keys`, then drop the old key. Encrypted values carry a prefix, so a
database may mix plain and encrypted bodies while encryption is being switched on or off. The prefix
starts with NUL, which message validation strips from user text, so no plain text can look
encrypted.
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from mongoengine import StringField

PREFIX = "\x00fernet:"
_cipher = None  # set by configure(); None means bodies are stored as plain text


class UnreadableMessage(Exception):
    """A stored body could not be decrypted with any configured key."""


def configure(keys):
    """Install the keys from configuration (a comma-separated string or a list)."""
    global _cipher
    if isinstance(keys, str):
        keys = [k.strip() for k in keys.split(",") if k.strip()]
    _cipher = MultiFernet([Fernet(k) for k in keys]) if keys else None


def encrypt(text):
    if _cipher is None or not text:
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


def rotate(value):
    """Re-encrypt a stored value with the current first key (plain text gets encrypted)."""
    if not value:
        return value
    if value.startswith(PREFIX) and _cipher is not None:
        return PREFIX + _cipher.rotate(value[len(PREFIX):].encode()).decode()
    return encrypt(decrypt(value))


class EncryptedStringField(StringField):
    """A string that is encrypted on its way to MongoDB and decrypted on its way back."""

    def to_mongo(self, value):
        return encrypt(value)

    def to_python(self, value):
        return decrypt(value)

    def prepare_query_value(self, op, value):
        if op in ("set", "set_on_insert"):
            return self.to_mongo(value)
        raise TypeError("encrypted fields cannot be queried")
