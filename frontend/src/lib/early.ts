// The price list is requested by an inline script while the HTML is still parsing, so it is
// usually there before React has hydrated: the first price shows without a round trip.
import type { CoinsResponse } from "./types";

declare global {
  interface Window {
    __cryptodashCoins?: Promise<CoinsResponse | null>;
  }
}

export const EARLY_COINS_SCRIPT = `(function(){var p=location.pathname;if(p!=="/"&&p!=="/coin/")return;window.__cryptodashCoins=fetch("/api/market/coins",{credentials:"same-origin",headers:{Accept:"application/json"}}).then(function(r){return r.ok?r.json():null}).catch(function(){return null})})();`;

/** The early response, once; null when there was none or it failed (then fetch normally). */
export async function takeEarlyCoins(): Promise<CoinsResponse | null> {
  if (typeof window === "undefined") return null;
  const early = window.__cryptodashCoins;
  if (!early) return null;
  window.__cryptodashCoins = undefined;
  return early;
}
