// History points as chart lines: unix seconds, strictly increasing (lightweight-charts refuses
// repeated times; the API's last point is "now", which may share a second with a boundary). Pure.
import { decimalToNumber } from "./portfolioDecimal";
import type { HistoryPoint } from "./portfolioTypes";

export interface LinePoint {
  time: number;
  value: number;
}

export function historyLines(points: HistoryPoint[]): { value: LinePoint[]; cost: LinePoint[] } {
  const value: LinePoint[] = [];
  const cost: LinePoint[] = [];
  for (const point of points) {
    const time = Math.floor(Date.parse(point.timestamp) / 1000);
    if (!Number.isFinite(time)) continue;
    const last = value.at(-1);
    if (last && time < last.time) continue; // out of order: dropped
    if (last && time === last.time) {
      // the later point wins the second
      value.pop();
      cost.pop();
    }
    value.push({ time, value: decimalToNumber(point.total_value) });
    cost.push({ time, value: decimalToNumber(point.cost_basis) });
  }
  return { value, cost };
}
