/* fuzz_head.c - libFuzzer target for the block header (signed tree head)
 * decoder, which auditors feed with heads saved from elsewhere: nothing
 * crashes, and whatever decodes re-encodes to the same bytes. */
#include <string.h>

#include "ledger/ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ledger_head h;
	struct ledger_buf b;
	struct mm_diag diag;

	if (ledger_head_decode(data, size, &h, &diag) != MM_OK)
		return 0;
	ledger_buf_init(&b, 1024);
	MM_ASSERT(ledger_head_encode(&h, &b) == MM_OK);
	MM_ASSERT(b.len == size && memcmp(b.p, data, size) == 0);
	(void)ledger_head_verify(&h, NULL);
	ledger_buf_release(&b);
	return 0;
}
