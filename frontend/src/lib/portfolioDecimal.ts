// Money and quantities as decimal strings, never JS floats (the portfolio API's rule): what a
// user types is checked and normalized as text, and figures are rounded for display with
// BigInt arithmetic. Pure.

/** What NUMERIC(38,18) holds exactly, as the API checks it. */
export const MAX_PLACES = 18;
export const MAX_INTEGER_DIGITS = 20;

export type DecimalInput = { ok: true; value: string } | { ok: false; message: string };

const PLAIN = /^(\d+(\.\d*)?|\.\d+)$/;
const GROUPED = /^\d{1,3}(,\d{3})+(\.\d*)?$/;

/**
 * Check a typed quantity, price or fee and return its canonical decimal string
 * ("0012.50" → "12.5"). Accepts spaces and thousands separators ("1,234.5"); refuses
 * exponents, signs, a decimal comma and more digits than the API stores.
 */
export function parseDecimalInput(raw: string, { allowZero = false }: { allowZero?: boolean } = {}): DecimalInput {
  let text = raw.replace(/[\s\u00a0_]/g, "");
  if (text === "") return { ok: false, message: "Required." };
  if (GROUPED.test(text)) text = text.replace(/,/g, "");
  if (text.startsWith("-")) return { ok: false, message: allowZero ? "Must not be negative." : "Must be greater than 0." };
  if (text.startsWith("+")) text = text.slice(1);
  if (text.includes(",")) return { ok: false, message: "Use a point for decimals, like 1234.56." };
  if (/e/i.test(text)) return { ok: false, message: "Write the number out in full, like 0.00012 (no exponent)." };
  if (!PLAIN.test(text)) return { ok: false, message: "Enter a number, like 1234.56." };
  const [wholeRaw = "", fractionRaw = ""] = text.split(".");
  const whole = wholeRaw.replace(/^0+/, "");
  const fraction = fractionRaw.replace(/0+$/, "");
  if (fraction.length > MAX_PLACES) return { ok: false, message: `At most ${MAX_PLACES} decimal places.` };
  if (whole.length > MAX_INTEGER_DIGITS) return { ok: false, message: `At most ${MAX_INTEGER_DIGITS} digits before the point.` };
  const value = `${whole || "0"}${fraction ? `.${fraction}` : ""}`;
  if (value === "0" && !allowZero) return { ok: false, message: "Must be greater than 0." };
  return { ok: true, value };
}

interface Scaled {
  units: bigint;
  scale: number;
}

/** A decimal string as an integer count of 10^-scale units; null when it is not one. */
export function toScaled(value: string): Scaled | null {
  const match = /^(-?)(\d*)(?:\.(\d*))?$/.exec(value.trim());
  if (!match || (match[2] === "" && !match[3])) return null;
  const fraction = match[3] ?? "";
  const units = BigInt(`${match[2] || "0"}${fraction}`);
  return { units: match[1] ? -units : units, scale: fraction.length };
}

/** Round half away from zero to `places` decimals; the result as [sign, whole, fraction]. */
function roundTo(value: string, places: number): { negative: boolean; whole: string; fraction: string } | null {
  const scaled = toScaled(value);
  if (!scaled) return null;
  let { units } = scaled;
  const negative = units < 0n;
  if (negative) units = -units;
  if (scaled.scale > places) {
    const divisor = 10n ** BigInt(scaled.scale - places);
    const remainder = units % divisor;
    units = units / divisor + (remainder * 2n >= divisor ? 1n : 0n);
  } else {
    units *= 10n ** BigInt(places - scaled.scale);
  }
  const digits = units.toString().padStart(places + 1, "0");
  const whole = digits.slice(0, digits.length - places);
  const fraction = digits.slice(digits.length - places);
  return { negative: negative && units !== 0n, whole, fraction };
}

function group(whole: string): string {
  return whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * A decimal string for display: rounded to `places` (half away from zero), thousands grouped,
 * trailing zeros kept down to `minPlaces`. "—" for null or a non-decimal.
 */
export function formatDecimal(value: string | null | undefined, places = 2, minPlaces = places): string {
  if (value === null || value === undefined) return "—";
  const rounded = roundTo(value, places);
  if (!rounded) return "—";
  let fraction = rounded.fraction;
  while (fraction.length > minPlaces && fraction.endsWith("0")) fraction = fraction.slice(0, -1);
  return `${rounded.negative ? "−" : ""}${group(rounded.whole)}${fraction ? `.${fraction}` : ""}`;
}

/** Places worth showing for a price: cents above $1, more for fractions of a cent. */
export function pricePlaces(value: string): number {
  const scaled = toScaled(value);
  if (!scaled) return 2;
  const abs = scaled.units < 0n ? -scaled.units : scaled.units;
  if (abs >= 10n ** BigInt(scaled.scale)) return 2; // ≥ 1
  const fraction = value.split(".")[1] ?? "";
  const leadingZeros = fraction.length - fraction.replace(/^0+/, "").length;
  return Math.min(MAX_PLACES, leadingZeros + 4);
}

/** "$1,234.50", "−$12.30"; `signed` adds "+" to gains. */
export function formatUsd(value: string | null | undefined, { signed = false, places }: { signed?: boolean; places?: number } = {}): string {
  if (value === null || value === undefined) return "—";
  const text = formatDecimal(value, places ?? pricePlaces(value), 2);
  if (text === "—") return text;
  if (text.startsWith("−")) return `−$${text.slice(1)}`;
  return `${signed && decimalSign(value) > 0 ? "+" : ""}$${text}`;
}

/** Quantities: up to 8 places, no trailing zeros ("0.5", "1,200"). */
export function formatQuantity(value: string | null | undefined): string {
  return formatDecimal(value, 8, 0);
}

/** "+12.35%" / "−3.10%" from a decimal-string percentage. */
export function formatPct(value: string | null | undefined): string {
  if (value === null || value === undefined) return "—";
  const text = formatDecimal(value, 2);
  if (text === "—") return text;
  return `${decimalSign(value) > 0 ? "+" : ""}${text}%`;
}

/** -1, 0 or 1 without converting to a float. */
export function decimalSign(value: string | null | undefined): -1 | 0 | 1 {
  const scaled = value ? toScaled(value) : null;
  if (!scaled || scaled.units === 0n) return 0;
  return scaled.units > 0n ? 1 : -1;
}

export function decimalTone(value: string | null | undefined): "up" | "down" | "flat" {
  const sign = decimalSign(value);
  return sign > 0 ? "up" : sign < 0 ? "down" : "flat";
}

/** For chart geometry only (pie slices, plotted points): a float is fine there. */
export function decimalToNumber(value: string | null | undefined): number {
  if (value === null || value === undefined) return 0;
  const number = Number(value);
  return Number.isFinite(number) ? number : 0;
}

/** `<input type="datetime-local">` value (local time, minutes) for an ISO instant. */
export function toLocalInput(iso: string | Date): string {
  const date = typeof iso === "string" ? new Date(iso) : iso;
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** A datetime-local value (the user's time zone) as ISO-8601 UTC, which the API requires; null when not a date. */
export function fromLocalInput(local: string): string | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(local)) return null;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}
