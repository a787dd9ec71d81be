"""Barcode scanners: HID POS (usage page 0x8C), keyboard wedge (HID boot reports) and serial
(CDC-ACM / RS-232). Decoding is pure (`hidpos`, `wedge`, `serial_codec`); drivers add a reader
thread over a transport and hand every decoded code to `on_scan`."""
