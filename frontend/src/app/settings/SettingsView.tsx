"use client";

// Settings: preferences (theme, currency, default timeframe, notifications) read and written
// whole through /api/users/me/preferences and applied here at once; the password change form.
// Signed-out visitors are asked to sign in and come back.
import { zodResolver } from "@hookform/resolvers/zod";
import { useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { useForm } from "react-hook-form";
import { FormError } from "@/components/AuthCard";
import { Field } from "@/components/Field";
import { ErrorState, Loading, Panel } from "@/components/states";
import { api, ApiError, errorMessage } from "@/lib/api";
import { preferencesKey, usePreferences } from "@/lib/insightQueries";
import { CURRENCIES, THEMES, type Preferences } from "@/lib/insightTypes";
import { applyPreferences, CURRENCY_LABELS, fieldErrors, NOTIFICATION_LABELS, THEME_LABELS } from "@/lib/preferences";
import { savePreferences } from "@/lib/preferenceSync";
import { passwordChangeSchema, preferencesSchema, type PasswordChangeValues } from "@/lib/settingsForms";
import { useSession } from "@/lib/session";
import { INTERVALS, type TokenPair } from "@/lib/types";

const selectClass =
  "w-full rounded-md border border-line bg-bg px-3 py-2 text-sm focus-visible:outline-2 focus-visible:outline-accent";
const buttonClass =
  "rounded-md bg-accent px-3 py-2 text-sm font-medium text-accent-fg hover:opacity-90 disabled:opacity-60 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-accent";

function PreferencesForm({ saved, userId }: { saved: Preferences; userId: string | number }) {
  const queryClient = useQueryClient();
  const [status, setStatus] = useState<string | null>(null);
  const [serverError, setServerError] = useState<string | null>(null);
  const {
    register,
    handleSubmit,
    formState: { isSubmitting, isDirty },
  } = useForm<Preferences>({
    resolver: zodResolver(preferencesSchema),
    values: saved,
    resetOptions: { keepDirtyValues: true },
  });

  const onSubmit = handleSubmit(async (values) => {
    setStatus(null);
    setServerError(null);
    try {
      const stored = await savePreferences(values);
      // The cache first: the theme switch's sync then sees nothing to write back.
      queryClient.setQueryData(preferencesKey(userId), stored);
      applyPreferences(stored);
      setStatus("Preferences saved.");
    } catch (error) {
      setServerError(errorMessage(error));
    }
  });

  return (
    <form onSubmit={onSubmit} noValidate aria-label="Preferences" className="space-y-5">
      <FormError message={serverError} />
      <fieldset>
        <legend className="mb-2 text-sm font-medium">Theme</legend>
        <div className="flex flex-wrap gap-x-5 gap-y-2 text-sm">
          {THEMES.map((theme) => (
            <label key={theme} className="inline-flex cursor-pointer items-center gap-2">
              <input type="radio" value={theme} {...register("theme")} className="accent-[var(--accent)]" />
              {THEME_LABELS[theme]}
            </label>
          ))}
        </div>
      </fieldset>
      <div className="grid gap-4 sm:grid-cols-2">
        <div>
          <label htmlFor="pref-timeframe" className="mb-1 block text-sm font-medium">
            Default timeframe
          </label>
          <select id="pref-timeframe" aria-describedby="pref-timeframe-hint" className={selectClass} {...register("default_timeframe")}>
            {INTERVALS.map((interval) => (
              <option key={interval} value={interval}>
                {interval}
              </option>
            ))}
          </select>
          <p id="pref-timeframe-hint" className="mt-1 text-xs text-muted">
            The candles the coin and analytics charts open with.
          </p>
        </div>
        <div>
          <label htmlFor="pref-currency" className="mb-1 block text-sm font-medium">
            Currency display
          </label>
          <select id="pref-currency" aria-describedby="pref-currency-hint" className={selectClass} {...register("currency")}>
            {CURRENCIES.map((currency) => (
              <option key={currency} value={currency}>
                {CURRENCY_LABELS[currency]}
              </option>
            ))}
          </select>
          <p id="pref-currency-hint" className="mt-1 text-xs text-muted">
            Saved with your account. Prices are quoted in USD by the exchanges this server follows.
          </p>
        </div>
      </div>
      <fieldset>
        <legend className="mb-2 text-sm font-medium">Notifications</legend>
        <div className="space-y-2 text-sm">
          {(Object.keys(NOTIFICATION_LABELS) as (keyof Preferences["notifications"])[]).map((key) => (
            <div key={key} className="flex items-start gap-2">
              <input
                id={`pref-${key}`}
                type="checkbox"
                {...register(`notifications.${key}`)}
                aria-describedby={`pref-${key}-hint`}
                className="mt-1 accent-[var(--accent)]"
              />
              <div>
                <label htmlFor={`pref-${key}`} className="cursor-pointer">
                  {NOTIFICATION_LABELS[key].label}
                </label>
                <p id={`pref-${key}-hint`} className="text-xs text-muted">
                  {NOTIFICATION_LABELS[key].hint}
                </p>
              </div>
            </div>
          ))}
        </div>
      </fieldset>
      <div className="flex flex-wrap items-center gap-3">
        <button type="submit" disabled={isSubmitting} className={buttonClass}>
          {isSubmitting ? "Saving…" : "Save preferences"}
        </button>
        <p role="status" className="text-sm text-up" data-testid="preferences-status">
          {status && !isDirty ? status : ""}
        </p>
      </div>
    </form>
  );
}

function PasswordForm() {
  const [status, setStatus] = useState<string | null>(null);
  const [serverError, setServerError] = useState<string | null>(null);
  const {
    register,
    handleSubmit,
    reset,
    setError,
    formState: { errors, isSubmitting },
  } = useForm<PasswordChangeValues>({
    resolver: zodResolver(passwordChangeSchema),
    mode: "onTouched",
    defaultValues: { current_password: "", new_password: "", confirm_password: "" },
  });

  const onSubmit = handleSubmit(async (values) => {
    setStatus(null);
    setServerError(null);
    try {
      const pair = await api<TokenPair>("/api/users/me/password", {
        method: "POST",
        body: { current_password: values.current_password, new_password: values.new_password },
      });
      // Every session ended, this one included: carry on with the new pair.
      useSession.getState().setToken(pair.access_token);
      reset();
      setStatus("Password changed. Every other session has been signed out.");
    } catch (error) {
      if (error instanceof ApiError && error.code === "wrong_password") {
        setError("current_password", { message: "The current password is wrong." }, { shouldFocus: true });
        return;
      }
      const byField = error instanceof ApiError ? fieldErrors(error.details, ["current_password", "new_password"]) : {};
      for (const [field, message] of Object.entries(byField)) setError(field as keyof PasswordChangeValues, { message });
      if (Object.keys(byField).length === 0) setServerError(errorMessage(error));
    }
  });

  return (
    <form onSubmit={onSubmit} noValidate aria-label="Change password" className="max-w-md space-y-4">
      <FormError message={serverError} />
      <Field label="Current password" type="password" autoComplete="current-password" error={errors.current_password?.message} {...register("current_password")} />
      <Field
        label="New password"
        type="password"
        autoComplete="new-password"
        hint="10 to 72 characters."
        error={errors.new_password?.message}
        {...register("new_password")}
      />
      <Field label="Repeat the new password" type="password" autoComplete="new-password" error={errors.confirm_password?.message} {...register("confirm_password")} />
      <div className="flex flex-wrap items-center gap-3">
        <button type="submit" disabled={isSubmitting} className={buttonClass}>
          {isSubmitting ? "Changing…" : "Change password"}
        </button>
        <p role="status" className="text-sm text-up" data-testid="password-status">
          {status ?? ""}
        </p>
      </div>
    </form>
  );
}

function SignInPrompt() {
  return (
    <Panel>
      <div className="py-4 text-center">
        <p className="mb-3 text-sm">Sign in to change your theme, default timeframe, notifications and password.</p>
        <div className="flex justify-center gap-2 text-sm">
          <Link href="/login/?next=%2Fsettings%2F" className={buttonClass}>
            Sign in
          </Link>
          <Link href="/register/?next=%2Fsettings%2F" className="rounded-md border border-line px-3 py-2 hover:bg-panel-2 focus-visible:outline-2 focus-visible:outline-accent">
            Create an account
          </Link>
        </div>
      </div>
    </Panel>
  );
}

export function SettingsView() {
  const user = useSession((state) => state.user);
  const ready = useSession((state) => state.ready);
  const prefs = usePreferences(user?.id ?? null);

  let content;
  if (!ready) content = <Loading label="Loading your account" rows={4} />;
  else if (!user) content = <SignInPrompt />;
  else {
    content = (
      <div className="space-y-4">
        <Panel title="Preferences">
          {prefs.isPending ? (
            <Loading label="Loading preferences" rows={4} />
          ) : prefs.isError ? (
            <ErrorState message={`Your preferences are unavailable: ${errorMessage(prefs.error)}`} onRetry={() => void prefs.refetch()} />
          ) : (
            <PreferencesForm saved={prefs.data} userId={user.id} />
          )}
        </Panel>
        <Panel title="Password">
          <PasswordForm />
        </Panel>
      </div>
    );
  }
  return (
    <div className="mx-auto max-w-3xl space-y-4">
      <div>
        <h1 className="text-2xl font-semibold tracking-tight">Settings</h1>
        {user && <p className="text-sm text-muted">Signed in as {user.username} ({user.email}).</p>}
      </div>
      {content}
    </div>
  );
}
