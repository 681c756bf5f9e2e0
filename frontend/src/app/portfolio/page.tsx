import type { Metadata } from "next";
import { Suspense } from "react";
import { Loading } from "@/components/states";
import { PortfolioView } from "./PortfolioView";

export const metadata: Metadata = { title: "Portfolio" };

export default function PortfolioPage() {
  return (
    <Suspense fallback={<Loading label="Loading portfolio" rows={6} />}>
      <PortfolioView />
    </Suspense>
  );
}
