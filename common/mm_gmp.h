/*
 * mm_gmp.h - the one place GMP's memory functions are set, for every module
 * that does exact arithmetic (tokens' amounts, policies' decimals).
 *
 * GMP cannot report an allocation failure to its caller: it calls the
 * allocator and carries on.  So the rule is that callers bound their
 * operands first (an amount's digits, a decimal's size) and the allocator
 * enforces MM_GMP_BYTES_MAX as an invariant: a larger request aborts the
 * process (MM_ASSERT) rather than returning memory GMP would misuse.
 */
#ifndef MM_GMP_H
#define MM_GMP_H

#include <stddef.h>

/* The largest single GMP allocation: 64 KiB, i.e. numbers of about
 * 157,000 decimal digits, far past any amount or decimal we accept. */
#define MM_GMP_BYTES_MAX ((size_t)64 * 1024)

/* Installs the bounded allocator.  Idempotent and thread safe; call it
 * before any other GMP use (each module's init does). */
void mm_gmp_init(void);

#endif
