// The settings forms' schemas (React Hook Form + Zod), loaded by the settings page only. The
// password rules match the users API: 10–72 characters, at most 72 bytes in UTF-8 (bcrypt),
// no control characters.
import { z } from "zod";
import { CURRENCIES, THEMES } from "./insightTypes";
import { INTERVALS } from "./types";

export const preferencesSchema = z.object({
  theme: z.enum(THEMES),
  currency: z.enum(CURRENCIES),
  default_timeframe: z.enum(INTERVALS),
  notifications: z.object({
    price_alerts: z.boolean(),
    sentiment_alerts: z.boolean(),
    email: z.boolean(),
  }),
});

const utf8 = new TextEncoder();
const CONTROL = /[\u0000-\u001f\u007f]/;

export const newPasswordRule = z
  .string()
  .min(10, "At least 10 characters.")
  .max(72, "At most 72 characters.")
  .refine((value) => utf8.encode(value).length <= 72, "At most 72 bytes: fewer accented letters or emoji.")
  .refine((value) => !CONTROL.test(value), "No control characters (tabs, line breaks).");

export const passwordChangeSchema = z
  .object({
    current_password: z.string().min(1, "Enter your current password."),
    new_password: newPasswordRule,
    confirm_password: z.string().min(1, "Repeat the new password."),
  })
  .refine((values) => values.confirm_password === values.new_password, {
    path: ["confirm_password"],
    message: "The two new passwords differ.",
  });
export type PasswordChangeValues = z.infer<typeof passwordChangeSchema>;

