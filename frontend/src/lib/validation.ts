// Form rules that match the users API (issue 5): the server stays the authority.
import { z } from "zod";

export const registerSchema = z.object({
  username: z
    .string()
    .trim()
    .min(3, "At least 3 characters.")
    .max(50, "At most 50 characters.")
    .regex(/^[A-Za-z0-9_-]+$/, "Letters, digits, _ and - only."),
  email: z.string().trim().min(1, "Enter your email address.").pipe(z.email("Enter a valid email address.")),
  password: z.string().min(10, "At least 10 characters.").max(128, "At most 128 characters."),
});
export type RegisterValues = z.infer<typeof registerSchema>;

export const loginSchema = z.object({
  username: z.string().trim().min(1, "Enter your username or email."),
  password: z.string().min(1, "Enter your password."),
});
export type LoginValues = z.infer<typeof loginSchema>;
