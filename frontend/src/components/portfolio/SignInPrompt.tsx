import Link from "next/link";

/** For signed-out visitors: sign in or register, then come back to `next` (query included). */
export function SignInPrompt({ what, next }: { what: string; next: string }) {
  const query = `?next=${encodeURIComponent(next)}`;
  return (
    <div className="mx-auto max-w-md rounded-xl border border-line bg-panel p-6 text-center" data-testid="sign-in-prompt">
      <h2 className="mb-2 text-lg font-semibold">Sign in to see {what}</h2>
      <p className="mb-4 text-sm text-muted">{what.charAt(0).toUpperCase() + what.slice(1)} belong to your account. You will come back here after signing in.</p>
      <div className="flex justify-center gap-2 text-sm">
        <Link href={`/login/${query}`} className="rounded-md bg-accent px-3 py-1.5 font-medium text-accent-fg hover:opacity-90 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-accent">
          Sign in
        </Link>
        <Link href={`/register/${query}`} className="rounded-md border border-line px-3 py-1.5 hover:bg-panel-2 focus-visible:outline-2 focus-visible:outline-accent">
          Create an account
        </Link>
      </div>
    </div>
  );
}
