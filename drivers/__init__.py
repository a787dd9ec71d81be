"""Hardware layer: receipt printers, scanners, payment terminals, cash drawers, and their
emulators. One device model; transports (USB, HID, serial, TCP) swap underneath the drivers."""
