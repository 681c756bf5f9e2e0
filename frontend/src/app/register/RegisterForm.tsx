"use client";

import { zodResolver } from "@hookform/resolvers/zod";
import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";
import { useState } from "react";
import { useForm } from "react-hook-form";
import { AuthCard, FormError, SubmitButton } from "@/components/AuthCard";
import { Field } from "@/components/Field";
import { ApiError, errorMessage } from "@/lib/api";
import { login, register as registerUser, safeNext } from "@/lib/auth";
import { registerSchema, type RegisterValues } from "@/lib/validation";

const FIELDS = ["username", "email", "password"] as const;

export function RegisterForm() {
  const router = useRouter();
  const params = useSearchParams();
  const next = safeNext(params.get("next"));
  const [serverError, setServerError] = useState<string | null>(null);
  const {
    register,
    handleSubmit,
    setError,
    formState: { errors, isSubmitting },
  } = useForm<RegisterValues>({
    resolver: zodResolver(registerSchema),
    mode: "onBlur",
    reValidateMode: "onChange",
    defaultValues: { username: "", email: "", password: "" },
  });

  const onSubmit = handleSubmit(async (values) => {
    setServerError(null);
    try {
      await registerUser(values.username, values.email, values.password);
    } catch (error) {
      if (error instanceof ApiError && error.status === 422 && error.details?.length) {
        let mapped = false;
        for (const detail of error.details) {
          const field = FIELDS.find((name) => detail.loc.includes(name));
          if (field) {
            setError(field, { message: detail.msg });
            mapped = true;
          }
        }
        if (mapped) return;
      }
      setServerError(errorMessage(error));
      return;
    }
    try {
      await login(values.username, values.password);
      router.push(next);
    } catch (error) {
      // The account exists; signing in can be retried on the login page.
      router.push(`/login/?username=${encodeURIComponent(values.username)}&next=${encodeURIComponent(next)}`);
      void error;
    }
  });

  const loginHref = next === "/" ? "/login/" : `/login/?next=${encodeURIComponent(next)}`;
  return (
    <AuthCard
      title="Create an account"
      footer={
        <>
          Already have one?{" "}
          <Link href={loginHref} className="text-accent hover:underline">
            Sign in
          </Link>
        </>
      }
    >
      <form onSubmit={onSubmit} noValidate className="space-y-4" aria-label="Create an account">
        <FormError message={serverError} />
        <Field label="Username" autoComplete="username" hint="3–50 characters: letters, digits, _ and -." error={errors.username?.message} {...register("username")} />
        <Field label="Email" type="email" autoComplete="email" error={errors.email?.message} {...register("email")} />
        <Field label="Password" type="password" autoComplete="new-password" hint="At least 10 characters." error={errors.password?.message} {...register("password")} />
        <SubmitButton pending={isSubmitting} pendingLabel="Registering…">
          Register
        </SubmitButton>
      </form>
    </AuthCard>
  );
}
