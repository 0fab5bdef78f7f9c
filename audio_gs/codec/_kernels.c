/* C kernels of the decoder (loaded with ctypes by audio_gs.codec.kernels; no Python API used).
 *
 * ags_gabor_block_f32 / _f64: add Gabor atoms into one block of samples (see _gabor_block.h).
 * ags_block_index: which atoms touch each block of a fixed grid (CSR lists, atoms in index order).
 * ags_undelta: time symbols to absolute times (the sequential part of dequantization).
 * ags_unpack_bits: values of n_bits[i] bits each, packed most significant bit first (the raw bits).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && !defined(AGS_NO_CLONES)
#define AGS_CLONES __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define AGS_CLONES
#endif
#define AGS_API __attribute__((visibility("default")))

typedef struct { double re, im; } cplx;

static inline __attribute__((always_inline)) cplx cmul(cplx a, cplx b) { return (cplx){a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re}; }

static inline __attribute__((always_inline)) cplx cexpo(double x, double y) /* exp(x + i y) */
{
    const double e = exp(x);
    return (cplx){e * cos(y), e * sin(y)};
}

/* z(tau + h) / z(tau) = exp(alpha (2 tau h + h^2) + beta h) */
static inline __attribute__((always_inline)) cplx ratio(double ar, double ai, double bi, double tau, double h)
{
    const double u = (2.0 * tau + h) * h;
    return cexpo(ar * u, ai * u + bi * h);
}

typedef float vf32 __attribute__((vector_size(32)));
typedef int32_t vi32 __attribute__((vector_size(32)));
typedef double vf64 __attribute__((vector_size(32)));
typedef int64_t vi64 __attribute__((vector_size(32)));

static inline __attribute__((always_inline)) vf32 vload_f32(const float *p) { vf32 v; memcpy(&v, p, sizeof v); return v; }
static inline __attribute__((always_inline)) void vstore_f32(float *p, vf32 v) { memcpy(p, &v, sizeof v); }
static inline __attribute__((always_inline)) vf64 vload_f64(const double *p) { vf64 v; memcpy(&v, p, sizeof v); return v; }
static inline __attribute__((always_inline)) void vstore_f64(double *p, vf64 v) { memcpy(p, &v, sizeof v); }

#define NAME gabor_block_f32
#define T float
#define VT vf32
#define VI vi32
#define ITYPE int32_t
#define W 8
#define SEG 512
#define EXACT_POWERS 0
#define vload vload_f32
#define vstore vstore_f32
#include "_gabor_block.h"
#undef NAME
#undef T
#undef VT
#undef VI
#undef ITYPE
#undef W
#undef SEG
#undef EXACT_POWERS
#undef vload
#undef vstore

#define NAME gabor_block_f64
#define T double
#define VT vf64
#define VI vi64
#define ITYPE int64_t
#define W 4
#define SEG 1024
#define EXACT_POWERS 1
#define vload vload_f64
#define vstore vstore_f64
#include "_gabor_block.h"

/* Padding (samples) each channel row of a block buffer needs after its end. */
AGS_API int64_t ags_block_pad(void) { return 16; }

AGS_API AGS_CLONES int ags_gabor_block_f32(const double *prm, const double *amp_cos, const double *amp_sin,
                                           const int64_t *ints, const int64_t *idx, int64_t m, double fs,
                                           int64_t start, int64_t len, float *out, int64_t stride)
{
    return gabor_block_f32(prm, amp_cos, amp_sin, ints, idx, m, fs, start, len, out, stride);
}

AGS_API AGS_CLONES int ags_gabor_block_f64(const double *prm, const double *amp_cos, const double *amp_sin,
                                           const int64_t *ints, const int64_t *idx, int64_t m, double fs,
                                           int64_t start, int64_t len, double *out, int64_t stride)
{
    return gabor_block_f64(prm, amp_cos, amp_sin, ints, idx, m, fs, start, len, out, stride);
}

/* CSR lists of the atoms whose [lo, hi] meets each block [j bs, (j + 1) bs) of n_blocks blocks:
 * starts[n_blocks + 1], atoms[starts[n_blocks]] (sized by the caller; lo >= 0 is checked there). */
AGS_API void ags_block_index(const int64_t *ints, int64_t k, int64_t bs, int64_t n_blocks, int64_t *starts,
                             int64_t *atoms)
{
    memset(starts, 0, sizeof(int64_t) * (size_t)(n_blocks + 1));
    for (int64_t i = 0; i < k; i++) { /* count per block, into starts[j + 1] */
        const int64_t lo = ints[3 * i], hi = ints[3 * i + 1];
        for (int64_t j = lo / bs; hi >= lo && j <= hi / bs && j < n_blocks; j++) starts[j + 1]++;
    }
    for (int64_t j = 0; j < n_blocks; j++) starts[j + 1] += starts[j];
    for (int64_t i = 0; i < k; i++) { /* fill, using starts[j] as block j's cursor */
        const int64_t lo = ints[3 * i], hi = ints[3 * i + 1];
        for (int64_t j = lo / bs; hi >= lo && j <= hi / bs && j < n_blocks; j++) atoms[starts[j]++] = i;
    }
    for (int64_t j = n_blocks; j > 0; j--) starts[j] = starts[j - 1]; /* cursors back to block starts */
    starts[0] = 0;
}

/* N_k = ((N_{k-1} >> e_k) + d_k) << e_k with N_{-1} = origin; 0 on overflow (|N| beyond 2^60). */
AGS_API int ags_undelta(const int64_t *d, const int64_t *e, int64_t k, int64_t origin, int64_t *out)
{
    const int64_t limit = (int64_t)1 << 60;
    int64_t prev = origin;
    for (int64_t i = 0; i < k; i++) {
        const int64_t ek = e[i];
        if (ek < 0 || ek > 62) return 0;
        const int64_t v = (prev >> ek) + d[i];
        if (v > (limit >> ek) || v < -(limit >> ek)) return 0;
        prev = (int64_t)((uint64_t)v << ek);
        out[i] = prev;
    }
    return 1;
}

/* out[i] = the next n_bits[i] (0..57) bits of data, most significant first; 0 when data is too short. */
AGS_API int ags_unpack_bits(const uint8_t *data, int64_t n_bytes, const int64_t *n_bits, int64_t k, int64_t *out)
{
    int64_t pos = 0; /* bit position */
    for (int64_t i = 0; i < k; i++) {
        const int64_t n = n_bits[i];
        if (n < 0 || n > 57) return 0;
        if (n == 0) { out[i] = 0; continue; }
        if (pos + n > 8 * n_bytes) return 0;
        uint64_t w = 0;
        const int64_t first = pos >> 3, last = (pos + n - 1) >> 3;
        for (int64_t b = first; b <= last; b++) w = (w << 8) | data[b];
        const int64_t used = (last - first + 1) * 8;
        w >>= used - (pos & 7) - n;
        out[i] = (int64_t)(w & ((n == 64) ? ~0ULL : ((1ULL << n) - 1)));
        pos += n;
    }
    return 1;
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels",
                                    "C kernels of the decoder; loaded with ctypes by audio_gs.codec.kernels.",
                                    -1, NULL};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
