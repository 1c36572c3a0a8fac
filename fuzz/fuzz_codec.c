/* fuzz_codec.c - libFuzzer target for the canonical msgpack reader and the
 * envelope decoder: whatever ledger_decode accepts re-encodes to the same
 * bytes, and nothing crashes either decoder. */
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Accepted input must be canonical: one value, one encoding.  Returns
 * whether the input was accepted. */
static bool check_codec(const uint8_t *data, size_t size)
{
	struct ledger_doc *doc = NULL;
	struct ledger_buf b;
	struct mm_diag diag;
	int rc;

	rc = ledger_decode(data, size, &doc, &diag);
	if (rc != MM_OK) {
		MM_ASSERT(doc == NULL);
		MM_ASSERT(rc == MM_ERR_DECODE || rc == MM_ERR_LIMIT ||
			  rc == MM_ERR_NOMEM);
		MM_ASSERT(diag.offset <= size);
		return false;
	}
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	rc = ledger_enc_val(&b, ledger_doc_root(doc));
	MM_ASSERT(rc == MM_OK);
	MM_ASSERT(b.len == size && memcmp(b.p, data, size) == 0);
	ledger_buf_release(&b);
	ledger_doc_free(doc);
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ledger_tx *tx = NULL;
	struct mm_diag diag;
	bool canonical = check_codec(data, size);

	/* an envelope is a canonical document first */
	if (ledger_tx_decode_unverified(data, size, &tx, &diag) == MM_OK)
		MM_ASSERT(canonical && tx != NULL && tx->len == size);
	ledger_tx_free(tx);
	return 0;
}
