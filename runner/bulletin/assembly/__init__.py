"""The parts of building a report (bulletin.report.build_report composes them): the plan every
part shares, rows collection, the template context, the PDF tables, the email and the XLSX
summary sheet."""
