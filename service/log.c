/* log.c - structured logs: one JSON object per line on stderr; never
 * bodies, headers or record contents.  Warnings and errors (ours,
 * libevent's, and request lines of 5xx answers) are rate limited, so
 * that a flood of failures cannot turn into a flood of log: past
 * LOG_LIMITED_PER_S lines in a second they are counted, and a line says
 * how many once that second is over. */
#include "mmd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_LINE_MAX	  512 /* a request line; every field is bounded */
#define LOG_TS_MAX	  32
#define LOG_LIMITED_PER_S 10

/* The rate limit's second (monotonic), lines it let through, and lines
 * suppressed since the last report: relaxed counters, since an off-by-a-
 * few count of log lines harms nothing. */
static atomic_uint_fast64_t limit_second;
static atomic_uint limit_used;
static atomic_uint_fast64_t limit_dropped;

/* RFC 3339 UTC with milliseconds. */
static void log_ts(char out[LOG_TS_MAX])
{
	struct timespec ts;
	struct tm tm;
	char day[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, LOG_TS_MAX, "%s.%03uZ", day,
		 (unsigned)(ts.tv_nsec / 1000000) % 1000u);
}

/* Whole lines in one write(2) of at most PIPE_BUF bytes, so lines from
 * workers never interleave.  A log that cannot be written is dropped:
 * serving does not wait on it. */
static void log_write(const char *p, size_t n)
{
	(void)mm_write_all(STDERR_FILENO, p, n);
}

static uint64_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

static void log_emit(const char *level, json_t *extra, const char *msg);

/* Starts a new second when this one is over, saying what the last ones
 * suppressed. */
static void limit_roll(void)
{
	uint64_t now = now_s(), was = atomic_load(&limit_second);
	uint64_t dropped;
	char msg[128];

	if (now == was ||
	    !atomic_compare_exchange_strong(&limit_second, &was, now))
		return;
	atomic_store(&limit_used, 0);
	dropped = atomic_exchange(&limit_dropped, 0);
	if (dropped == 0)
		return;
	snprintf(msg, sizeof(msg),
		 "suppressed %llu warning and error lines (more than %d a "
		 "second)",
		 (unsigned long long)dropped, LOG_LIMITED_PER_S);
	log_emit("warn", json_pack("{s:I}", "suppressed", (json_int_t)dropped),
		 msg);
}

/* Whether one more limited line may be written now. */
static bool limit_admit(void)
{
	limit_roll();
	if (atomic_fetch_add(&limit_used, 1) < LOG_LIMITED_PER_S)
		return true;
	atomic_fetch_add(&limit_dropped, 1);
	return false;
}

static bool limited(const char *level)
{
	return strcmp(level, "error") == 0 || strcmp(level, "warn") == 0;
}

void mmd_log_tick(void)
{
	limit_roll();
}

void mmd_log_flush(struct mmd_worker *w)
{
	log_write(w->logbuf, w->logn);
	w->logn = 0;
}

/* route, method and remote are ours (a pattern, a method name, a
 * numeric address), so they need no JSON escaping. */
void mmd_log_request(const struct mmd_req *rq, int status)
{
	char ts[LOG_TS_MAX], line[LOG_LINE_MAX];
	uint64_t us = mmd_now_us() - ((uint64_t)rq->t0.tv_sec * 1000000 +
				      (uint64_t)rq->t0.tv_nsec / 1000);
	int n;

	log_ts(ts);
	n = snprintf(line, sizeof(line),
		     "{\"ts\":\"%s\",\"level\":\"%s\",\"route\":\"%s\","
		     "\"method\":\"%s\",\"status\":%d,\"ms\":%llu.%03llu,"
		     "\"remote\":\"%s\"}\n",
		     ts, status >= 500 ? "error" : "info",
		     mmd_route_name(rq->route), rq->method, status,
		     (unsigned long long)(us / 1000),
		     (unsigned long long)(us % 1000), rq->remote);
	if (n <= 0 || (size_t)n >= sizeof(line))
		return;
	if (status >= 500 && !limit_admit())
		return;
	if (rq->w->logn + (size_t)n > sizeof(rq->w->logbuf))
		mmd_log_flush(rq->w);
	memcpy(rq->w->logbuf + rq->w->logn, line, (size_t)n);
	rq->w->logn += (size_t)n;
}

void mmd_log(const char *level, json_t *extra, const char *fmt, ...)
{
	char msg[MM_DIAG_MSG_MAX * 2];
	va_list ap;

	if (limited(level) && !limit_admit()) {
		json_decref(extra);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_emit(level, extra, msg);
}

void mmd_log_libevent(int severity, const char *msg)
{
	if (severity < EVENT_LOG_WARN || !limit_admit())
		return;
	log_emit(severity == EVENT_LOG_ERR ? "error" : "warn",
		 json_pack("{s:s}", "from", "libevent"), msg);
}

/* One line now: {"ts","level","msg"} and extra's members (stolen). */
static void log_emit(const char *level, json_t *extra, const char *msg)
{
	char ts[LOG_TS_MAX];
	json_t *o = NULL;
	char *s = NULL;

	log_ts(ts);
	o = json_pack("{s:s,s:s,s:s}", "ts", ts, "level", level, "msg", msg);
	if (o && extra)
		json_object_update(o, extra);
	if (o)
		s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (s)
		fprintf(stderr, "%s\n", s);
	else
		fprintf(stderr, "medmarketd: %s: %s\n", level, msg);
	free(s);
	json_decref(extra);
	json_decref(o);
}
