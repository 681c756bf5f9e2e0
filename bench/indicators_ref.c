/* Single-pass C references for bench/indicators.py: the textbook running-sum algorithms that
 * TA-Lib uses (no compensation, no anchoring), compiled with -O2. They are the speed bar, not
 * the accuracy bar: their running sums drift and cancel on long series. */
#include <math.h>
#include <stddef.h>

void sma(const double *x, size_t n, int p, double *out) {
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        s += x[i];
        if (i >= (size_t)p) s -= x[i - p];
        out[i] = i + 1 >= (size_t)p ? s / p : NAN;
    }
}

static void ema_into(const double *x, size_t n, int p, double *out) {
    double a = 2.0 / (p + 1), s = 0;
    size_t i;
    for (i = 0; i < n && i < (size_t)p; i++) { s += x[i]; out[i] = NAN; }
    if (n < (size_t)p) return;
    double y = s / p;
    out[p - 1] = y;
    for (i = p; i < n; i++) { y = a * x[i] + (1 - a) * y; out[i] = y; }
}

void ema(const double *x, size_t n, int p, double *out) { ema_into(x, n, p, out); }

void rsi(const double *x, size_t n, int p, double *out) {
    double g = 0, l = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = NAN;
        if (i == 0) continue;
        double d = x[i] - x[i - 1], up = d > 0 ? d : 0, down = d < 0 ? -d : 0;
        if (i <= (size_t)p) {
            g += up; l += down;
            if (i < (size_t)p) continue;
            g /= p; l /= p;
        } else {
            g = (g * (p - 1) + up) / p;
            l = (l * (p - 1) + down) / p;
        }
        out[i] = g + l > 0 ? 100 * g / (g + l) : 50;
    }
}

void macd(const double *x, size_t n, int f, int s, int sig, double *line, double *signal,
          double *hist, double *tmp) {
    ema_into(x, n, f, line);
    ema_into(x, n, s, tmp);
    for (size_t i = 0; i < n; i++) line[i] -= tmp[i];
    size_t start = (size_t)(s > f ? s : f) - 1;
    for (size_t i = 0; i < n; i++) signal[i] = NAN;
    if (n > start) ema_into(line + start, n - start, sig, signal + start);
    for (size_t i = 0; i < n; i++) hist[i] = line[i] - signal[i];
}

void bollinger(const double *x, size_t n, int p, double k, double *up, double *mid,
               double *low) {
    double s = 0, q = 0;
    for (size_t i = 0; i < n; i++) {
        s += x[i]; q += x[i] * x[i];
        if (i >= (size_t)p) { s -= x[i - p]; q -= x[i - p] * x[i - p]; }
        if (i + 1 < (size_t)p) { up[i] = mid[i] = low[i] = NAN; continue; }
        double m = s / p, v = q / p - m * m, sd = k * sqrt(v > 0 ? v : 0);
        mid[i] = m; up[i] = m + sd; low[i] = m - sd;
    }
}

void volatility(const double *x, size_t n, int p, double scale, double *out, double *r) {
    double s = 0, q = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = NAN;
        if (i == 0) continue;
        r[i] = log(x[i] / x[i - 1]);
        s += r[i]; q += r[i] * r[i];
        if (i > (size_t)p) { s -= r[i - p]; q -= r[i - p] * r[i - p]; }
        if (i < (size_t)p) continue;
        double v = (q - s * s / p) / (p - 1);
        out[i] = sqrt(v > 0 ? v : 0) * scale;
    }
}

void correlation(const double *x, const double *y, size_t n, int p, double *out, double *rx,
                 double *ry) {
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = NAN;
        if (i == 0) continue;
        double a = log(x[i] / x[i - 1]), b = log(y[i] / y[i - 1]);
        rx[i] = a; ry[i] = b;
        sx += a; sy += b; sxx += a * a; syy += b * b; sxy += a * b;
        if (i > (size_t)p) {
            double c = rx[i - p], d = ry[i - p];
            sx -= c; sy -= d; sxx -= c * c; syy -= d * d; sxy -= c * d;
        }
        if (i < (size_t)p) continue;
        double vx = sxx - sx * sx / p, vy = syy - sy * sy / p, cv = sxy - sx * sy / p;
        out[i] = vx > 0 && vy > 0 ? cv / sqrt(vx * vy) : NAN;
    }
}

/* The algorithm cryptodash uses for SMA, in C: per chunk of p points, the window is the chunk's
 * forward sum plus the previous chunk's backward sum, both on deviations from the chunk's first
 * value. Shows what exactness costs in C itself, apart from NumPy. */
void sma_anchored(const double *x, size_t n, int p, double *out, double *back) {
    double inv = 1.0 / p;
    for (size_t c0 = 0; c0 < n; c0 += p) {
        double a = x[c0], fwd = 0;
        if (c0 >= (size_t)p) { /* backward sums of the previous chunk, relative to a */
            double s = 0;
            for (size_t j = p; j-- > 1;) { s += x[c0 - p + j] - a; back[j] = s; }
        }
        for (size_t j = 0; j < (size_t)p && c0 + j < n; j++) {
            fwd += x[c0 + j] - a;
            if (j == (size_t)p - 1) out[c0 + j] = a + fwd * inv;
            else out[c0 + j] = c0 >= (size_t)p ? a + (fwd + back[j + 1]) * inv : NAN;
        }
    }
}
