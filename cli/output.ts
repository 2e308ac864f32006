// `--output json|yaml|table` for every command whose output is data: one renderer, so the
// formats mean the same thing everywhere. YAML is loaded only when asked for (start-up).

export const DATA_FORMATS = ['json', 'yaml', 'table'] as const;
export type DataFormat = (typeof DATA_FORMATS)[number];

/** A table's columns: header and how to read the cell from one row. */
export type Columns<T> = readonly (readonly [header: string, cell: (row: T) => string])[];

export function isDataFormat(value: string): value is DataFormat {
  return (DATA_FORMATS as readonly string[]).includes(value);
}

/** Aligned columns as kubectl prints them: upper-case headers, three spaces between. */
export function formatTable<T>(rows: readonly T[], columns: Columns<T>): string[] {
  const cells = [columns.map(([h]) => h.toUpperCase()), ...rows.map((r) => columns.map(([, cell]) => cell(r)))];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i]!.length)));
  return cells.map((line) => line.map((c, i) => (i === line.length - 1 ? c : c.padEnd(widths[i]!))).join('   ').trimEnd());
}

/**
 * The lines that print `data` in `format`: JSON (two-space indent), YAML, or a table of
 * `rows` (a table needs rows; data that is one document prints its rows under the columns).
 */
export async function renderData<T>(format: DataFormat, data: unknown, table: { rows: readonly T[]; columns: Columns<T> }): Promise<string[]> {
  if (format === 'json') return [JSON.stringify(data, null, 2)];
  if (format === 'yaml') {
    const { stringify } = await import('yaml');
    return [stringify(data).trimEnd()];
  }
  return formatTable(table.rows, table.columns);
}
