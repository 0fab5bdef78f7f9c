/* One block of the Gabor sum, instantiated twice by _kernels.c (float32 and float64 inner loops).
 *
 * Expects: NAME (function name), T (sample type), VT (vector of W T's), VI (integer vector of the
 * same shape), W (lanes per vector), SEG (samples between float64 re-anchors, a multiple of 2 W).
 *
 * Atom k adds Re(u_n), u_n = w z_n, z_n = exp(alpha tau_n^2 + beta tau_n), tau_n = n / fs - t,
 * alpha = -1 / (2 sigma^2) + i pi chirp, beta = i 2 pi freq, w = amp_cos - i amp_sin, for samples n of
 * its support within the block (a "run"). V = 2 W consecutive lanes (two chains of W) step by V
 * samples. With R_i = z_{n+i+V} / z_{n+i} at a segment's start and Q = exp(2 alpha V^2 dt^2), lane i
 * at step m is u_i R_i^m Q^(m (m - 1) / 2): the inner loop keeps g <- g R (one complex multiply) and
 * adds Re(g P[m]) from a per-atom table P[m] = Q^(m (m - 1) / 2), six multiply-adds per sample and
 * lane pair. The lanes start from exact float64 values at the run's first sample and are re-anchored
 * every SEG samples by a float64 recurrence at stride SEG, so the inner loop's rounding error never
 * builds up over more than SEG / V steps. The last partial step is masked; the caller pads each row
 * of the block buffer by at least V samples.
 */

#define V (2 * W)

static inline __attribute__((always_inline)) int NAME(const double *prm, const double *amp_cos, const double *amp_sin, const int64_t *ints,
                const int64_t *idx, int64_t m, double fs, int64_t start, int64_t len, T *out, int64_t stride)
{
    const double dt = 1.0 / fs;
    const int64_t stop = start + len; /* exclusive */
    VI lane;
    for (int i = 0; i < W; i++) lane[i] = i;
    for (int64_t jj = 0; jj < m; jj++) {
        const int64_t k = idx[jj];
        const double t = prm[4 * k], ar = prm[4 * k + 1], ai = prm[4 * k + 2], bi = prm[4 * k + 3];
        const int64_t lo = ints[3 * k], hi = ints[3 * k + 1], ch = ints[3 * k + 2];
        const int64_t n0 = lo > start ? lo : start;
        const int64_t n1 = hi < stop - 1 ? hi : stop - 1; /* inclusive */
        if (n1 < n0) continue;
        const double a = amp_cos[k], b = amp_sin[k];
        if (a == 0.0 && b == 0.0) continue;
        const int64_t total = n1 - n0 + 1;
        /* exp(2 alpha dt^2 m): per-sample ratio of consecutive ratios, and its powers */
        const double d2 = 2.0 * dt * dt;
        const cplx q = cexpo(ar * d2, ai * d2);
#if EXACT_POWERS /* float64 inner loop: every power straight from exp (squaring costs ~2^j ulp) */
        const cplx qV = cexpo(ar * d2 * V, ai * d2 * V);
        const cplx Q = cexpo(ar * d2 * V * V, ai * d2 * V * V);
#else /* float32 inner loop: powers by squaring are far more accurate than it needs */
        cplx qV = q;
        for (int i = 1; i < V; i *= 2) qV = cmul(qV, qV); /* q^V (V a power of two) */
        cplx Q = qV;
        for (int i = 1; i < V; i *= 2) Q = cmul(Q, Q);    /* q^(V^2) */
#endif
        /* exact anchors at the run start n0; u = w z with w = amp_cos - i amp_sin, so a sample is Re(u) */
        const double tau = (double)n0 * dt - t;
        cplx z = cexpo(ar * tau * tau, (ai * tau + bi) * tau);
        z = cmul(z, (cplx){a, -b});
        cplx r = ratio(ar, ai, bi, tau, dt); /* z_{n0+1} / z_{n0} */
        double zr[V], zi[V], Rr[V], Ri[V], Sr[V] = {0}, Si[V] = {0};
        cplx R = {1.0, 0.0};
        for (int i = 0; i < V; i++) { /* lane i: u at n0 + i, and R0 = z_{n0+V} / z_{n0} */
            zr[i] = z.re; zi[i] = z.im;
            R = cmul(R, r);
            z = cmul(z, r); r = cmul(r, q);
        }
        for (int i = 0; i < V; i++) { /* lane ratios: R_{i+1} = R_i q^V */
            Rr[i] = R.re; Ri[i] = R.im;
            R = cmul(R, qV);
        }
        cplx QS = {1.0, 0.0}, qVS = {1.0, 0.0};
        if (total > SEG) { /* the float64 re-anchors: lane ratios over SEG samples and how they move */
#if EXACT_POWERS
            const cplx qS = cexpo(ar * d2 * SEG, ai * d2 * SEG);
            qVS = cexpo(ar * d2 * V * SEG, ai * d2 * V * SEG);
#else
            cplx qS = qV;
            for (int i = V; i < SEG; i *= 2) qS = cmul(qS, qS); /* q^SEG */
            qVS = qV;
            for (int i = 1; i < SEG; i *= 2) qVS = cmul(qVS, qVS); /* q^(V SEG) */
#endif
            QS = cexpo(ar * d2 * SEG * SEG, ai * d2 * SEG * SEG);
            cplx RS = ratio(ar, ai, bi, tau, SEG * dt); /* z_{n0+SEG} / z_{n0} */
            for (int i = 0; i < V; i++) {
                Sr[i] = RS.re; Si[i] = RS.im;
                RS = cmul(RS, qS);
            }
        }
        /* P[m] = Q^(m (m - 1) / 2): lane i at step m of a segment is (u_i R_i^m) P[m], so the inner loop
         * needs one complex multiply per step (g <- g R) and the real part of g P */
        const int64_t n_p = (total < SEG ? total : SEG) / V + 1;
        T Pr[SEG / V + 1], Pi[SEG / V + 1];
        {
            cplx P = {1.0, 0.0}, Qm = {1.0, 0.0};
            for (int64_t i = 0; i < n_p; i++) {
                Pr[i] = (T)P.re; Pi[i] = (T)P.im;
                P = cmul(P, Qm); Qm = cmul(Qm, Q);
            }
        }
        T *p = out + ch * stride + (n0 - start);
        int64_t left = total;
        for (;;) {
            const int64_t seg = left < SEG ? left : SEG;
            VT g0r, g0i, g1r, g1i, R0r, R0i, R1r, R1i;
            for (int i = 0; i < W; i++) {
                g0r[i] = (T)zr[i]; g0i[i] = (T)zi[i]; g1r[i] = (T)zr[W + i]; g1i[i] = (T)zi[W + i];
                R0r[i] = (T)Rr[i]; R0i[i] = (T)Ri[i]; R1r[i] = (T)Rr[W + i]; R1i[i] = (T)Ri[W + i];
            }
            const int64_t steps = seg / V;
            for (int64_t s = 0; s < steps; s++, p += V) {
                const VT pr = (VT){0} + Pr[s], pi = (VT){0} + Pi[s];
                vstore(p, vload(p) + g0r * pr - g0i * pi);
                vstore(p + W, vload(p + W) + g1r * pr - g1i * pi);
                VT tr = g0r * R0r - g0i * R0i; g0i = g0r * R0i + g0i * R0r; g0r = tr;
                tr = g1r * R1r - g1i * R1i; g1i = g1r * R1i + g1i * R1r; g1r = tr;
            }
            const int64_t tail = seg - steps * V;
            if (tail) { /* last partial step: lanes past the run add +0 (the buffer is padded by V) */
                const VT pr = (VT){0} + Pr[steps], pi = (VT){0} + Pi[steps];
                const VI vt = (VI){0} + (ITYPE)tail;
                VI m0 = lane < vt, m1 = lane + W < vt;
                vstore(p, vload(p) + (VT)((VI)(g0r * pr - g0i * pi) & m0));
                vstore(p + W, vload(p + W) + (VT)((VI)(g1r * pr - g1i * pi) & m1));
                p += tail;
            }
            left -= seg;
            if (left <= 0) break;
            for (int i = 0; i < V; i++) { /* float64 re-anchor SEG samples on */
                cplx zz = cmul((cplx){zr[i], zi[i]}, (cplx){Sr[i], Si[i]});
                cplx ss = cmul((cplx){Sr[i], Si[i]}, QS);
                cplx rr = cmul((cplx){Rr[i], Ri[i]}, qVS);
                zr[i] = zz.re; zi[i] = zz.im; Sr[i] = ss.re; Si[i] = ss.im; Rr[i] = rr.re; Ri[i] = rr.im;
            }
        }
    }
    return 0;
}

#undef V
