"""The yearly report as an OpenDocument spreadsheet (.ods), one sheet per section, made with odfpy.

No web imports. Every sheet has the same columns: unit, indicator, category, label, year, previous year, target;
numbers are stored as numbers (office:value-type float), so a spreadsheet sums them.
"""

from __future__ import annotations

import io

from odf.opendocument import OpenDocumentSpreadsheet, load
from odf.table import Table, TableCell, TableRow
from odf.text import P

from fieldapp import yearly_report
from fieldapp.i18n import gettext as _


def _cell(value) -> TableCell:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        cell = TableCell(valuetype="float", value=value)
        cell.addElement(P(text=str(value)))
    else:
        cell = TableCell(valuetype="string")
        cell.addElement(P(text="" if value is None else str(value)))
    return cell


def _row(values) -> TableRow:
    row = TableRow()
    for value in values:
        row.addElement(_cell(value))
    return row


def to_ods(report: yearly_report.YearlyReport) -> bytes:
    """The report's figures, a sheet per section (named in the user's language)."""
    document = OpenDocumentSpreadsheet()
    header = [_("Unit"), _("Indicator"), _("Category"), _("Figure"), str(report.year), str(report.year - 1),
              _("Target")]
    for section in yearly_report.SECTIONS:
        sheet = Table(name=yearly_report.section_title(section)[:31])
        sheet.addElement(_row(header))
        for block in report.blocks:
            for line in block.sections[section]:
                sheet.addElement(_row([block.name, line.indicator, line.code, line.label, line.value, line.previous,
                                       line.target]))
        document.spreadsheet.addElement(sheet)
    buffer = io.BytesIO()
    document.write(buffer)
    return buffer.getvalue()


def read_ods(data: bytes) -> dict[str, list[list]]:
    """sheet name -> rows of cell values (floats for numbers): how a test or a script reads an export back."""
    document = load(io.BytesIO(data))
    sheets = {}
    for sheet in document.spreadsheet.getElementsByType(Table):
        rows = []
        for row in sheet.getElementsByType(TableRow):
            values = []
            for cell in row.getElementsByType(TableCell):
                if cell.getAttribute("valuetype") == "float":
                    values.append(float(cell.getAttribute("value")))
                else:
                    values.append("".join(str(p) for p in cell.getElementsByType(P)))
            rows.append(values)
        sheets[sheet.getAttribute("name")] = rows
    return sheets
