"""The daemon's device service: the registry's lifecycle inside the daemon, hot-plug polling,
attach/detach events, lane bindings, persistent device statistics, the live device stream, the
scan-to-cart path and the local admin credential. `edge.devices.service.DeviceService` ties
them together; each module here owns one of those ideas."""
