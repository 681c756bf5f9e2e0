import type { Metadata } from "next";
import { Suspense } from "react";
import { Loading } from "@/components/states";
import { RegisterForm } from "./RegisterForm";

export const metadata: Metadata = { title: "Register" };

export default function RegisterPage() {
  return (
    <Suspense fallback={<Loading label="Loading" />}>
      <RegisterForm />
    </Suspense>
  );
}
