"""An in-memory keyring backend for tests (selected through PYTHON_KEYRING_BACKEND); nothing touches disk."""
from keyring.backend import KeyringBackend

_STORE: dict[tuple[str, str], str] = {}


class MemoryKeyring(KeyringBackend):
    priority = 1

    def get_password(self, service, username):
        return _STORE.get((service, username))

    def set_password(self, service, username, password):
        _STORE[(service, username)] = password

    def delete_password(self, service, username):
        _STORE.pop((service, username), None)
