"""The DSFinV-K 2.4 file layout: every table of the three modules (Stammdatenmodul,
Kassenabschlussmodul, Einzelaufzeichnungsmodul) in the order of the published `index.xml`,
each column with its GDPdU type (AlphaNumeric with MaxLength, or Numeric with Accuracy), the
CSV dialect that `index.xml` declares, and the writer of `index.xml` itself (GDPdU
"Beschreibungsstandard", DTD `gdpdu-01-09-2004.dtd`) and of the DTD it names.

The dialect (what the published `index.xml` states for every table): UTF-8 without a byte
order mark, `;` between columns, CR LF after every record, `"` around a text that needs it
(doubled inside), `,` as the decimal symbol, no digit grouping written (`.` declared), the
first row the column names, data from row 2. A Numeric column is written with exactly its
Accuracy of decimal places (none: an integer); an empty field is a missing value.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

DSFINVK_VERSION = "2.4"
DTD_NAME = "gdpdu-01-09-2004.dtd"
INDEX_NAME = "index.xml"
COLUMN_DELIMITER = ";"
RECORD_DELIMITER = "\r\n"
TEXT_ENCAPSULATOR = '"'
DECIMAL_SYMBOL = ","
DIGIT_GROUPING_SYMBOL = "."
DATA_FROM_ROW = 2


@dataclass(frozen=True)
class Column:
    name: str
    numeric: bool
    size: int  # Numeric: Accuracy (decimal places); AlphaNumeric: MaxLength
    description: str


@dataclass(frozen=True)
class Table:
    url: str  # the file name
    name: str  # the DSFinV-K name
    module: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


def _a(name: str, size: int, description: str) -> Column:
    return Column(name, False, size, description)


def _n(name: str, accuracy: int, description: str) -> Column:
    return Column(name, True, accuracy, description)


_CLOSING = (_a("Z_KASSE_ID", 50, "ID der (Abschluss-) Kasse"),
            _a("Z_ERSTELLUNG", 30, "Zeitpunkt des Kassenabschlusses"),
            _n("Z_NR", 0, "Nr. des Kassenabschlusses"))
_BON = _CLOSING + (_a("BON_ID", 40, "Vorgangs-ID"),)
_POS = _BON + (_a("POS_ZEILE", 50, "Zeilennummer"),)
_STAMM, _ABSCHLUSS, _EINZEL = "Stammdatenmodul", "Kassenabschlussmodul", "Einzelaufzeichnungsmodul"

TABLES: tuple[Table, ...] = (
    Table("cashpointclosing.csv", "Stamm_Abschluss", _STAMM, _CLOSING + (
        _a("Z_BUCHUNGSTAG", 25, "Vom Erstellungsdatum abweichender Verbuchungstag"),
        _a("TAXONOMIE_VERSION", 10, "Version der DFKA-Taxonomie-Kasse"),
        _a("Z_START_ID", 40, "Erste BON_ID im Abschluss"),
        _a("Z_ENDE_ID", 40, "Letzte BON_ID im Abschluss"),
        _a("NAME", 60, "Name des Unternehmens"), _a("STRASSE", 60, "Straße"),
        _a("PLZ", 10, "Postleitzahl"), _a("ORT", 62, "Ort"), _a("LAND", 3, "Land"),
        _a("STNR", 20, "Steuernummer des Unternehmens"), _a("USTID", 15, "USTID"),
        _n("Z_SE_ZAHLUNGEN", 2, "Summe aller Zahlungen"),
        _n("Z_SE_BARZAHLUNGEN", 2, "Summe aller Barzahlungen"))),
    Table("location.csv", "Stamm_Orte", _STAMM, _CLOSING + (
        _a("LOC_NAME", 60, "Name des Standortes"), _a("LOC_STRASSE", 60, "Straße"),
        _a("LOC_PLZ", 10, "Postleitzahl"), _a("LOC_ORT", 62, "Ort"), _a("LOC_LAND", 3, "Land"),
        _a("LOC_USTID", 15, "USTID"))),
    Table("cashregister.csv", "Stamm_Kassen", _STAMM, _CLOSING + (
        _a("KASSE_BRAND", 50, "Marke der Kasse"), _a("KASSE_MODELL", 50, "Modellbezeichnung"),
        _a("KASSE_SERIENNR", 70, "Seriennummer der Kasse"),
        _a("KASSE_SW_BRAND", 50, "Markenbezeichnung der Software"),
        _a("KASSE_SW_VERSION", 50, "Version der Software"),
        _a("KASSE_BASISWAEH_CODE", 3, "Basiswährung der Kasse"),
        _a("KEINE_UST_ZUORDNUNG", 1, "UmsatzsteuerNichtErmittelbar"))),
    Table("slaves.csv", "Stamm_Terminals", _STAMM, _CLOSING + (
        _a("TERMINAL_ID", 50, "ID des Terminals"), _a("TERMINAL_BRAND", 50, "Marke der Terminals"),
        _a("TERMINAL_MODELL", 50, "Modellbezeichnung des Terminals"),
        _a("TERMINAL_SERIENNR", 70, "Seriennummer des Terminals"),
        _a("TERMINAL_SW_BRAND", 50, "Markenbezeichnung der Software"),
        _a("TERMINAL_SW_VERSION", 50, "Version der Software"))),
    Table("pa.csv", "Stamm_Agenturen", _STAMM, _CLOSING + (
        _n("AGENTUR_ID", 0, "ID der Agentur"), _a("AGENTUR_NAME", 60, "Name des Auftraggebers"),
        _a("AGENTUR_STRASSE", 60, "Straße"), _a("AGENTUR_PLZ", 10, "Postleitzahl"),
        _a("AGENTUR_ORT", 62, "Ort"), _a("AGENTUR_LAND", 3, "Land"),
        _a("AGENTUR_STNR", 20, "Steuernummer des Auftraggebers"),
        _a("AGENTUR_USTID", 15, "USTID des Auftraggebers"))),
    Table("tse.csv", "Stamm_TSE", _STAMM, _CLOSING + (
        _n("TSE_ID", 0, "ID der TSE (nur zur Referenzierung innerhalb eines Kassenabschlusses)"),
        _a("TSE_SERIAL", 68, "Seriennummer der TSE"),
        _a("TSE_SIG_ALGO", 21, "Der von der TSE verwendete Signaturalgorithmus"),
        _a("TSE_ZEITFORMAT", 31, "Das von der TSE verwendete Format für die Log-Time"),
        _a("TSE_PD_ENCODING", 5, "Das Text-Encoding der ProcessData (UTF-8 oder ASCII)"),
        _a("TSE_PUBLIC_KEY", 512, "Öffentlicher Schlüssel der TSE in base64-Codierung"),
        _a("TSE_ZERTIFIKAT_I", 1000, "Erste 1000 Zeichen des Zertifikats der TSE (base64)"),
        _a("TSE_ZERTIFIKAT_II", 1000, "Ggf. Rest des Zertifikats der TSE (base64)"))),
    Table("vat.csv", "Stamm_USt", _STAMM, _CLOSING + (
        _n("UST_SCHLUESSEL", 0, "ID des Umsatzsteuersatzes"), _n("UST_SATZ", 2, "Prozentsatz"),
        _a("UST_BESCHR", 55, "Beschreibung"))),
    Table("businesscases.csv", "Z_GV_Typ", _ABSCHLUSS, _CLOSING + (
        _a("GV_TYP", 30, "Geschäftsvorfall-Art"), _a("GV_NAME", 40, "Name des Geschäftsvorfalls"),
        _n("AGENTUR_ID", 0, "ID der Agentur"), _n("UST_SCHLUESSEL", 0, "ID des USt-Satzes"),
        _n("Z_UMS_BRUTTO", 5, "Bruttoumsatz"), _n("Z_UMS_NETTO", 5, "Nettoumsatz"),
        _n("Z_UST", 5, "Umsatzsteuer"))),
    Table("payment.csv", "Z_Zahlart", _ABSCHLUSS, _CLOSING + (
        _a("ZAHLART_TYP", 25, "Typ der Zahlart"), _a("ZAHLART_NAME", 60, "Name der Zahlart"),
        _n("Z_ZAHLART_BETRAG", 2, "Betrag"))),
    Table("cash_per_currency.csv", "Z_Waehrungen", _ABSCHLUSS, _CLOSING + (
        _a("ZAHLART_WAEH", 3, "Währung"), _n("ZAHLART_BETRAG_WAEH", 2, "Betrag"))),
    Table("transactions.csv", "Bonkopf", _EINZEL, _BON + (
        _n("BON_NR", 0, "Bonnummer"), _a("BON_TYP", 30, "Bontyp"),
        _a("BON_NAME", 60, "Zusatz-Beschreibung zum Bontyp"),
        _a("TERMINAL_ID", 50, "ID des Erfassungsterminals"),
        _a("BON_STORNO", 1, "Storno-Kennzeichen"),
        _a("BON_START", 30, "Zeitpunkt des Vorgangsstarts"),
        _a("BON_ENDE", 30, "Zeitpunkt der Vorgangsbeendigung"),
        _a("BEDIENER_ID", 50, "Bediener-ID"), _a("BEDIENER_NAME", 50, "Bediener-Name"),
        _n("UMS_BRUTTO", 2, "Brutto-Gesamtumsatz"),
        _a("KUNDE_NAME", 50, "Name des Leistungsempfängers"),
        _a("KUNDE_ID", 50, "Kundennummer des Leistungsempfängers"),
        _a("KUNDE_TYP", 50, "Art des Leistungsempfängers"),
        _a("KUNDE_STRASSE", 60, "Straße und Hausnummer des Leistungsempfängers"),
        _a("KUNDE_PLZ", 10, "PLZ des Leistungsempfängers"),
        _a("KUNDE_ORT", 62, "Ort des Leistungsempfängers"),
        _a("KUNDE_LAND", 3, "Land des Leistungsempfängers"),
        _a("KUNDE_USTID", 15, "UStID des Leistungsempfängers"),
        _a("BON_NOTIZ", 255, "Zusätzliche Informationen zum Bonkopf"))),
    Table("datapayment.csv", "Bonkopf_Zahlarten", _EINZEL, _BON + (
        _a("ZAHLART_TYP", 25, "Typ der Zahlart"), _a("ZAHLART_NAME", 60, "Name der Zahlart"),
        _a("ZAHLWAEH_CODE", 3, "Währungscode"), _n("ZAHLWAEH_BETRAG", 2, "Betrag in Fremdwährung"),
        _n("BASISWAEH_BETRAG", 2, "Betrag in Basiswährung"))),
    Table("lines.csv", "Bonpos", _EINZEL, _POS + (
        _a("GUTSCHEIN_NR", 50, "Gutschein-Nr."), _a("ARTIKELTEXT", 255, "Artikeltext"),
        _a("POS_TERMINAL_ID", 50, "ID des POS-Terminals"),
        _a("GV_TYP", 30, "Geschäftsvorfall-Art"), _a("GV_NAME", 40, "Name des Geschäftsvorfalls"),
        _a("INHAUS", 1, "Verzehr an Ort und Stelle"),
        _a("P_STORNO", 1, "Positionsstorno-Kennzeichnung"), _n("AGENTUR_ID", 0, "ID der Agentur"),
        _a("ART_NR", 50, "Artikelnummer"), _a("GTIN", 50, "GTIN"),
        _a("WARENGR_ID", 40, "Warengruppen-ID"), _a("WARENGR", 50, "Bezeichnung Warengruppe"),
        _n("MENGE", 3, "Menge"), _n("FAKTOR", 3, "Faktor, z. B. Gebindegrößen"),
        _a("EINHEIT", 50, "Maßeinheit, z. B. kg, Liter oder Stück"),
        _n("STK_BR", 5, "Preis pro Einheit inkl. USt"))),
    Table("itemamounts.csv", "Bonpos_Preisfindung", _EINZEL, _POS + (
        _a("TYP", 20, "Basispreis, Rabatt oder Zuschlag"),
        _n("UST_SCHLUESSEL", 0, "ID des USt-Satzes"),
        _n("PF_BRUTTO", 5, "Bruttoumsatz"), _n("PF_NETTO", 5, "Nettoumsatz"),
        _n("PF_UST", 5, "Umsatzsteuer"))),
    Table("subitems.csv", "Bonpos_Zusatzinfo", _EINZEL, _POS + (
        _a("ZI_ART_NR", 50, "Artikelnummer"), _a("ZI_GTIN", 50, "GTIN"),
        _a("ZI_NAME", 60, "Artikelbezeichnung"), _a("ZI_WARENGR_ID", 40, "Warengruppen-ID"),
        _a("ZI_WARENGR", 50, "Bezeichnung Warengruppe"), _n("ZI_MENGE", 3, "Menge"),
        _n("ZI_FAKTOR", 3, "Faktor, z. B. Gebindegrößen"),
        _a("ZI_EINHEIT", 50, "Maßeinheit, z. B. kg, Liter oder Stück"),
        _n("ZI_UST_SCHLUESSEL", 0, "ID USt-Satz des Basispreises"),
        _n("ZI_BASISPREIS_BRUTTO", 5, "Basispreis brutto"),
        _n("ZI_BASISPREIS_NETTO", 5, "Basispreis netto"),
        _n("ZI_BASISPREIS_UST", 5, "Basispreis USt"))),
    Table("transactions_tse.csv", "TSE_Transaktionen", _EINZEL, _BON + (
        _n("TSE_ID", 0, "Die ID der für die Transaktion verwendeten TSE"),
        _n("TSE_TANR", 0, "Die Transaktionsnummer der TSE-Transaktion"),
        _a("TSE_TA_START", 30, "Die Log-Time der StartTransaction-Operation"),
        _a("TSE_TA_ENDE", 30, "Die Log-Time der FinishTransaction-Operation"),
        _a("TSE_TA_VORGANGSART", 30, "Der processType der FinishTransaction-Operation"),
        _n("TSE_TA_SIGZ", 0, "Der Signaturzähler der FinishTransaction-Operation"),
        _a("TSE_TA_SIG", 512, "Die Signatur der FinishTransaction-Operation"),
        _a("TSE_TA_FEHLER", 200, "Beschreibung des TSE-Ausfalls oder Fehlers"),
        _a("TSE_VORGANGSDATEN", 1000, "An die TSE übergebene Daten des Vorgangs (optional)"))),
    Table("transactions_vat.csv", "Bonkopf_USt", _EINZEL, _BON + (
        _n("UST_SCHLUESSEL", 0, "ID des USt-Satzes"), _n("BON_BRUTTO", 5, "Bruttoumsatz"),
        _n("BON_NETTO", 5, "Nettoumsatz"), _n("BON_UST", 5, "Umsatzsteuer"))),
    Table("lines_vat.csv", "Bonpos_USt", _EINZEL, _POS + (
        _n("UST_SCHLUESSEL", 0, "ID des USt-Satzes"), _n("POS_BRUTTO", 5, "Bruttoumsatz"),
        _n("POS_NETTO", 5, "Nettoumsatz"), _n("POS_UST", 5, "Umsatzsteuer"))),
    Table("allocation_groups.csv", "Bonkopf_AbrKreis", _EINZEL, _BON + (
        _a("ABRECHNUNGSKREIS", 50, "Abrechnungskreis, z. B. Tischnummer"),)),
    Table("references.csv", "Bon_Referenzen", _EINZEL, _BON + (
        _a("POS_ZEILE", 50, "Zeilennummer des referenzierenden Vorgangs"),
        _a("REF_TYP", 20, "Art der Referenz"),
        _a("REF_NAME", 40, "Beschreibung bei Art ExterneSonstige"),
        _a("REF_DATUM", 30, "Datum des Kassenabschlusses"),
        _a("REF_Z_KASSE_ID", 50, "ID der (Abschluss-) Kasse"),
        _n("REF_Z_NR", 0, "Nr. des Kassenabschlusses"), _a("REF_BON_ID", 40, "Vorgangs-ID"))),
)
BY_URL: dict[str, Table] = {t.url: t for t in TABLES}


def number(value_scaled: int, scale_digits: int, accuracy: int) -> str:
    """An exact decimal `value_scaled / 10**scale_digits` written with `accuracy` places and
    the decimal comma (`-12,50000`). The value must fit the accuracy exactly: amounts are
    integers of minor units, never rounded here."""
    if accuracy < scale_digits:
        q, r = divmod(abs(value_scaled), 10 ** (scale_digits - accuracy))
        if r:
            raise ValueError(f"{value_scaled}e-{scale_digits} does not fit {accuracy} places")
        digits, places = q, accuracy
    else:
        digits, places = abs(value_scaled) * 10 ** (accuracy - scale_digits), accuracy
    sign = "-" if value_scaled < 0 and digits else ""
    if not places:
        return f"{sign}{digits}"
    whole, frac = divmod(digits, 10 ** places)
    return f"{sign}{whole}{DECIMAL_SYMBOL}{frac:0{places}d}"


def field(text: str) -> str:
    """One CSV field: encapsulated (inner quotes doubled) when it holds the delimiter, the
    encapsulator, a line break, or blanks at either end."""
    if text and (any(ch in text for ch in (COLUMN_DELIMITER, TEXT_ENCAPSULATOR, "\r", "\n"))
                 or text[0] in " \t" or text[-1] in " \t"):
        return TEXT_ENCAPSULATOR + text.replace(TEXT_ENCAPSULATOR, TEXT_ENCAPSULATOR * 2) + \
            TEXT_ENCAPSULATOR
    return text


def csv_bytes(table: Table, rows: list[list[str]]) -> bytes:
    """The file of `table`: the header row, then `rows`, every record ended by CR LF."""
    out = [COLUMN_DELIMITER.join(field(n) for n in table.names)]
    for row in rows:
        if len(row) != len(table.columns):
            raise ValueError(f"{table.url}: {len(row)} fields, {len(table.columns)} columns")
        for col, value in zip(table.columns, row):
            if not col.numeric and len(value) > col.size:
                raise ValueError(f"{table.url}: {col.name} longer than {col.size}: {value!r}")
        out.append(COLUMN_DELIMITER.join(field(v) for v in row))
    return (RECORD_DELIMITER.join(out) + RECORD_DELIMITER).encode("utf-8")


def _x(text: str) -> str:
    return escape(text)


def index_xml(supplier_name: str, supplier_location: str, media_name: str,
              tables: tuple[Table, ...] = TABLES) -> bytes:
    """`index.xml` describing `tables` (GDPdU Beschreibungsstandard): one Media, every Table
    with its file, name, description, encoding, decimal symbols, data range and its columns."""
    ind = "  "
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<!DOCTYPE DataSet SYSTEM "{DTD_NAME}">',
             "<DataSet>",
             f"{ind}<Version>1.0</Version>",
             f"{ind}<DataSupplier>",
             f"{ind * 2}<Name>{_x(supplier_name)}</Name>",
             f"{ind * 2}<Location>{_x(supplier_location)}</Location>",
             f"{ind * 2}<Comment>DSFinV-K {DSFINVK_VERSION}</Comment>",
             f"{ind}</DataSupplier>",
             f"{ind}<Media>",
             f"{ind * 2}<Name>{_x(media_name)}</Name>"]
    for t in tables:
        lines += [f"{ind * 2}<Table>",
                  f"{ind * 3}<URL>{_x(t.url)}</URL>",
                  f"{ind * 3}<Name>{_x(t.name)}</Name>",
                  f"{ind * 3}<Description>{_x(t.module)}: {_x(t.url)}</Description>",
                  f"{ind * 3}<UTF8/>",
                  f"{ind * 3}<DecimalSymbol>{DECIMAL_SYMBOL}</DecimalSymbol>",
                  f"{ind * 3}<DigitGroupingSymbol>{DIGIT_GROUPING_SYMBOL}</DigitGroupingSymbol>",
                  f"{ind * 3}<Range>",
                  f"{ind * 4}<From>{DATA_FROM_ROW}</From>",
                  f"{ind * 3}</Range>",
                  f"{ind * 3}<VariableLength>",
                  f"{ind * 4}<ColumnDelimiter>{COLUMN_DELIMITER}</ColumnDelimiter>",
                  f"{ind * 4}<RecordDelimiter>&#13;&#10;</RecordDelimiter>",
                  f"{ind * 4}<TextEncapsulator>{_x(TEXT_ENCAPSULATOR)}</TextEncapsulator>"]
        for c in t.columns:
            lines += [f"{ind * 4}<VariableColumn>",
                      f"{ind * 5}<Name>{_x(c.name)}</Name>",
                      f"{ind * 5}<Description>{_x(c.description)}</Description>"]
            if c.numeric:
                lines.append(f"{ind * 5}<Numeric><Accuracy>{c.size}</Accuracy></Numeric>"
                             if c.size else f"{ind * 5}<Numeric/>")
            else:
                lines += [f"{ind * 5}<AlphaNumeric/>", f"{ind * 5}<MaxLength>{c.size}</MaxLength>"]
            lines.append(f"{ind * 4}</VariableColumn>")
        lines += [f"{ind * 3}</VariableLength>", f"{ind * 2}</Table>"]
    lines += [f"{ind}</Media>", "</DataSet>"]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


# The element declarations of the GDPdU description standard, version 1.5 of 2004-09-01
# (`gdpdu-01-09-2004.dtd`), which `index.xml` names in its DOCTYPE; shipped beside it so that
# the export validates offline.
DTD = """<?xml version="1.0" encoding="UTF-8"?>
<!-- GDPdU description standard, gdpdu-01-09-2004 (version 1.5): element declarations. -->
<!ELEMENT Version (#PCDATA)>
<!ELEMENT Location (#PCDATA)>
<!ELEMENT Comment (#PCDATA)>
<!ELEMENT Length (#PCDATA)>
<!ELEMENT References (#PCDATA)>
<!ELEMENT From (#PCDATA)>
<!ELEMENT To (#PCDATA)>
<!ELEMENT AcceptNoTables (#PCDATA)>
<!ELEMENT Alias (From, To)>
<!ELEMENT MaxLength (#PCDATA)>
<!ELEMENT TextEncapsulator (#PCDATA)>
<!ELEMENT Accuracy (#PCDATA)>
<!ELEMENT ImpliedAccuracy (#PCDATA)>
<!ELEMENT Format (#PCDATA)>
<!ELEMENT DecimalSymbol (#PCDATA)>
<!ELEMENT DigitGroupingSymbol (#PCDATA)>
<!ELEMENT Command (#PCDATA)>
<!ELEMENT URL (#PCDATA)>
<!ELEMENT Description (#PCDATA)>
<!ELEMENT Name (#PCDATA)>
<!ELEMENT Epoch (#PCDATA)>
<!ELEMENT ColumnDelimiter (#PCDATA)>
<!ELEMENT RecordDelimiter (#PCDATA)>
<!ELEMENT SkipNumBytes (#PCDATA)>
<!ELEMENT Extension (Name, URL)>
<!ELEMENT Range (From, (To | Length)?)>
<!ELEMENT FixedRange (From, (To | Length))>
<!ELEMENT DataSet (Extension*, Version, DataSupplier?, Command*, Media+, Command*)>
<!ELEMENT AlphaNumeric EMPTY>
<!ELEMENT Date (Format?)>
<!ELEMENT Numeric ((ImpliedAccuracy | Accuracy)?)>
<!ELEMENT ANSI EMPTY>
<!ELEMENT Macintosh EMPTY>
<!ELEMENT OEM EMPTY>
<!ELEMENT UTF16 EMPTY>
<!ELEMENT UTF7 EMPTY>
<!ELEMENT UTF8 EMPTY>
<!ELEMENT FixedLength ((Length | RecordDelimiter)?, ((FixedPrimaryKey+, FixedColumn*) | (FixedColumn+)), ForeignKey*)>
<!ELEMENT FixedColumn (Name, Description?, (Numeric | AlphaNumeric | Date), Map*, FixedRange)>
<!ELEMENT FixedPrimaryKey (Name, Description?, (Numeric | AlphaNumeric | Date), Map*, FixedRange)>
<!ELEMENT VariableLength (ColumnDelimiter?, RecordDelimiter?, TextEncapsulator?, ((VariablePrimaryKey+, VariableColumn*) | (VariableColumn+)), ForeignKey*)>
<!ELEMENT VariableColumn (Name, Description?, (Numeric | (AlphaNumeric, MaxLength?) | Date), Map*)>
<!ELEMENT VariablePrimaryKey (Name, Description?, (Numeric | (AlphaNumeric, MaxLength?) | Date), Map*)>
<!ELEMENT DataSupplier (Name, Location, Comment)>
<!ELEMENT Media (Name, Command*, Table*, Command*, AcceptNoTables?)>
<!ELEMENT Table (URL, Name?, Description?, Validity?, (ANSI | Macintosh | OEM | UTF16 | UTF7 | UTF8)?, (DecimalSymbol, DigitGroupingSymbol)?, SkipNumBytes?, Range?, Epoch?, (VariableLength | FixedLength))>
<!ELEMENT ForeignKey (Name+, References, Alias*)>
<!ELEMENT Map (Description?, From, To)>
<!ELEMENT Validity (Range, Format?)>
""".encode("utf-8")
