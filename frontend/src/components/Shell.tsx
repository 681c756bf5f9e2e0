"use client";

import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { useState, type ReactNode } from "react";
import { logout } from "@/lib/auth";
import { useLive, type StreamStatus } from "@/lib/live";
import { usePreferenceSync } from "@/lib/preferenceSync";
import { useMeta } from "@/lib/queries";
import { useSession } from "@/lib/session";
import { useTheme } from "@/lib/theme";
import type { ExchangeStatus } from "@/lib/types";

export const NAV = [
  { href: "/", label: "Dashboard" },
  { href: "/portfolio/", label: "Portfolio" },
  { href: "/watchlist/", label: "Watchlist" },
  { href: "/analytics/", label: "Analytics" },
  { href: "/sentiment/", label: "Sentiment" },
  { href: "/settings/", label: "Settings" },
] as const;

const STREAM_LABEL: Record<StreamStatus, string> = {
  connecting: "Connecting",
  live: "Live",
  polling: "Polling",
};

function StreamPill() {
  const status = useLive((state) => state.status);
  const title =
    status === "live"
      ? "Prices stream over a WebSocket"
      : status === "polling"
        ? "Prices refresh every 2 seconds until the stream is available"
        : "Connecting to the price feed";
  return (
    <span
      className="inline-flex items-center gap-1.5 rounded-full border border-line px-2 py-0.5 text-xs text-muted"
      title={title}
      data-testid="stream-status"
    >
      <span
        aria-hidden
        className={`h-2 w-2 rounded-full ${status === "live" ? "bg-up" : status === "polling" ? "bg-warn" : "bg-muted"}`}
      />
      {STREAM_LABEL[status]}
    </span>
  );
}

function ExchangeBadges({ exchanges }: { exchanges: ExchangeStatus[] }) {
  if (exchanges.length === 0) return null;
  return (
    <ul className="flex flex-wrap items-center gap-2 text-xs" aria-label="Exchange connections">
      {exchanges.map((exchange) => (
        <li
          key={exchange.name}
          className="inline-flex items-center gap-1.5 rounded-full border border-line px-2 py-0.5 text-muted"
        >
          <span
            aria-hidden
            className={`h-2 w-2 rounded-full ${exchange.connected ? "bg-up" : "bg-down"}`}
          />
          <span className="capitalize">{exchange.name}</span>
          <span className="sr-only">{exchange.connected ? "connected" : "disconnected"}</span>
        </li>
      ))}
    </ul>
  );
}

function ThemeSwitch() {
  const theme = useTheme((state) => state.theme);
  const toggle = useTheme((state) => state.toggle);
  const next = theme === "dark" ? "light" : "dark";
  return (
    <button
      type="button"
      onClick={toggle}
      aria-label={`Switch to ${next} theme`}
      title={`Switch to ${next} theme`}
      className="rounded-md border border-line p-1.5 text-muted hover:text-fg focus-visible:outline-2 focus-visible:outline-accent"
    >
      {theme === "dark" ? (
        <svg aria-hidden viewBox="0 0 24 24" className="h-4 w-4" fill="none" stroke="currentColor" strokeWidth="2">
          <circle cx="12" cy="12" r="4" />
          <path d="M12 2v2M12 20v2M4.9 4.9l1.4 1.4M17.7 17.7l1.4 1.4M2 12h2M20 12h2M4.9 19.1l1.4-1.4M17.7 6.3l1.4-1.4" />
        </svg>
      ) : (
        <svg aria-hidden viewBox="0 0 24 24" className="h-4 w-4" fill="none" stroke="currentColor" strokeWidth="2">
          <path d="M21 12.8A9 9 0 1 1 11.2 3a7 7 0 0 0 9.8 9.8z" />
        </svg>
      )}
    </button>
  );
}

function Account({ onNavigate }: { onNavigate?: () => void }) {
  const user = useSession((state) => state.user);
  const ready = useSession((state) => state.ready);
  const pathname = usePathname();
  const router = useRouter();
  if (!ready) return <span className="text-sm text-muted" aria-hidden>…</span>;
  if (user) {
    return (
      <div className="flex items-center gap-3 text-sm">
        <span className="text-muted">
          Signed in as <strong className="text-fg" data-testid="signed-in-user">{user.username}</strong>
        </span>
        <button
          type="button"
          onClick={() => {
            onNavigate?.();
            void logout();
          }}
          className="rounded-md border border-line px-2.5 py-1 hover:bg-panel-2 focus-visible:outline-2 focus-visible:outline-accent"
        >
          Sign out
        </button>
      </div>
    );
  }
  const onAuthPage = pathname === "/login/" || pathname === "/register/";
  const next = pathname && !onAuthPage ? `?next=${encodeURIComponent(pathname)}` : "";
  return (
    <div className="flex items-center gap-2 text-sm">
      {pathname !== "/login/" && (
      <Link
        href={`/login/${next}`}
        onClick={(event) => {
          onNavigate?.();
          // The query string matters too (/coin/?id=…); the layout cannot read it while
          // prerendering, so it is taken at click time.
          if (onAuthPage || event.metaKey || event.ctrlKey || event.shiftKey) return;
          event.preventDefault();
          router.push(`/login/?next=${encodeURIComponent(window.location.pathname + window.location.search)}`);
        }}
        className="rounded-md px-2.5 py-1 hover:bg-panel-2 focus-visible:outline-2 focus-visible:outline-accent"
      >
        Sign in
      </Link>
      )}
      {pathname !== "/register/" && (
      <Link
        href="/register/"
        onClick={onNavigate}
        className="rounded-md bg-accent px-2.5 py-1 font-medium text-accent-fg hover:opacity-90 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-accent"
      >
        Register
      </Link>
      )}
    </div>
  );
}

export function DemoNotice() {
  return (
    <div
      role="note"
      className="border-b border-warn/40 bg-warn/10 px-4 py-1.5 text-center text-sm text-warn"
      data-testid="demo-notice"
    >
      <strong>Simulated data</strong> — demo mode: prices come from the built-in simulator, not
      from real exchanges.
    </div>
  );
}

export function Shell({ children }: { children: ReactNode }) {
  const meta = useMeta();
  const pathname = usePathname();
  const [open, setOpen] = useState(false);
  usePreferenceSync();

  return (
    <>
      <a
        href="#main"
        className="sr-only focus:not-sr-only focus:fixed focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-accent focus:px-3 focus:py-2 focus:text-accent-fg"
      >
        Skip to content
      </a>
      <header className="sticky top-0 z-40 border-b border-line bg-panel/95 backdrop-blur">
        <div className="mx-auto flex max-w-7xl items-center gap-4 px-4 py-2.5">
          <Link href="/" className="flex items-center gap-2 font-semibold tracking-tight focus-visible:outline-2 focus-visible:outline-accent">
            <svg aria-hidden viewBox="0 0 32 32" className="h-6 w-6">
              <rect width="32" height="32" rx="7" fill="var(--accent)" />
              <path d="M6 22l6-7 5 4 9-10" fill="none" stroke="var(--accent-fg)" strokeWidth="3" strokeLinecap="round" strokeLinejoin="round" />
            </svg>
            cryptodash
          </Link>
          <nav aria-label="Main" className="hidden md:block">
            <ul className="flex items-center gap-1 text-sm">
              {NAV.map((item) => (
                <li key={item.href}>
                  <Link
                    href={item.href}
                    aria-current={pathname === item.href ? "page" : undefined}
                    className="rounded-md px-2.5 py-1 text-muted hover:text-fg aria-[current=page]:bg-panel-2 aria-[current=page]:text-fg focus-visible:outline-2 focus-visible:outline-accent"
                  >
                    {item.label}
                  </Link>
                </li>
              ))}
            </ul>
          </nav>
          <div className="ml-auto flex items-center gap-3">
            <div className="hidden items-center gap-2 md:flex">
              <ExchangeBadges exchanges={meta.data?.exchanges ?? []} />
            </div>
            <StreamPill />
            <ThemeSwitch />
            <div className="hidden md:block">
              <Account />
            </div>
            <button
              type="button"
              className="rounded-md border border-line px-2 py-1 text-sm md:hidden focus-visible:outline-2 focus-visible:outline-accent"
              aria-expanded={open}
              aria-controls="mobile-menu"
              onClick={() => setOpen((value) => !value)}
            >
              Menu
            </button>
          </div>
        </div>
        {open && (
          <div id="mobile-menu" className="border-t border-line px-4 py-3 md:hidden">
            <nav aria-label="Main (mobile)">
              <ul className="mb-3 flex flex-col gap-1 text-sm">
                {NAV.map((item) => (
                  <li key={item.href}>
                    <Link href={item.href} onClick={() => setOpen(false)} className="block rounded-md px-2 py-1.5 hover:bg-panel-2">
                      {item.label}
                    </Link>
                  </li>
                ))}
              </ul>
            </nav>
            <div className="mb-3">
              <ExchangeBadges exchanges={meta.data?.exchanges ?? []} />
            </div>
            <Account onNavigate={() => setOpen(false)} />
          </div>
        )}
        {meta.data?.demo && <DemoNotice />}
      </header>
      <main id="main" className="mx-auto max-w-7xl px-4 py-6">
        {children}
      </main>
      <footer className="mx-auto max-w-7xl px-4 pb-8 text-xs text-muted">
        cryptodash {meta.data?.version ?? ""} · market data is informational, not investment advice
      </footer>
    </>
  );
}
