// Small labelled controls shared by the analytics and sentiment pages.
import type { ReactNode } from "react";

export function Segmented<T extends string>({
  label,
  options,
  value,
  onChange,
  format = (option) => option,
}: {
  label: string;
  options: readonly T[];
  value: T;
  onChange: (value: T) => void;
  format?: (option: T) => string;
}) {
  return (
    <div role="group" aria-label={label} className="inline-flex flex-wrap overflow-hidden rounded-md border border-line text-xs">
      {options.map((option) => (
        <button
          key={option}
          type="button"
          aria-pressed={value === option}
          onClick={() => onChange(option)}
          className="px-2.5 py-1 hover:bg-panel-2 aria-pressed:bg-accent aria-pressed:text-accent-fg focus-visible:outline-2 focus-visible:-outline-offset-2 focus-visible:outline-accent"
        >
          {format(option)}
        </button>
      ))}
    </div>
  );
}

export function Select({
  id,
  label,
  value,
  onChange,
  children,
  className = "",
}: {
  id: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  children: ReactNode;
  className?: string;
}) {
  return (
    <span className={`inline-flex items-center gap-2 text-xs ${className}`}>
      <label htmlFor={id} className="text-muted">
        {label}
      </label>
      <select
        id={id}
        value={value}
        onChange={(event) => onChange(event.target.value)}
        className="max-w-[12rem] rounded-md border border-line bg-bg px-2 py-1 text-sm text-fg focus-visible:outline-2 focus-visible:outline-accent"
      >
        {children}
      </select>
    </span>
  );
}

export function LiveBadge({ on, title, testId }: { on: boolean; title: string; testId?: string }) {
  return (
    <span
      title={title}
      data-testid={testId}
      className="inline-flex items-center gap-1 rounded-full border border-line px-2 py-0.5 text-[11px] font-normal normal-case tracking-normal text-muted"
    >
      <span aria-hidden className={`h-1.5 w-1.5 rounded-full ${on ? "bg-up" : "bg-muted"}`} />
      {on ? "Live" : "Refreshing"}
    </span>
  );
}
