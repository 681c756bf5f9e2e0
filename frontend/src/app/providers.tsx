"use client";

import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { useEffect, useState, type ReactNode } from "react";
import { usePriceStream } from "@/hooks/usePriceStream";
import { restoreSession } from "@/lib/auth";
import { useTheme } from "@/lib/theme";
import { ApiError } from "@/lib/api";

function LiveBridge() {
  usePriceStream();
  return null;
}

export function Providers({ children }: { children: ReactNode }) {
  const [client] = useState(
    () =>
      new QueryClient({
        defaultOptions: {
          queries: {
            refetchOnWindowFocus: false,
            // 4xx answers are final; retry network and server errors twice.
            retry: (count, error) =>
              count < 2 && !(error instanceof ApiError && error.status >= 400 && error.status < 500),
          },
        },
      }),
  );
  const syncTheme = useTheme((state) => state.sync);

  useEffect(() => {
    syncTheme();
    void restoreSession();
  }, [syncTheme]);

  return (
    <QueryClientProvider client={client}>
      <LiveBridge />
      {children}
    </QueryClientProvider>
  );
}
