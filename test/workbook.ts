// A workbook in memory for the importer tests: each sheet's rows as arrays of cell values
// (undefined leaves a cell empty).
import ExcelJS from 'exceljs';

export function workbook(sheets: Record<string, unknown[][]>): ExcelJS.Workbook {
  const wb = new ExcelJS.Workbook();
  for (const [name, rows] of Object.entries(sheets)) {
    const ws = wb.addWorksheet(name);
    rows.forEach((r, i) => {
      r.forEach((v, j) => {
        if (v !== undefined) ws.getCell(i + 1, j + 1).value = v as ExcelJS.CellValue;
      });
    });
  }
  return wb;
}
