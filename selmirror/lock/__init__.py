"""``selmirror lock``: a PEP 751 ``pylock.toml`` for one target, pointing into the mirror.

The requirements are resolved against the mirror itself, offline (:mod:`.source`: the
mirror's own pages, ``.metadata`` sidecars and sdists), by the resolver a sync uses; the
chosen versions become a lock (:mod:`.pylock`, pure) whose files are the mirror's, by
path relative to the lock or by URL under ``--base-url``. :mod:`.command` is the CLI edge.
"""
