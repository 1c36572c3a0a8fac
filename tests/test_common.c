/* test_common.c - common/: the clocks and the write-all loop (mm_sys.c), and
 * the diagnostic's reason word (mm.c). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/mm.h"
#include "testutil.h"

#define BIG_BYTES (1u << 20) /* more than a pipe holds: short writes */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

START_TEST(clocks)
{
	uint64_t before = (uint64_t)time(NULL) * 1000u;
	uint64_t now = mm_now_ms();
	uint64_t after = ((uint64_t)time(NULL) + 1) * 1000u;
	uint64_t m0 = mm_monotonic_ms(), m1;

	/* Milliseconds since the epoch, not seconds or microseconds. */
	ck_assert_uint_ge(now, before);
	ck_assert_uint_le(now, after);
	sleep_ms(30);
	m1 = mm_monotonic_ms();
	ck_assert_uint_ge(m1 - m0, 30);
	ck_assert_uint_lt(m1 - m0, 5000);
}
END_TEST

/* The reader side of a pipe: waits, then reads to EOF. */
struct reader {
	int fd;
	unsigned delay_ms;
	uint8_t *got;
	size_t n;
};

static void *read_all(void *arg)
{
	struct reader *r = arg;
	ssize_t k;

	sleep_ms(r->delay_ms);
	do {
		k = read(r->fd, r->got + r->n, BIG_BYTES * 2 - r->n);
		if (k > 0)
			r->n += (size_t)k;
	} while (k > 0 || (k < 0 && errno == EINTR));
	return NULL;
}

static uint8_t *pattern(void)
{
	uint8_t *p = malloc(BIG_BYTES);

	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < BIG_BYTES; i++)
		p[i] = (uint8_t)(i * 7 + i / 251);
	return p;
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/*
 * A pipe that is full when mm_write_all starts: its first write(2) blocks
 * until a SIGALRM (installed without SA_RESTART) interrupts it with EINTR;
 * the loop must carry on until the reader, which starts late, has all of
 * it, in order.
 */
START_TEST(write_all_interrupted)
{
	struct sigaction sa;
	struct itimerval it = {{0, 20000}, {0, 20000}}; /* every 20 ms */
	struct itimerval off = {{0, 0}, {0, 0}};
	struct reader r = {0};
	sigset_t block, old;
	uint8_t *p = pattern(), *fill;
	size_t filled = 0;
	pthread_t th;
	int fds[2];
	ssize_t k;

	ck_assert_int_eq(pipe(fds), 0);
	/* Fill the pipe without blocking. */
	fill = calloc(1, 65536);
	ck_assert_ptr_nonnull(fill);
	ck_assert_int_eq(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
	while ((k = write(fds[1], fill, 65536)) > 0)
		filled += (size_t)k;
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(fcntl(fds[1], F_SETFL, 0), 0);
	/* The reader thread never takes the signal. */
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &block, &old), 0);
	r.fd = fds[0];
	r.delay_ms = 300;
	r.got = malloc(BIG_BYTES * 2);
	ck_assert_ptr_nonnull(r.got);
	ck_assert_int_eq(pthread_create(&th, NULL, read_all, &r), 0);
	ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART: write(2) fails EINTR */
	ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
	ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);

	ck_assert_int_eq(mm_write_all(fds[1], p, BIG_BYTES), MM_OK);

	ck_assert_int_eq(setitimer(ITIMER_REAL, &off, NULL), 0);
	ck_assert_int_gt(alarms, 0);
	ck_assert_int_eq(close(fds[1]), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_uint_eq(r.n, filled + BIG_BYTES);
	ck_assert_mem_eq(r.got + filled, p, BIG_BYTES);
	close(fds[0]);
	free(r.got);
	free(fill);
	free(p);
}
END_TEST

/* Failures are MM_ERR_IO with write(2)'s errno; nothing to write is OK. */
START_TEST(write_all_errors)
{
	uint8_t *p = pattern();
	int fds[2];

	ck_assert_int_eq(mm_write_all(-1, p, 10), MM_ERR_IO);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(mm_write_all(-1, NULL, 0), MM_OK);
	ck_assert_int_eq(pipe(fds), 0);
	close(fds[0]);
	signal(SIGPIPE, SIG_IGN);
	ck_assert_int_eq(mm_write_all(fds[1], p, BIG_BYTES), MM_ERR_IO);
	ck_assert_int_eq(errno, EPIPE);
	close(fds[1]);
	free(p);
}
END_TEST

/* mm_vrefuse through a variadic wrapper, as ledger_apply_refuse uses it. */
static enum mm_err refuse(struct mm_diag *d, const char *where,
			  const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static enum mm_err refuse(struct mm_diag *d, const char *where,
			  const char *reason, const char *fmt, ...)
{
	va_list ap;
	enum mm_err err;

	va_start(ap, fmt);
	err = mm_vrefuse(d, MM_ERR_REJECTED, where, reason, fmt, ap);
	va_end(ap);
	return err;
}

/* A refusal's reason is set at the source and the message keeps the
 * "reason: text" form; a plain failure leaves no stale reason behind. */
START_TEST(diag_reasons)
{
	struct mm_diag d = {0};

	ck_assert_int_eq(refuse(&d, NULL, "cohort_full", "has %d", 3),
			 MM_ERR_REJECTED);
	ck_assert_str_eq(d.reason, "cohort_full");
	ck_assert_str_eq(d.msg, "cohort_full: has 3");
	ck_assert_int_eq(refuse(&d, "transfers[2]", "id_conflict", "x"),
			 MM_ERR_REJECTED);
	ck_assert_str_eq(d.reason, "id_conflict");
	ck_assert_str_eq(d.msg, "transfers[2]: id_conflict: x");
	ck_assert_int_eq(mm_fail(&d, MM_ERR_DECODE, 7, "at %d", 7),
			 MM_ERR_DECODE);
	ck_assert_str_eq(d.reason, "");
	ck_assert_str_eq(d.msg, "at 7");
	ck_assert_uint_eq(d.offset, 7);
	ck_assert_int_eq(mm_fail_reason(&d, MM_ERR_SCHEMA, "fields", 0,
					"fields[%d]: no", 3),
			 MM_ERR_SCHEMA);
	ck_assert_str_eq(d.reason, "fields");
	ck_assert_str_eq(d.msg, "fields[3]: no");
	/* No diagnostic: only the code. */
	ck_assert_int_eq(refuse(NULL, NULL, "cohort_full", "x"),
			 MM_ERR_REJECTED);
	ck_assert_int_eq(mm_fail_reason(NULL, MM_ERR_LIMIT, "", 0, "x"),
			 MM_ERR_LIMIT);
}
END_TEST

/* A reason that is not a [a-z_] word is a bug, caught even without a
 * diagnostic to write it to. */
START_TEST(bad_reason_aborts)
{
	mm_fail_reason(NULL, MM_ERR_INVALID, "Not a word", 0, "x");
}
END_TEST

START_TEST(empty_refusal_reason_aborts)
{
	struct mm_diag d = {0};

	refuse(&d, NULL, "", "x");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("common");
	TCase *tc = tcase_create("sys");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, clocks);
	tcase_add_test(tc, write_all_interrupted);
	tcase_add_test(tc, write_all_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("diag");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, diag_reasons);
	tcase_add_test_raise_signal(tc, bad_reason_aborts, SIGABRT);
	tcase_add_test_raise_signal(tc, empty_refusal_reason_aborts, SIGABRT);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
