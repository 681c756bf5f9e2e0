// The portfolio API's 422 details mapped to where the user sees them: a form field's message
// next to that field, a CSV problem next to its line. Pure.
import { ApiError } from "./api";

type Details = NonNullable<ApiError["details"]>;

export interface ServerFieldErrors<F extends string> {
  /** messages for the form's own fields (`loc` = ["body", field]) */
  fields: Partial<Record<F, string>>;
  /** what belongs to no field (a deleted portfolio, a server error, a field the form lacks) */
  general: string | null;
}

/** Pydantic prefixes its messages ("Value error, must be greater than 0"): keep the sentence. */
export function cleanMessage(msg: string): string {
  const text = msg.replace(/^(Value error|Assertion failed), /, "").trim();
  if (!text) return "Invalid value.";
  const sentence = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(sentence) ? sentence : `${sentence}.`;
}

function detailsOf(error: unknown): Details {
  return error instanceof ApiError && Array.isArray(error.details) ? error.details : [];
}

/** Split an API error into per-field messages (first one per field) and a general message. */
export function serverFieldErrors<F extends string>(error: unknown, fields: readonly F[]): ServerFieldErrors<F> {
  const result: ServerFieldErrors<F> = { fields: {}, general: null };
  const known = new Set<string>(fields);
  const other: string[] = [];
  for (const detail of detailsOf(error)) {
    const [where, field] = detail.loc.map(String);
    if (where === "body" && field !== undefined && known.has(field)) {
      const key = field as F;
      result.fields[key] ??= cleanMessage(detail.msg);
    } else {
      other.push(cleanMessage(detail.msg));
    }
  }
  if (other.length > 0) result.general = other.join(" ");
  else if (Object.keys(result.fields).length === 0) {
    result.general = error instanceof Error ? error.message : "Something went wrong.";
  }
  return result;
}

export interface CsvRowError {
  /** the file's line (the header is line 1); null for a problem with the whole file */
  line: number | null;
  field: string | null;
  message: string;
}

/** A failed import's details as rows to show, by line: `loc` = ["body", "line N", field?]. */
export function csvRowErrors(error: unknown): CsvRowError[] {
  const rows = detailsOf(error).map((detail): CsvRowError => {
    const loc = detail.loc.map(String);
    const match = /^line (\d+)$/.exec(loc[1] ?? "");
    const field = match && loc.length > 2 ? loc.slice(2).join(".") : null;
    let message = cleanMessage(detail.msg);
    // The line is shown in its own column; the server also puts it in some messages.
    if (match) message = cleanMessage(message.replace(new RegExp(`^line ${match[1]}: `, "i"), ""));
    return { line: match ? Number(match[1]) : null, field, message };
  });
  if (rows.length === 0 && error !== undefined && error !== null) {
    rows.push({ line: null, field: null, message: error instanceof Error ? error.message : "The import failed." });
  }
  return rows.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}
