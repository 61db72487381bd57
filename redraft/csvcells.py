"""CSV cells a spreadsheet opens safely: the one formula neutraliser, for every CSV redraft
writes from untrusted text (the report's tables, the export's records.csv), and its inverse
for redraft's own readers."""

from __future__ import annotations

# A cell starting with one of these is run as a formula by Excel, LibreOffice and Sheets.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def spreadsheet_safe(value: object) -> object:
    """Text a spreadsheet would run as a formula gets a leading apostrophe (and so does text
    that already starts with one before such a character, so `spreadsheet_value` can undo it
    exactly); other values pass.

    >>> print(spreadsheet_safe('=HYPERLINK("http://x","Acme")'), spreadsheet_safe(-0.5))
    '=HYPERLINK("http://x","Acme") -0.5
    >>> spreadsheet_safe("@cmd|' /C calc'!A0"), spreadsheet_safe("Acme"), spreadsheet_safe("'=1")
    ("'@cmd|' /C calc'!A0", 'Acme', "''=1")
    """
    if isinstance(value, str) and value.lstrip(QUOTE).startswith(FORMULA_START):
        return QUOTE + value  # task data, drafts and finals are not trusted
    return value


def spreadsheet_value(value: object) -> object:
    """The value `spreadsheet_safe` was given (for reading a CSV redraft wrote).

    >>> [spreadsheet_value(spreadsheet_safe(v)) for v in ("=1", "'=1", "'quoted'", 3)]
    ['=1', "'=1", "'quoted'", 3]
    """
    if isinstance(value, str) and value.startswith(QUOTE):
        rest = value[1:]
        if rest.lstrip(QUOTE).startswith(FORMULA_START):
            return rest
    return value
