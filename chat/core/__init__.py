"""The chat's core: what it tells its users (L{chat.core.events}), apart from any wire or store."""
