import type { Metadata } from "next";
import { Suspense } from "react";
import { Loading } from "@/components/states";
import { LoginForm } from "./LoginForm";

export const metadata: Metadata = { title: "Sign in" };

export default function LoginPage() {
  return (
    <Suspense fallback={<Loading label="Loading" />}>
      <LoginForm />
    </Suspense>
  );
}
