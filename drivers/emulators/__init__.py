"""Device emulators that speak the real wire protocols, for tests and demo mode."""
