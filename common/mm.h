/*
 * mm.h - what every medmarket module shares: the error enum, the diagnostic
 * struct parsers fill, the assertion tiers, the clocks and a write loop.
 *
 * Foreign error codes (MDB_*, errno, OpenSSL, libsodium) are translated to
 * enum mm_err at each module's boundary; nothing above a module sees them.
 */
#ifndef MM_H
#define MM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* One project error enum; 0 is success.  The machine codes returned by
 * mm_errcode() are stable: clients and the HTTP API depend on them. */
enum mm_err {
	MM_OK = 0,
	MM_ERR_NOMEM,	/* allocation failed */
	MM_ERR_INVALID, /* a caller's argument is malformed */
	MM_ERR_DECODE,	/* input bytes are not canonical / not parseable */
	MM_ERR_LIMIT,	/* a named limit was exceeded */
	MM_ERR_SCHEMA,	/* a well-formed value has the wrong fields/types */
	MM_ERR_UNKNOWN_TYPE, /* transaction type not registered */
	MM_ERR_SIGNATURE,    /* a signature does not verify */
	MM_ERR_STALE,	     /* created time outside the node's window */
	MM_ERR_CRYPTO,	     /* a crypto library failed */
	MM_ERR_KEY,	     /* a key file is unreadable or of the wrong kind */
	MM_ERR_IO,	     /* reading/writing a file failed */
	MM_ERR_NOTFOUND,     /* no such entry, block, key */
	MM_ERR_EXISTS,	     /* would overwrite what is there */
	MM_ERR_RANGE,	     /* index or size out of range */
	MM_ERR_PROOF,	     /* a Merkle proof or tree head does not verify */
	MM_ERR_CORRUPT,	     /* stored data fails its own checks */
	MM_ERR_MAP_FULL,     /* the LMDB map is full */
	MM_ERR_STORE,	     /* any other storage failure */
	MM_ERR_BUSY,	     /* queue full; try again later */
	MM_ERR_CLOSED,	     /* the ledger is shutting down */
	MM_ERR_DENIED,	     /* the author may not do this */
	MM_ERR_REJECTED,     /* a transaction's own rules refused it */
	MM_ERR_WRONG_CHAIN,  /* signed for another chain (a cross-chain replay)
			      */
	MM_ERR_NO_SPACE,     /* the disk (or quota) is full: ENOSPC, EDQUOT */
	MM_ERR__COUNT
};

/* A human sentence for the code; never NULL. */
const char *mm_strerror(int err);
/* A stable lower-case machine code ("decode", "signature", ...); never NULL. */
const char *mm_errcode(int err);

/*
 * Where and why input was refused.  Parsers of outside input fill it; a
 * message never quotes record contents or secrets, only positions and
 * what was expected.  offset is a byte offset into the input; line and
 * column are 1-based and 0 when not meaningful.  reason is a stable
 * machine word ([a-z_], e.g. "cohort_full") naming the rule that refused,
 * or "" when the failure has none: programs compare reason (and the error
 * code), never msg, which is for people.
 */
#define MM_DIAG_MSG_MAX	   200
#define MM_DIAG_REASON_MAX 32
struct mm_diag {
	size_t offset;
	unsigned line;
	unsigned column;
	char reason[MM_DIAG_REASON_MAX];
	char msg[MM_DIAG_MSG_MAX];
};

/* Sets diag (which may be NULL): offset, msg from fmt, reason "";
 * returns err, for `return mm_fail(...)`. */
enum mm_err mm_fail(struct mm_diag *diag, enum mm_err err, size_t offset,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* mm_fail with a reason: a string literal of [a-z_] shorter than
 * MM_DIAG_REASON_MAX, or "" for none (anything else is a bug and stops
 * the process).  The message is fmt as it is. */
enum mm_err mm_fail_reason(struct mm_diag *diag, enum mm_err err,
			   const char *reason, size_t offset, const char *fmt,
			   ...) __attribute__((format(printf, 5, 6)));
enum mm_err mm_vfail_reason(struct mm_diag *diag, enum mm_err err,
			    const char *reason, size_t offset, const char *fmt,
			    va_list ap) __attribute__((format(printf, 5, 0)));
/* A refusal: diag->reason = reason (as mm_fail_reason, but never "") and
 * the message "WHERE: REASON: " followed by fmt, or "REASON: " and fmt
 * when where is NULL (the stable word first, as refusals have always
 * read); offset 0.  Returns err. */
enum mm_err mm_vrefuse(struct mm_diag *diag, enum mm_err err, const char *where,
		       const char *reason, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));

/*
 * Assertions.  MM_ASSERT is always on: a broken invariant in a ledger must
 * stop the process rather than spread.  MM_DEBUG_ASSERT is for expensive
 * checks and compiles away in release builds.  Neither ever validates
 * untrusted input (that is an error return), and messages never print
 * record contents.
 */
void mm_assert_fail(const char *expr, const char *file, int line)
	__attribute__((noreturn));
#define MM_ASSERT(e) ((e) ? (void)0 : mm_assert_fail(#e, __FILE__, __LINE__))
#ifdef NDEBUG
#define MM_DEBUG_ASSERT(e) ((void)0)
#else
#define MM_DEBUG_ASSERT(e) MM_ASSERT(e)
#endif

#define MM_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * The clocks and the write loop every module and program shares (mm_sys.c).
 *
 * mm_now_ms is wall-clock time, milliseconds since the Unix epoch
 * (CLOCK_REALTIME): for timestamps that leave the process (a transaction's
 * created time, a deadline on the ledger).  mm_monotonic_ms never goes
 * back (CLOCK_MONOTONIC): for intervals and timeouts only.  Both abort
 * (MM_ASSERT) if the clock cannot be read, which POSIX allows only for an
 * unsupported clock id.
 */
uint64_t mm_now_ms(void);
uint64_t mm_monotonic_ms(void);

/*
 * Writes all n bytes at p to fd, retrying short writes and writes
 * interrupted by a signal (EINTR).  MM_OK, or (as mm_errno_io says)
 * MM_ERR_NO_SPACE or MM_ERR_IO with errno set by the failed write(2) (EIO
 * when it wrote nothing without an error); some prefix of p may then have
 * been written.  fd's offset and flags are the caller's; nothing is
 * synced.
 */
enum mm_err mm_write_all(int fd, const void *p, size_t n);

/* The code for a failed file operation's errno e: MM_ERR_NO_SPACE when
 * the disk or the quota is full (ENOSPC, EDQUOT: the node answers 507),
 * else MM_ERR_IO. */
enum mm_err mm_errno_io(int e);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back
 * (H. Hinnant's days_from_civil / civil_from_days): for calendars that
 * must not depend on the C library's time zone or locale. */
int64_t mm_days_from_civil(int64_t y, unsigned m, unsigned d);
void mm_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

#endif
