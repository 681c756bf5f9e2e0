import type { Metadata } from "next";
import { Suspense } from "react";
import { Loading } from "@/components/states";
import { CoinView } from "./CoinView";

export const metadata: Metadata = { title: "Coin" };

export default function CoinPage() {
  return (
    <Suspense fallback={<Loading label="Loading coin" rows={6} />}>
      <CoinView />
    </Suspense>
  );
}
