"""Emulators that speak real device protocols over real transports, for tests and the demo."""
