/* log.c - structured logs: one JSON object per line on stderr; never
 * bodies, headers or record contents. */
#include "mmd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_LINE_MAX 512 /* a request line; every field is bounded */
#define LOG_TS_MAX   32

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
	if (rq->w->logn + (size_t)n > sizeof(rq->w->logbuf))
		mmd_log_flush(rq->w);
	memcpy(rq->w->logbuf + rq->w->logn, line, (size_t)n);
	rq->w->logn += (size_t)n;
}

void mmd_log(const char *level, json_t *extra, const char *fmt, ...)
{
	char ts[LOG_TS_MAX], msg[MM_DIAG_MSG_MAX * 2];
	json_t *o = NULL;
	char *s = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
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
