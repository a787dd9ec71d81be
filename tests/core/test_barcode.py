import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.barcode import InvalidBarcode, classify, gtin_check_digit, normalize


@pytest.mark.parametrize(
    ("body", "check_digit"),
    [
        ("400638133393", 1),  # EAN-13 4006381333931
        ("03600029145", 2),  # UPC-A 036000291452
        ("9638507", 4),  # EAN-8 96385074
        ("1", 7),
    ],
)
def test_check_digit_known_values(body, check_digit):
    assert gtin_check_digit(body) == check_digit


def test_check_digit_ignores_leading_zeros():
    assert gtin_check_digit("0" + "400638133393") == gtin_check_digit("400638133393")


@pytest.mark.parametrize("body", ["", "12a4", "١٢٣"])
def test_check_digit_rejects_non_digits(body):
    with pytest.raises(InvalidBarcode):
        gtin_check_digit(body)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("4006381333931", "ean13"),
        ("036000291452", "upca"),
        ("96385074", "ean8"),
        ("14006381333938", "gtin14"),
        ("2000000001012", "ean13"),  # restricted circulation (prefix 20-29) is still an EAN-13
        ("4011", "plu"),
        ("94011", "plu"),
        ("BAKERY-CROISSANT", "instore"),
        ("bakery-croissant", "instore"),
        ("X", "instore"),
        ("A" * 32, "instore"),
    ],
)
def test_classify_valid(code, kind):
    assert classify(code) == kind


def test_classify_reports_expected_check_digit():
    with pytest.raises(InvalidBarcode, match="EAN-13 check digit should be 1, got 2") as info:
        classify("4006381333932")
    assert info.value.code == "4006381333932"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("", "empty"),
        ("036000291453", "UPC-A check digit should be 2, got 3"),
        ("96385075", "EAN-8 check digit should be 4, got 5"),
        ("14006381333939", "GTIN-14 check digit should be 8, got 9"),
        ("123", "3-digit"),
        ("123456789", "9-digit"),
        ("BAKERY CROISSANT", "only letters"),
        ("]E04006381333931", "only letters"),  # raw scans go through normalize, not classify
        ("ÄPFEL", "only letters"),
        ("---", "at least one letter or digit"),
        ("A" * 33, "at most 32"),
    ],
)
def test_classify_invalid(code, reason):
    with pytest.raises(InvalidBarcode, match=reason):
        classify(code)


def test_invalid_barcode_is_a_value_error():
    assert issubclass(InvalidBarcode, ValueError)


twelve_digits = st.text(alphabet="0123456789", min_size=12, max_size=12)


@given(body=twelve_digits)
def test_any_body_with_its_check_digit_is_an_ean13(body):
    assert classify(body + str(gtin_check_digit(body))) == "ean13"


@given(body=twelve_digits, position=st.integers(0, 12), delta=st.integers(1, 9))
def test_changing_any_single_digit_breaks_the_check(body, position, delta):
    code = body + str(gtin_check_digit(body))
    changed = code[:position] + str((int(code[position]) + delta) % 10) + code[position + 1 :]
    with pytest.raises(InvalidBarcode):
        classify(changed)


def test_upca_and_its_ean13_and_gtin14_forms_share_a_key():
    upca = "036000291452"
    assert normalize(upca) == normalize("0" + upca) == normalize("00" + upca) == "0" + upca


def test_gtin14_with_packaging_indicator_keeps_14_digits():
    assert normalize("14006381333938") == "14006381333938"


def test_ean8_padded_to_gtin13_or_14_finds_the_ean8():
    assert normalize("96385074") == normalize("0000096385074") == normalize("00000096385074")


def test_plu_and_instore_codes():
    assert normalize("4011") == "4011"
    assert normalize("94011") == "94011"
    assert normalize("bakery-croissant") == "BAKERY-CROISSANT"


@pytest.mark.parametrize(
    "scan",
    [
        "]E04006381333931",
        "]E04006381333931\r\n",
        "  ]E04006381333931\n",
        "4006381333931\r",
        "]A04006381333931",
    ],
)
def test_normalize_strips_aim_prefix_and_whitespace(scan):
    assert normalize(scan) == "4006381333931"


def test_normalize_strips_aim_prefix_from_upca_scan():
    assert normalize("]E0036000291452") == normalize("036000291452")


@pytest.mark.parametrize("scan", ["]E0", "]E04006381333932", "  ", "4006 381333931"])
def test_normalize_rejects_invalid_scans(scan):
    with pytest.raises(InvalidBarcode):
        normalize(scan)


codes = st.one_of(
    st.integers(0, 10**7 - 1).map(lambda n: f"{n:07d}"),
    st.integers(0, 10**11 - 1).map(lambda n: f"{n:011d}"),
    st.integers(0, 10**12 - 1).map(lambda n: f"{n:012d}"),
    st.integers(0, 10**13 - 1).map(lambda n: f"{n:013d}"),
).map(lambda body: body + str(gtin_check_digit(body)))


@given(code=codes)
def test_normalize_is_idempotent_and_keeps_the_gtin_value(code):
    key = normalize(code)
    assert normalize(key) == key
    assert int(key) == int(code)
