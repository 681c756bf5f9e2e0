import Link from "next/link";

export default function NotFound() {
  return (
    <div className="py-16 text-center">
      <h1 className="text-2xl font-semibold">Page not found</h1>
      <p className="mt-2 text-muted">
        There is nothing at this address. Go to the{" "}
        <Link href="/" className="text-accent hover:underline">
          dashboard
        </Link>
        .
      </p>
    </div>
  );
}
