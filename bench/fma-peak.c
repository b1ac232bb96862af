/*
 * Float32 FMA peak of this CPU (AVX2 + FMA): 10 independent 8-wide fused multiply-add chains per thread, enough to
 * hide the FMA latency on current x86 cores. Prints GFLOP/s (2 FLOP per lane per FMA) for the given thread count.
 * Built and run by bench/machine-ceiling.ts: usage: fma-peak THREADS
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ITERATIONS 200000000L
#define CHAINS 10

/* Ten named accumulators: an array indexed in a loop is not reliably kept in registers at -O2. */
#define FMA10(x) x##0 = _mm256_fmadd_ps(x##0, b, c); x##1 = _mm256_fmadd_ps(x##1, b, c); \
  x##2 = _mm256_fmadd_ps(x##2, b, c); x##3 = _mm256_fmadd_ps(x##3, b, c); x##4 = _mm256_fmadd_ps(x##4, b, c); \
  x##5 = _mm256_fmadd_ps(x##5, b, c); x##6 = _mm256_fmadd_ps(x##6, b, c); x##7 = _mm256_fmadd_ps(x##7, b, c); \
  x##8 = _mm256_fmadd_ps(x##8, b, c); x##9 = _mm256_fmadd_ps(x##9, b, c);

static void *chains(void *out) {
  const __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  __m256 a0 = _mm256_set1_ps(1.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0;
  for (long i = 0; i < ITERATIONS; i++) {
    FMA10(a)
  }
  __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(_mm256_add_ps(a6, a7), _mm256_add_ps(a8, a9))));
  float lanes[8];
  _mm256_storeu_ps(lanes, sum);
  *(float *)out = lanes[0]; /* keeps the loop from being optimised away */
  return NULL;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  if (threads < 1 || threads > 256) return 2;
  pthread_t ids[256];
  float sinks[256];
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (int t = 0; t < threads; t++) pthread_create(&ids[t], NULL, chains, &sinks[t]);
  for (int t = 0; t < threads; t++) pthread_join(ids[t], NULL);
  clock_gettime(CLOCK_MONOTONIC, &end);
  double seconds = (end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) * 1e-9;
  double flop = (double)threads * ITERATIONS * CHAINS * 8 * 2;
  printf("%.1f %g\n", flop / seconds / 1e9, (double)sinks[0]);
  return 0;
}
