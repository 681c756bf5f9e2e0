// Small building blocks of the portfolio and watchlist pages: buttons and labelled inputs whose
// ids are unique on the page (several forms share field names) and whose errors are announced.
import { forwardRef, useId, type ButtonHTMLAttributes, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes } from "react";

const FOCUS = "focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-accent";

export function Button({
  tone = "plain",
  className = "",
  ...rest
}: ButtonHTMLAttributes<HTMLButtonElement> & { tone?: "primary" | "plain" | "danger" }) {
  const look =
    tone === "primary"
      ? "bg-accent text-accent-fg hover:opacity-90 font-medium"
      : tone === "danger"
        ? "border border-down/50 text-down hover:bg-down/10"
        : "border border-line hover:bg-panel-2";
  return <button type="button" className={`rounded-md px-3 py-1.5 text-sm disabled:opacity-60 ${look} ${FOCUS} ${className}`} {...rest} />;
}

function Message({ id, error, hint }: { id: string; error?: string; hint?: ReactNode }) {
  if (error) {
    return (
      <p id={`${id}-error`} className="mt-1 text-xs text-down">
        {error}
      </p>
    );
  }
  if (hint) {
    return (
      <p id={`${id}-hint`} className="mt-1 text-xs text-muted">
        {hint}
      </p>
    );
  }
  return null;
}

function described(id: string, error?: string, hint?: ReactNode): string | undefined {
  if (error) return `${id}-error`;
  return hint ? `${id}-hint` : undefined;
}

const INPUT = "w-full rounded-md border border-line bg-bg px-3 py-2 text-sm aria-[invalid=true]:border-down focus-visible:outline-2 focus-visible:outline-accent";

interface TextFieldProps extends InputHTMLAttributes<HTMLInputElement> {
  label: string;
  error?: string;
  hint?: ReactNode;
}

export const TextField = forwardRef<HTMLInputElement, TextFieldProps>(function TextField({ label, error, hint, className = "", ...rest }, ref) {
  const id = useId();
  return (
    <div className={className}>
      <label htmlFor={id} className="mb-1 block text-sm font-medium">
        {label}
      </label>
      <input id={id} ref={ref} aria-invalid={error ? true : undefined} aria-describedby={described(id, error, hint)} className={INPUT} {...rest} />
      <Message id={id} error={error} hint={hint} />
    </div>
  );
});

interface SelectFieldProps extends SelectHTMLAttributes<HTMLSelectElement> {
  label: string;
  error?: string;
  children: ReactNode;
}

export const SelectField = forwardRef<HTMLSelectElement, SelectFieldProps>(function SelectField({ label, error, className = "", children, ...rest }, ref) {
  const id = useId();
  return (
    <div className={className}>
      <label htmlFor={id} className="mb-1 block text-sm font-medium">
        {label}
      </label>
      <select id={id} ref={ref} aria-invalid={error ? true : undefined} aria-describedby={described(id, error)} className={INPUT} {...rest}>
        {children}
      </select>
      <Message id={id} error={error} />
    </div>
  );
});

export function Tone({ tone, children, testId }: { tone: "up" | "down" | "flat"; children: ReactNode; testId?: string }) {
  return (
    <span data-testid={testId} className={tone === "up" ? "text-up" : tone === "down" ? "text-down" : ""}>
      {children}
    </span>
  );
}
