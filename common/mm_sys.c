/* mm_sys.c - the clocks and the write-all loop; see mm.h. */
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "mm.h"

static uint64_t clock_ms(clockid_t id)
{
	struct timespec ts;

	MM_ASSERT(clock_gettime(id, &ts) == 0);
	MM_ASSERT(ts.tv_sec >= 0);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t mm_now_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

uint64_t mm_monotonic_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

enum mm_err mm_errno_io(int e)
{
	return e == ENOSPC || e == EDQUOT ? MM_ERR_NO_SPACE : MM_ERR_IO;
}

enum mm_err mm_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	MM_ASSERT(c != NULL || n == 0);
	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w == 0)
			errno = EIO;
		if (w <= 0)
			return mm_errno_io(errno);
		c += w;
		n -= (size_t)w;
	}
	return MM_OK;
}
