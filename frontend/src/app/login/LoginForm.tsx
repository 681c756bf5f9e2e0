"use client";

import { zodResolver } from "@hookform/resolvers/zod";
import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";
import { useState } from "react";
import { useForm } from "react-hook-form";
import { AuthCard, FormError, SubmitButton } from "@/components/AuthCard";
import { Field } from "@/components/Field";
import { ApiError, errorMessage } from "@/lib/api";
import { login, safeNext } from "@/lib/auth";
import { useSession } from "@/lib/session";
import { loginSchema, type LoginValues } from "@/lib/validation";

export function LoginForm() {
  const router = useRouter();
  const params = useSearchParams();
  const next = safeNext(params.get("next"));
  const [serverError, setServerError] = useState<string | null>(null);
  const user = useSession((state) => state.user);
  const {
    register,
    handleSubmit,
    formState: { errors, isSubmitting },
  } = useForm<LoginValues>({ resolver: zodResolver(loginSchema), defaultValues: { username: params.get("username") ?? "", password: "" } });

  const onSubmit = handleSubmit(async (values) => {
    setServerError(null);
    try {
      await login(values.username, values.password);
      router.push(next);
    } catch (error) {
      setServerError(
        error instanceof ApiError && error.status === 401 ? "Wrong username/email or password." : errorMessage(error),
      );
    }
  });

  const registerHref = next === "/" ? "/register/" : `/register/?next=${encodeURIComponent(next)}`;
  return (
    <AuthCard
      title="Sign in"
      footer={
        <>
          New here?{" "}
          <Link href={registerHref} className="text-accent hover:underline">
            Create an account
          </Link>
        </>
      }
    >
      {user && (
        <p role="status" className="mb-4 text-sm text-muted">
          You are signed in as <strong className="text-fg">{user.username}</strong>.{" "}
          <Link href={next} className="text-accent hover:underline">
            Continue
          </Link>
        </p>
      )}
      <form onSubmit={onSubmit} noValidate className="space-y-4" aria-label="Sign in">
        <FormError message={serverError} />
        <Field label="Username or email" autoComplete="username" error={errors.username?.message} {...register("username")} />
        <Field label="Password" type="password" autoComplete="current-password" error={errors.password?.message} {...register("password")} />
        <SubmitButton pending={isSubmitting} pendingLabel="Signing in…">
          Sign in
        </SubmitButton>
      </form>
    </AuthCard>
  );
}
