"""Hot-plug is a poll and a diff: the diff is pure, and a failing bus never fakes an unplug."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.discovery import apply, diff, index
from drivers.discovery.poller import Poller
from schemas.devices import DeviceAddress, DeviceDescriptor

paths = st.sampled_from([f"/dev/ttyACM{i}" for i in range(6)])
hosts = st.sampled_from(["10.0.0.5", "10.0.0.6"])
descriptors = st.one_of(
    st.builds(lambda p: DeviceDescriptor("serial", DeviceAddress("serial", path=p)), paths),
    st.builds(lambda h, port: DeviceDescriptor("network", DeviceAddress("tcp", host=h, port=port)),
              hosts, st.sampled_from([9100, 9101])),
    st.builds(lambda v, s: DeviceDescriptor("usb", DeviceAddress("usb", path="1-1", vendor_id=v,
                                                                  product_id=1, serial_number=s)),
              st.sampled_from([0x04B8, 0x0519]), st.sampled_from(["A", "B", None])),
)
listings = st.lists(descriptors, max_size=10)


@settings(max_examples=200)
@given(listings, listings)
def test_applying_the_diff_to_the_previous_listing_gives_the_current_one(before, after) -> None:
    prev = index(before)
    change = diff(prev, after)
    assert apply(prev, change).keys() == index(after).keys()
    added = {d.key() for d in change.added}
    removed = {d.key() for d in change.removed}
    assert not added & prev.keys()
    assert removed <= prev.keys()
    assert not removed & index(after).keys()


@settings(max_examples=100)
@given(listings)
def test_an_unchanged_listing_is_no_change(listing) -> None:
    assert not diff(index(listing), list(reversed(listing)) + listing)


class _Flaky:
    name = "usb"

    def __init__(self) -> None:
        self.fail = False
        self.devices = [DeviceDescriptor("usb", DeviceAddress("usb", path="1-2", vendor_id=0x04B8,
                                                              product_id=0x0202))]

    def enumerate(self) -> list[DeviceDescriptor]:
        if self.fail:
            raise OSError("libusb: LIBUSB_ERROR_IO")
        return list(self.devices)


def test_a_failing_enumeration_keeps_the_previous_devices_and_reports_the_error() -> None:
    usb = _Flaky()
    poller = Poller([usb])
    assert [d.key() for d in poller.poll_once().added] == ["usb:04b8:0202:1-2"]
    usb.fail = True
    assert not poller.poll_once()  # no false "detached"
    assert "LIBUSB_ERROR_IO" in poller.errors["usb"]
    usb.fail, usb.devices = False, []
    assert [d.key() for d in poller.poll_once().removed] == ["usb:04b8:0202:1-2"]
    assert poller.errors == {}
