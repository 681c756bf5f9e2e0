import type { Metadata } from "next";
import { SentimentView } from "./SentimentView";

export const metadata: Metadata = { title: "Sentiment" };

export default function SentimentPage() {
  return <SentimentView />;
}
