/* The monotonic clock, for intervals and deadlines (never wall time). */
#ifndef HERALD_MONOTIME_H
#define HERALD_MONOTIME_H

#include <stdint.h>

/* CLOCK_MONOTONIC in microseconds and in milliseconds. */
int64_t monotime_us(void);
int64_t monotime_ms(void);

#endif
